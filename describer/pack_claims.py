"""Claims the pack prints, lifted from OCR lines for the bullets.

A pack says things a buyer wants to know and no fact parser reads: "No artificial colours",
"Dishwasher safe", "Not dimmable". They are evidence like a weight is, so each claim keeps
the OCR line it was read from (photo and box). Precision matters more than recall: a bullet
that repeats a misread, a German line, a price or an injected instruction is worse than a
missing bullet. So a line becomes a claim only when it

- was read with confidence (``min_score``) and is English (``tagger.pack_text.looks_foreign``),
- does not address the model (the patterns of ``prompts/untrusted.toml``),
- is not a fact line ("268 mg", "365 Capsules": ``tagger.more_facts.parse_product_facts``;
  a fact inside a longer line is cut out) nor the brand,
- is mostly readable words, not digit/letter soup, and short,
- matches the claim grammar (``vocab/pack_claims.toml`` ``[kinds]``: "no X", "X free",
  "suitable for X", "X safe", "rich in X" …) and none of its banned words (promotion,
  prices, medical claims).

Cleaning never adds a word: spaces are collapsed, stray bullets and punctuation stripped,
ALL CAPS and Title Case lines put in sentence case (acronyms and proper nouns kept), and
digits OCR reads for letters ("N0 C0LOURS") repaired only where the result is a dictionary
word. A claim printed over two lines of one photo is joined when the boxes stack (similar
glyph height, adjacent, overlapping) and the first line is cut short ("Not" / "dimmable") or
goes on below (``_pairs``). Repeats across photos keep the best-read line, and a claim
with its negation on one product ("Dimmable" and "Non-Dimmable" in a chart of bulb types)
is left out.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

from describer.prompting import reads_like_instruction
from listingsmith.core import vocab
from listingsmith.core.errors import ValidationError
from listingsmith.core.types import Attributes, PrintedClaim, TextSpan
from tagger.fact_patterns import fold
from tagger.more_facts import parse_product_facts
from tagger.pack_text import WORD, looks_foreign, readable_share

__all__ = ["pack_claims"]

TOKEN = re.compile(r"\S+")
RUNS = re.compile(r"[^\W\d_]+|\d+")


@dataclass(frozen=True)
class _Rules:
    """The data file, compiled once."""

    settings: dict
    kinds: tuple[tuple[str, tuple[re.Pattern, ...]], ...]
    banned: tuple[re.Pattern, ...]
    acronyms: dict[str, str]
    proper: dict[str, str]
    minor: frozenset[str]
    known: frozenset[str]
    brands: frozenset[str]


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    data = vocab.load("describer", "vocab/pack_claims.toml")

    def compiled(patterns: list[str]) -> tuple[re.Pattern, ...]:
        return tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)

    return _Rules(
        settings=data,
        kinds=tuple((kind, compiled(patterns)) for kind, patterns in data["kinds"].items()),
        banned=compiled([p for patterns in data["banned"].values() for p in patterns]),
        acronyms={word.lower(): word for word in data["acronyms"]},
        proper={word.lower(): word for word in data["proper_words"]},
        minor=frozenset(data["minor_words"]),
        known=frozenset(data["known_words"]) | {word.lower() for word in data["acronyms"]},
        brands=frozenset(_key(brand) for brand in vocab.load("describer", "vocab/brands.txt")),
    )


def _key(text: str) -> str:
    """What two spellings of one claim share: letters and digits, lower case."""
    return re.sub(r"[\W_]+", "", fold(text))


# --------------------------------------------------------------------------- words


def _is_word(word: str) -> bool:
    """A dictionary word: the encoder knows it whole (plurals folded) or the data lists it."""
    lower = word.lower()
    return lower in _rules().known or readable_share(lower) == 1.0


def _repair(token: str) -> str:
    """``token`` with OCR's digit-for-letter slips undone ("C0LOURS" → "COLOURS") when the
    result is a dictionary word; otherwise as read. Digits in a code ("B1", "E27") stay."""
    rules = _rules()
    confusions: dict[str, list[str]] = rules.settings["confusions"]
    core = token.strip(rules.settings["strip_chars"])
    slips = sum(char in confusions for char in core)
    if not slips or slips > rules.settings["repair_max_digits"] or not any(
            char.isalpha() for char in core):
        return token
    upper = core.upper() == core
    slots = [confusions.get(char, [char]) for char in core]
    for letters in itertools.product(*slots):
        word = "".join(letters)
        if not word.isalpha():
            break
        long_enough = (len(word) >= rules.settings["repair_min_letters"]
                       or word.lower() in rules.settings["repair_short_words"])
        if long_enough and _is_word(word):
            return token.replace(core, word.upper() if upper else word)
    return token


def _recase_word(word: str, lower_it: bool) -> str:
    """One word (or one part of a hyphenated word) in the case a sentence gives it."""
    rules = _rules()
    lower = word.lower()
    if lower in rules.acronyms:
        return rules.acronyms[lower]
    if lower in rules.proper:
        return rules.proper[lower]
    return lower if lower_it and not any(c.isdigit() for c in word) else word


def _recase(tokens: list[str]) -> list[str]:
    """Sentence case for ALL CAPS and Title Case lines, acronyms and proper nouns kept;
    a line in sentence case already only gets its first letter raised. A word with a capital
    inside ("iPhone") keeps its case unless the whole line shouts."""
    minor = _rules().minor
    parts = [part for token in tokens for part in token.split("-") if part]
    shouting = _shouts("".join(tokens))
    titled = all(part[0].isupper() for part in parts
                 if part[0].isalpha() and part.lower() not in minor)
    out = []
    for token in tokens:
        whole = _recase_word(token, False)  # an acronym with a hyphen ("Wi-Fi")
        out.append(whole if whole != token or token.lower() in _rules().acronyms else "-".join(
            _recase_word(part, shouting or (titled and part[1:] == part[1:].lower()))
            for part in token.split("-")))
    out[0] = out[0][:1].upper() + out[0][1:]
    return out


def _clean(text: str) -> str:
    """The line without stray punctuation at either end, spaces collapsed, digits read for
    letters repaired and the casing a sentence has."""
    strip = _rules().settings["strip_chars"]
    tokens = [_repair(token) for token in TOKEN.findall(text.strip(strip))]
    tokens = [token for token in tokens if token.strip(strip)]
    return " ".join(_recase(tokens)) if tokens else ""


# --------------------------------------------------------------------------- judging lines


def _soup(token: str) -> bool:
    return len(RUNS.findall(token)) >= _rules().settings["soup_min_runs"]


def _readable(text: str) -> bool:
    """Enough of the words (two letters or more) are English words, and few tokens are soup."""
    settings = _rules().settings
    words = WORD.findall(text.lower())
    tokens = TOKEN.findall(text)
    if not words or not tokens:
        return False
    known = sum(_is_word(word) for word in words) / len(words)
    soup = sum(_soup(token) for token in tokens) / len(tokens)
    return known >= settings["min_readable_share"] and soup <= settings["max_soup_share"]


def _dangles(text: str) -> bool:
    """Whether the phrase stops short: it ends with a word that needs a next one."""
    ending = fold(text).rstrip(_rules().settings["strip_chars"])
    return any(ending == word or ending.endswith(f" {word}")
               for word in _rules().settings["dangling_words"])


def _kind(text: str) -> str | None:
    """The claim kind of a cleaned line; None when it is no claim or a banned one."""
    rules = _rules()
    if len(text.split()) > rules.settings["max_words"] or _dangles(text):
        return None
    if any(pattern.search(text) for pattern in rules.banned) or not _readable(text):
        return None
    return next((kind for kind, patterns in rules.kinds
                 if any(pattern.search(text) for pattern in patterns)), None)


def _judge(text: str) -> tuple[str, str] | None:
    """``(cleaned text, kind)`` of a line that is a claim, else None."""
    cleaned = _clean(text)
    kind = _kind(cleaned) if cleaned else None
    return (cleaned, kind) if kind else None


def _without_facts(span: TextSpan) -> str | None:
    """The line with its facts' text cut out; None when facts are most of it ("268 mg")."""
    text = span.text
    for fact in parse_product_facts([span]):
        if fact.raw_text:
            text = text.replace(fact.raw_text, " ")
    visible = len(re.sub(r"\s+", "", span.text))
    cut = visible - len(re.sub(r"\s+", "", text))
    return None if visible == 0 or cut / visible >= _rules().settings["max_fact_share"] else text


def _admissible(span: TextSpan, brands: frozenset[str]) -> str | None:
    """The text of a line that may hold a claim (facts cut out), or None: read unsurely,
    addressing the model, a fact line, or the product's brand."""
    rules = _rules()
    if span.score < rules.settings["min_score"] or _key(span.text) in brands:
        return None
    if reads_like_instruction(span.text):
        return None
    return _without_facts(span)


def _english(text: str) -> bool:
    """Words of two letters or more, and not another language."""
    return WORD.search(text) is not None and not looks_foreign(text)[0]


def _segments(text: str) -> list[str]:
    """The English phrases of a line: its parts between language separators that are
    English (``looks_foreign``), split at sentence ends into phrases that are English too."""
    settings = _rules().settings
    return [sentence for part in re.split(settings["language_split"], text) if _english(part)
            for sentence in re.split(settings["sentence_split"], part) if _english(sentence)]


# --------------------------------------------------------------------------- two-line claims


def _stacked(first: TextSpan, second: TextSpan) -> bool:
    """Whether ``second`` sits right under ``first`` on the same photo, in the same type size."""
    settings = _rules().settings
    if first.image_index != second.image_index or first is second:
        return False
    low, high = sorted((first.height, second.height))
    if low <= 0 or high / low > settings["join_height_ratio"]:
        return False
    gap = (second.box[1] - first.box[3]) / high
    if not -settings["join_max_overlap"] <= gap <= settings["join_max_gap"]:
        return False
    overlap = min(first.box[2], second.box[2]) - max(first.box[0], second.box[0])
    narrower = min(first.box[2] - first.box[0], second.box[2] - second.box[0])
    return narrower > 0 and overlap / narrower >= settings["join_min_x_overlap"]


def _joined(first: TextSpan, second: TextSpan) -> TextSpan:
    """One span for a claim printed over two lines: both texts, the union of the boxes, the
    weaker score."""
    box = (min(first.box[0], second.box[0]), min(first.box[1], second.box[1]),
           max(first.box[2], second.box[2]), max(first.box[3], second.box[3]))
    return TextSpan(text=f"{first.text.strip()} {second.text.strip()}", box=box,
                    score=min(first.score, second.score), image_index=first.image_index,
                    line_height=max(first.height, second.height))


def _joinable(span: TextSpan, text: str) -> bool:
    """A whole line (no fact cut out) of one English phrase, or of no word at all ("100%"),
    without a sentence ending."""
    endings = tuple(_rules().settings["sentence_endings"])
    return (text == span.text and not text.rstrip().endswith(endings)
            and (WORD.search(text) is None or _segments(text) == [text]))


def _continuation(first: TextSpan, second: TextSpan, claims: set[int]) -> int | None:
    """How surely ``second``, the line under ``first``, ends the phrase ``first`` starts, or
    None when it does not; the two together must be a claim. 2: ``first`` is cut short ("Not"
    / "dimmable", "100%" / "natural", "Suitable for" / "vegetarians") or ``second`` goes on
    in lower case ("Free" / "from preservatives"); 1: neither is a claim alone ("ENERGY" /
    "SAVING"); 0: ``first`` is a claim that one word in capitals completes ("RECYCLABLE" /
    "PACKAGING"). A claim above a line that starts a new phrase ("Gluten free" / "Keep out
    of reach of children") stays alone: labels stack their lines with no gap."""
    if _judge(f"{first.text} {second.text}") is None:
        return None
    rest = second.text.strip()
    if WORD.search(first.text) is None or _dangles(first.text) or rest[:1].islower():
        return 2
    if id(second) in claims:
        return None
    if id(first) not in claims:
        return 1
    return 0 if len(rest.split()) == 1 and _shouts(first.text) and _shouts(rest) else None


def _shouts(text: str) -> bool:
    """Whether the text is in capitals: its case then says nothing of where a phrase ends."""
    letters = [char for char in text if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters)


def _pairs(spans: list[TextSpan], whole: list[TextSpan]) -> dict[int, TextSpan]:
    """Claims printed over two lines: each whole line and the nearest line under it, the
    surest continuations (``_continuation``) first, then top-down; a line joins once."""
    claims = {id(span) for span in whole if _judge(span.text) is not None}
    candidates = []
    for first in whole:
        below = [span for span in spans if _stacked(first, span)]
        second = min(below, key=lambda span: span.box[1]) if below else None
        if second is not None and any(second is span for span in whole):
            strength = _continuation(first, second, claims)
            if strength is not None:
                candidates.append((-strength, first.image_index, first.box[1], first, second))
    partners: dict[int, TextSpan] = {}
    used: set[int] = set()
    for *_, first, second in sorted(candidates, key=lambda item: item[:3]):
        if id(first) not in used and id(second) not in used:
            partners[id(first)] = second
            used.update((id(first), id(second)))
    return partners


def _lines(spans: list[TextSpan], brands: frozenset[str]) -> list[tuple[TextSpan, str]]:
    """Each English phrase of each admissible line with its span, a claim printed over two
    stacked lines of one photo joined into one (``_pairs``)."""
    admitted = [(span, text) for span in spans
                if (text := _admissible(span, brands)) is not None]
    partners = _pairs(spans, [span for span, text in admitted if _joinable(span, text)])
    joined_below = {id(second) for second in partners.values()}
    out = []
    for span, text in admitted:
        if id(span) in partners:
            joined = _joined(span, partners[id(span)])
            if not reads_like_instruction(joined.text):
                out.append((joined, joined.text))
        elif id(span) not in joined_below:
            out.extend((span, segment) for segment in _segments(text))
    return out


def _negated(text: str) -> tuple[str, bool]:
    """The claim's key without its negation words, and whether it had one."""
    negations = _rules().settings["negations"]
    words = re.findall(r"[^\W_]+", fold(text))
    kept = [word for word in words if word not in negations]
    return "".join(kept), len(kept) < len(words)


def _consistent(claims: list[PrintedClaim]) -> list[PrintedClaim]:
    """The claims without any that another one negates ("Dimmable" and "Non-Dimmable")."""
    forms: dict[str, set[bool]] = {}
    for claim in claims:
        stem, negative = _negated(claim.text)
        forms.setdefault(stem, set()).add(negative)
    return [claim for claim in claims if len(forms[_negated(claim.text)[0]]) == 1]


# --------------------------------------------------------------------------- the claims


def _brands(attributes: Attributes) -> frozenset[str]:
    """The product's brand and every known brand, as keys. A brand read from the pack counts
    only when the brand reader matched it (``brand_min_confidence``): its fallback, the most
    prominent name-like line, is often the pack's largest claim ("Recyclable packaging")."""
    names = [attributes.seller.get("brand", "")]
    brand = attributes.fact("brand")
    if brand is not None and brand.confidence >= _rules().settings["brand_min_confidence"]:
        names += [str(brand.value), brand.raw_text]
    return _rules().brands | {_key(name) for name in names if _key(name)}


def pack_claims(attributes: Attributes, limit: int = 3) -> list[PrintedClaim]:
    """Up to ``limit`` claims the pack prints in readable English, most prominent first
    (largest glyphs, then reading order), each with the OCR line it was read from; one claim
    printed on several photos comes once, from its best-read line."""
    if not isinstance(attributes, Attributes):
        raise ValidationError(f"pack_claims: expected Attributes, got "
                              f"{type(attributes).__name__}; pass the Tagger's result")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError(f"pack_claims: limit must be a whole number of 1 or more, got "
                              f"{limit!r}; pass e.g. limit=3")
    best: dict[str, tuple[int, PrintedClaim]] = {}
    for order, (span, text) in enumerate(_lines(attributes.text_spans, _brands(attributes))):
        judged = _judge(text)
        if judged is None:
            continue
        claim = PrintedClaim(text=judged[0], span=span, kind=judged[1])
        key = _key(claim.text)
        if key not in best or span.score > best[key][1].span.score:
            best[key] = (min(order, best.get(key, (order,))[0]), claim)
    ranked = sorted(best.values(), key=lambda item: (-item[1].span.height, item[0]))
    return _consistent([claim for _, claim in ranked])[:limit]
