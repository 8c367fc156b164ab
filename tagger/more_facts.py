"""Product facts beyond the Amazon-ML-2024 eight, read like them from OCR lines and titles.

What a marketplace title asks for and the pack or the seller's title prints: item and pack
counts ("365 capsules", "Pack of 2", "2-pack", "4 x 100 g"), strength per unit ("268 mg",
"1000 IU"), luminous flux ("800 lm"), colour temperature ("2700K"), bulb base ("E27"),
battery capacity ("5000 mAh"), screen size ("55 inch" on a TV's line), storage ("128GB"),
SPF ("SPF 50") and age ("3+ years", "ages 8-12"). Every word list, unit and plausible range
is data (``units.json``'s ``product_units`` and ``product_facts``); the regular expressions
come from ``tagger.fact_patterns``. Each fact keeps its line and matched text, as
``tagger.facts`` does, and the same distractor rules apply (a number after a price, an
identifier or a per-basis word is no fact; a dose on a nutrition-table line is none either).

A dose is never ``item_weight`` ("Vitamin E 268 mg" is what one capsule holds): it is a
``strength``, confident on a line that names a supplement, below ``MIN_CONFIDENCE`` elsewhere.
A reading without the context its kind needs (an age without an age cue, "2 years" of a
warranty; a value outside the kind's plausible range, "4K TV") is kept below
``MIN_CONFIDENCE`` for provenance, never chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from listingsmith.core.types import TEXT_ENTITIES, Fact, TextSpan
from listingsmith.core.units import Unit, amlc_entities, code_entities, entity_units, units_vocab
from tagger.fact_patterns import ProductPatterns, compiled_patterns, fold, product_patterns, squash
from tagger.facts import has_word, nearest_cue, parse_facts, read_number

__all__ = ["parse_product_facts"]


@dataclass(frozen=True)
class _Found:
    """One number (or range) with its unit at ``[start, end)`` of a folded line; ``entity``
    is set when the words around it already named it ("Pack of 2", "4 x 100 g")."""

    start: int
    end: int
    value: float
    unit: Unit
    entity: str | None = None
    low: float | None = None
    plus: bool = False
    repaired: bool = False


def _rules() -> dict:
    return units_vocab()["product_facts"]


def _prefixed(line: str, patterns: ProductPatterns) -> list[_Found]:
    """"Pack of 2", "SPF 50+", "ages 8-12": the words name the fact, the unit is optional."""
    found = []
    for entity, pattern in patterns.prefixed.items():
        spec = _rules()["prefixed"][entity]
        for match in pattern.finditer(line):
            number = read_number(match.group("num"), allow_zero=True)
            high = read_number(match.group("hi")) if match.group("hi") else None
            if number is None or (match.group("hi") and high is None):
                continue
            unit = patterns.units[squash(match.group("unit") or spec["unit"])]
            if unit.name not in entity_units()[entity]:
                continue  # "Pack of 60 capsules": a count, read as one below
            value, low = (high.value, number.value) if high else (number.value, None)
            found.append(_Found(match.start(), match.end(), value, unit, entity, low,
                                bool(match.group("plus")), number.repaired))
    return found


def _multipacks(line: str, patterns: ProductPatterns) -> list[_Found]:
    """"4 x 100 g": four packs (the 100 g is the Amazon-ML-2024 parser's item_weight)."""
    spec = _rules()["multipack"]
    unit = patterns.units[squash(spec["unit"])]
    return [_Found(match.start(), match.end(), number.value, unit, spec["entity"])
            for match in patterns.multipack.finditer(line)
            if (number := read_number(match.group("num"))) is not None]


def _readings(line: str, patterns: ProductPatterns, taken: list[_Found]) -> list[_Found]:
    """Numbers with a unit that no prefixed form took; a range keeps both ends."""
    found = []
    for match in patterns.reading.finditer(line):
        if any(t.start < match.end() and match.start() < t.end for t in taken):
            continue
        plus = bool(match.group("plus"))
        number = read_number(match.group("num"), allow_zero=plus)
        if number is None:
            continue
        unit = patterns.units[squash(match.group("unit") or match.group("hunit"))]
        low = read_number(match.group("lo")) if match.group("lo") else None
        low_unit = (patterns.units[squash(match.group("lo_unit"))] if match.group("lo_unit")
                    else unit)
        if low is None or low_unit != unit:
            found.append(_Found(match.start("num"), match.end(), number.value, unit, plus=plus,
                                repaired=number.repaired))
            continue
        found.append(_Found(match.start("lo"), match.end(), max(low.value, number.value), unit,
                            low=min(low.value, number.value), plus=plus,
                            repaired=number.repaired or low.repaired))
    return found


def _entity(found: _Found, cue_gap: str, after: str, line: str) -> tuple[str | None, bool]:
    """(entity, whether its context named it) of one reading; None: an Amazon-ML-2024 kind
    (``parse_facts`` reports it) or no product fact."""
    if found.entity is not None:
        return found.entity, True
    patterns, rules = product_patterns(), _rules()
    unit, dimension = found.unit, found.unit.dimension
    cued = nearest_cue(cue_gap, unit.entities, compiled_patterns())
    if unit.name in units_vocab()["dose_units"]:
        return (rules["dose_entity"], True) if cued == rules["dose_entity"] else (
            (None, False) if cued else (rules["dose_entity"], False))
    if dimension == "length":
        if cued in amlc_entities():
            return None, False
        for entity, spec in rules["line_cues"].items():
            if unit.name in spec["units"] and (cued == entity or patterns.line_cues[entity].search(line)):
                return entity, True
        return None, False
    if dimension not in rules["default_entity"]:
        return None, False
    for entity, trailing in patterns.trailing.items():
        if entity in unit.entities and trailing.search(after):
            return entity, True
    if found.plus and dimension in rules["plus_entity"]:
        return rules["plus_entity"][dimension], True
    return (cued, True) if cued else (rules["default_entity"][dimension], False)


def _confidence(found: _Found, entity: str, cued: bool, line: str, score: float) -> float | None:
    """The fact's confidence (``tagger.facts``' factors); None: a nutrition-table dose, no fact."""
    factors, rules = units_vocab()["confidence"], _rules()
    factor = factors["cued"] if cued else factors["plain"]
    weak = False
    if entity == rules["dose_entity"] and not cued:
        if compiled_patterns().nutrition_table.search(line):
            return None
        weak = not product_patterns().strength_line.search(line)
    elif found.unit.dimension in rules["plus_entity"] and not cued:
        weak = True  # "2 years" of a warranty, not an age
    low, high = rules["plausible"].get(entity, (float("-inf"), float("inf")))
    values = [found.value] + ([found.low] if found.low is not None else [])
    if weak or not all(low <= value <= high for value in values):
        factor *= factors["weak_product_fact"]
    if found.repaired:
        factor *= factors["ocr_repair"]
    return round(min(1.0, factor * (0.5 + 0.5 * score)), 4)


def _facts(found: _Found, cue_gap: str, after: str, span: TextSpan, line: str) -> list[Fact]:
    """The product facts of one reading: one, or a minimum and a maximum for an age range."""
    if compiled_patterns().skip_prefix.search(cue_gap):
        return []
    entity, cued = _entity(found, cue_gap, after, line)
    if entity is None or entity in amlc_entities():
        return []
    confidence = _confidence(found, entity, cued, line, span.score)
    if confidence is None:
        return []
    raw_text = span.text[found.start:found.end]
    upper = _rules()["prefixed"].get(entity, {}).get("range_entity")
    ends = [(entity, found.low), (upper, found.value)] if upper and found.low is not None else [
        (entity, found.value)]
    return [Fact(entity=name, value=value, unit=found.unit.name, raw_text=raw_text, source="ocr",
                 span=span, confidence=confidence) for name, value in ends]


def _code_facts(span: TextSpan, line: str) -> list[Fact]:
    """Whole-token codes ("E27", "GU5.3"), written as ``units.json`` spells them. Only for
    entities the ``Fact`` type accepts as text (``TEXT_ENTITIES``)."""
    patterns = product_patterns()
    confidence = units_vocab()["confidence"]["cued"] * (0.5 + 0.5 * span.score)
    facts = []
    for entity, codes in code_entities().items():
        if entity not in TEXT_ENTITIES:
            continue
        spelled = {fold(code): code for code in codes}
        for match in patterns.codes[entity].finditer(line):
            if compiled_patterns().skip_prefix.search(line[:match.start()]):
                continue
            facts.append(Fact(entity=entity, value=spelled[match.group(0)], unit=None,
                              raw_text=span.text[match.start():match.end()], source="ocr",
                              span=span, confidence=round(confidence, 4)))
    return facts


def _span_facts(span: TextSpan) -> list[Fact]:
    """Product facts of one line; each reading is judged by the words since the previous one."""
    patterns = product_patterns()
    line = fold(span.text)
    named = _prefixed(line, patterns) + _multipacks(line, patterns)
    found = sorted(named + _readings(line, patterns, named), key=lambda f: (f.start, f.end))
    facts: list[Fact] = []
    cue_gap = ""
    for index, reading in enumerate(found):
        gap = line[found[index - 1].end if index else 0:reading.start]
        if index == 0 or has_word(gap):
            cue_gap = gap
        after_end = found[index + 1].start if index + 1 < len(found) else len(line)
        facts.extend(_facts(reading, cue_gap, line[reading.end:max(reading.end, after_end)],
                            span, line))
    return facts + _code_facts(span, line)


def parse_product_facts(spans: list[TextSpan]) -> list[Fact]:
    """Every fact of each line: the Amazon-ML-2024 ones of ``parse_facts``, then the product
    facts (counts, strength, lumens, kelvin, bulb base, mAh, screen, storage, SPF, age).

    Never raises on any line text.
    """
    return [fact for span in spans for fact in parse_facts([span]) + _span_facts(span)]
