"""Text -> Google Product Taxonomy: the shipped model on open-world titles, the back-off to
the deepest supported node, and the training data's held-out split."""

from pathlib import Path

import numpy as np
import pytest

from tagger.taxonomy import taxonomy
from tagger.text_identity import TextIdentifier, deepest_supported, mix, subtree_matrix
from tagger.train.text_identity import corpora, flipkart_label, held_out, mapping, myntra_label

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def identifier():
    return TextIdentifier()


def under(node_id, path):
    tax = taxonomy()
    return node_id is not None and tax.is_ancestor_or_self(tax.by_path(path).id, node_id)


def test_shipped_model_names_open_world_products(identifier):
    vitamin, bulb, bag = identifier.predict([
        "Solimo Vitamin E 268 mg Food Supplement, 365 Capsules",
        "AmazonBasics LED bulb GU10 6W",
        "gym duffel bag"])
    assert under(vitamin.google_id, "Health & Beauty"), vitamin
    assert under(bulb.google_id, "Home & Garden > Lighting") or under(bulb.google_id, "Hardware"), bulb
    assert under(bulb.leaf_id, "Home & Garden > Lighting > Light Bulbs"), bulb
    assert under(bag.google_id, "Luggage & Bags"), bag


def test_batch_in_batch_out(identifier):
    assert identifier.predict([]) == []
    found = identifier.predict(["Wireless optical computer mouse", "Stainless steel frying pan 28 cm",
                                "Wireless optical computer mouse"])
    assert len(found) == 3 and found[0] == found[2]
    for item in found:
        assert 0.0 <= item.confidence <= 1.0
        probabilities = [a.probability for a in item.alternatives]
        assert probabilities == sorted(probabilities, reverse=True)
        assert item.leaf_id == item.alternatives[0].google_id
        if item.google_id is not None:
            assert item.path == taxonomy().path_text(item.google_id)
            assert taxonomy().is_ancestor_or_self(item.google_id, item.leaf_id) or \
                item.confidence >= item.leaf_confidence


def test_support_backs_off_to_the_common_ancestor():
    tax = taxonomy()
    nodes = (536, 594, 2425, 3329, 2944, 166)  # Home & Garden, Lighting, bulbs, LED, incandescent, apparel
    probabilities = np.array([[0, 0, 0, 0.4, 0.35, 0.25]], dtype=np.float32)
    support = np.asarray(probabilities @ subtree_matrix(nodes).T)
    assert support[0].tolist() == pytest.approx([0.75, 0.75, 0.75, 0.4, 0.35, 0.25])
    depths = np.array([tax.node(n).depth for n in nodes], dtype=np.float32)
    assert nodes[deepest_supported(support, depths, 0.5)[0]] == 2425  # not a guessed leaf
    assert nodes[deepest_supported(support, depths, 0.3)[0]] == 3329
    assert deepest_supported(support, depths, 0.9)[0] == -1  # nothing is supported


def test_zero_shot_share_grows_with_the_heads_doubt():
    similarity = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    trained = np.array([[0.0, 1.0], [0.5, 0.5]])
    mixed = mix(trained, similarity, np.array([1, 2]), blend=0.5, temperature=0.05)
    assert mixed.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert mixed[0, 0] == pytest.approx(0.0)  # a sure head: no zero-shot share
    assert mixed[1, 0] == pytest.approx(0.25, abs=1e-3)  # an unsure head: 0.5 * 0.5


def test_source_labels_follow_the_tables():
    assert flipkart_label("Footwear >> Women's Footwear >> Heels >> Foo Heels", mapping("flipkart")) == \
        taxonomy().by_path("Apparel & Accessories > Shoes").id
    assert flipkart_label("Some Brand Product Name", mapping("flipkart")) is None
    assert myntra_label("Roadster Men Navy Blue Casual Shirt", mapping("myntra")) == \
        taxonomy().by_path("Apparel & Accessories > Clothing > Shirts & Tops").id


def test_held_out_split_is_stratified_and_fixed():
    examples = [(f"t{i}", 1 if i % 4 else 2) for i in range(100)] + [("rare", 3)]
    train, test = held_out(examples)
    assert held_out(examples) == (train, test)
    assert not set(train) & set(test) and len(train) + len(test) == 101
    assert sorted(examples[i][1] for i in test).count(2) == 5  # 20% of each label
    assert 100 not in test  # too rare to hold out


@pytest.mark.skipif(not (REAL_DATA / "text" / "flipkart_titles.csv").is_file(),
                    reason="../shared/data is not here")
def test_tables_cover_the_corpora():
    sources = corpora(REAL_DATA)
    assert len(sources["flipkart"]) >= 0.95 * 20000
    assert len(sources["bigbasket"]) == 5443
    assert len(held_out(sources["flipkart"])[1]) >= 2000
