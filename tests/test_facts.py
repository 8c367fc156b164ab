"""tagger.facts: numeric facts and brand from OCR lines, the AMLC answer strings, robustness."""

from __future__ import annotations

from listingsmith.core.units import units_vocab

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagger.facts import (MIN_CONFIDENCE, best_fact, extract_brand, parse_facts, parse_value,
                          predict_entity)
from listingsmith.core.types import Fact, TextSpan, entity_units

UNITS_VOCAB = units_vocab()


def span(text: str, height: float = 20.0, score: float = 0.95) -> TextSpan:
    """One OCR line at the top left, ``height`` pixels tall."""
    return TextSpan(text=text, box=(0.0, 0.0, 100.0, height), score=score)


def facts_of(*lines: str) -> list[Fact]:
    return parse_facts([span(line) for line in lines])


def answers(text: str) -> dict[str, str]:
    """Entity -> AMLC answer for every entity a line yields an answer for."""
    facts = facts_of(text)
    return {entity: predict_entity(facts, entity) for entity in {f.entity for f in facts}
            if predict_entity(facts, entity)}


# --------------------------------------------------------------------------- each entity, each form


@pytest.mark.parametrize("text, entity, expected", [
    # item_weight: spellings of gram and kilogram, net cues, equivalents
    ("500g", "item_weight", "500.0 gram"),
    ("500 gm", "item_weight", "500.0 gram"),
    ("500 grams", "item_weight", "500.0 gram"),
    ("500 GR", "item_weight", "500.0 gram"),
    ("NET WT 1.5 KG", "item_weight", "1.5 kilogram"),
    ("Net wt. 16 oz (1 lb) 454g", "item_weight", "454.0 gram"),
    ("Net Wt: 250 g (8.8 oz)", "item_weight", "250.0 gram"),
    ("Poids net 1,2 kg", "item_weight", "1.2 kilogram"),
    ("12 oz", "item_weight", "12.0 ounce"),
    ("2 lbs", "item_weight", "2.0 pound"),
    ("1 ton", "item_weight", "1.0 ton"),
    ("2x500g", "item_weight", "500.0 gram"),
    ("2 x 250 g", "item_weight", "250.0 gram"),
    ("4,99 € 500 g", "item_weight", "500.0 gram"),
    ("Net wt 500 mg", "item_weight", "500.0 milligram"),
    ("Whey Protein 2 kg", "item_weight", "2.0 kilogram"),
    ("５００ｇ", "item_weight", "500.0 gram"),
    # maximum_weight_recommendation, never item_weight
    ("Max load 150 kg", "maximum_weight_recommendation", "150.0 kilogram"),
    ("max. weight 150kg", "maximum_weight_recommendation", "150.0 kilogram"),
    ("Load capacity: 150 kg", "maximum_weight_recommendation", "150.0 kilogram"),
    ("Max 150 kg / 330 lbs", "maximum_weight_recommendation", "150.0 kilogram"),
    # item_volume
    ("1,5 L", "item_volume", "1.5 litre"),
    ("0,75 l", "item_volume", "0.75 litre"),
    ("0.5L", "item_volume", "0.5 litre"),
    ("1l", "item_volume", "1.0 litre"),
    ("25.4 FL OZ (750 mL)", "item_volume", "750.0 millilitre"),
    ("120 ml / 4 fl oz", "item_volume", "120.0 millilitre"),
    ("16 fl. oz", "item_volume", "16.0 fluid ounce"),
    ("e 750ml", "item_volume", "750.0 millilitre"),
    ("℮ 750 ml", "item_volume", "750.0 millilitre"),
    ("e750ml", "item_volume", "750.0 millilitre"),
    ("12% vol 750 ml", "item_volume", "750.0 millilitre"),
    ("1,000 ml", "item_volume", "1000.0 millilitre"),
    ("1/2 gal", "item_volume", "0.5 gallon"),
    ("5 cl", "item_volume", "5.0 centilitre"),
    ("3 dl", "item_volume", "3.0 decilitre"),
    ("1 qt", "item_volume", "1.0 quart"),
    ("1 pint", "item_volume", "1.0 pint"),
    ("2 cups", "item_volume", "2.0 cup"),
    ("2.5 cu ft", "item_volume", "2.5 cubic foot"),
    ("250 cm³", "item_volume", "250.0 millilitre"),
    ("5 in 1 shampoo 250 ml", "item_volume", "250.0 millilitre"),
    # voltage: ranges report their maximum
    ("AC 100-240V", "voltage", "240.0 volt"),
    ("100-240V~ 50/60Hz", "voltage", "240.0 volt"),
    ("110/220V", "voltage", "220.0 volt"),
    ("12-24V DC", "voltage", "24.0 volt"),
    ("12V", "voltage", "12.0 volt"),
    ("120V", "voltage", "120.0 volt"),
    ("230 VAC", "voltage", "230.0 volt"),
    ("500 mV", "voltage", "500.0 millivolt"),
    # wattage
    ("60W", "wattage", "60.0 watt"),
    ("60 Watts", "wattage", "60.0 watt"),
    ("6W", "wattage", "6.0 watt"),
    ("2 kW", "wattage", "2.0 kilowatt"),
    ("6W (40W equivalent)", "wattage", "6.0 watt"),
    # single lengths need a cue
    ("Width: 45 cm", "width", "45.0 centimetre"),
    ("H: 20cm", "height", "20.0 centimetre"),
    ("60 cm deep", "depth", "60.0 centimetre"),
    ("Height 12 in", "height", "12.0 inch"),
    ("Length 2 m", "depth", "2.0 metre"),
    ("Width 3 ft", "width", "3.0 foot"),
])
def test_parses_each_entity_and_unit_form(text, entity, expected):
    assert predict_entity(facts_of(text), entity) == expected


@pytest.mark.parametrize("text, expected", [
    ("30 x 20 x 10 cm", {"width": "30.0 centimetre", "depth": "20.0 centimetre",
                         "height": "10.0 centimetre"}),
    ("30cm x 20cm x 10cm", {"width": "30.0 centimetre", "depth": "20.0 centimetre",
                            "height": "10.0 centimetre"}),
    ("30 x 20 in", {"width": "30.0 inch", "height": "20.0 inch"}),
    ("W 30 x D 20 x H 10 cm", {"width": "30.0 centimetre", "depth": "20.0 centimetre",
                               "height": "10.0 centimetre"}),
    ("30H x 20W x 10D mm", {"height": "30.0 millimetre", "width": "20.0 millimetre",
                            "depth": "10.0 millimetre"}),
    ("L x W x H: 40 x 30 x 20 cm", {"depth": "40.0 centimetre", "width": "30.0 centimetre",
                                    "height": "20.0 centimetre"}),
    ("40 x 30 x 20 cm (L x W x H)", {"depth": "40.0 centimetre", "width": "30.0 centimetre",
                                     "height": "20.0 centimetre"}),
    ("W: 30 cm H: 20 cm D: 10 cm", {"width": "30.0 centimetre", "height": "20.0 centimetre",
                                    "depth": "10.0 centimetre"}),
])
def test_box_dimensions(text, expected):
    assert answers(text) == expected


def test_equivalents_are_all_reported_and_metric_preferred():
    facts = facts_of("25.4 FL OZ (750 mL)")
    assert [(f.value, f.unit) for f in facts] == [(25.4, "fluid ounce"), (750.0, "millilitre")]
    assert facts[1].confidence > facts[0].confidence
    assert best_fact(facts, "item_volume") is facts[1]


def test_max_load_is_not_item_weight():
    facts = facts_of("Max load 150 kg", "max. weight 150kg", "Load capacity: 150 kg")
    assert len(facts) == 3
    assert {f.entity for f in facts} == {"maximum_weight_recommendation"}


def test_fact_provenance():
    line = span("Net wt. 16 oz (1 lb) 454g", score=0.9)
    facts = parse_facts([line])
    assert [f.raw_text for f in facts] == ["16 oz", "1 lb", "454g"]
    for fact in facts:
        assert fact.span is line and fact.source == "ocr"
        assert 0.0 < fact.confidence <= 1.0


def test_ocr_score_lowers_confidence():
    sure, unsure = (parse_facts([span("500 g", score=s)])[0] for s in (0.99, 0.5))
    assert unsure.confidence < sure.confidence


@pytest.mark.parametrize("text, expected", [
    ("5O0g", "500.0 gram"),
    ("5oo ml", "500.0 millilitre"),
    ("1S0 g", "150.0 gram"),
    ("1I0 V", "110.0 volt"),
    ("2l0 g", "210.0 gram"),
])
def test_ocr_confusions_repaired_with_lower_confidence(text, expected):
    repaired = facts_of(text)
    assert len(repaired) == 1 and repaired[0].answer == expected
    clean = facts_of(expected.replace(".0", "").replace("gram", "g").replace("millilitre", "ml")
                     .replace("volt", "V"))
    assert repaired[0].confidence < clean[0].confidence
    assert repaired[0].confidence >= MIN_CONFIDENCE


@pytest.mark.parametrize("text", ["S00 g", "SOO g", "OS0 g", "Sg", "lg"])
def test_letters_alone_are_not_numbers(text):
    assert facts_of(text) == []


def test_one_litre_is_not_a_confused_digit():
    (fact,) = facts_of("1l")
    assert (fact.value, fact.unit, fact.raw_text) == (1.0, "litre", "1l")


# --------------------------------------------------------------------------- distractors


@pytest.mark.parametrize("text", [
    "$4.99", "4,99 €", "Rs. 120", "kr 25", "MRP Rs 120", "4,99 € / 1 kg", "€ 2 / 500 g",
    "LOT 230512", "Lot: 12 kg", "Batch No. 12345", "Model 1004W", "Model ST1004", "ST1004W",
    "ST-12V", "EXP 12/2025", "Best before 05.12.2025", "Tel. +49 800 123 4567",
    "Energy 1500 kJ / 359 kcal", "2000 kJ", "100 kcal", "Per 100g", "per 100ml", "Pro 100 g",
    "Typical values per 100 g: Energy 1500 kJ", "Serving size 1 cup (240 mL)",
    "Fat 3.5 g Saturates 1.2 g", "Carbohydrate 40 g of which sugars 5 g",
    "30 servings", "2 capsules", "365 Capsules", "5%", "15 %NRV", "268 mg α-TE",
    "Vitamin E 268 mg Food Supplement, 365 Capsules.", "Vitamin C 1000 mg",
    "Per Capsule / Pro Kapsel / Par capsule /", "This pack contains 365 servings.",
    "2024", "© 2023", "Since 1890", "5G LTE", "5000mAh", "100 kWh", "400 lumens", "2700K",
    "30 cm2", "3 m³", "7/3 l",
])
def test_distractors_give_no_fact(text):
    assert facts_of(text) == []


@pytest.mark.parametrize("text", ["Per 100g", "per 100 g 2000 kJ", "Nutrition Facts Serving size 30 g",
                                  "Per 100 g / Per serving (30 g)"])
def test_nutrition_basis_is_never_item_weight(text):
    assert predict_entity(facts_of(text), "item_weight") == ""


@pytest.mark.parametrize("text", ["50 µg", "500 mcg", "Protein 12 g", "Prepared with 50 g of fruit",
                                  "6W (40W equivalent)"])
def test_doses_and_comparisons_stay_below_min_confidence(text):
    facts = facts_of(text)
    assert facts, "kept for provenance"
    low = [f for f in facts if f.confidence < MIN_CONFIDENCE]
    assert low and all(f.raw_text != "6W" for f in low)


def test_vitamin_pack_yields_no_item_weight():
    facts = facts_of("Vitamin E 268 mg Food Supplement, 365 Capsules.", "365 Capsules",
                     "Per Capsule / Pro Kapsel / Par capsule /", "268 mg α-TE",
                     "This pack contains 365 servings.")
    assert [f for f in facts if f.entity == "item_weight" and f.confidence >= MIN_CONFIDENCE] == []
    assert predict_entity(facts, "item_weight") == ""


def test_led_bulb_pack():
    facts = facts_of("6W", "400 lumens", "120V")
    assert [(f.entity, f.answer) for f in facts] == [("wattage", "6.0 watt"),
                                                      ("voltage", "120.0 volt")]


def test_bare_length_is_ambiguous():
    assert facts_of("30 cm") == []


def test_net_cue_overrides_nutrition_rules():
    facts = facts_of("Net wt 500 g 2000 kJ per 100 g")
    assert [(f.entity, f.answer) for f in facts] == [("item_weight", "500.0 gram")]


# --------------------------------------------------------------------------- choosing the answer


@pytest.mark.parametrize("lines, entity, expected", [
    (["500g"], "item_weight", "500.0 gram"),
    (["1,5 L"], "item_volume", "1.5 litre"),
    (["AC 100-240V"], "voltage", "240.0 volt"),
    (["365 Capsules"], "item_weight", ""),
    (["500g"], "item_volume", ""),
    ([], "wattage", ""),
])
def test_predict_entity_strings(lines, entity, expected):
    assert predict_entity(facts_of(*lines), entity) == expected


def test_best_fact_prefers_net_cue():
    facts = facts_of("Fruit 100 g", "Net wt 5O0 g")
    assert facts[0].confidence > facts[1].confidence
    assert best_fact(facts, "item_weight").raw_text == "5O0 g"


def test_best_fact_ties_go_to_larger_then_earlier_text():
    small, large, large_later = span("250 g", 10), span("500 g", 40), span("750 g", 40)
    facts = parse_facts([small, large, large_later])
    assert len({f.confidence for f in facts}) == 1
    assert best_fact(facts, "item_weight").span is large


def test_best_fact_respects_min_confidence():
    facts = facts_of("50 µg")
    assert best_fact(facts, "item_weight") is None
    assert best_fact(facts, "item_weight", min_confidence=0.0) is facts[0]
    assert predict_entity(facts, "item_weight", min_confidence=0.0) == "50.0 microgram"


# --------------------------------------------------------------------------- brand


def test_known_brand_wins_whole_word_any_case():
    spans = [span("ORGANIC", 80), span("nivea creme", 20), span("400 ml", 50)]
    fact = extract_brand(spans, known_brands=["Dove", "NIVEA"])
    assert (fact.entity, fact.value, fact.unit) == ("brand", "NIVEA", None)
    assert fact.raw_text == "nivea creme"
    assert fact.span is spans[1] and fact.source == "ocr" and fact.confidence >= 0.9


def test_known_brand_needs_a_whole_word():
    fact = extract_brand([span("Niveau", 40)], known_brands=["Nivea"])
    assert fact.value == "Niveau" and fact.confidence < 0.9


def test_prominent_line_is_the_brand():
    spans = [span("ORGANIC", 80), span("KELLOGG'S", 60), span("Corn Flakes", 30),
             span("Net wt 500 g", 70), span("INGREDIENTS", 90), span("Nutrition Facts", 90)]
    fact = extract_brand(spans)
    assert fact.value == "KELLOGG'S" and fact.raw_text == "KELLOGG'S" and fact.span is spans[1]
    assert "most prominent name-like line" in fact.explanation


def test_vitamin_pack_brand_skips_label_text():
    spans = [span("Per Capsule / Pro Kapsel / Par capsule /", 50),
             span("Vitamin E 268 mg Food Supplement, 365 Capsules.", 40),
             span("365 Capsules", 30), span("Vitabay", 25)]
    assert extract_brand(spans).value == "Vitabay"


@pytest.mark.parametrize("lines", [["500 g", "12345", "$4.99"], [], ["ORGANIC", "Net Wt"],
                                   ["* * *", "--", "A"]])
def test_no_plausible_brand(lines):
    assert extract_brand([span(line, 40) for line in lines]) is None


# --------------------------------------------------------------------------- vocabulary


def test_every_unit_is_in_the_schema_for_its_entities():
    schema = entity_units()
    for name, spec in UNITS_VOCAB["units"].items():
        default = UNITS_VOCAB["default_entity"][spec["dimension"]]
        assert any(name in allowed for allowed in schema.values()), name
        assert default is None or name in schema[default], name
    assert set(UNITS_VOCAB["cues"]["entity"]) == set(schema)


def test_every_alias_parses_to_its_unit():
    for name, spec in UNITS_VOCAB["units"].items():
        for alias in spec["aliases"]:
            facts = facts_of(f"Width 2 {alias}" if spec["dimension"] == "length" else f"2 {alias}")
            assert [f.unit for f in facts] == [name], alias


# --------------------------------------------------------------------------- robustness


def _assert_valid(facts: list[Fact], spans: list[TextSpan]) -> None:
    allowed = entity_units()
    for fact in facts:
        assert fact.unit in allowed[fact.entity]
        assert fact.raw_text in fact.span.text and fact.span in spans
        assert fact.value > 0 and 0.0 <= fact.confidence <= 1.0


_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(st.text(min_size=1, max_size=80).filter(str.strip))
def test_never_raises_on_any_text(text):
    spans = [span(text)]
    _assert_valid(parse_facts(spans), spans)
    extract_brand(spans, known_brands=[text, "x"])


_ALIASES = [alias for spec in UNITS_VOCAB["units"].values() for alias in spec["aliases"]]
_NUMBERS = st.one_of(
    st.integers(0, 10**9).map(str),
    st.floats(0, 1e7, allow_nan=False).map(lambda f: f"{f:g}"),
    st.from_regex(r"[0-9oOlIS]{1,5}([.,][0-9oO]{1,3})?", fullmatch=True),
    st.from_regex(r"[1-9][0-9]{0,2}(,[0-9]{3}){1,2}", fullmatch=True),
)
_NOISE = st.sampled_from(["x", "×", "-", "/", "~", "to", "(", ")", "per", "Net wt", "Max load", "e",
                          "℮", "$", "€", "Lot", "kcal", "%", "W", "H", "D", "L x W x H", "Vitamin",
                          "deep", "equivalent", ":", ".", ",", "AC", "Ingredients"])
_TOKENS = st.lists(st.one_of(_NUMBERS, st.sampled_from(_ALIASES), _NOISE), min_size=1, max_size=12)


@_FAST
@given(_TOKENS, st.lists(st.sampled_from(["", " ", "  "]), min_size=12, max_size=12))
def test_grammar_of_numbers_units_noise(tokens, joints):
    text = "".join(token + joint for token, joint in zip(tokens, joints)).strip() or "x"
    spans = [span(text)]
    facts = parse_facts(spans)
    _assert_valid(facts, spans)
    for entity in entity_units():
        answer = predict_entity(facts, entity)
        assert answer == "" or answer.split(" ", 1)[1] in entity_units()[entity]


@pytest.mark.parametrize("entity, text, answer", [
    ("item_weight", "500 g", "500.0 gram"),
    ("item_weight", "1,5 kg", "1.5 kilogram"),
    ("width", "30 cm", "30.0 centimetre"),
    ("maximum_weight_recommendation", "150 kg", "150.0 kilogram"),
    ("voltage", "AC 100-240V", "240.0 volt"),
    ("item_weight", "heavy", None),
    ("colour", "red", None),
])
def test_seller_values_parse_for_their_entity(entity, text, answer):
    found = parse_value(entity, text)
    if answer is None:
        assert found == []
    else:
        assert [f.answer for f in found] == [answer]
        assert found[0].source == "seller" and found[0].raw_text == text


@pytest.mark.parametrize("read, brand", [("Aria", "Arla"), ("yoggl", "Yoggi"), ("oggi", "Yoggi"),
                                         ("SOLMO", "Solimo"), ("GOD M0RGON juice", "God Morgon"),
                                         ("alpre", "Alpro")])
def test_known_brand_survives_one_ocr_slip(read, brand):
    fact = extract_brand([span("MJOLK", 80), span(read, 30)],
                         known_brands=["Arla", "Yoggi", "Solimo", "God Morgon", "Alpro"])
    assert fact.value == brand and fact.raw_text == read
    assert 0.5 <= fact.confidence < 0.9  # below an exact match
    assert "one OCR slip" in fact.explanation


@pytest.mark.parametrize("read", ["Niveau", "Arba", "Ar", "Nva"])
def test_ocr_slip_is_not_any_near_word(read):
    fact = extract_brand([span(read, 30)], known_brands=["Nivea", "Arla", "Ab"])
    assert fact is None or fact.value not in ("Nivea", "Arla", "Ab")


@pytest.mark.parametrize("lines, brand", [(["GOD", "MOR", "GON", "apple"], "God Morgon"),
                                          (["BRAVOBRAVOBRA", "juice"], "Bravo")])
def test_known_brand_split_over_lines_or_repeated(lines, brand):
    fact = extract_brand([span(text, 30) for text in lines], known_brands=["God Morgon", "Bravo"])
    assert fact.value == brand and fact.confidence < 0.9


@pytest.mark.parametrize("text, entity, answer", [
    ("Poids net 16 oz (1 Ib) 454g", "item_weight", "454.0 gram"),   # OCR read lb as Ib
    ("Net wt 12 oz or 340 g", "item_weight", "340.0 gram"),
    ("4.3 Itr", "item_volume", "4.3 litre"),                          # OCR read ltr as Itr
    ("e 16 oz (1 lb) 454g", "item_weight", "454.0 gram"),
    ("℮ 12.0 fl oz (355 ml)", "item_volume", "355.0 millilitre"),
])
def test_metric_equivalent_wins_and_unit_ocr_slips(text, entity, answer):
    assert predict_entity(parse_facts([span(text)]), entity) == answer
