"""Units of measure, parsed once from ``vocab/units.json``: the one ``Unit`` type that the
fact parser, the grounding guard and the exports share, so a unit the parser reads is a
unit the guard checks and an export converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from listingsmith.core import vocab


@dataclass(frozen=True)
class Unit:
    """One unit: its Amazon-ML-2024 name, what it measures, its factor to the dimension's base
    unit (gram, millilitre, centimetre …), its spellings, and the entities that allow it."""

    name: str
    dimension: str
    factor: float
    metric: bool = False
    aliases: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()


def units_vocab() -> dict[str, Any]:
    """The whole ``units.json``: units plus the parser's cue words and confidence factors."""
    return vocab.load("listingsmith.core", "vocab/units.json")


@lru_cache(maxsize=1)
def entity_units() -> dict[str, tuple[str, ...]]:
    """Amazon-ML-2024 entity names and their allowed unit names (``vocab/entity_units.json``)."""
    table = vocab.load("listingsmith.core", "vocab/entity_units.json")
    return {name: tuple(names) for name, names in table.items()}


def unit_symbols() -> dict[str, str]:
    """Short unit symbols for listings (``gram`` → ``g``), from ``vocab/unit_symbols.json``."""
    return vocab.load("listingsmith.core", "vocab/unit_symbols.json")


@lru_cache(maxsize=1)
def units() -> dict[str, Unit]:
    """Every unit of ``units.json`` by name (the Amazon-ML-2024 units and the product units).

    >>> units()["kilogram"].factor, units()["kilogram"].dimension
    (1000.0, 'mass')
    """
    schema = entity_units()
    table = {**units_vocab()["units"], **units_vocab()["product_units"]}
    return {name: Unit(name, spec["dimension"], float(spec["factor"]), bool(spec["metric"]),
                       tuple(spec["aliases"]),
                       tuple(entity for entity, allowed in schema.items() if name in allowed))
            for name, spec in table.items()}


def amlc_entities() -> tuple[str, ...]:
    """The Amazon-ML-2024 entities (``units.json``'s ``amlc_entities``): what ``parse_facts``
    reads and the AMLC F1 scores; the other entities of ``entity_units()`` are product facts."""
    return tuple(units_vocab()["amlc_entities"])


@lru_cache(maxsize=1)
def entity_displays() -> dict[str, str]:
    """How listings write an entity whose marketplace form is not "number symbol" ("Pack of
    {number}", "SPF {number}"), from ``vocab/entity_display.json``."""
    return {entity: form for entity, form in
            vocab.load("listingsmith.core", "vocab/entity_display.json").items()
            if not entity.startswith("_")}


def code_entities() -> dict[str, tuple[str, ...]]:
    """Entities whose value is a code, not a quantity (``bulb_base``: ``E27``, ``GU10`` …),
    with their codes as written in listings (``units.json``'s ``product_facts.codes``)."""
    return {entity: tuple(codes)
            for entity, codes in units_vocab()["product_facts"]["codes"].items()}
