"""Finding the checkable claims of a text: quantities, brands, colours and product types
(fashion types, and the types of every taxonomy branch: ``branch_type_claims``).

What counts as each is data (``describer.claim_vocab``); whether the attributes support a
claim is the guard's business (``describer.guard``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from describer import claim_vocab
from listingsmith.metrics import normalise_number
from listingsmith.core.units import Unit

_NUMBER = r"\d+(?:[.,]\d+)*"
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_RANGE = r"(?:-|–|—|~|to)"
_BY = r"\s*[x×*]\s*"
GLUED_SENTENCE = re.compile(r"(?<![A-Za-z])([a-z]{2,})(?=[A-Z][a-z])")
"""A lower-case word run into a capitalised one, "strapWarranty: 1 year": scraped catalogue
text (Myntra's) joins its lines that way, and copies and models trained on it repeat it.
Claims are read on each side separately; ``clean_description`` breaks the sentence there."""


@dataclass(frozen=True)
class Claim:
    """One checkable statement in a text: what was written, where, and what it asserts."""

    kind: Literal["quantity", "brand", "colour", "product_type", "part", "word", "number"]
    text: str
    start: int
    end: int
    quantities: tuple[tuple[float, str], ...] = ()
    """(value in the dimension's base unit, dimension) for each number of a quantity."""
    name: str = ""
    """The listed brand, vocabulary colour or product type the text matched."""


class ClaimFinder:
    """Finds quantities, brands and colours; built once per brand list (the brand pattern
    is large). Names that are also vocabulary colours are read as colours, not brands."""

    def __init__(self, brands: Iterable[str] = ()):
        colour_words = {name.casefold() for name in claim_vocab.colour_names()}
        names = {squash_spaces(b) for b in brands} - {""}
        listed = sorted((b for b in names if b.casefold() not in colour_words), key=len,
                        reverse=True)
        self._brands = {b.lower(): b for b in listed}
        self._brand_pattern = re.compile(
            r"(?<![\w&])(?:" + "|".join(_loose(b) for b in listed) + r")(?![\w&])",
            re.IGNORECASE) if listed else None

    def find_claims(self, text: str) -> list[Claim]:
        """Quantities, brands and colours in ``text``, in reading order; glued sentences
        (``GLUED_SENTENCE``) are read part by part, so "1 yearWarranty" states "1 year"."""
        cuts = [0, *(m.end() for m in GLUED_SENTENCE.finditer(text)), len(text)]
        return [replace(claim, start=claim.start + start, end=claim.end + start)
                for start, end in zip(cuts, cuts[1:])
                for claim in self._claims_in_part(text[start:end])]

    def _claims_in_part(self, text: str) -> list[Claim]:
        brands = self._brand_claims(text)
        taken = [(c.start, c.end) for c in brands]
        colours = [c for c in colour_claims(text, strict=True)
                   if not any(s < c.end and c.start < e for s, e in taken)]
        return sorted(quantity_claims(text) + brands + colours, key=lambda c: (c.start, c.end))

    def _brand_claims(self, text: str) -> list[Claim]:
        if self._brand_pattern is None:
            return []
        claims = []
        for match in self._brand_pattern.finditer(text):
            name = self._brands[squash_spaces(match.group(0)).lower()]
            written = match.group(0)
            if written[0].isupper() or written[0].isdigit() or written == name:
                claims.append(Claim("brand", written, match.start(), match.end(), name=name))
        return claims


# --------------------------------------------------------------------------- quantities


@lru_cache(maxsize=1)
def _quantity_pattern() -> re.Pattern:
    spellings = sorted(claim_vocab.unit_aliases(), key=lambda pair: len(pair[0]), reverse=True)
    unit = "(?:" + "|".join(_spelling_pattern(s) for s, _ in spellings) + r")(?![^\W\d_])"
    length = ("(?:" + "|".join(_spelling_pattern(s) for s, u in spellings
                               if u.dimension == "length") + r")(?![^\W\d_])")
    box = (rf"(?P<b1>{_NUMBER})(?:\s*{length})?{_BY}(?P<b2>{_NUMBER})(?:\s*{length})?"
           rf"(?:{_BY}(?P<b3>{_NUMBER}))?\s*(?P<bu>{length})")
    single = (rf"(?:(?P<lo>{_NUMBER})(?:\s*(?P<lu>{unit}))?\s*{_RANGE}\s*)?"
              rf"(?P<num>{_NUMBER})\s?-?\s?(?P<unit>{unit})")
    # "Pack of 500 g" is a weight, not 500 packs
    words = sorted({w for w, _ in claim_vocab.prefixed_units()}, key=len, reverse=True)
    prefixed = (r"(?P<pw>" + "|".join(_spelling_pattern(w) for w in words)
                + rf")\s*:?\s*(?P<pn>{_NUMBER})(?![\w.,]*\d)(?!\s?-?\s?{unit})")
    return re.compile(rf"(?<![\w.,])(?:{box}|{single}|{prefixed})", re.IGNORECASE)


def _prefixed_unit(words: str) -> Unit:
    key = claim_vocab.unit_key(words)
    return next(u for w, u in claim_vocab.prefixed_units() if claim_vocab.unit_key(w) == key)


def _spelling_pattern(spelling: str) -> str:
    """A unit as written: "fl. oz" also matches "fl oz" and "floz"; "in" needs a clear end."""
    words = [w for w in re.split(r"[\s.]+", spelling.lower()) if w]
    pattern = r"[.\s]{0,3}".join(re.escape(w) for w in words)
    if spelling.lower() in claim_vocab.clear_end_aliases():
        pattern += r"(?=\s{0,3}(?:$|[^\w\s-]))"
    return pattern


def _number(text: str) -> float | None:
    """``1,000`` groups thousands, any other comma is decimal (``1,5``); None if malformed."""
    digits = text.replace(",", "") if _THOUSANDS.fullmatch(text) else text.replace(",", ".")
    try:
        return float(digits)
    except ValueError:
        return None


def quantity_claims(text: str) -> list[Claim]:
    """Numbers with a unit: "500 g", "1,5 L", "220-240V", "30 x 20 cm", "2 years", "100%",
    and word-first ones: "Pack of 2", "SPF 50"."""
    unit_named = claim_vocab.unit_named
    claims = []
    for match in _quantity_pattern().finditer(text):
        numbers: list[tuple[str, Unit]]
        if match.group("pw") is not None:
            numbers = [(match.group("pn"), _prefixed_unit(match.group("pw")))]
        elif match.group("bu") is not None:
            unit = unit_named(match.group("bu"))
            numbers = [(match.group(g), unit) for g in ("b1", "b2", "b3") if match.group(g)]
        else:
            unit = unit_named(match.group("unit"))
            numbers = [(match.group("num"), unit)]
            if match.group("lo") is not None:
                low_unit = unit_named(match.group("lu")) if match.group("lu") else unit
                numbers.insert(0, (match.group("lo"), low_unit))
        values = [(_number(n), u) for n, u in numbers]
        if any(v is None for v, _ in values):
            continue
        quantities = tuple((v * u.factor, u.dimension) for v, u in values)
        claims.append(Claim("quantity", match.group(0), match.start(), match.end(), quantities))
    return claims


_BARE_NUMBER = re.compile(r"(?:(?<![\w.,])|(?<=[a-z]{2}))\d+(?:[.,]\d+)*(?![\w]|[.,]\d)")
"""A number on its own, or glued to the end of a lower-case word ("zip closure1 main pocket":
scraped text joins its lines that way); not a code's digits ("E27", "B12")."""


def bare_numbers(text: str) -> list[Claim]:
    """Numbers outside any quantity ("1 patch pocket", "5-pocket", "since 1995"): a count or a
    year the attributes must state as much as a weight, or the listing invents it."""
    quantities = [(c.start, c.end) for c in quantity_claims(text)]
    return [Claim("number", m.group(0), m.start(), m.end(), name=normalise_number(m.group(0)))
            for m in _BARE_NUMBER.finditer(text)
            if not any(start <= m.start() < end for start, end in quantities)]


# --------------------------------------------------------------------------- colours


@lru_cache(maxsize=1)
def _colour_pattern() -> re.Pattern:
    spellings = sorted(claim_vocab.colour_names(), key=len, reverse=True)
    alternation = "|".join(r"[\s-]".join(map(re.escape, s.split())) for s in spellings)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)


def colour_claims(text: str, *, strict: bool) -> list[Claim]:
    """Colour mentions; ``strict`` applies the ambiguous-name and ingredient rules (off when
    reading a seller's colour field or title, where every name is a colour)."""
    names = claim_vocab.colour_names()
    context_colours = claim_vocab.word_list("context_colours")
    ingredients = claim_vocab.word_list("ingredient_nouns")
    claims = []
    for match in _colour_pattern().finditer(text):
        name = names[" ".join(re.split(r"[\s-]", match.group(0).lower()))]
        after = text[match.end():]
        if strict and name in context_colours and not claim_vocab.colour_cue().match(after):
            continue
        next_word = re.match(r"\s+([^\W\d_]+)", after)
        if strict and next_word and next_word.group(1).lower() in ingredients:
            continue
        claims.append(Claim("colour", match.group(0), match.start(), match.end(), name=name))
    return claims


# --------------------------------------------------------------------------- product types


@lru_cache(maxsize=1)
def _type_pattern() -> re.Pattern:
    """Each type with any space or hyphen between its words and an optional plural."""
    names = sorted(set(claim_vocab.product_types()["types"])
                   - claim_vocab.word_list("ambiguous_types"), key=len, reverse=True)
    spelled = [r"[\s-]?".join(re.escape(w) for w in re.split(r"[\s-]+", n)) for n in names]
    return re.compile(r"(?<![\w-])(" + "|".join(spelled) + r")(?:e?s)?(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _type_keys() -> dict[str, str]:
    return {re.sub(r"[\s-]+", "", name): name for name in claim_vocab.product_types()["types"]}


def type_claims(text: str) -> list[Claim]:
    """Fashion product types ``text`` names ("trousers", "t-shirt"), ambiguous ones left out."""
    claims = []
    for match in _type_pattern().finditer(text):
        name = _type_keys()[re.sub(r"[\s-]+", "", match.group(1).casefold())]
        claims.append(Claim("product_type", match.group(0), match.start(), match.end(), name=name))
    return claims


def _loose(name: str) -> str:
    """A name's pattern with any run of spaces between its words."""
    return r"\s+".join(re.escape(word) for word in name.split())


def squash_spaces(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- branch types

_TYPE_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_TYPE_JOIN = re.compile(r"[\s-]+")
"""What may stand between the words of one type: "light bulb", "t-shirt"."""


def branch_type_claims(text: str, table: dict[str, Any] | None = None) -> list[Claim]:
    """Product types of any taxonomy branch ``text`` names ("LED bulbs", "T-Shirt", "sofa"),
    the longest type at each place ("laptop bag" rather than "laptop"), hand-reviewed and
    data-ambiguous words left out (``claim_vocab.claimable_branch_types``) unless another
    ``table`` of types is given. ``name`` is the type's key in
    ``describer/vocab/branch_types.json``."""
    table = claim_vocab.claimable_branch_types() if table is None else table
    longest = int(claim_vocab.branch_settings()["max_type_words"])
    words = list(_TYPE_WORD.finditer(text))
    claims, index = [], 0
    while index < len(words):
        run = [words[index]]
        for following in words[index + 1:index + longest]:
            if not _TYPE_JOIN.fullmatch(text[run[-1].end():following.start()]):
                break
            run.append(following)
        for size in range(len(run), 0, -1):
            key = claim_vocab.type_key([m.group(0) for m in run[:size]])
            if key in table:
                start, end = run[0].start(), run[size - 1].end()
                claims.append(Claim("product_type", text[start:end], start, end, name=key))
                index += size
                break
        else:
            index += 1
    return claims
