"""An unsure specialist (a type it never saw) refines the identity only as deep as its classes
agree, never to a wrong leaf; the leave-types-out task measures that at identity level."""

import numpy as np

from eval.tasks import leave_types_out
from listingsmith.core.types import CategoryPrediction, Evidence, Identity
from tagger.backbone import imagenet_labels
from tagger.identify import WEAK_EVIDENCE, refine_by_specialist, rules, specialist_mass
from tagger.taxonomy import taxonomy

APPAREL, SHOES, TOPS, VITAMINS = 166, 187, 212, 525


def identity(node, uncertain=False, reason=""):
    tree = taxonomy()
    return Identity(node, tree.path_text(node), "x", 0.4, uncertain, reason,
                    [Evidence("image", "running shoe", node, 0.4, "")])


def unsure(top_k):
    return CategoryPrediction(label=top_k[0][0], score=top_k[0][1], taxonomy="fashion",
                              top_k=top_k, uncertain=True)


SHOE_CLASSES = unsure([("Casual Shoes", 0.5), ("Sports Shoes", 0.3), ("Heels", 0.15),
                       ("Tshirts", 0.05)])
SPLIT_CLASSES = unsure([("Casual Shoes", 0.5), ("Tshirts", 0.45), ("Heels", 0.05)])


def test_the_specialists_classes_add_up_the_taxonomy():
    mass = specialist_mass(SHOE_CLASSES, taxonomy())
    assert np.isclose(mass[SHOES], 0.95) and np.isclose(mass[APPAREL], 1.0)
    assert np.isclose(mass[TOPS], 0.05)


def test_an_unsure_specialist_refines_to_the_node_its_classes_share():
    assert rules()["specialist"]["unsure_support"] <= 0.95
    refined = refine_by_specialist(identity(APPAREL), SHOE_CLASSES, taxonomy())
    assert refined.taxonomy_id == SHOES and refined.taxonomy_path == "Apparel & Accessories > Shoes"
    assert not refined.uncertain and refined.evidence[-1].source == "specialist"
    assert "unsure" in refined.evidence[-1].detail


def test_an_unsure_specialist_split_between_branches_leaves_the_identity_alone():
    kept = refine_by_specialist(identity(APPAREL), SPLIT_CLASSES, taxonomy())
    assert kept.taxonomy_id == APPAREL and all(e.source != "specialist" for e in kept.evidence)
    outside = refine_by_specialist(identity(VITAMINS), SHOE_CLASSES, taxonomy())
    assert outside.taxonomy_id == VITAMINS


def test_strong_agreement_confirms_only_an_identity_weak_for_want_of_evidence():
    weak = identity(APPAREL, True, f"{WEAK_EVIDENCE}: the best signal holds only 30%")
    confirmed = refine_by_specialist(weak, SHOE_CLASSES, taxonomy())
    assert confirmed.taxonomy_id == SHOES and not confirmed.uncertain and not confirmed.reason
    assert confirmed.confidence > weak.confidence
    conflict = identity(APPAREL, True, "the pack says 'Dresses' but the image says 'Bags'")
    still = refine_by_specialist(conflict, SHOE_CLASSES, taxonomy())
    assert still.taxonomy_id == SHOES and still.uncertain and still.reason == conflict.reason


def test_a_sure_specialist_still_refines_to_its_leaf():
    sure = CategoryPrediction(label="Tshirts", score=0.95, taxonomy="fashion",
                              top_k=[("Tshirts", 0.95)])
    assert refine_by_specialist(identity(APPAREL), sure, taxonomy()).taxonomy_id == TOPS


class FakeModel:
    def __init__(self, predictions):
        self.predictions = predictions

    def predict(self, x, top_k=5):
        return self.predictions


def test_identity_figures_count_an_ancestor_as_right_and_a_wrong_leaf_as_wrong(monkeypatch):
    labels = ["Casual Shoes", "Flats", "Flats"]
    paths = {"Casual Shoes": ["Footwear", "Shoes", "Casual Shoes"],
             "Flats": ["Footwear", "Flats", "Flats"]}
    table = {"labels": labels, "paths": paths,
             "inputs": [type("I", (), {"image_features": np.zeros((1, 4))})()] * 3}
    shoe = np.full(len(imagenet_labels()), 0.0)
    shoe[imagenet_labels().index("running shoe")] = 1.0
    jersey = np.full(len(imagenet_labels()), 0.0)
    jersey[imagenet_labels().index("T-shirt")] = 1.0
    monkeypatch.setattr(leave_types_out, "imagenet_probabilities",
                        lambda features: np.stack([shoe, shoe, jersey]))
    sure_shoe = CategoryPrediction(label="Casual Shoes", score=0.95, taxonomy="fashion",
                                   top_k=[("Casual Shoes", 0.95)])
    sure_top = CategoryPrediction(label="Tshirts", score=0.95, taxonomy="fashion",
                                  top_k=[("Tshirts", 0.95)])
    figures = leave_types_out.identity_figures(
        table, np.zeros((3, 4)), np.arange(3), FakeModel([sure_shoe, SHOE_CLASSES, sure_top]),
        np.array([False, True, True]))
    assert leave_types_out.truth_node("Flats", paths["Flats"]) == SHOES
    assert figures["photos"] == 3 and figures["unseen_photos"] == 2
    assert figures["seen_true_leaf"] == 1.0
    # Shoes for Flats is right (its Google node); Shirts & Tops for Flats: a wrong leaf.
    assert figures["unseen_flagged_or_right"] == 0.5 and figures["unseen_wrong_unflagged"] == 0.5
    assert figures["flagged_share"] == 0.0 and figures["specialist_seen_accuracy"] == 1.0
    note = leave_types_out.targets_note(figures)
    assert "truth-or-ancestor 50.0% (target >= 80%: NOT met)" in note
    assert "all photos flagged 0.0% (target <= 15%: met)" in note
