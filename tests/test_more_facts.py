"""tagger.more_facts: the product facts beyond the Amazon-ML-2024 eight (issue 23), from pack
lines and from a seller's title, with their provenance; and what must not become one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from describer.claims import quantity_claims
from listingsmith.core.types import TEXT_ENTITIES, Fact, TextSpan, entity_units
from listingsmith.core.units import amlc_entities, code_entities, unit_symbols, units_vocab
from tagger.fact_patterns import fold, product_patterns
from tagger.facts import MIN_CONFIDENCE, parse_facts
from tagger.more_facts import parse_product_facts
from tagger.seller import record_attributes

VOCAB = units_vocab()
NEW_ENTITIES = sorted(set(entity_units()) - set(amlc_entities()))


def line(text: str, image_index: int = 0) -> TextSpan:
    return TextSpan(text=text, box=(10.0, 20.0, 200.0, 44.0), score=0.9, image_index=image_index)


def confident(facts: list[Fact]) -> set[tuple[str, str]]:
    """(entity, value as listings write it) of every fact a listing may use."""
    return {(f.entity, f.display) for f in facts if f.confidence >= MIN_CONFIDENCE}


def title_facts(title: str, **fields: str) -> list[Fact]:
    return record_attributes({"title": title, **fields}).facts


# --------------------------------------------------------------------------- every kind, from a pack


@pytest.mark.parametrize("text, expected", [
    ("365 Capsules", {("unit_count", "365 capsules")}),
    ("60 tablets", {("unit_count", "60 tablets")}),
    ("Pack of 2", {("pack_count", "Pack of 2")}),
    ("2-pack", {("pack_count", "Pack of 2")}),
    ("4 x 100 g", {("pack_count", "Pack of 4"), ("item_weight", "100 g")}),
    ("Pack of 60 capsules", {("unit_count", "60 capsules")}),
    ("Vitamin E 268 mg", {("strength", "268 mg")}),
    ("Vitamin B12 500 mcg", {("strength", "500 µg")}),
    ("Vitamin D3 1000 IU", {("strength", "1000 IU")}),
    ("800 lm", {("luminous_flux", "800 lm")}),
    ("2700 K", {("colour_temperature", "2700 K")}),
    ("Warm white 2700K", {("colour_temperature", "2700 K")}),
    ("5000mAh battery", {("battery_capacity", "5000 mAh")}),
    ("43 inch Full HD LED TV", {("screen_size", "43 in")}),
    ("Screen size 6.5 inch", {("screen_size", "6.5 in")}),
    ("128GB", {("storage_capacity", "128 GB")}),
    ("1 TB", {("storage_capacity", "1 TB")}),
    ("SPF 50", {("spf", "SPF 50")}),
    ("SPF50+ PA+++", {("spf", "SPF 50")}),
    ("3+ years", {("minimum_age", "3+ years")}),
    ("0+ months", {("minimum_age", "0+ months")}),
    ("Ages 8-12", {("minimum_age", "8+ years"), ("maximum_age", "up to 12 years")}),
    ("8 years and up", {("minimum_age", "8+ years")}),
])
def test_each_new_kind_from_a_pack_line(text, expected):
    spans = [line("BRAND"), line(text, image_index=1)]
    facts = parse_product_facts(spans)
    assert confident(facts) == expected
    for fact in facts:  # provenance exactly like the Amazon-ML-2024 facts
        assert fact.source == "ocr" and fact.span is spans[1] and fact.span.image_index == 1
        assert fact.span.box == (10.0, 20.0, 200.0, 44.0)
        assert fact.raw_text and fact.raw_text in text


def test_units_are_written_the_way_marketplaces_want():
    facts = parse_product_facts([line("LED Bulb 6W 470 lm 2700 K"), line("365 Capsules")])
    assert [f.display for f in facts] == ["6 W", "470 lm", "2700 K", "365 capsules"]


def test_a_dose_is_a_strength_never_an_item_weight():
    facts = parse_product_facts([line("Vitamin E 268 mg Food Supplement, 365 Capsules.")])
    assert confident(facts) == {("strength", "268 mg"), ("unit_count", "365 capsules")}
    assert not [f for f in facts if f.entity == "item_weight"]


def test_a_dose_without_a_supplement_word_and_a_nutrition_row_stay_out():
    assert confident(parse_product_facts([line("500 mg")])) == set()
    assert parse_product_facts([line("Nutrition facts Sodium 140 mg")]) == []


def test_amlc_parser_is_unchanged_by_the_new_kinds():
    spans = [line("Philips 9W LED Bulb E27, Pack of 2"), line("Vitamin E 268 mg, 365 Capsules")]
    assert [(f.entity, f.display) for f in parse_facts(spans)] == [("wattage", "9 W")]
    amlc = [f for f in parse_product_facts(spans) if f.entity in amlc_entities()]
    assert amlc == parse_facts(spans)


# --------------------------------------------------------------------------- from a seller's title


@pytest.mark.parametrize("title, expected", [
    ("Philips 9W LED Bulb E27 Cool Day Light, Pack of 2", {("wattage", "9 W"), ("pack_count", "Pack of 2"),
                                                            ("bulb_base", "E27")}),
    ("Solimo Vitamin E 268 mg, 365 Capsules", {("strength", "268 mg"),
                                               ("unit_count", "365 capsules")}),
    ("Samsung 55 inch 4K TV", {("screen_size", "55 in")}),
    ("SanDisk 128GB USB", {("storage_capacity", "128 GB")}),
    ("SPF 50 sunscreen 200 ml", {("spf", "SPF 50"), ("item_volume", "200 ml")}),
    ("LEGO 8+ years", {("minimum_age", "8+ years")}),
    ("Wipro 20W LED Batten 6500K 2000 lumens", {("wattage", "20 W"), ("colour_temperature", "6500 K"),
                                                 ("luminous_flux", "2000 lm")}),
    ("Mi Power Bank 20000mAh", {("battery_capacity", "20000 mAh")}),
    ("Twinings Green Tea 25 Tea Bags", {("unit_count", "25 tea bags")}),
])
def test_each_new_kind_from_a_seller_title(title, expected):
    facts = [f for f in title_facts(title) if f.entity != "brand"]
    assert confident(facts) == expected
    assert all(f.source == "seller" and f.raw_text == title and f.span is None for f in facts)


def test_vitamin_title_states_no_item_weight():
    facts = title_facts("Solimo Vitamin E 268 mg, 365 Capsules", brand="Solimo")
    assert not [f for f in facts if f.entity == "item_weight"]


def test_4k_is_no_colour_temperature():
    assert not [f for f in title_facts("Samsung 55 inch 4K TV") if f.entity == "colour_temperature"]
    facts = parse_product_facts([line("Samsung 55 inch 4K TV")])
    assert [f.confidence < MIN_CONFIDENCE for f in facts if f.entity == "colour_temperature"] == [True]


def test_bulb_base_codes_match_whole_tokens():
    codes = product_patterns().codes["bulb_base"]
    found = [m.group(0) for m in codes.finditer(fold("Philips 9W LED Bulb E27, GU5.3 or B22 base"))]
    assert found == ["e27", "gu5.3", "b22"]
    for text in ("XE27B", "SKU E27-123", "AE2700", "E270", "GU5.35"):
        assert codes.search(fold(text)) is None, text
    assert "E27" in code_entities()["bulb_base"]


def test_bulb_base_from_a_title_and_a_pack():
    facts = title_facts("Philips 9W LED Bulb E27 Cool Day Light, Pack of 2")
    assert ("bulb_base", "E27") in confident(facts)
    pack = parse_product_facts([line("Base: GU10")])
    assert [(f.entity, f.value, f.raw_text) for f in pack] == [("bulb_base", "GU10", "GU10")]


# --------------------------------------------------------------------------- negatives


@pytest.mark.parametrize("text", [
    "Rs 250", "MRP Rs. 250", "$4.99", "LOT 230512", "Lot: 365 capsules", "Batch No. 12345",
    "Made in GB", "GB", "XE27B", "Model E27", "SKU E27X", "Per 2 capsules", "30 servings",
    "Page 12", "Storage box", "Energy 1500 kJ",
])
def test_distractors_give_no_product_fact(text):
    facts = parse_product_facts([line(text)])
    assert [f for f in facts if f.entity not in amlc_entities()] == [], facts


def test_a_warranty_is_no_age():
    facts = parse_product_facts([line("2 years warranty")])
    assert facts and all(f.confidence < MIN_CONFIDENCE for f in facts)


# --------------------------------------------------------------------------- data


def test_every_product_unit_parses_to_itself():
    for name, spec in VOCAB["product_units"].items():
        for alias in spec["aliases"]:
            facts = parse_product_facts([line(f"2 {alias}")])
            assert name in [f.unit for f in facts], alias


def test_vocabulary_is_consistent():
    rules = VOCAB["product_facts"]
    for name, spec in VOCAB["product_units"].items():
        default = rules["default_entity"].get(spec["dimension"])
        assert default is None or name in entity_units()[default], name
        assert name in unit_symbols(), name
    assert set(NEW_ENTITIES) <= set(VOCAB["cues"]["entity"])
    for entity, spec in rules["prefixed"].items():
        assert spec["unit"] in entity_units()[entity]
        assert spec.get("range_entity") in (None, *entity_units())
    schema = json.loads((Path(__file__).parents[1] / "listingsmith" / "schema" /
                         "listing.schema.json").read_text())
    enum = set(schema["$defs"]["fact"]["properties"]["entity"]["enum"])
    assert enum == set(entity_units()) | set(code_entities()) | set(TEXT_ENTITIES)


def test_guard_knows_the_new_units():
    for text, dimension in [("800 lm", "luminous_flux"), ("2700 K", "colour_temperature"),
                            ("60 capsules", "count"), ("1000 IU", "iu"), ("Pack of 2", "pack")]:
        assert [q[1] for c in quantity_claims(text) for q in c.quantities] == [dimension], text


_TOKENS = st.lists(st.one_of(
    st.integers(0, 20000).map(str), st.sampled_from(["+", "-", "x", "of", "pack", "spf", "ages",
                                                     "Rs", "Lot", "mg", "K", "lm", "mAh", "GB",
                                                     "tv", "inch", "years", "capsules", "E27",
                                                     "Vitamin", "and up", "/", "kcal"])),
    min_size=1, max_size=10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TOKENS, st.sampled_from(["", " "]))
def test_never_raises_and_every_fact_is_valid(tokens, joint):
    text = joint.join(tokens)
    spans = [line(text)]
    for fact in parse_product_facts(spans):
        assert fact.entity in entity_units() or fact.entity in TEXT_ENTITIES
        assert fact.raw_text in text and fact.span is spans[0]
        assert 0.0 <= fact.confidence <= 1.0
