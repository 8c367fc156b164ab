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


def _alias_pattern(alias: str, clear_end: frozenset[str]) -> str:
    """One unit alias as a pattern: words joined by dots or spaces; a clear end if it needs one."""
    words = [word for word in re.split(r"[\s.]+", fold(alias)) if word]
    pattern = r"[.\s]{0,3}".join(re.escape(word) for word in words)
    if fold(alias) in clear_end:
        pattern += rf"(?=\s{{0,3}}(?:$|[^\w\s]|[x×]{_LETTER_AFTER}))"
    return pattern


def _alternation(aliases: Iterable[str], clear_end: frozenset[str]) -> str:
    """Longest-first alternation of ``aliases``, not followed by a letter or digit."""
    parts = sorted(((len(alias), _alias_pattern(alias, clear_end)) for alias in aliases),
                   reverse=True)
    return "(?:" + "|".join(pattern for _, pattern in parts) + r")(?![^\W_])"


def _alternations(table: Iterable[Unit]) -> tuple[dict[str, Unit], str, str]:
    """(unit by alias key, alternation of every alias, alternation of the length aliases)."""
    table = list(table)
    clear_end = frozenset(fold(alias) for alias in units_vocab()["aliases_needing_clear_end"])
    by_alias = {squash(alias): unit for unit in table for alias in unit.aliases}
    lengths = [alias for unit in table if unit.dimension == "length" for alias in unit.aliases]
    aliases = [alias for unit in table for alias in unit.aliases]
    return by_alias, _alternation(aliases, clear_end), _alternation(lengths, clear_end)


@lru_cache(maxsize=1)
def compiled_patterns() -> Patterns:
    """The patterns of the current ``units.json``, compiled on first use."""
    vocab = units_vocab()
    cues = vocab["cues"]
    distractors = vocab["distractors"]

    amlc = {name: unit for name, unit in units().items() if name in vocab["units"]}
    by_alias, unit_alt, length_alt = _alternations(amlc.values())
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


@dataclass(frozen=True)
class ProductPatterns:
    """The patterns of ``units.json``'s ``product_facts`` (``tagger.more_facts``), built once.

    ``reading`` is the Amazon-ML-2024 single reading over every unit, with a ``+`` after the
    number ("3+ years") and a hyphen before count units ("2-pack").
    """

    reading: re.Pattern
    units: dict[str, Unit]
    prefixed: dict[str, re.Pattern]
    multipack: re.Pattern
    codes: dict[str, re.Pattern]
    trailing: dict[str, re.Pattern]
    line_cues: dict[str, re.Pattern]
    strength_line: re.Pattern


@lru_cache(maxsize=1)
def product_patterns() -> ProductPatterns:
    """The product-fact patterns of the current ``units.json``, compiled on first use."""
    vocab = units_vocab()
    rules = vocab["product_facts"]
    table = list(units().values())
    by_alias, unit_alt, _ = _alternations(table)
    clear_end = frozenset(fold(alias) for alias in vocab["aliases_needing_clear_end"])
    hyphen_alt = _alternation([alias for unit in table if unit.dimension in rules["hyphen_dimensions"]
                               for alias in unit.aliases], clear_end)
    separators = "|".join(re.escape(fold(s)) for s in sorted(vocab["range_separators"], key=len,
                                                               reverse=True))
    plus = r"(?P<plus>\s{0,2}\+)?"
    single = (rf"(?:(?P<lo>{_NUMBER})(?:{_SPACE}(?P<lo_unit>{unit_alt}))?{_SPACE}"
              rf"(?P<sep>{separators}){_SPACE})?(?P<num>{_NUMBER}){plus}"
              rf"(?:{_SPACE}(?P<unit>{unit_alt})|\s{{0,2}}-\s{{0,2}}(?P<hunit>{hyphen_alt}))")
    ranged = (rf"[\s:]{{0,3}}(?P<num>{_NUMBER})(?:{_SPACE}(?:-|–|to){_SPACE}(?P<hi>{_NUMBER}))?"
              rf"{plus}(?:{_SPACE}(?P<unit>{unit_alt}))?")
    multiple = _alternation([alias for unit in table
                             if unit.dimension in rules["multipack"]["dimensions"]
                             for alias in unit.aliases], clear_end)
    codes = {entity: re.compile(r"(?<![\w.\-/])(?:" + "|".join(
                 re.escape(fold(code)) for code in sorted(spelled, key=len, reverse=True))
                 + r")(?![\w\-/]|\.[0-9])") for entity, spelled in rules["codes"].items()}
    cues = rules["line_cues"]
    return ProductPatterns(
        reading=re.compile(rf"{_NUMBER_START}{single}"),
        units=by_alias,
        prefixed={entity: re.compile(_phrases(spec["words"]) + ranged)
                  for entity, spec in rules["prefixed"].items()},
        multipack=re.compile(rf"(?<![\w.,])(?P<num>[1-9][0-9]{{0,2}}){_SPACE}[x×]{_SPACE}"
                             rf"{_NUMBER}{_SPACE}{multiple}"),
        codes=codes,
        trailing={entity: re.compile(r"^\W{0,3}" + _phrases(words))
                  for entity, words in rules["trailing"].items()},
        line_cues={entity: re.compile(_phrases(spec["words"])) for entity, spec in cues.items()},
        strength_line=re.compile(_phrases(vocab["distractors"]["ingredient_words"]
                                          + rules["strength_words"])),
    )
