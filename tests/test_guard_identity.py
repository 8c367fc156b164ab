"""The guard knows the product's identity (issue 23, part 6): product types and parts of
another Google top-level branch than a sure identity's are violations."""

import pytest

from describer import claim_vocab
from describer.branch_vocab import build, phrases
from describer.claims import branch_type_claims
from describer.guard import Guard, branch_type_violations, part_violations
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, CategoryPrediction, Identity
from tagger.seller import record_attributes
from tagger.taxonomy import taxonomy

BULBS = taxonomy().by_path("Home & Garden > Lighting > Light Bulbs").id
VITAMINS = taxonomy().by_path(
    "Health & Beauty > Health Care > Fitness & Nutrition > Vitamins & Supplements").id
DUFFELS = taxonomy().by_path("Luggage & Bags > Duffel Bags").id
SHIRTS = taxonomy().by_path("Apparel & Accessories > Clothing > Shirts & Tops").id


def identity(node: int, product_type: str = "", uncertain: bool = False) -> Identity:
    return Identity(node, taxonomy().path_text(node), product_type, 0.9, uncertain,
                    "weak evidence" if uncertain else "")


def texts(claims) -> list[str]:
    return [c.text for c in claims]


def test_a_bulb_has_no_sleeves():
    attributes = Attributes(seller={"title": "Wipro 9 W LED Bulb"},
                            identity=identity(BULBS, "light bulb"))
    text, dropped = Guard().ground("Soft cotton sleeves. Bright 9 W LED bulb.", attributes)
    assert text == "Bright 9 W LED bulb."
    assert texts(dropped) == ["sleeves"] and dropped[0].kind == "part"


def test_a_vitamin_titled_as_t_shirts_is_a_violation():
    attributes = Attributes(identity=identity(VITAMINS, "vitamin supplement"))
    found = Guard().product_type_violations("Solimo White Tshirts", attributes)
    assert texts(found) == ["Tshirts"] and found[0].kind == "product_type"


def test_a_supplement_naming_capsules_and_vitamins_is_fine():
    attributes = Attributes(identity=identity(VITAMINS, "vitamin supplement"))
    text = "Vitamin E capsules for healthy skin. Take one capsule a day with water."
    assert Guard().ground(text, attributes) == (text, [])
    assert Guard().product_type_violations("Solimo Vitamin E 400 Capsules", attributes) == []


def test_a_bag_has_no_nutrition_facts():
    attributes = Attributes(identity=identity(DUFFELS, "duffel bag"))
    text, dropped = Guard().ground("Large duffel bag with two handles. See the nutrition facts "
                                   "on the back.", attributes)
    assert text == "Large duffel bag with two handles."
    assert texts(dropped) == ["nutrition facts"]
    assert texts(part_violations("Nutrition facts per serving.", attributes)) \
        == ["Nutrition facts", "per serving"]


def test_every_sentence_is_checked_for_types_of_another_branch():
    attributes = Attributes(identity=identity(BULBS, "light bulb"))
    text, dropped = Guard().ground("Bright LED light bulb. A soft sofa for the living room. "
                                   "Lasts for years.", attributes)
    assert "sofa" not in text and texts(dropped) == ["sofa"]


def test_types_the_product_works_with_are_no_claim():
    # "ideal for your laptop", "pair it with jeans": what the product goes with
    attributes = Attributes(identity=identity(DUFFELS, "duffel bag"))
    assert branch_type_violations("A padded sleeve, ideal for your laptop.", attributes) == []
    shirt = Attributes(identity=identity(SHIRTS, "shirt"))
    assert branch_type_violations("Pair it with jeans and a sofa.", shirt) == []
    assert texts(branch_type_violations("This sofa is soft.", shirt)) == ["sofa"]


def test_an_uncertain_identity_keeps_the_fashion_family_rule():
    unsure = Attributes(identity=identity(BULBS, "light bulb", uncertain=True))
    assert branch_type_violations("A soft sofa.", unsure) == []
    assert Guard().ground("Soft cotton sleeves.", unsure) == ("Soft cotton sleeves.", [])
    grocery = Attributes(category=CategoryPrediction("Vitamins", 0.9, "grocery", []),
                         identity=identity(BULBS, "light bulb", uncertain=True))
    assert texts(Guard().product_type_violations("Solimo Men Navy Trousers", grocery)) \
        == ["Trousers"]
    assert Guard().product_type_violations("A soft sofa", Attributes()) == []


def test_a_type_the_seller_names_is_never_removed():
    attributes = record_attributes({"title": "Solimo White Tshirts Vitamin Pack",
                                    "brand": "Solimo"})
    attributes.identity = identity(VITAMINS, "vitamin supplement")
    assert Guard().product_type_violations("Solimo White Tshirts", attributes) == []
    text = "Sleeves of soft cotton hold the tshirts."
    attributes.seller["description"] = "Cotton sleeves"
    assert Guard().ground(text, attributes) == (text, [])


def test_types_match_plurals_spellings_and_the_longest_phrase():
    found = branch_type_claims("Two T-Shirts, LED light bulbs and a laptop bag.")
    assert [(c.text, c.name) for c in found] == [
        ("T-Shirts", "tshirt"), ("LED light bulbs", "ledlightbulb"), ("laptop bag", "laptopbag")]
    # ambiguous by data ("case" names products of many branches) or hand-reviewed ("skin")
    assert branch_type_claims("A hard case for soft skin, short sleeves.") == []


def test_node_names_give_whole_phrases_sharing_their_head():
    assert [" ".join(p) for p in phrases("White & Cream Sauces")] == ["White Sauces",
                                                                     "Cream Sauces"]


def test_every_taxonomy_node_and_branch_in_the_data_exists():
    tree = taxonomy()
    data = claim_vocab.branch_types()
    branches = {int(b) for b in data["branches"]}
    assert branches == set(tree.children(None))
    assert data["taxonomy_version"] == tree.version
    for key, entry in data["types"].items():
        assert entry["node"] in tree, key
        assert tree.top_level(entry["node"]) in entry["branches"], key
        assert set(entry["branches"]) <= branches, key
    for key, found in data["ambiguous"].items():
        assert set(found) <= branches, key
    assert {b for allowed in claim_vocab.branch_parts().values() for b in allowed} <= branches


def test_the_committed_data_is_what_the_builder_makes():
    built = build()
    assert built["types"] == claim_vocab.branch_types()["types"]
    assert built["ambiguous"] == claim_vocab.branch_types()["ambiguous"]


def test_a_part_file_naming_no_branch_says_which(monkeypatch):
    from listingsmith.core import vocab

    real = vocab.load
    monkeypatch.setattr(vocab, "load", lambda package, name: (
        {"parts": {"sleeve": ["Clothes"]}} if name == "vocab/branch_parts.toml"
        else real(package, name)))
    claim_vocab.branch_parts.cache_clear()
    try:
        with pytest.raises(ListingsmithError, match="'Clothes', not a top-level branch"):
            claim_vocab.branch_parts()
    finally:
        claim_vocab.branch_parts.cache_clear()
