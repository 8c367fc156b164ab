"""The regular expressions of ``tagger.facts``, compiled once from ``vocab/units.json``.

The fact parser and the brand reader share them: a unit the parser reads is a quantity the
brand reader refuses as a name. Word lists are data (``listingsmith/core/vocab/units.json``);
this module only turns them into patterns: whole-word alternations on folded text, a number
with OCR-confused digits, a unit alias, ranges and ``W x D x H`` boxes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from listingsmith.core.units import Unit, units, units_vocab

_LETTER_BEFORE = r"(?<![^\W\d_])"
_LETTER_AFTER = r"(?![^\W\d_])"
_SPACE = r"\s{0,3}"
_NUMBER = (r"(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?"
           r"|[0-9](?:[0-9]|o|[il](?=[0-9o])|(?<=[0-9])s(?=[0-9]))*(?:[.,][0-9][0-9o]*)?)")
"""Thousands-grouped, or plain with a decimal part; o/i/l/s are OCR-confused digits (see ``tagger.facts``)."""
_NUMBER_START = (
    r"(?:(?<![^\W_])|(?<=[0-9][x×])|(?<=(?<![^\W_])e))"  # not inside a word, but 2x500g, e750ml
    r"(?<![0-9][.,])(?<![0-9]/)(?<![^\W\d_]-)")          # nor a number's tail, nor ST-12V


def fold(text: str) -> str:
    """Lower-cased, NFKC-normalised copy of ``text``, char for char, so offsets index the original."""
    return "".join(_fold_char(char) for char in text)


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    normal = unicodedata.normalize("NFKC", char)
    if len(normal) != 1:
        normal = char
    lower = normal.lower()
    return lower if len(lower) == 1 else normal


def _phrases(phrases: Iterable[str]) -> str:
    """Whole-word alternation of ``phrases``; their words may be joined by spaces, dots or hyphens."""
    parts = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        words = [word for word in re.split(r"[\s.\-]+", fold(phrase)) if word]
        parts.append(r"[\s.\-]{0,3}".join(re.escape(word) for word in words))
    return _LETTER_BEFORE + "(?:" + "|".join(parts) + ")" + _LETTER_AFTER


def squash(alias: str) -> str:
    """Lookup key of a unit alias as matched: folded, without spaces and dots ("fl. oz" -> "floz")."""
    return re.sub(r"[\s.]+", "", fold(alias))


@dataclass(frozen=True)
class Patterns:
    """Everything compiled from the vocabulary, built once."""

    reading: re.Pattern
    units: dict[str, Unit]
    entity_cues: dict[str, re.Pattern]
    net_cue: re.Pattern
    estimated_signs: frozenset[str]
    dimension_labels: dict[str, str]
    label_at_end: re.Pattern
    dimension_header: re.Pattern
    trailing_length: dict[str, re.Pattern]
    equivalent_before: re.Pattern
    equivalent_after: re.Pattern
    skip_prefix: re.Pattern
    nutrition_table: re.Pattern
    ingredient_word: re.Pattern
    ingredient_before: re.Pattern
    brand_reject: re.Pattern


@lru_cache(maxsize=1)
def compiled_patterns() -> Patterns:
    """The patterns of the current ``units.json``, compiled on first use."""
    vocab = units_vocab()
    cues = vocab["cues"]
    distractors = vocab["distractors"]

    by_alias: dict[str, Unit] = {}
    unit_parts, length_parts = [], []
    clear_end = {fold(alias) for alias in vocab["aliases_needing_clear_end"]}
    clear_end_lookahead = rf"(?=\s{{0,3}}(?:$|[^\w\s]|[x×]{_LETTER_AFTER}))"
    for unit in units().values():
        for alias in unit.aliases:
            by_alias[squash(alias)] = unit
            words = [word for word in re.split(r"[\s.]+", fold(alias)) if word]
            pattern = r"[.\s]{0,3}".join(re.escape(word) for word in words)
            if fold(alias) in clear_end:
                pattern += clear_end_lookahead
            unit_parts.append((len(alias), pattern))
            if unit.dimension == "length":
                length_parts.append((len(alias), pattern))
    unit_alt = "(?:" + "|".join(p for _, p in sorted(unit_parts, reverse=True)) + r")(?![^\W_])"
    length_alt = "(?:" + "|".join(p for _, p in sorted(length_parts, reverse=True)) + r")(?![^\W_])"

    labels = {fold(k): v for k, v in cues["dimension_labels"].items()}
    label = "[" + "".join(re.escape(k) for k in labels) + "](?![a-wyz])"
    separators = "|".join(re.escape(fold(s)) for s in sorted(vocab["range_separators"], key=len,
                                                               reverse=True))
    by = rf"{_SPACE}[x×*]{_SPACE}"

    def dimension(i: int) -> str:
        # "L x W x H: 40 x 30 x 20 cm": the H belongs to the header, not to the first number
        not_header = r"(?<![x×*])(?<![x×*]\s)" if i == 1 else ""
        return (rf"(?:{not_header}(?P<p{i}>{label}){_SPACE}[:=]?{_SPACE})?(?P<d{i}>{_NUMBER}){_SPACE}"
                rf"(?:(?P<u{i}>{length_alt}){_SPACE})?(?P<l{i}>{label})?")

    dims = (rf"{dimension(1)}{by}{dimension(2)}(?:{by}{dimension(3)})?{_SPACE}(?P<du>{length_alt})")
    single = (rf"(?:(?P<lo>{_NUMBER})(?:{_SPACE}(?P<lo_unit>{unit_alt}))?{_SPACE}"
              rf"(?P<sep>{separators}){_SPACE})?(?P<num>{_NUMBER}){_SPACE}(?P<unit>{unit_alt})")
    reading = re.compile(rf"{_NUMBER_START}(?:{dims}|{single})")

    entity_cues = {entity: re.compile(_phrases(words + (cues["net"]["words"]
                                                        if entity in cues["net"]["entities"] else [])))
                   for entity, words in cues["entity"].items()}
    skip = distractors["skip_prefixes"]
    price = r"(?<![0-9])(?<![0-9]\s)" + _phrases(skip["price"])  # "4,99 € 500 g": € ends 4,99
    others = _phrases(skip["identifier"] + skip["per_basis"])
    ingredient = _phrases(distractors["ingredient_words"])
    brand = vocab["brand"]
    return Patterns(
        reading=reading,
        units=by_alias,
        entity_cues=entity_cues,
        net_cue=re.compile(_phrases(cues["net"]["words"])),
        estimated_signs=frozenset(fold(s) for s in cues["estimated_sign"]),
        dimension_labels=labels,
        label_at_end=re.compile(rf"{_LETTER_BEFORE}({label})[\s:=.]*$"),
        dimension_header=re.compile(rf"{_LETTER_BEFORE}({label}){by}({label})(?:{by}({label}))?"),
        trailing_length={entity: re.compile(r"^\W{0,3}" + _phrases(words))
                         for entity, words in cues["trailing_length"].items()},
        equivalent_before=re.compile(_phrases(cues["equivalent"]) + r"\W*$"),
        equivalent_after=re.compile(r"^\W{0,3}" + _phrases(cues["equivalent"])),
        skip_prefix=re.compile(rf"(?:{price}|{others})\W*$"),
        nutrition_table=re.compile(_phrases(distractors["nutrition_table"])),
        ingredient_word=re.compile(ingredient),
        ingredient_before=re.compile(ingredient + r"\W*$"),
        brand_reject=re.compile(_phrases(brand["reject_words"])),
    )
