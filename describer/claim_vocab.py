"""What the grounding guard knows, as data: units, colour names and families, product types
and their families, part words, brands and the lexicon.

Every list lives in a data file read through ``listingsmith.core.vocab``:
``describer/vocab/guard.toml`` (word lists and thresholds), ``product_types.json``,
``part_words.txt``, ``brands.txt`` and ``words.txt`` (built from the shared data by
``python -m describer.data``), ``tagger/vocab/colours.csv`` (colours) and
``listingsmith/core/vocab/units.json`` (units), and the product types and parts of each Google
taxonomy branch (``branch_types.json``, built by ``python -m describer.branch_vocab`` from
``branch_types.toml``; ``branch_parts.toml``). The guard (``describer.guard``) and the
training-data builder (``describer.data``) both read it here, so neither imports the other.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.units import Unit, units, units_vocab
from tagger.colours import vocabulary
from tagger.taxonomy import taxonomy


def settings() -> dict[str, Any]:
    """``describer/vocab/guard.toml``."""
    return vocab.load("describer", "vocab/guard.toml")


def relative_tolerance() -> float:
    """Two quantities are equal within this share of the larger."""
    return float(settings()["relative_tolerance"])


def grocery_family() -> str:
    """The family of every product in the shipped grocery taxonomy."""
    return settings()["grocery_family"]


@lru_cache(maxsize=None)
def word_list(name: str) -> frozenset[str]:
    """One list of ``guard.toml``'s ``[lists]`` table (``context_colours``,
    ``ingredient_nouns``, ``ambiguous_types``)."""
    return frozenset(settings()["lists"][name])


@lru_cache(maxsize=1)
def extra_units() -> tuple[Unit, ...]:
    """Units listings state that the fact schema has no entity for (percent, charge, data,
    time, count), from ``guard.toml``."""
    return tuple(Unit(name, spec["dimension"], float(spec["factor"]),
                      aliases=tuple(spec["aliases"]))
                 for name, spec in settings()["extra_units"].items())


@lru_cache(maxsize=1)
def unit_aliases() -> tuple[tuple[str, Unit], ...]:
    """(spelling, unit) for every unit name and alias of ``units.json`` and the extra units;
    an extra unit replaces a ``units.json`` unit of the same name."""
    table = {unit.name: unit for unit in units().values()}
    table.update({unit.name: unit for unit in extra_units()})
    quotes = set(settings()["prose_quotes"])
    return tuple((spelling, unit) for unit in table.values()
                 for spelling in (unit.name, *unit.aliases) if spelling not in quotes)


@lru_cache(maxsize=1)
def prefixed_units() -> tuple[tuple[str, Unit], ...]:
    """(words, unit) for quantities written word-first ("Pack of 2", "SPF 50"), from
    ``units.json``'s ``product_facts.prefixed``: listings state them in that form
    (``entity_display.json``), so the guard must read them there too."""
    rules = units_vocab()["product_facts"]["prefixed"].values()
    return tuple((words, unit_named(rule["unit"])) for rule in rules for words in rule["words"])


def unit_key(alias: str) -> str:
    """A unit spelling's lookup key: lower case, no spaces or dots ("fl. oz" → "floz")."""
    return re.sub(r"[\s.]+", "", alias.lower())


@lru_cache(maxsize=1)
def units_by_spelling() -> dict[str, Unit]:
    """Unit by spelling key (``unit_key``)."""
    return {unit_key(spelling): unit for spelling, unit in unit_aliases()}


def unit_named(spelling: str) -> Unit:
    """The unit a spelling names ("500gm"'s "gm", a fact's unit name)."""
    return units_by_spelling()[unit_key(spelling)]


def clear_end_aliases() -> frozenset[str]:
    """Aliases that are a unit only before punctuation or the end ("5 in." but not "3 in 1")."""
    return frozenset(settings()["clear_end_aliases"])


@lru_cache(maxsize=1)
def colour_names() -> dict[str, str]:
    """Lower-case spelling → vocabulary colour name (aliases of ``guard.toml`` included)."""
    names = {colour.name.lower(): colour.name for colour in vocabulary()}
    names.update(settings()["colour_aliases"])
    return names


@lru_cache(maxsize=1)
def colour_families() -> dict[str, str]:
    """Vocabulary name → its family, in lower case ("Navy Blue" → "blue")."""
    return {colour.name: colour.family for colour in vocabulary()}


@lru_cache(maxsize=1)
def colour_cue() -> re.Pattern:
    """What makes an ambiguous colour name a colour: "gold-toned", "olive coloured"."""
    return re.compile(settings()["colour_cue"], re.IGNORECASE)


def product_types() -> dict[str, dict[str, Any]]:
    """``describer/vocab/product_types.json``: fashion product type → family, article type
    → family, family → part words."""
    return vocab.load("describer", "vocab/product_types.json")


def part_words() -> tuple[str, ...]:
    """Product parts a description may mention (``describer/vocab/part_words.txt``)."""
    return tuple(word.lower() for word in vocab.load("describer", "vocab/part_words.txt"))


def part_pattern(word: str) -> re.Pattern:
    """``word`` as a whole word with an optional plural, any space or hyphen between its parts."""
    spelled = r"[\s-]?".join(re.escape(w) for w in re.split(r"[\s-]+", word))
    return re.compile(r"(?<![\w-])" + spelled + r"(?:e?s)?(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=1)
def part_patterns() -> dict[str, re.Pattern]:
    """Each part word's pattern (``part_pattern``)."""
    return {word: part_pattern(word) for word in part_words()}


def shipped_brands() -> tuple[str, ...]:
    """The brands of the Myntra and BigBasket corpora (``describer/vocab/brands.txt``): a
    listing naming one the attributes don't is an invented brand."""
    return vocab.load("describer", "vocab/brands.txt")


@lru_cache(maxsize=1)
def lexicon() -> frozenset[str]:
    """Words a generated text may use (``describer/vocab/words.txt``): catalogue words and
    the bundled MiniLM's English vocabulary."""
    return frozenset(vocab.load("describer", "vocab/words.txt"))


def word_endings() -> tuple[str, ...]:
    """Endings a word may carry beyond a lexicon word ("pockets", "printed")."""
    return tuple(settings()["word_endings"])


# --------------------------------------------------------------------------- branch types


def branch_settings() -> dict[str, Any]:
    """``describer/vocab/branch_types.toml``: the builder's inputs and the hand-reviewed
    ``ambiguous`` list."""
    return vocab.load("describer", "vocab/branch_types.toml")


def branch_types() -> dict[str, Any]:
    """``describer/vocab/branch_types.json`` (built by ``python -m describer.branch_vocab``):
    type key → its name, Google top-level branches and shallowest taxonomy node."""
    return vocab.load("describer", "vocab/branch_types.json")


@lru_cache(maxsize=1)
def claimable_branch_types() -> dict[str, dict[str, Any]]:
    """The built types less the hand-reviewed ``ambiguous`` ones (keys, see ``type_key``)."""
    ambiguous = {type_key(words_of(word)) for word in branch_settings()["ambiguous"]}
    return {key: entry for key, entry in branch_types()["types"].items() if key not in ambiguous}


_WORDS = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def words_of(text: str) -> list[str]:
    """The words of ``text``, hyphens and punctuation left out ("T-Shirts" → T, Shirts)."""
    return _WORDS.findall(text)


@lru_cache(maxsize=1)
def _plural_only() -> frozenset[str]:
    return frozenset(word.lower() for word in branch_settings()["plural_only"])


def singular(word: str) -> str:
    """``word`` in lower case without an English plural ending ("bulbs" → "bulb", "batteries"
    → "battery", "dresses" → "dress"); ``plural_only`` words ("shorts") stay as written."""
    word = word.lower()
    if word in _plural_only() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def type_key(words: list[str]) -> str:
    """The look-up key of a type written as ``words``: lower case, run together, the last word
    singular, so "T-Shirts", "t shirt" and "tshirt" are one key."""
    if not words:
        return ""
    return "".join(w.lower() for w in words[:-1]) + singular(words[-1])


@lru_cache(maxsize=1)
def branch_parts() -> dict[str, frozenset[int]]:
    """``describer/vocab/branch_parts.toml``'s ``[parts]``: part word → the IDs of the Google
    top-level branches whose products can have it."""
    ids = {taxonomy().node(b).name: b for b in taxonomy().children(None)}
    parts = {}
    for word, names in vocab.load("describer", "vocab/branch_parts.toml")["parts"].items():
        unknown = [n for n in names if n not in ids]
        if unknown:
            raise ListingsmithError(f"describer/vocab/branch_parts.toml: {word!r} names "
                                    f"{unknown[0]!r}, not a top-level branch; use one of "
                                    f"{', '.join(sorted(ids))}")
        parts[word.lower()] = frozenset(ids[n] for n in names)
    return parts
