"""Grounding guard: the checkable claims of a listing text, and those its attributes do not support.

A small model, or a retrieval baseline that copies another product's text, writes fluent
sentences that may state a weight, a brand or a colour this product does not have. The guard
finds three kinds of claim:

* **quantities**: a number with a unit from ``listingsmith/core/vocab/units.json`` or ``EXTRA_UNITS``
  (``500 g``, ``1,5 L``, ``220-240V``, ``30 x 20 cm``, ``2 years``, ``100%``). A number
  without a unit ("5-pocket", "pack of 2") is no claim.
* **brands**: names of the brand list the guard is given (``describer.data.known_brands``),
  written with a capital or exactly as listed.
* **colours**: names of the retail colour vocabulary (``tagger/vocab/colours.csv``). Names
  that are also ordinary words ("olive", "rose", "gold") count only beside a colour word
  ("gold-toned", "olive colour"); a colour word naming an ingredient ("green tea") is none.

Titles, and the first sentence of a description, which say what the product *is*, are also
checked for **product types**: a fashion type of ``describer/vocab/product_types.json``
("trousers", "t-shirt") whose family (Apparel/Bottomwear, Footwear, Personal Care …) is not
the family of anything the attributes say the product is (category, product-type tags,
seller fields; a grocery category is a family of its own). A small model writing "trousers"
for a vitamin jar is caught; a later "pair it with jeans" is a styling tip, not a claim.
Nothing is checked when the attributes name no known family.

A claim is supported when the attributes state it:

* a quantity, when every number in it equals (within ``RELATIVE_TOLERANCE``, after
  conversion to one unit per dimension: 500 g == 0.5 kg == 500gm) a fact or a number with a
  unit in the seller fields, OCR text, category or tags;
* a brand, when it is the attributes' brand or those texts contain it;
* a colour, when it is one of the attributes' colours, the family of one (text "blue" for
  "Navy Blue": a true generalisation; text "Navy Blue" for "Blue" is a guess and a
  violation), or those texts contain it ("green" for the type "Green Tea").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Literal

from describer.prompting import reads_like_instruction
from tagger.colours import vocabulary
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import TEXT_ENTITIES, Attributes
from listingsmith.core.units import units

EXTRA_UNITS: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "percent": ("percent", 1.0, ("%", "percent", "per cent")),
    "milliamp hour": ("charge", 1.0, ("mah",)),
    "amp hour": ("charge", 1000.0, ("ah",)),
    "megabyte": ("data", 1 / 1024, ("mb",)),
    "gigabyte": ("data", 1.0, ("gb",)),
    "terabyte": ("data", 1024.0, ("tb",)),
    "year": ("time", 12.0, ("year", "years", "yr", "yrs")),
    "month": ("time", 1.0, ("month", "months")),
    "week": ("time", 7 / 30, ("week", "weeks")),
    "day": ("time", 1 / 30, ("day", "days")),
    "hour": ("time", 1 / 720, ("hour", "hours", "hr", "hrs")),
    "piece": ("count", 1.0, ("pc", "pcs", "piece", "pieces", "capsules", "tablets", "sachets")),
}
"""Units listings state that the fact schema has no entity for: name → (dimension, factor to
the dimension's base unit, aliases). Time is in months, so "2 years" == "24 months"."""

PROSE_QUOTES = frozenset({'"', "”"})
"""Inch aliases of ``units.json`` left out: in prose they close a quotation."""

CLEAR_END_ALIASES = frozenset({"in"})
"""Aliases that are a unit only before punctuation or the end ("5 in." but not "3 in 1")."""

RELATIVE_TOLERANCE = 0.02
"""Two quantities are equal within this share of the larger ("17 fl oz" == "500 ml")."""

COLOUR_ALIASES = {"gray": "Grey", "navy": "Navy Blue", "golden": "Gold"}
"""Other spellings of vocabulary colours."""

CONTEXT_COLOURS = frozenset({"Cream", "Silver", "Steel", "Gold", "Bronze", "Copper", "Tan",
                             "Skin", "Nude", "Rust", "Orange", "Peach", "Olive", "Rose",
                             "Mustard", "Charcoal", "Lavender"})
"""Colour names that are also materials, foods or scents ("olive oil", "rose water",
"gold-plated"): a colour claim only right before a colour word (``COLOUR_CUE``)."""

COLOUR_CUE = r"[\s-]*(?:colou?r(?:ed|s)?|tone[ds]?|shades?|hues?)\b"
"""What makes an ambiguous name a colour: "gold-toned", "olive coloured", "rose shade"."""

INGREDIENT_NOUNS = frozenset({
    "tea", "teas", "pepper", "peppers", "chilli", "chillies", "chili", "rice", "salt", "apple",
    "apples", "peas", "coffee", "olives", "gram", "cardamom", "grape", "grapes", "sugar",
    "chocolate", "juice", "peel", "seeds", "beans", "lentils", "dal", "velvet", "mustard",
    "onion", "onions", "capsicum", "wine", "bread", "vinegar", "tiger", "forest"})
"""A colour word right before one of these names the food ("green tea", "black pepper",
"red velvet"), not the product's colour; the list comes from the BigBasket descriptions."""

_NUMBER = r"\d+(?:[.,]\d+)*"
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_RANGE = r"(?:-|–|—|~|to)"
_BY = r"\s*[x×*]\s*"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
GLUED_SENTENCE = re.compile(r"(?<![A-Za-z])([a-z]{2,})(?=[A-Z][a-z])")
"""A lower-case word run into a capitalised one, "strapWarranty: 1 year": scraped catalogue
text (Myntra's) joins its lines that way, and copies and models trained on it repeat it.
Claims are read on each side separately; ``clean_description`` breaks the sentence there."""
_COLOUR_CUE = re.compile(COLOUR_CUE, re.IGNORECASE)


@dataclass(frozen=True)
class Claim:
    """One checkable statement in a text: what was written, where, and what it asserts."""

    kind: Literal["quantity", "brand", "colour", "product_type", "part", "word"]
    text: str
    start: int
    end: int
    quantities: tuple[tuple[float, str], ...] = ()
    """(value in the dimension's base unit, dimension) for each number of a quantity."""
    name: str = ""
    """The listed brand, vocabulary colour or product type the text matched."""


@dataclass(frozen=True)
class Repair:
    """A claim the guard rewrote to what the attributes state: "Grey" → "Blue"."""

    claim: Claim
    replacement: str

    def __str__(self) -> str:
        return f"{self.claim.text} → {self.replacement}"


@dataclass(frozen=True)
class InventedFacts:
    """How often texts state what their attributes do not: the headline grounding metric."""

    texts: int
    with_violation: int
    claims: int
    violations: int

    @property
    def rate(self) -> float:
        """Share of texts with at least one unsupported claim."""
        return self.with_violation / self.texts if self.texts else 0.0

    @property
    def claims_per_text(self) -> float:
        return self.claims / self.texts if self.texts else 0.0

    @property
    def violations_per_text(self) -> float:
        return self.violations / self.texts if self.texts else 0.0


@dataclass(frozen=True)
class _Unit:
    dimension: str
    factor: float


@dataclass(frozen=True)
class _Evidence:
    """What the attributes state, in the forms claims are compared in."""

    quantities: tuple[tuple[float, str], ...]
    brands: frozenset[str]
    colours: frozenset[str]
    text: str


class Guard:
    """Finds and checks claims; built once per brand list (the regular expressions are large)."""

    def __init__(self, brands: Iterable[str] = ()):
        colour_words = {name.casefold() for name in _colour_names()}
        names = {_squash_spaces(b) for b in brands} - {""}
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
        colours = [c for c in _colour_claims(text, strict=True)
                   if not any(s < c.end and c.start < e for s, e in taken)]
        return sorted(_quantity_claims(text) + brands + colours, key=lambda c: (c.start, c.end))

    def violations(self, text: str, attributes: Attributes) -> list[Claim]:
        """The claims of ``text`` that ``attributes`` do not support."""
        return _unsupported(self.find_claims(text), _evidence(attributes))

    def ground(self, text: str, attributes: Attributes) -> tuple[str, list[Claim]]:
        """``text`` without the sentences that hold a violation, and those violations.

        The first sentence is also checked for product types (``product_type_violations``),
        every sentence for parts the product cannot have (``part_violations``) and for words
        no catalogue text or English vocabulary has (``unknown_words``: a small model's
        babble).
        The caller falls back to the template text when nothing remains.
        """
        evidence = _evidence(attributes)
        kept, dropped = [], []
        for index, sentence in enumerate(_SENTENCE.split(text.strip())):
            found = _unsupported(self.find_claims(sentence), evidence)
            if index == 0:
                found += self.product_type_violations(sentence, attributes)
            found += part_violations(sentence, attributes) + unknown_words(sentence, evidence)
            if found:
                dropped.extend(found)
            elif sentence:
                kept.append(sentence)
        return " ".join(kept), dropped

    def repair(self, text: str, attributes: Attributes) -> tuple[str, list[Repair]]:
        """``text`` with the unsupported claims the attributes can correct rewritten.

        A run of colours ("white, navy and orange") loses its unsupported names, or becomes
        the product's colour when none is supported; a brand becomes the product's brand; a
        one-number quantity becomes the product's only quantity of that dimension ("250 ml"
        → "500 ml"). What cannot be corrected (no colour, brand or single quantity to put
        in) stays for ``ground`` to drop. Repairs only touch what the guard can check: the
        rest of a sentence is the generator's.
        """
        evidence = _evidence(attributes)
        claims = self.find_claims(text)
        edits = _colour_repairs([c for c in claims if c.kind == "colour"], text, evidence,
                                stated_colour(attributes))
        brand = stated_brand(attributes)
        quantities = _stated_quantities(attributes)
        for claim in claims:
            if _supported(claim, evidence):
                continue
            if claim.kind == "brand" and brand:
                edits.append(Repair(claim, brand.upper() if claim.text.isupper() else brand))
            elif claim.kind == "quantity" and len(claim.quantities) == 1:
                dimension = claim.quantities[0][1]
                if len(quantities.get(dimension, ())) == 1:
                    edits.append(Repair(claim, quantities[dimension][0]))
        for edit in sorted(edits, key=lambda e: e.claim.start, reverse=True):
            text = text[:edit.claim.start] + edit.replacement + text[edit.claim.end:]
        return text, sorted(edits, key=lambda e: e.claim.start)

    def product_type_violations(self, text: str, attributes: Attributes) -> list[Claim]:
        """Product types ``text`` names from a family the product is not in (call it on what
        says what the product is: a title, a description's first sentence)."""
        families = product_families(attributes)
        if not families:
            return []
        return [c for c in type_claims(text) if _product_types()["types"][c.name] not in families]

    def invented_fact_rate(self, texts: Sequence[str],
                           attributes_list: Sequence[Attributes]) -> InventedFacts:
        """Share of ``texts`` with at least one violation, plus claims and violations per text."""
        if len(texts) != len(attributes_list):
            raise ListingsmithError(f"invented_fact_rate: {len(texts)} texts but "
                                    f"{len(attributes_list)} attributes; pass one per text")
        claims = violations = with_violation = 0
        for text, attributes in zip(texts, attributes_list):
            found = self.find_claims(text)
            bad = len(_unsupported(found, _evidence(attributes)))
            claims += len(found)
            violations += bad
            with_violation += bad > 0
        return InventedFacts(len(texts), with_violation, claims, violations)

    def _brand_claims(self, text: str) -> list[Claim]:
        if self._brand_pattern is None:
            return []
        claims = []
        for match in self._brand_pattern.finditer(text):
            name = self._brands[_squash_spaces(match.group(0)).lower()]
            written = match.group(0)
            if written[0].isupper() or written[0].isdigit() or written == name:
                claims.append(Claim("brand", written, match.start(), match.end(), name=name))
        return claims


def find_claims(text: str, brands: Iterable[str] = ()) -> list[Claim]:
    """Quantities, colours and (given a brand list) brands stated in ``text``.

    >>> [c.text for c in find_claims("Net weight 500gm, 2 pockets, navy blue.")]
    ['500gm', 'navy blue']
    """
    return _guard(tuple(brands)).find_claims(text)


def violations(text: str, attributes: Attributes, brands: Iterable[str] = ()) -> list[Claim]:
    """The claims of ``text`` that ``attributes`` do not support."""
    return _guard(tuple(brands)).violations(text, attributes)


def ground(text: str, attributes: Attributes,
           brands: Iterable[str] = ()) -> tuple[str, list[Claim]]:
    """``text`` without its unsupported sentences, and the violations that removed them."""
    return _guard(tuple(brands)).ground(text, attributes)


def invented_fact_rate(texts: Sequence[str], attributes_list: Sequence[Attributes],
                       brands: Iterable[str] = ()) -> InventedFacts:
    """Share of texts with at least one unsupported claim (and claims per text)."""
    return _guard(tuple(brands)).invented_fact_rate(texts, attributes_list)


@lru_cache(maxsize=4)
def _guard(brands: tuple[str, ...]) -> Guard:
    return Guard(brands)


@lru_cache(maxsize=1)
def shipped_brands() -> tuple[str, ...]:
    """The brands of the Myntra and BigBasket corpora (``describer/vocab/brands.txt``, 1.9k
    names): a listing naming one the attributes don't is an invented brand."""
    text = resources.files("describer").joinpath("vocab/brands.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def default_guard(extra_brands: Iterable[str] = ()) -> Guard:
    """The product's guard: the shipped brands plus any the seller lists."""
    return _guard(tuple(sorted(set(shipped_brands()) | set(extra_brands))))


# --------------------------------------------------------------------------- quantities


@lru_cache(maxsize=1)
def _unit_aliases() -> tuple[tuple[str, _Unit], ...]:
    """(spelling, unit) for every unit name and alias of ``units.json`` and ``EXTRA_UNITS``."""
    table = {unit.name: (unit.dimension, unit.factor, unit.aliases) for unit in units().values()}
    table.update(EXTRA_UNITS)
    return tuple((spelling, _Unit(dimension, factor))
                 for name, (dimension, factor, aliases) in table.items()
                 for spelling in (name, *aliases) if spelling not in PROSE_QUOTES)


@lru_cache(maxsize=1)
def _units() -> dict[str, _Unit]:
    """Unit by spelling key (lower case, no spaces or dots: "fl. oz" → "floz")."""
    return {_key(spelling): unit for spelling, unit in _unit_aliases()}


@lru_cache(maxsize=1)
def _quantity_pattern() -> re.Pattern:
    spellings = sorted(_unit_aliases(), key=lambda pair: len(pair[0]), reverse=True)
    unit = "(?:" + "|".join(_spelling_pattern(s) for s, _ in spellings) + r")(?![^\W\d_])"
    length = ("(?:" + "|".join(_spelling_pattern(s) for s, u in spellings
                               if u.dimension == "length") + r")(?![^\W\d_])")
    box = (rf"(?P<b1>{_NUMBER})(?:\s*{length})?{_BY}(?P<b2>{_NUMBER})(?:\s*{length})?"
           rf"(?:{_BY}(?P<b3>{_NUMBER}))?\s*(?P<bu>{length})")
    single = (rf"(?:(?P<lo>{_NUMBER})(?:\s*(?P<lu>{unit}))?\s*{_RANGE}\s*)?"
              rf"(?P<num>{_NUMBER})\s?-?\s?(?P<unit>{unit})")
    return re.compile(rf"(?<![\w.,])(?:{box}|{single})", re.IGNORECASE)


def _spelling_pattern(spelling: str) -> str:
    """A unit as written: "fl. oz" also matches "fl oz" and "floz"; "in" needs a clear end."""
    words = [w for w in re.split(r"[\s.]+", spelling.lower()) if w]
    pattern = r"[.\s]{0,3}".join(re.escape(w) for w in words)
    if spelling.lower() in CLEAR_END_ALIASES:
        pattern += r"(?=\s{0,3}(?:$|[^\w\s-]))"
    return pattern


def _key(alias: str) -> str:
    return re.sub(r"[\s.]+", "", alias.lower())


def _number(text: str) -> float | None:
    """``1,000`` groups thousands, any other comma is decimal (``1,5``); None if malformed."""
    digits = text.replace(",", "") if _THOUSANDS.fullmatch(text) else text.replace(",", ".")
    try:
        return float(digits)
    except ValueError:
        return None


def _quantity_claims(text: str) -> list[Claim]:
    units = _units()
    claims = []
    for match in _quantity_pattern().finditer(text):
        if match.group("bu") is not None:
            unit = units[_key(match.group("bu"))]
            numbers = [(match.group(g), unit) for g in ("b1", "b2", "b3") if match.group(g)]
        else:
            unit = units[_key(match.group("unit"))]
            numbers = [(match.group("num"), unit)]
            if match.group("lo") is not None:
                low_unit = units[_key(match.group("lu"))] if match.group("lu") else unit
                numbers.insert(0, (match.group("lo"), low_unit))
        values = [(_number(n), u) for n, u in numbers]
        if any(v is None for v, _ in values):
            continue
        quantities = tuple((v * u.factor, u.dimension) for v, u in values)
        claims.append(Claim("quantity", match.group(0), match.start(), match.end(), quantities))
    return claims


# --------------------------------------------------------------------------- colours


@lru_cache(maxsize=1)
def _colour_names() -> dict[str, str]:
    """Lower-case spelling → vocabulary name (aliases included)."""
    names = {colour.name.lower(): colour.name for colour in vocabulary()}
    names.update({alias: name for alias, name in COLOUR_ALIASES.items()})
    return names


@lru_cache(maxsize=1)
def _families() -> dict[str, str]:
    """Vocabulary name → its family, in lower case ("Navy Blue" → "blue")."""
    return {colour.name: colour.family for colour in vocabulary()}


@lru_cache(maxsize=1)
def _colour_pattern() -> re.Pattern:
    spellings = sorted(_colour_names(), key=len, reverse=True)
    alternation = "|".join(r"[\s-]".join(map(re.escape, s.split())) for s in spellings)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)


def _colour_claims(text: str, *, strict: bool) -> list[Claim]:
    """Colour mentions; ``strict`` applies the ambiguous-name and ingredient rules (off when
    reading a seller's colour field, where every name is a colour)."""
    claims = []
    for match in _colour_pattern().finditer(text):
        name = _colour_names()[" ".join(re.split(r"[\s-]", match.group(0).lower()))]
        after = text[match.end():]
        if strict and name in CONTEXT_COLOURS and not _COLOUR_CUE.match(after):
            continue
        next_word = re.match(r"\s+([^\W\d_]+)", after)
        if strict and next_word and next_word.group(1).lower() in INGREDIENT_NOUNS:
            continue
        claims.append(Claim("colour", match.group(0), match.start(), match.end(), name=name))
    return claims


_COLOUR_JOIN = re.compile(r"\s*(?:,|&|/|\+|and)\s*|[\s-]+", re.IGNORECASE)
"""What may stand between two colours of one run: "white, navy and orange", "black/red"."""


def _colour_repairs(colours: list[Claim], text: str, evidence: _Evidence,
                    colour: str | None) -> list[Repair]:
    """One repair per run of adjacent colours holding an unsupported one (see ``repair``)."""
    runs: list[list[Claim]] = []
    for claim in colours:
        if runs and _COLOUR_JOIN.fullmatch(text[runs[-1][-1].end:claim.start]):
            runs[-1].append(claim)
        else:
            runs.append([claim])
    repairs = []
    for run in runs:
        kept = [c.text for c in run if _supported(c, evidence)]
        if len(kept) == len(run) or not (kept or colour):
            continue
        words = _listed(kept) if kept else _cased_like(run[0].text, colour)
        whole = Claim("colour", text[run[0].start:run[-1].end], run[0].start, run[-1].end,
                      name=run[0].name)
        repairs.append(Repair(whole, words))
    return repairs


def _listed(words: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _cased_like(written: str, name: str) -> str:
    """``name`` cased as the text it replaces: "Grey" → "Blue", "grey" → "blue", "GREY" → "BLUE"."""
    if written.isupper() and len(written) > 1:
        return name.upper()
    return name[:1].upper() + name[1:] if written[:1].isupper() else name.lower()


def stated_colour(attributes: Attributes) -> str | None:
    """The product's main colour: the first one its seller colour field names, else the
    photos' top colour."""
    for key, value in attributes.seller.items():
        if "colour" in key.lower() or "color" in key.lower():
            named = _colour_claims(value, strict=False)
            if named:
                return named[0].name
    return attributes.colours[0].name if attributes.colours else None


def stated_brand(attributes: Attributes) -> str | None:
    """The seller's brand field, else a brand fact read on the pack."""
    for key, value in attributes.seller.items():
        if key.lower() == "brand" and value.strip():
            return value.strip()
    return next((str(f.value) for f in attributes.facts if f.entity == "brand"), None)


def _stated_quantities(attributes: Attributes) -> dict[str, list[str]]:
    """Dimension → the distinct quantities the facts state, as listings write them."""
    found: dict[str, dict[float, str]] = {}
    for fact in attributes.facts:
        if fact.entity in TEXT_ENTITIES:
            continue
        unit = _units()[_key(str(fact.unit))]
        value = round(float(fact.value) * unit.factor, 6)
        found.setdefault(unit.dimension, {}).setdefault(value, fact.display)
    return {dimension: list(values.values()) for dimension, values in found.items()}


# --------------------------------------------------------------------------- evidence


def _evidence(attributes: Attributes) -> _Evidence:
    texts = list(attributes.seller.values()) + [span.text for span in attributes.text_spans
                                                if not reads_like_instruction(span.text)]
    texts += [tag.name for tag in attributes.tags]
    if attributes.category is not None:
        texts += [attributes.category.label, *attributes.category.path]
    quantities = []
    brands = {v.casefold() for k, v in attributes.seller.items() if k.lower() == "brand"}
    for fact in attributes.facts:
        texts.append(fact.raw_text)
        if fact.entity in TEXT_ENTITIES:
            if fact.entity == "brand":
                brands.add(str(fact.value).casefold())
            continue
        unit = _units()[_key(str(fact.unit))]
        quantities.append((float(fact.value) * unit.factor, unit.dimension))
    for text in texts:
        quantities.extend(q for claim in _quantity_claims(text) for q in claim.quantities)
    colours = {swatch.name for swatch in attributes.colours}
    for key, value in attributes.seller.items():
        if "colour" in key.lower() or "color" in key.lower():
            colours.update(c.name for c in _colour_claims(value, strict=False))
    return _Evidence(tuple(quantities), frozenset(brands), frozenset(colours),
                     " | ".join(_squash_spaces(t) for t in texts).casefold())


def _unsupported(claims: list[Claim], evidence: _Evidence) -> list[Claim]:
    return [c for c in claims if not _supported(c, evidence)]


def _supported(claim: Claim, evidence: _Evidence) -> bool:
    if claim.kind == "quantity":
        return all(any(dimension == d and _close(value, v) for v, d in evidence.quantities)
                   for value, dimension in claim.quantities)
    if claim.kind == "brand" and claim.name.casefold() in evidence.brands:
        return True
    if claim.kind == "colour":
        family = claim.name.lower()  # "Blue" for a "Navy Blue" product: a true generalisation
        if claim.name in evidence.colours or (
                family in _families().values()
                and any(_families().get(c) == family for c in evidence.colours)):
            return True
    return _contains_words(evidence.text, claim.text)


GROCERY_FAMILY = "Grocery"
"""The family of every product in the shipped grocery taxonomy: no fashion type fits it."""

AMBIGUOUS_TYPES = frozenset({"top", "cap", "tie", "watch", "stole", "free gift",
                             "accessory gift set", "travel accessory", "shoe accessories"})
"""Product types that are also ordinary words in titles ("top quality", "bottle cap",
"tie-up", "stole"): never product-type claims."""


@lru_cache(maxsize=1)
def _product_types() -> dict[str, dict[str, str]]:
    text = resources.files("describer").joinpath("vocab/product_types.json").read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _type_pattern() -> re.Pattern:
    """Each type with any space or hyphen between its words and an optional plural."""
    names = sorted(set(_product_types()["types"]) - AMBIGUOUS_TYPES, key=len, reverse=True)
    spelled = [r"[\s-]?".join(re.escape(w) for w in re.split(r"[\s-]+", n)) for n in names]
    return re.compile(r"(?<![\w-])(" + "|".join(spelled) + r")(?:e?s)?(?![\w-])", re.IGNORECASE)


def type_claims(text: str) -> list[Claim]:
    keys = {re.sub(r"[\s-]+", "", name): name for name in _product_types()["types"]}
    claims = []
    for match in _type_pattern().finditer(text):
        name = keys[re.sub(r"[\s-]+", "", match.group(1).casefold())]
        claims.append(Claim("product_type", match.group(0), match.start(), match.end(), name=name))
    return claims


def unknown_words(text: str, evidence: _Evidence | Attributes) -> list[Claim]:
    """Words of ``text`` that are in neither the lexicon (``describer/vocab/words.txt``:
    catalogue words and MiniLM's English vocabulary), as written or with a common ending
    removed, nor the attributes: "fira aloda" from a model that lost its way.

    >>> [c.text for c in unknown_words("A rich aloda for the skin.", Attributes())]
    ['aloda']
    """
    if isinstance(evidence, Attributes):
        evidence = _evidence(evidence)
    attribute_words = set(_WORD.findall(evidence.text))
    return [Claim("word", match.group(0), match.start(), match.end(), name=match.group(0).lower())
            for match in _WORD.finditer(text)
            if not _known(match.group(0).lower(), attribute_words)]


_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")

_ENDINGS = ("s", "es", "ed", "d", "ing", "ly", "er", "est", "'s")


def _known(word: str, attribute_words: set[str]) -> bool:
    lexicon = _lexicon()
    if word in lexicon or word in attribute_words:
        return True
    if "-" in word:
        return all(_known(part, attribute_words) for part in word.split("-"))
    return any(word.endswith(e) and word[:-len(e)] in lexicon for e in _ENDINGS)


@lru_cache(maxsize=1)
def _lexicon() -> frozenset[str]:
    text = resources.files("describer").joinpath("vocab/words.txt").read_text("utf-8")
    return frozenset(text.split())


def part_violations(text: str, attributes: Attributes) -> list[Claim]:
    """Parts ``text`` names that no family of the product has in the training descriptions
    ("has a round neck" for a handbag). Unchecked (none) when a family has no part list or
    the product has no family, and for parts the seller's own fields name."""
    families = product_families(attributes)
    known = _product_types().get("parts", {})
    if not families or not families <= set(known):
        return []
    allowed = set().union(*(known[family] for family in families))
    seller_text = " ".join(attributes.seller.values())
    claims = [Claim("part", match.group(0), match.start(), match.end(), name=word)
              for word, pattern in _part_patterns().items() if word not in allowed
              for match in pattern.finditer(text) if not pattern.search(seller_text)]
    return sorted(claims, key=lambda c: (c.start, c.end))


@lru_cache(maxsize=1)
def _part_patterns() -> dict[str, re.Pattern]:
    from describer.data import part_pattern, part_words

    return {word: part_pattern(word) for word in part_words()}


def product_families(attributes: Attributes) -> set[str]:
    """The families the attributes put the product in: its category (grocery, or a fashion
    article type), its product-type tags and the types its seller fields name."""
    types, article_types = _product_types()["types"], _product_types()["article_types"]
    families = set()
    category = attributes.category
    if category is not None:
        if category.taxonomy == "grocery":
            families.add(GROCERY_FAMILY)
        families.update(article_types[name] for name in (category.label, *category.path)
                        if name in article_types)
    families.update(types[tag.name] for tag in attributes.tags if tag.name in types)
    for value in attributes.seller.values():
        families.update(types[claim.name] for claim in type_claims(value))
    return families


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b))


def _contains_words(haystack: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as whole words (case-folded, spaces squashed)."""
    words = _squash_spaces(needle).casefold()
    return re.search(r"(?<!\w)" + re.escape(words) + r"(?!\w)", haystack) is not None


def _loose(name: str) -> str:
    """A name's pattern with any run of spaces between its words."""
    return r"\s+".join(re.escape(word) for word in name.split())


def _squash_spaces(text: str) -> str:
    return " ".join(text.split())
