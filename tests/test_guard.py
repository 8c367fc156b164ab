import pytest

from describer.claims import GLUED_SENTENCE
from describer.guard import Guard, find_claims, ground, invented_fact_rate, violations
from tagger.seller import record_attributes
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, CategoryPrediction, ColorSwatch, Fact, Tag, TextSpan

BRANDS = ["Puma", "Sri Sri Ayurveda", "Sri Sri", "Fresho", "U.S. Polo Assn.", "bb Royal",
          "Red Tape", "Nivea"]


def seller(**fields: str) -> Attributes:
    """Attributes the way ``listingsmith write`` builds them from a record."""
    return record_attributes(fields)


def swatch(name: str, family: str) -> ColorSwatch:
    return ColorSwatch(name, family, (10, 20, 30), "#0a141e", 0.5)


def texts(claims) -> list[str]:
    return [c.text for c in claims]


# --------------------------------------------------------------------------- finding claims


def test_numbers_with_units_are_claims_and_bare_numbers_are_not():
    claims = find_claims("Has 2 pockets, 5-pocket styling, pack of 3 and a 500 g tub.")
    # "pack of 3" is a claim: listings state pack counts that way ("Pack of 2")
    assert texts(claims) == ["pack of 3", "500 g"]
    assert claims[0].quantities == ((3.0, "pack"),)
    assert claims[1].kind == "quantity" and claims[1].quantities == ((500.0, "mass"),)


@pytest.mark.parametrize("text, value, dimension", [
    ("500gm", 500.0, "mass"),
    ("0.5 kg", 500.0, "mass"),
    ("1,5 L", 1500.0, "volume"),        # decimal comma
    ("1,000 ml", 1000.0, "volume"),     # thousands comma
    ("16 fl. oz", 473.176473, "volume"),
    ("6 W", 6.0, "power"),
    ("2 years", 24.0, "time"),
    ("24 months", 24.0, "time"),
    ("5-year", 60.0, "time"),
    ("100%", 100.0, "percent"),
    ("5000 mAh", 5000.0, "charge"),
    ("64 GB", 64.0, "data"),
    ("12 inch", 30.48, "length"),
    ("30 mm", 3.0, "length"),
    ("365 Capsules", 365.0, "count"),
])
def test_units_are_normalised_per_dimension(text, value, dimension):
    (claim,) = find_claims(f"It has {text} inside.")
    assert claim.text == text
    assert claim.quantities[0][1] == dimension
    assert claim.quantities[0][0] == pytest.approx(value)


def test_ranges_and_boxes_keep_every_number():
    claims = find_claims("Works on 220-240V; the box is 30 x 20 x 10 cm.")
    assert texts(claims) == ["220-240V", "30 x 20 x 10 cm"]
    assert claims[0].quantities == ((220.0, "voltage"), (240.0, "voltage"))
    assert [q for q, _ in claims[1].quantities] == [30.0, 20.0, 10.0]


def test_in_is_an_inch_only_before_punctuation():
    assert find_claims("A 3 in 1 kit and a 3-in-1 tool.") == []
    assert texts(find_claims("A 5 in. strap.")) == ["5 in"]


def test_multipack_reads_the_pack_size_not_a_box():
    # the pack count and the pack size, never a 2 x 500 g box
    assert texts(find_claims("Pack of 2 x 500 g")) == ["Pack of 2", "500 g"]


def test_colour_words_and_their_tricky_uses():
    found = find_claims("A navy-blue shirt with black pepper, green tea and Off White trim.")
    assert [(c.kind, c.name) for c in found] == [("colour", "Navy Blue"), ("colour", "Off White")]


def test_ambiguous_colour_names_need_a_colour_word():
    assert find_claims("Olive oil, rose water and gold-plated studs.") == []
    found = find_claims("Gold-toned studs in an olive colour.")
    assert [c.name for c in found] == ["Gold", "Olive"]


def test_brands_match_listed_names_written_as_names():
    found = find_claims("Sri Sri Ayurveda oil, like Puma, not puma; bb Royal rice by U.S. Polo "
                        "Assn.", BRANDS)
    assert [(c.kind, c.name) for c in found if c.kind == "brand"] == [
        ("brand", "Sri Sri Ayurveda"), ("brand", "Puma"), ("brand", "bb Royal"),
        ("brand", "U.S. Polo Assn.")]


def test_a_brand_that_contains_a_colour_is_one_brand_claim():
    found = find_claims("Red Tape loafers in red.", BRANDS)
    assert [(c.kind, c.text) for c in found] == [("brand", "Red Tape"), ("colour", "red")]


def test_claims_come_in_reading_order_with_offsets():
    text = "Puma 500 g black bag"
    found = find_claims(text, BRANDS)
    assert [c.kind for c in found] == ["brand", "quantity", "colour"]
    assert all(text[c.start:c.end] == c.text for c in found)


# --------------------------------------------------------------------------- support


def test_quantity_equal_after_unit_conversion_is_supported():
    attributes = seller(item_weight="500 g")
    for text in ("Net weight 500 g.", "Net weight 0.5 kg.", "Net weight 500gm.", "500 GMS"):
        assert violations(text, attributes) == [], text
    assert texts(violations("Net weight 1 kg.", attributes)) == ["1 kg"]


def test_quantity_of_another_dimension_is_not_supported():
    assert texts(violations("Holds 500 ml.", seller(item_weight="500 g"))) == ["500 ml"]


def test_imperial_equivalent_within_tolerance_is_supported():
    assert violations("A 17 fl oz bottle", seller(item_volume="500 ml")) == []


def test_quantities_in_ocr_text_and_fact_raw_text_support_claims():
    span = TextSpan("AC 100-240V 6W 400 lm", (0, 0, 10, 10), 0.9)
    attributes = Attributes(text_spans=[span], facts=[
        Fact("voltage", 240, "volt", "100-240V", "ocr", span, 0.9)])
    assert violations("Runs on 100-240V and draws 6 W.", attributes) == []
    assert texts(violations("Runs on 220-240V.", attributes)) == ["220-240V"]


def test_percent_needs_the_same_percent_not_just_the_material():
    assert texts(violations("100% cotton shirt", seller(material="Cotton"))) == ["100%"]
    assert violations("100% cotton shirt", seller(material="100% Cotton")) == []


def test_warranty_in_years_matches_months():
    assert violations("Backed by a 2 years warranty.", seller(warranty="24 months")) == []
    assert texts(violations("Backed by a 5-year warranty.", seller(warranty="24 months"))) == [
        "5-year"]


def test_colour_in_the_attributes_is_fine_and_others_are_not():
    attributes = seller(colour="Black")
    assert violations("A black tee.", attributes) == []
    assert texts(violations("A black and white tee.", attributes)) == ["white"]


def test_family_name_of_a_colour_is_supported_but_a_guessed_shade_is_not():
    assert violations("A blue shirt.", seller(colour="Navy Blue")) == []
    assert violations("A navy shirt.", seller(colour="Navy Blue")) == []  # an alias
    assert texts(violations("A navy blue shirt.", seller(colour="Blue"))) == ["navy blue"]
    assert texts(violations("A sky colour, teal.", seller(colour="Navy Blue"))) == ["teal"]


def test_photo_swatches_support_their_name_and_family():
    attributes = Attributes(colours=[swatch("Navy Blue", "blue")])
    assert violations("Navy Blue, or simply blue.", attributes) == []
    assert texts(violations("Bright red.", attributes)) == ["red"]


def test_colour_word_inside_an_attribute_text_is_supported():
    attributes = seller(type="Green Tea Bags", category="Beverages")
    assert violations("A green brew.", attributes) == []


def test_brand_of_the_attributes_is_fine_and_another_brand_is_not():
    attributes = seller(brand="Sri Sri Ayurveda")
    assert violations("Sri Sri Ayurveda garlic oil.", attributes, BRANDS) == []
    assert [c.name for c in violations("Made by Fresho.", attributes, BRANDS)] == ["Fresho"]


def test_brand_from_an_ocr_brand_fact_counts():
    span = TextSpan("NIVEA", (0, 0, 10, 10), 0.9)
    attributes = Attributes(text_spans=[span], facts=[Fact("brand", "Nivea", None, "NIVEA",
                                                           "ocr", span, 0.8)])
    assert violations("Nivea creme.", attributes, BRANDS) == []


def test_category_and_tags_are_evidence():
    attributes = Attributes(
        category=CategoryPrediction("Tshirts", 0.9, "fashion", path=["Apparel", "Tshirts"]),
        tags=[Tag("black", 0.8, "aligner", "colour")])
    assert violations("A black tee.", attributes) == []


# --------------------------------------------------------------------------- ground / rate


def test_ground_drops_only_sentences_with_violations():
    attributes = seller(brand="Acme", item_weight="500 g", colour="Red")
    text = "Acme red mug. Holds 1.5 L of tea. Weighs 0.5 kg. Comes in blue."
    kept, dropped = ground(text, attributes)
    assert kept == "Acme red mug. Weighs 0.5 kg."
    assert texts(dropped) == ["1.5 L", "blue"]


def test_ground_can_leave_nothing_for_the_caller_to_replace():
    kept, dropped = ground("Weighs 2 kg.", seller(item_weight="500 g"))
    assert kept == "" and texts(dropped) == ["2 kg"]


def test_decimal_in_a_sentence_does_not_split_it():
    kept, dropped = ground("Holds 1.5 L. Nice.", seller(item_volume="1500 ml"))
    assert kept == "Holds 1.5 L. Nice." and dropped == []


def test_invented_fact_rate_counts_texts_and_claims():
    attributes = [seller(colour="Black", item_weight="500 g"), seller(colour="Red")]
    rate = invented_fact_rate(["A black 500 g tin.", "A blue 2 kg tin."], attributes)
    assert (rate.texts, rate.with_violation, rate.claims, rate.violations) == (2, 1, 4, 2)
    assert rate.rate == 0.5 and rate.claims_per_text == 2.0 and rate.violations_per_text == 1.0


def test_invented_fact_rate_refuses_mismatched_lengths():
    with pytest.raises(ListingsmithError, match="2 texts but 1 attributes"):
        Guard().invented_fact_rate(["a", "b"], [Attributes()])


def test_text_without_claims_has_no_violations():
    assert violations("Soft, comfortable and easy to wash.", Attributes(), BRANDS) == []
    assert invented_fact_rate([], []).rate == 0.0


# --------------------------------------------------------------------------- product types


def category(label: str, taxonomy: str, path: list[str] = ()) -> CategoryPrediction:
    return CategoryPrediction(label=label, score=0.9, taxonomy=taxonomy, path=list(path))


@pytest.mark.parametrize("title, attributes, wrong", [
    # a grocery product is in no fashion family: any fashion type is a wrong product
    ("Solimo Men Navy Trousers", Attributes(category=category("Vitamins", "grocery")), ["Trousers"]),
    # the category's article type fixes the family; plurals and spellings match
    ("Roadster Men Navy T shirts", Attributes(category=category(
        "Tshirts", "fashion", ["Apparel", "Topwear", "Tshirts"])), []),
    ("Roadster Men Navy Shirt", Attributes(category=category(
        "Tshirts", "fashion", ["Apparel", "Topwear", "Tshirts"])), []),  # same family: a near miss
    ("Roadster Men Slim Jeans", Attributes(category=category(
        "Tshirts", "fashion", ["Apparel", "Topwear", "Tshirts"])), ["Jeans"]),
    # seller fields and product-type tags say what the product is too
    ("Bata Women Flip-Flops", seller(title="Bata Women Sandals"), []),  # both footwear
    ("Bata Women Handbag", seller(title="Bata Women Sandals"), ["Handbag"]),
    ("Nike Sweatshirt", Attributes(tags=[Tag("sports shoes", 0.8, "aligner", "product_type")]),
     ["Sweatshirt"]),
    # attributes that name no family check nothing; ordinary words are no types
    ("Navy Trousers", Attributes(), []),
    ("Top quality tie-up cap", Attributes(category=category("Vitamins", "grocery")), []),
])
def test_titles_naming_another_family_of_product_are_flagged(title, attributes, wrong):
    assert texts(Guard().product_type_violations(title, attributes)) == wrong


def test_only_the_first_sentence_of_a_description_is_checked_for_product_types():
    attributes = Attributes(category=category("Tshirts", "fashion", ["Apparel", "Topwear", "Tshirts"]))
    text, dropped = Guard().ground("These trousers sit at the waist. Pair this t-shirt with "
                                   "jeans and sneakers.", attributes)
    assert text == "Pair this t-shirt with jeans and sneakers."  # a styling tip stays
    assert texts(dropped) == ["trousers"] and dropped[0].kind == "product_type"


def test_a_generated_title_of_the_wrong_product_falls_back_to_the_template(fixed_text_model):
    from describer.generators import ModelGenerator
    from describer.pipeline import Describer

    attributes = Attributes(category=category("Vitamins", "grocery"),
                            facts=[Fact("brand", "Solimo", None, "Solimo", "ocr")])
    listing = Describer(ModelGenerator(fixed_text_model("Solimo Men Trousers", True))).describe([attributes])[0]
    assert "Trousers" not in listing.title and listing.title.startswith("Solimo")
    assert "Trousers" in listing.removed_claims


@pytest.mark.parametrize("text, attributes, wrong", [
    # a handbag has handles, not a neck: the family's training descriptions never say "neck"
    ("Black handbag, has a round neck and two handles.",
     Attributes(category=category("Handbags", "fashion", ["Accessories", "Bags", "Handbags"])),
     ["neck"]),
    ("Slim jeans with a button fly, five pockets and belt loops.",
     Attributes(category=category("Jeans", "fashion", ["Apparel", "Bottomwear", "Jeans"])), []),
    ("Slim jeans with long sleeves and a spread collar.",
     Attributes(category=category("Jeans", "fashion", ["Apparel", "Bottomwear", "Jeans"])),
     ["sleeves", "collar"]),
    ("Running shoes with a cushioned outsole and mesh sleeves.",
     Attributes(tags=[Tag("sports shoes", 0.8, "aligner", "product_type")]), ["sleeves"]),
    # a part the seller names is the seller's word; no family, no check
    ("Jeans with a drawstring hood.", seller(title="Denim jeans with a hood", category="Jeans"), []),
    ("A top with a round neck.", Attributes(), []),
])
def test_parts_the_product_family_never_has_are_flagged(text, attributes, wrong):
    from describer.guard import part_violations

    assert texts(part_violations(text, attributes)) == wrong


def test_every_description_sentence_is_checked_for_parts():
    attributes = Attributes(category=category("Handbags", "fashion", ["Accessories", "Bags", "Handbags"]))
    text, dropped = Guard().ground("Leather handbag with two handles. It has a round neck and "
                                   "a spread collar.", attributes)
    assert text == "Leather handbag with two handles."
    assert texts(dropped) == ["neck", "collar"] and {c.kind for c in dropped} == {"part"}


def test_babble_is_dropped_and_catalogue_english_and_attribute_words_stay():
    from describer.guard import unknown_words

    attributes = seller(brand="Nilons", title="Nilons Plain Vermicelli")
    assert texts(unknown_words("These a it is a a fira aloda a rich in the skin.", attributes)) \
        == ["fira", "aloda"]
    assert unknown_words("Nilons vermicelli is exquisitely crafted, non-sticky and lump-free; "
                         "stitched pockets, ribbed hems.", attributes) == []
    text, dropped = Guard().ground("Made with refined flour. These aliramstad alas.", attributes)
    assert text == "Made with refined flour." and texts(dropped) == ["aliramstad"]
    assert dropped[0].kind == "word"


# --------------------------------------------------------------------------- repair


def repaired(text: str, attributes: Attributes) -> tuple[str, list[str]]:
    fixed, repairs = Guard(brands=["Nike", "Pepe Jeans", "Soie"]).repair(text, attributes)
    return fixed, [str(r) for r in repairs]


def test_repair_rewrites_another_products_colour_to_this_ones_keeping_its_case():
    attrs = seller(colour="Blue")
    assert repaired("Grey printed sleep shirts, has a round neck.", attrs) == (
        "Blue printed sleep shirts, has a round neck.", ["Grey → Blue"])
    assert repaired("Knitted in grey wool.", attrs)[0] == "Knitted in blue wool."
    assert repaired("IN GREY", attrs)[0] == "IN BLUE"


def test_repair_treats_a_run_of_colours_as_one_claim():
    # one wrong colour among right ones goes; a run with none right becomes the product's
    two = seller(colour="Navy Blue & White")
    assert repaired("White, navy blue and red striped leggings", two) == (
        "White and navy blue striped leggings", ["White, navy blue and red → White and navy blue"])
    assert repaired("Red, green and black striped socks", seller(colour="Navy Blue"))[0] == \
        "Navy Blue striped socks"


def test_repair_puts_in_the_product_brand_and_its_only_quantity_of_a_dimension():
    attrs = seller(brand="Soie", item_volume="500 ml")
    assert repaired("PEPE JEANS lotion in a 250 ml bottle.", attrs) == (
        "SOIE lotion in a 500 ml bottle.", ["PEPE JEANS → SOIE", "250 ml → 500 ml"])


def test_repair_leaves_what_the_attributes_cannot_correct():
    # no colour or brand to put in, a warranty the product has no time for, two weights, a box
    bare = Attributes(facts=[Fact("item_weight", weight, "kilogram", f"{weight} kg", "seller")
                             for weight in (1, 2)])
    for text in ("Grey Nike socks.", "1 year warranty.", "Weighs 500 g.", "A 2 x 3 cm box."):
        assert repaired(text, bare) == (text, [])
    assert repaired("Blue Soie shirt, 500 ml.", seller(colour="Blue", brand="Soie",
                                                       item_volume="500 ml")) == (
        "Blue Soie shirt, 500 ml.", [])  # nothing unsupported: nothing to do


def test_repair_falls_back_to_the_photo_colour_and_a_pack_brand():
    attrs = Attributes(colours=[swatch("Olive", "green")],
                       facts=[Fact("brand", "Nike", None, "NIKE", "ocr")])
    assert repaired("Pepe Jeans grey joggers", attrs)[0] == "Nike olive joggers"


def test_claims_in_glued_sentences_are_found():
    # scraped text runs lines together: "1 yearWarranty", "dupattaBeige" still state claims
    text = "Grey net dupattaBeige kurta, 1 yearWarranty provided by the brand"
    assert [(c.text, text[c.start:c.end]) for c in find_claims(text)] == [
        ("Grey", "Grey"), ("Beige", "Beige"), ("1 year", "1 year")]
    # a capital inside a name is no glue
    for name in ("PlayStation", "iPhone", "McDonald", "eBay", "macOS", "GlycoDab"):
        assert not GLUED_SENTENCE.search(name), name


def test_a_glued_sentence_with_an_invented_fact_is_cut_alone():
    from describer.pipeline import clean_description

    copied = clean_description("Black shoulder bag, has a zip closureTwo handles with a sling "
                               "strapWarranty: 1 yearWarranty provided by brand/manufacturer.")
    text, dropped = ground(copied, seller(colour="Black", category="Handbags"))
    assert text == ("Black shoulder bag, has a zip closure. Two handles with a sling strap. "
                    "Warranty provided by brand/manufacturer.")
    assert texts(dropped) == ["1 year"]


@pytest.mark.parametrize("text, grounded, cut", [
    # a count no record states loses its list item, not the sentence
    ("Blue casual shirt, has a spread collar, curved hem, and 1 patch pocket.",
     "Blue casual shirt, has a spread collar, curved hem.", ["1"]),
    ("Blue shirt, fits 1,000 people, easy care.", "Blue shirt, easy care.", ["1,000"]),
    # glued to a word by scraped text, a code's digits are not
    ("Blue casual shirt, has a spread collar1 patch pocket.", "Blue casual shirt.", ["1"]),
    ("Blue shirt, E27 fitting.", "Blue shirt, E27 fitting.", []),
    # in the first item the number is the subject: the sentence goes
    ("5-pocket jeans, slim fit. Machine wash.", "Machine wash.", ["5"]),
    # a number the seller wrote stays
    ("Blue casual shirt with 2 pockets.", "Blue casual shirt with 2 pockets.", []),
])
def test_a_number_the_attributes_do_not_state_is_cut(text, grounded, cut):
    attributes = Attributes(seller={"title": "Men Blue Casual Shirt, 2 pockets"})
    result, dropped = ground(text, attributes)
    assert result == grounded
    assert [c.text for c in dropped if c.kind == "number"] == cut
