import json
from importlib import resources

import jsonschema
import pytest

from listingsmith.core.errors import ValidationError
from listingsmith.core.types import (Attributes, CategoryPrediction, ColorSwatch, Detections, Fact, ImageInfo,
                          Listing, QualityWarning, Tag, TextSpan, format_amlc_value)


def full_listing() -> Listing:
    span = TextSpan("Net wt 500g", (10, 20, 110, 40), 0.97, image_index=1)
    attributes = Attributes(
        images=[ImageInfo("a.jpg", 640, 480, "RGB"), ImageInfo("b.jpg", 480, 640, "RGBA", True)],
        detections=[Detections([(0, 0, 10, 10)], ["product"], [0.9], "builtin", 0)],
        colours=[ColorSwatch("Navy Blue", "blue", (31, 42, 68), "#1f2a44", 0.7)],
        tags=[Tag("shirt", 0.8, "image-backbone", "imagenet")],
        text_spans=[span],
        facts=[Fact("item_weight", 500, "gram", "500g", "ocr", span, 0.9),
               Fact("brand", "Acme", None, "ACME", "ocr", None, 0.6)],
        category=CategoryPrediction("Shirts", 0.8, "fashion/articleType",
                                    [("Shirts", 0.8), ("Tshirts", 0.1)]),
        warnings=[QualityWarning("low_resolution", "photo 1 is 320 px", 320.0, 500.0, 0)],
        seller={"price": "19.99"}, provenance={"ocr": "bundled:rapidocr"})
    return Listing("Acme Shirt", "A shirt.", ["Net weight: 500 g"], attributes,
                   generator="template", template="prompts-v1@abc")


def test_listing_round_trips_through_json():
    listing = full_listing()
    again = Listing.from_json(listing.to_json())
    assert again == listing
    assert again.attributes.facts[0].span.image_index == 1
    assert again.attributes.category.top_k[1] == ("Tshirts", 0.1)


def test_listing_json_matches_published_schema():
    schema = json.loads(resources.files("listingsmith").joinpath(
        "schema/listing.schema.json").read_text())
    jsonschema.validate(full_listing().to_dict(), schema)
    broken = full_listing().to_dict()
    broken["attributes"]["facts"][0]["source"] = "guess"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("build, message", [
    (lambda: Fact("item_weight", 500, "grams", "500 grams"), "Fact.unit: expected one of"),
    (lambda: Fact("colour", "red", None, "red"), "Fact.entity: expected one of"),
    (lambda: Fact("item_weight", -1, "gram", "-1 g"), "Fact.value: expected a non-negative"),
    (lambda: Fact("brand", "Acme", "gram", "Acme"), "Fact.unit: expected None for brand"),
    (lambda: Tag("shirt", 1.5, "x"), "Tag.score: expected a number in [0, 1], got 1.5"),
    (lambda: TextSpan("", (0, 0, 1, 1), 0.5), "TextSpan.text: expected a non-empty string"),
    (lambda: TextSpan("a", (5, 0, 1, 1), 0.5), "TextSpan.box: expected x1 >= x0"),
    (lambda: ColorSwatch("Red", "red", (255, 0, 0), "#00ff00", 0.5), "ColorSwatch.hex: expected"),
    (lambda: Detections([(0, 0, 1, 1)], [], [0.5], "x"), "expected lists of equal length"),
    (lambda: ImageInfo("a.jpg", 0, 10, "RGB"), "ImageInfo.width: expected a positive int"),
    (lambda: Attributes(facts=["500 g"]), "Attributes.facts[]: expected Fact"),
    (lambda: Listing(" ", "d"), "Listing.title: expected a non-empty string"),
])
def test_invalid_values_are_refused_with_expected_got(build, message):
    with pytest.raises(ValidationError, match="expected") as caught:
        build()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_other_major_schema_version_is_refused():
    data = full_listing().to_dict()
    data["schema_version"] = "2.0"
    with pytest.raises(ValidationError, match="schema_version: expected a 1.x"):
        Listing.from_dict(data)


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="unknown|only"):
        Tag.from_dict({"name": "a", "score": 0.5, "source": "x", "colour": "red"})


@pytest.mark.parametrize("value, unit, expected", [
    (500, "gram", "500.0 gram"), (1.5, "litre", "1.5 litre"), (0.00001, "gram", "0.00001 gram"),
    (240, "volt", "240.0 volt"), (12.25, "inch", "12.25 inch")])
def test_amlc_answer_format(value, unit, expected):
    assert format_amlc_value(value, unit) == expected


def test_attributes_prefers_seller_facts():
    ocr = Fact("item_weight", 450, "gram", "450g", "ocr", confidence=0.99)
    seller = Fact("item_weight", 500, "gram", "500 g", "seller", confidence=0.5)
    assert Attributes(facts=[ocr, seller]).fact("item_weight") is seller
    assert Attributes(facts=[ocr]).fact("voltage") is None
