"""Titles by formula per taxonomy branch (prompts/titles.toml), and tone and length acting on
every generator (describer/styling.py)."""

import re

import pytest

from describer import prompting, titles
from describer.generators import ModelGenerator, TemplateGenerator
from describer.pipeline import Describer
from listingsmith.core.types import Attributes, ColorSwatch, Fact, Identity, TextSpan
from tagger.seller import record_attributes

SUPPLEMENTS = "Health & Beauty > Health Care > Fitness & Nutrition > Vitamins & Supplements"


def vitamin_pack() -> Attributes:
    span = TextSpan("Vitamin E 268 mg", (0, 0, 100, 20), 0.99)
    count = TextSpan("365 Capsules", (0, 30, 100, 50), 0.98)
    return Attributes(
        text_spans=[span, count],
        facts=[Fact("brand", "SOLIMO", None, "SOLIMO", "ocr", span, 0.8),
               Fact("strength", 268, "milligram", "268 mg", "ocr", span, 0.9),
               Fact("unit_count", 365, "capsule", "365 Capsules", "ocr", count, 0.9)],
        colours=[ColorSwatch("White", "white", (250, 250, 250), "#fafafa", 0.6)],
        identity=Identity(525, SUPPLEMENTS, "vitamin supplement", 0.9, False))


def title_of(attributes: Attributes) -> str:
    return Describer(TemplateGenerator()).describe([attributes])[0].title


def test_the_deepest_matching_branch_gives_the_formula():
    assert titles.formula("Home & Garden > Lighting > Light Bulbs") == \
        titles.settings()["branches"]["Home & Garden > Lighting"]
    assert titles.formula("Home & Garden > Kitchen & Dining") == \
        titles.settings()["branches"]["Home & Garden"]
    assert titles.formula("Vehicles & Parts") == titles.settings()["branches"]["default"]


def test_every_branch_of_the_formulas_is_a_taxonomy_node():
    from tagger.taxonomy import taxonomy

    for branch in titles.settings()["branches"]:
        if branch != "default":
            assert taxonomy().by_path(branch) is not None, branch


def test_a_supplement_title_has_strength_and_count_and_no_colour_or_capitals():
    title = title_of(vitamin_pack())
    # the pack's own name for the product ("Vitamin E 268 mg" less its dose) beats the type
    assert title == "Solimo Vitamin E, 268 mg, 365 capsules"


@pytest.mark.parametrize("record, expected", [
    ({"title": "Philips 9W LED Bulb E27 Cool Day Light, Pack of 2", "brand": "Philips"},
     ["Philips", "LED Bulb", "9 W", "E27", "Pack of 2"]),
    ({"title": "Amul Taaza Toned Milk 1 L", "brand": "Amul", "category": "Dairy"},
     ["Amul", "Taaza Toned Milk", "1 L"]),
    ({"title": "pinwheel Women Navy Blue A-Line Dress", "brand": "pinwheel"},
     ["pinwheel", "Women", "Navy Blue", "A-Line Dress"]),
])
def test_a_seller_title_keeps_its_words_and_every_fact(record, expected):
    title = title_of(record_attributes(record))
    for part in expected:
        assert part in title, (part, title)
    assert title != "Product" and len(title) <= 150


def test_long_titles_drop_facts_from_the_end_and_never_shout():
    product = {"brand": "ACME", "kind": "POWER STATION " + "x" * 140, "colours": [],
               "seller": {}, "identity_path": "Electronics",
               "fact_values": {"battery_capacity": "20000 mAh", "wattage": "300 W"}}
    title = titles.formula_title(product)
    assert len(title) <= 150
    assert not re.search(r"\b[A-Z]{4,}\b", title.replace("ACME", ""))
    assert title.startswith("Acme Power Station")


def test_tone_and_length_change_every_generator_s_words(fixed_text_model):
    describer = Describer(TemplateGenerator())
    attributes = vitamin_pack()
    text = {(tone, length): describer.describe([attributes], tone=tone, length=length)[0]
            .description for tone in prompting.options()["tones"]
            for length in prompting.options()["lengths"]}
    words = {key: len(value.split()) for key, value in text.items()}
    for tone in prompting.options()["tones"]:
        assert words[tone, "short"] <= words[tone, "medium"] <= words[tone, "long"]
        assert words[tone, "short"] <= prompting.options()["lengths"]["short"]["words"]
    # the template already states every attribute; a model's text gains the facts it left out
    model = Describer(ModelGenerator(
        fixed_text_model("Solimo vitamin E softgels for daily use.", False)))
    brief = {length: model.describe([attributes], length=length)[0].description
             for length in ("short", "medium", "long")}
    assert brief["short"] == "Solimo vitamin E softgels for daily use."
    assert brief["medium"] == brief["short"] + " Strength: 268 mg. Count: 365 capsules."
    assert brief["long"] == (brief["short"] + " Category: Fitness & Nutrition > Vitamins & "
                             "Supplements. Strength: 268 mg. Count: 365 capsules.")
    assert "refined" in text["premium", "medium"] and "refined" not in text["neutral", "medium"]
    assert "!" in text["playful", "medium"]
    assert "Specifications: Brand: SOLIMO; Type: " in text["technical", "short"]
    assert "; Strength: 268 mg; Count: 365 capsules." in text["technical", "short"]
    assert len({text[tone, "medium"] for tone in prompting.options()["tones"]}) == 4


@pytest.mark.parametrize("record, kind", [
    ({"title": "Philips LED Bulb Cool Day Light, 9 W, E27, Pack of 2", "brand": "Philips"},
     "light bulb"),
    ({"title": "Bosch GSB Impact Drill With 13 Mm Chuck, 500 W", "brand": "Bosch"},
     "impact drill"),
    ({"title": "Tetley Green Tea Bags, Lemon & Honey, 100 Bags", "brand": "Tetley"}, "tea"),
])
def test_a_record_s_description_names_the_product_not_its_last_words(record, kind):
    listing = Describer(TemplateGenerator()).describe([record_attributes(record)])[0]
    assert listing.description.startswith(f"{record['brand']} {kind}."), listing.description
    assert f"Category: {kind.title()}" in listing.bullets
