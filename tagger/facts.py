"""Numeric product facts and the brand, read from OCR lines with regular expressions (no model).

Every word list (unit aliases, cue words, distractors, brand stop words) and every confidence
factor lives in ``vocab/units.json``; this module holds only the regex structure and the rules:

* Units come out as the Amazon-ML-2024 names of ``entity_units.json`` (``gram``, ``fluid ounce`` …).
* Numbers: ``,`` before exactly three digits groups thousands (``1,000 ml``), any other ``,`` is
  a decimal comma (``1,5 L``); ``.`` is always decimal. More than six integer digits, a leading
  zero (``0800``) or a zero value is a code, not a quantity.
* OCR repairs, only inside a number that starts with a real digit: ``o`` -> 0, ``i``/``l`` -> 1
  before a digit, ``s`` -> 5 between digits (``5O0g`` -> 500 gram, ``1S0 g`` -> 150 gram); a
  trailing ``l`` stays the litre unit (``1l``). Repaired values lose confidence.
* Ranges report their maximum (``AC 100-240V`` -> 240 volt, ``110/220V`` -> 220 volt); ``a/b`` of
  two one-digit numbers is a fraction (``1/2 gal`` -> 0.5 gallon).
* ``30 x 20 x 10 cm`` is width x depth x height (two numbers: width x height) unless letters
  (``30W x 20D``, ``W30 x H20``) or a header (``L x W x H``) say otherwise. A single length needs
  a cue (``Width``, ``H:``, ``60 cm deep``): a bare ``30 cm`` is ambiguous and not reported.
* A mass is ``item_weight`` unless a max-load cue (``Max load``, ``load capacity``) precedes it;
  the nearest cue before a number names its entity.
* Equivalents on one line (``25.4 FL OZ (750 mL)``, ``16 oz (1 lb) 454g``) are all reported; the
  imperial ones lose a little confidence so that the metric value is the preferred answer.
* A cue or distractor carries over gaps without words: ``(750 mL)`` shares ``Net``'s cue.
* Never facts: numbers right after a price, an identifier or a per-basis word (``$``, ``Lot``,
  ``Per 100g``, ``/ 1 kg``); masses and volumes on nutrition-table lines (kcal, %NRV, of which …);
  mg/µg on a line naming a nutrient or ingredient (``Vitamin E 268 mg``: a dose, not the pack).
  Kept below ``MIN_CONFIDENCE``: mg/µg elsewhere, a mass right after a nutrient word
  (``Protein 12 g``) and "40W equivalent" bulb comparisons. A cue naming the entity
  (``Net wt``, ``Max load``) overrides the nutrition rules.
* Confidence = rule factor x (0.5 + 0.5 x OCR score): a mediocre read weakens a fact, never
  erases it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from listingsmith.core.types import Fact, TextSpan, entity_units
from listingsmith.core.units import Unit, amlc_entities, units, units_vocab
from tagger.fact_patterns import Patterns, compiled_patterns, fold, squash

__all__ = ["MIN_CONFIDENCE", "best_fact", "extract_brand", "parse_facts", "parse_value",
           "predict_entity", "seller_facts", "distinct_facts"]


MIN_CONFIDENCE: float = float(units_vocab()["confidence"]["min_confidence"])
"""Facts below this are kept (with their provenance) but never chosen as the answer."""

_MAX_INTEGER_DIGITS = 6
_THOUSANDS = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_OCR_DIGITS = str.maketrans({"o": "0", "i": "1", "l": "1", "s": "5"})


# --------------------------------------------------------------------------- reading numbers


@dataclass(frozen=True)
class _Number:
    value: float
    repaired: bool


def read_number(text: str, *, allow_zero: bool = False) -> _Number | None:
    """The value of a matched number, or None when it looks like a code rather than a quantity
    (zero too, unless ``allow_zero``: "0+ months" is an age)."""
    repaired = any(char in "oils" for char in text)
    digits = text.translate(_OCR_DIGITS)
    if _THOUSANDS.fullmatch(digits):
        digits = digits.replace(",", "")
    else:
        digits = digits.replace(",", ".")
    integer = digits.split(".")[0]
    if len(integer) > _MAX_INTEGER_DIGITS or (len(integer) > 1 and integer.startswith("0")):
        return None
    value = float(digits)
    return _Number(value, repaired) if value > 0 or (allow_zero and value == 0) else None


@dataclass(frozen=True)
class _Reading:
    """Numbers with units at ``[start, end)`` of one line; several for ``30 x 20 x 10 cm``."""

    start: int
    end: int
    quantities: tuple[tuple[float, Unit], ...]
    labels: tuple[str | None, ...] = ()
    repaired: bool = False
    ranged: bool = False

    @property
    def dimension(self) -> str:
        return self.quantities[0][1].dimension

    @property
    def is_box(self) -> bool:
        return len(self.quantities) > 1


def _readings(folded: str) -> list[_Reading]:
    patterns = compiled_patterns()
    readings: list[_Reading] = []
    for match in patterns.reading.finditer(folded):
        if match.group("d1") is not None:
            readings.extend(_box_reading(match, patterns))
        else:
            readings.extend(_single_readings(match, patterns))
    return readings


def _box_reading(match: re.Match, patterns: Patterns) -> list[_Reading]:
    """``30 x 20 x 10 cm``: one reading with a length per number, labelled where the pack says so."""
    numbers, quantities, labels = [], [], []
    for i in (1, 2, 3):
        if match.group(f"d{i}") is None:
            continue
        number = read_number(match.group(f"d{i}"))
        if number is None:
            return []
        unit = patterns.units[squash(match.group(f"u{i}") or match.group("du"))]
        label = match.group(f"p{i}") or match.group(f"l{i}")
        numbers.append(number)
        quantities.append((number.value, unit))
        labels.append(patterns.dimension_labels[label] if label else None)
    return [_Reading(match.start(), match.end(), tuple(quantities), tuple(labels),
                     repaired=any(n.repaired for n in numbers))]


def _single_readings(match: re.Match, patterns: Patterns) -> list[_Reading]:
    """A number with a unit, or a range/fraction ending in one; a two-unit pair is two readings."""
    number = read_number(match.group("num"))
    if number is None:
        return []
    unit = patterns.units[squash(match.group("unit"))]
    whole = _Reading(match.start("num"), match.end(), ((number.value, unit),),
                     repaired=number.repaired)
    if match.group("lo") is None:
        return [whole]
    low = read_number(match.group("lo"))
    low_unit = patterns.units[squash(match.group("lo_unit"))] if match.group("lo_unit") else None
    if low is None:
        return [whole]
    if low_unit is not None and low_unit != unit:  # "120 ml / 4 fl oz": two equivalent readings
        first = _Reading(match.start("lo"), match.end("lo_unit"), ((low.value, low_unit),),
                         repaired=low.repaired)
        return [first, whole]
    repaired = low.repaired or number.repaired
    start = match.start("lo")
    if match.group("sep") == "/" and all(n.value < 10 and n.value.is_integer() for n in (low, number)):
        if low.value >= number.value:
            return []  # "7/3" is a date or a code, not a fraction
        return [_Reading(start, match.end(), ((low.value / number.value, unit),), repaired=repaired)]
    return [_Reading(start, match.end(), ((max(low.value, number.value), unit),),
                     repaired=repaired, ranged=True)]


# --------------------------------------------------------------------------- readings -> facts


def has_word(text: str) -> bool:
    """Whether ``text`` holds a letter or digit (a gap of only " (" or " / " joins equivalents)."""
    return re.search(r"[^\W_]", text) is not None


def nearest_cue(text: str, entities: Iterable[str], patterns: Patterns) -> str | None:
    """The entity whose cue ends last in ``text``; on a tie the longer cue wins ("max weight")."""
    best: tuple[int, int, str] | None = None
    for entity in entities:
        for match in patterns.entity_cues[entity].finditer(text):
            key = (match.end(), match.end() - match.start(), entity)
            if best is None or key[:2] > best[:2]:
                best = key
    return best[2] if best else None


def _is_estimated_sign(cue_gap: str, patterns: Patterns) -> bool:
    """Whether only the ℮ sign stands before the number ("e 750ml"), so "Vitamin E 268 mg" is not."""
    return re.sub(r"[\s:.()\[\]-]+", "", cue_gap) in patterns.estimated_signs


def _single_entity(reading: _Reading, cue_gap: str, after: str,
                   patterns: Patterns) -> tuple[str | None, bool]:
    """(entity, whether a cue named it) for a one-number reading; None: no entity can be told."""
    unit = reading.quantities[0][1]
    entities = [entity for entity in unit.entities if entity in amlc_entities()]
    if reading.dimension == "length":
        for entity, trailing in patterns.trailing_length.items():
            if trailing.search(after):
                return entity, True
        label = patterns.label_at_end.search(cue_gap)
        if label:
            return patterns.dimension_labels[label.group(1)], True
        return nearest_cue(cue_gap, entities, patterns), True
    cued = nearest_cue(cue_gap, entities, patterns)
    if cued:
        return cued, True
    default = units_vocab()["default_entity"].get(reading.dimension)
    net_entity = default in units_vocab()["cues"]["net"]["entities"]
    return default, net_entity and _is_estimated_sign(cue_gap, patterns)


def _box_entities(reading: _Reading, cue_gap: str, after: str,
                  patterns: Patterns) -> tuple[tuple[str, ...], bool]:
    """Entities of a ``30 x 20 x 10 cm`` reading, in order: labels, else a header, else W x D x H."""
    if all(reading.labels):
        return tuple(label for label in reading.labels if label), True
    count = len(reading.quantities)
    for text in (cue_gap, after):
        header = [m for m in patterns.dimension_header.finditer(text)
                  if len([g for g in m.groups() if g]) == count]
        if header:
            letters = [g for g in header[-1].groups() if g]
            return tuple(patterns.dimension_labels[letter] for letter in letters), True
    return (("width", "depth", "height") if count == 3 else ("width", "height")), False


def _nutrition_factor(reading: _Reading, cue_gap: str, line_is_table: bool,
                      line_names_ingredient: bool, patterns: Patterns) -> float | None:
    """Confidence factor for an uncued mass or volume by the nutrition rules; None: skip it."""
    if reading.dimension not in ("mass", "volume"):
        return 1.0
    if line_is_table:
        return None
    factors = units_vocab()["confidence"]
    factor = 1.0
    if any(unit.name in units_vocab()["dose_units"] for _, unit in reading.quantities):
        if line_names_ingredient:
            return None
        factor *= factors["dose_unit"]
    gram_scale = all(unit.factor <= 1 for _, unit in reading.quantities)  # not "Whey Protein 2 kg"
    if reading.dimension == "mass" and gram_scale and patterns.ingredient_before.search(cue_gap):
        factor *= factors["after_ingredient_word"]
    return factor


def _reading_facts(reading: _Reading, cue_gap: str, after: str, span: TextSpan,
                   line: str, patterns: Patterns) -> list[Fact]:
    """Facts of one reading, given the words before it (``cue_gap``) and after it on its line."""
    raw_text = span.text[reading.start:reading.end]
    if patterns.skip_prefix.search(cue_gap):
        return []
    if reading.is_box:
        entities, cued = _box_entities(reading, cue_gap, after, patterns)
    else:
        entity, cued = _single_entity(reading, cue_gap, after, patterns)
        if entity is None:
            return []
        entities = (entity,)
    factors = units_vocab()["confidence"]
    factor = factors["cued"] if cued else factors["plain"]
    if not cued:
        if re.sub(r"\s+", "", raw_text) in units_vocab()["distractors"]["case_sensitive_tokens"]:
            return []
        nutrition = _nutrition_factor(reading, cue_gap, bool(patterns.nutrition_table.search(line)),
                                      bool(patterns.ingredient_word.search(line)), patterns)
        if nutrition is None:
            return []
        factor *= nutrition
    if reading.repaired:
        factor *= factors["ocr_repair"]
    if reading.ranged:
        factor *= factors["range"]
    if patterns.equivalent_before.search(cue_gap) or patterns.equivalent_after.search(after):
        factor *= factors["equivalent"]
    confidence = factor * (0.5 + 0.5 * span.score)
    return [Fact(entity=entity, value=value, unit=unit.name, raw_text=raw_text, source="ocr",
                 span=span, confidence=round(min(1.0, confidence), 4))
            for entity, (value, unit) in zip(entities, reading.quantities)]


def _prefer_metric(facts: list[Fact]) -> list[Fact]:
    """Lower imperial facts of an entity that the same line also gives in metric units."""
    metric_units = {unit.name for unit in units().values() if unit.metric}
    with_metric = {fact.entity for fact in facts if fact.unit in metric_units}
    penalty = units_vocab()["confidence"]["imperial_beside_metric"]
    return [replace(f, confidence=round(f.confidence * penalty, 4))
            if f.entity in with_metric and f.unit not in metric_units else f
            for f in facts]


def _span_facts(span: TextSpan, patterns: Patterns) -> list[Fact]:
    """Facts of one line; each reading is judged by the words since the previous reading."""
    line = fold(span.text)
    readings = _readings(line)
    facts: list[Fact] = []
    cue_gap = ""
    for index, reading in enumerate(readings):
        gap_start = readings[index - 1].end if index else 0
        gap = line[gap_start:reading.start]
        if index == 0 or has_word(gap):  # otherwise "(750 mL)" keeps the cue of what it restates
            cue_gap = gap
        after_end = readings[index + 1].start if index + 1 < len(readings) else len(line)
        facts.extend(_reading_facts(reading, cue_gap, line[reading.end:after_end], span, line,
                                    patterns))
    return _prefer_metric(facts)


def parse_facts(spans: list[TextSpan]) -> list[Fact]:
    """The Amazon-ML-2024 facts (weight, volume, sizes, voltage, wattage) in each OCR line, in
    reading order; ``tagger.more_facts.parse_product_facts`` adds the other product facts.

    Each keeps the matched substring as ``raw_text`` and its line as ``span``; see the module
    docstring for the rules. Never raises on any line text.
    """
    patterns = compiled_patterns()
    return [fact for span in spans for fact in _span_facts(span, patterns)]


# --------------------------------------------------------------------------- choosing answers


def _box_height(fact: Fact) -> float:
    return fact.span.height if fact.span is not None else 0.0


def _has_net_cue(fact: Fact, patterns: Patterns) -> bool:
    """Whether the fact's line says "net" or starts with the ℮ sign (then every quantity on
    it is the net quantity, and confidence picks the metric one)."""
    if fact.span is None:
        return False
    line = fold(fact.span.text)
    first_token = line.split(maxsplit=1)[0] if line.split() else ""
    return bool(patterns.net_cue.search(line)) or _is_estimated_sign(first_token, patterns)


def best_fact(facts: list[Fact], entity: str, min_confidence: float = MIN_CONFIDENCE) -> Fact | None:
    """The single answer for ``entity``: a net-cued fact first (weight/volume), then the most
    confident, then the larger text (more prominent on the pack), then the earlier one."""
    patterns = compiled_patterns()
    prefer_net = entity in units_vocab()["cues"]["net"]["entities"]
    ranked = [((prefer_net and _has_net_cue(fact, patterns), fact.confidence, _box_height(fact),
                -index), fact)
              for index, fact in enumerate(facts)
              if fact.entity == entity and fact.confidence >= min_confidence]
    return max(ranked, key=lambda item: item[0])[1] if ranked else None


def predict_entity(facts: list[Fact], entity: str, min_confidence: float = MIN_CONFIDENCE) -> str:
    """The Amazon-ML-2024 answer string for ``entity`` (``"500.0 gram"``), or ``""`` if none."""
    fact = best_fact(facts, entity, min_confidence)
    return fact.answer if fact is not None else ""


# --------------------------------------------------------------------------- brand


def _known_brand_fact(spans: list[TextSpan], known_brands: Iterable[str]) -> Fact | None:
    """The known brand printed largest (longest name on ties, then earliest line).

    An exact whole-word match wins. Failing that, the brand may be split over lines
    (``GOD`` / ``MOR`` / ``GON``), repeated (``BRAVOBRAVOBRA``) or one OCR slip away
    (``Aria`` for ``Arla``, ``SOLMO`` for ``Solimo``): matched at lower confidence.
    """
    brands = [brand.strip() for brand in known_brands if brand and brand.strip()]
    patterns = {brand: re.compile(r"(?<![^\W_])" + r"\s+".join(map(re.escape, fold(brand).split()))
                                  + r"(?![^\W_])") for brand in brands}
    confidence = units_vocab()["confidence"]
    hits = [((span.height, len(brand), -index), brand, span.text, span)
            for index, span in enumerate(spans)
            for brand in brands if patterns[brand].search(fold(span.text))]
    factor, why = "known_brand", "matches a known brand"
    if not hits:
        hits = _brand_variant_hits(spans, brands)
        factor, why = "known_brand_ocr_variant", "matches a known brand allowing one OCR slip"
    if not hits:
        return None
    _, brand, raw_text, span = max(hits, key=lambda hit: hit[0])
    return Fact(entity="brand", value=brand, unit=None, raw_text=raw_text, source="ocr",
                span=span, confidence=round(confidence[factor] * (0.5 + 0.5 * span.score), 4),
                explanation=f"{raw_text!r} {why} ({brand!r})")


def _brand_variant_hits(spans: list[TextSpan], brands: list[str]) -> list[tuple]:
    """Runs of up to three consecutive words (across lines of one photo) that spell a brand
    with at most one OCR slip, or one word that repeats a brand of five or more letters."""
    min_letters = units_vocab()["brand"]["min_fuzzy_letters"]
    words = [(word, index) for index, span in enumerate(spans)
             for word in re.findall(r"[^\W_]+", fold(span.text))]
    hits = []
    for brand in brands:
        target = "".join(fold(brand).split())
        if sum(char.isalpha() for char in target) < min_letters:
            continue
        for start in range(len(words)):
            for size in (1, 2, 3):
                run = words[start:start + size]
                if len(run) < size or spans[run[0][1]].image_index != spans[run[-1][1]].image_index:
                    break
                joined = "".join(word for word, _ in run)
                if (joined == target or _one_ocr_slip(target, joined)
                        or (size == 1 and len(target) >= 5 and len(joined) > len(target)
                            and (target * 3).startswith(joined))):
                    first, last = run[0][1], run[-1][1]
                    raw = " / ".join(spans[i].text for i in range(first, last + 1))
                    span = spans[first]
                    hits.append(((span.height, len(brand), -first), brand, raw, span))
    return hits


def _one_ocr_slip(expected: str, read: str) -> bool:
    """One confusable substitution (any substitution in a long name), or one glyph dropped;
    never an extra letter added.

    >>> _one_ocr_slip("arla", "aria"), _one_ocr_slip("solimo", "solmo")
    (True, True)
    >>> _one_ocr_slip("nivea", "niveau"), _one_ocr_slip("arla", "arba")
    (False, False)
    >>> _one_ocr_slip("tropicana", "wropicana")
    True
    """
    if len(read) == len(expected):
        diffs = [(a, b) for a, b in zip(expected, read) if a != b]
        if len(diffs) != 1:
            return False
        return len(expected) >= units_vocab()["brand"]["min_any_substitution_letters"] or any(
            diffs[0][0] in group and diffs[0][1] in group
            for group in units_vocab()["brand"]["ocr_confusable"])
    if len(read) == len(expected) - 1:
        return any(expected[:i] + expected[i + 1:] == read for i in range(len(expected)))
    return False


def _brand_name(span: TextSpan, patterns: Patterns) -> str | None:
    """The line as a brand name if it reads like one: short, mostly letters, no unit, no label text."""
    rules = units_vocab()["brand"]
    name = span.text.strip(" \t.,:;!?*|/\\\"'()[]{}-–—_#")
    visible = [char for char in name if not char.isspace()]
    letters = sum(char.isalpha() for char in visible)
    words = re.findall(r"[^\W\d_]+", fold(name))
    if letters < 2 or letters < 0.7 * len(visible) or len(name) > rules["max_chars"]:
        return None
    if len(name.split()) > rules["max_words"] or patterns.brand_reject.search(fold(name)):
        return None
    if all(word in rules["generic_words"] for word in words) or _readings(fold(name)):
        return None
    return name


def _prominence(span: TextSpan, name: str) -> float:
    """Box height, discounted for names too short (1-3 letters) or too long (over 20) to be a logo."""
    letters = sum(char.isalpha() for char in name)
    return span.height * min(1.0, letters / 4) * min(1.0, 20 / len(name))


def extract_brand(spans: list[TextSpan], known_brands: Iterable[str] = ()) -> Fact | None:
    """The brand on the pack: a known brand (whole word, any case) wins; else the most prominent
    line that reads like a name (lower confidence); None when no line does."""
    known = _known_brand_fact(spans, known_brands)
    if known is not None:
        return known
    patterns = compiled_patterns()
    candidates = [(_prominence(span, name), -index, name, span)
                  for index, span in enumerate(spans)
                  if (name := _brand_name(span, patterns)) is not None]
    if not candidates:
        return None
    _, _, name, span = max(candidates, key=lambda candidate: candidate[:2])
    confidence = units_vocab()["confidence"]["prominent_line"] * (0.5 + 0.5 * span.score)
    return Fact(entity="brand", value=name, unit=None, raw_text=span.text, source="ocr", span=span,
                confidence=round(confidence, 4),
                explanation=f"the most prominent name-like line of {len(candidates)} candidates "
                            f"(glyph height {span.height:.0f} px); no known brand matched")


# --------------------------------------------------------------------------- seller input


def parse_value(entity: str, text: str) -> list[Fact]:
    """A seller-typed value for a known entity (``"500 g"`` for ``item_weight``) as seller facts.

    The entity name is put in front as a cue (``"width 30 cm"``), so lengths that would be
    ambiguous on a pack are accepted; only units the entity allows are kept. Unknown entities
    and values without a readable quantity give ``[]``.
    """
    allowed = entity_units().get(entity)
    if not allowed or not isinstance(text, str) or not text.strip():
        return []
    span = TextSpan(text=f"{entity.replace('_', ' ')} {text.strip()}", box=(0, 0, 0, 0), score=1.0)
    found = [fact for fact in parse_facts([span]) if fact.unit in allowed]
    return [Fact(entity=entity, value=fact.value, unit=fact.unit, raw_text=text.strip(),
                 source="seller") for fact in found[:1]]


def seller_facts(seller: dict[str, str]) -> list[Fact]:
    """Facts a seller typed (``item_weight: "500 g"``, ``brand: "Acme"``), parsed like pack text."""
    found = []
    for key, value in seller.items():
        entity = key.strip().lower().replace(" ", "_")
        if entity == "brand" and value.strip():
            found.append(Fact(entity="brand", value=value.strip(), unit=None, raw_text=value,
                              source="seller"))
            continue
        for fact in parse_value(entity, value):
            found.append(fact)
    return found


def distinct_facts(facts: list[Fact], min_confidence: float) -> list[Fact]:
    """One fact per (entity, value, unit, source), the most confident; weak readings dropped.

    The same "500 g" printed on three photos is one fact; readings below the parser's
    confidence threshold (a vitamin dose, a nutrition-table row) never reach a listing.
    """
    best: dict[tuple, Fact] = {}
    for fact in facts:
        if fact.confidence < min_confidence:
            continue
        key = (fact.entity, fact.value, fact.unit, fact.source)
        if key not in best or fact.confidence > best[key].confidence:
            best[key] = fact
    return list(best.values())
