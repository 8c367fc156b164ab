"""Product identity: the strongest source decides, weaker ones refine or flag a conflict,
weak evidence says "not sure", and everything downstream reads the identity."""

import numpy as np
import pytest

from listingsmith.core.types import Attributes, CategoryPrediction, Identity, Tag, TextSpan
from tagger.backbone import imagenet_labels
from tagger.identify import Identifier, gate_tags
from tagger.taxonomy import taxonomy
from tagger.text_identity import TextIdentity

BULBS, VITAMINS, DRESSES, BAGS = 2425, 525, 2271, 5181


class FakeTextModel:
    """Says ``answers[text]`` (a Google ID and confidence) for each text, nothing otherwise."""

    def __init__(self, answers, zero_shot_answers=None):
        self.answers = answers
        self.zero_shot_answers = zero_shot_answers or {}

    def zero_shot(self, texts, temperature=0.05, support=0.6):
        return FakeTextModel(self.zero_shot_answers).predict(texts)

    def predict(self, texts):
        tree = taxonomy()
        out = []
        for text in texts:
            node, confidence = next(((n, c) for key, (n, c) in self.answers.items()
                                     if key in text), (None, 0.05))
            path = tree.path_text(node) if node else ""
            out.append(TextIdentity(node, path, confidence, node or 1, confidence, ()))
        return out


def span(text, height=40.0):
    return TextSpan(text=text, box=(0, 0, 100, height), score=0.99)


def image_probabilities(label, share=0.9):
    labels = imagenet_labels()
    probabilities = np.full(len(labels), (1 - share) / (len(labels) - 1))
    probabilities[labels.index(label)] = share
    return probabilities


def test_the_sellers_words_outrank_the_pack_and_the_image():
    identifier = Identifier(FakeTextModel({"LED bulb": (BULBS, 0.9), "Vitamin": (VITAMINS, 0.9)}))
    identity = identifier.identify({"title": "Philips LED bulb"}, [span("Vitamin E capsules")],
                                   image_probabilities("pill bottle"))
    assert identity.taxonomy_id == BULBS and not identity.uncertain
    assert {e.source for e in identity.evidence} >= {"seller", "pack", "image"}


def test_pack_cues_name_the_product_whatever_the_brand():
    identifier = Identifier(FakeTextModel({}))
    identity = identifier.identify({}, [span("ACME"), span("365 Capsules 268 mg")])
    assert identity.taxonomy_id == VITAMINS and not identity.uncertain
    bulb = identifier.identify({}, [span("MR16 GU10 PAR20 A19")])
    assert bulb.taxonomy_path == "Home & Garden > Lighting > Light Bulbs"
    assert bulb.product_type == "light bulb"


def test_a_conflict_between_pack_and_image_falls_back_to_the_branch_and_says_why():
    identifier = Identifier(FakeTextModel({"Dress": (DRESSES, 0.7)}))
    identity = identifier.identify({}, [span("Summer Dress")], image_probabilities("mail bag"))
    assert identity.uncertain and identity.taxonomy_id == 166  # Apparel & Accessories
    assert "pack" in identity.reason and "image" in identity.reason


def test_weak_or_no_evidence_is_not_sure():
    identifier = Identifier(FakeTextModel({}))
    nothing = identifier.identify({})
    assert nothing.taxonomy_id is None and nothing.uncertain and nothing.reason
    weak = identifier.identify({}, [], image_probabilities("mail bag", share=0.3))
    assert weak.uncertain and weak.taxonomy_id == BAGS and "weak evidence" in weak.reason


def test_a_specialist_refines_only_inside_the_identity():
    identifier = Identifier(FakeTextModel({"Dress": (DRESSES, 0.9), "Vitamin": (VITAMINS, 0.9)}))
    dress = CategoryPrediction(label="Dresses", score=0.9, taxonomy="fashion",
                               path=["Apparel", "Dress", "Dresses"])
    inside = identifier.identify({"title": "A-Line Dress"}, specialist=dress)
    assert inside.taxonomy_id == DRESSES and inside.evidence[-1].source == "specialist"
    tshirt = CategoryPrediction(label="Tshirts", score=0.9, taxonomy="fashion")
    outside = identifier.identify({"title": "Vitamin E"}, specialist=tshirt)
    assert outside.taxonomy_id == VITAMINS
    assert all(e.source != "specialist" for e in outside.evidence)


def test_tags_are_gated_by_the_identitys_branch():
    tags = [Tag("party", 0.6, "aligner", "usage"), Tag("girls", 0.5, "aligner", "gender"),
            Tag("white", 0.5, "aligner", "colour")]
    vitamin = Identity(VITAMINS, taxonomy().path_text(VITAMINS), "vitamin", 0.9, False)
    assert [t.name for t in gate_tags(tags, vitamin, taxonomy())] == ["white"]
    dress = Identity(DRESSES, taxonomy().path_text(DRESSES), "dress", 0.9, False)
    assert len(gate_tags(tags, dress, taxonomy())) == 3


def test_the_listing_names_the_identity_not_a_wrong_specialist_and_drops_garment_parts():
    from describer.generators import TemplateGenerator
    from describer.guard import default_guard
    from describer.pipeline import Describer

    vitamin = Identity(VITAMINS, taxonomy().path_text(VITAMINS), "vitamin supplement", 0.9,
                       False)
    attributes = Attributes(identity=vitamin, category=CategoryPrediction(
        label="Tshirts", score=0.9, taxonomy="fashion"))
    listing = Describer(TemplateGenerator()).describe([attributes])[0]
    assert "Vitamin Supplement" in listing.title and "Tshirt" not in listing.title
    kept, dropped = default_guard().ground("Soft capsules. Has a round neck.", attributes)
    assert "neck" not in kept and any("neck" in c.text for c in dropped)


@pytest.mark.parametrize("old_version", ["1.2"])
def test_json_from_before_identity_still_loads(old_version):
    data = Attributes().to_dict()
    data.pop("identity")
    data["schema_version"] = old_version
    assert Attributes.from_dict(data).identity is None


def test_a_pack_that_names_a_taxonomy_node_votes_for_it():
    identifier = Identifier(FakeTextModel({}))
    identity = identifier.identify({}, [span("Mika"), span("10-year battery"),
                                        span("Smoke Detector"), span("85 dB")])
    assert identity.taxonomy_path.endswith("Smoke Detectors") and not identity.uncertain
    balls = identifier.identify({}, [span("Firabel"), span("Balles de tennis"),
                                     span("Tennis Balls")])
    assert balls.taxonomy_path == "Sporting Goods > Athletics > Tennis > Tennis Balls"


def test_shoe_words_that_are_also_ordinary_words_leave_a_bulbs_listing():
    from describer.guard import default_guard

    bulb = Identity(BULBS, taxonomy().path_text(BULBS), "light bulb", 0.9, False)
    kept, dropped = default_guard().ground("Synthetic upper. Easy to install.",
                                           Attributes(identity=bulb))
    assert kept == "Easy to install." and [c.text for c in dropped] == ["upper"]
    dress = Identity(DRESSES, taxonomy().path_text(DRESSES), "dress", 0.9, False)
    assert "upper" in default_guard().ground("Synthetic upper.", Attributes(identity=dress))[0]
