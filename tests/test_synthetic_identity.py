"""The synthetic open-world identity packs (eval/synthetic_identity.py) and the identity task's
scoring (eval/tasks/identity.py): the node table is valid, the set is large and spread enough,
the renderer is deterministic, and the shares mean what the report says."""

import random
from types import SimpleNamespace

import pytest
from PIL import Image

from eval.synthetic_identity import (DEFAULT_COUNT, EXCLUDED_BRANCHES, check_nodes, expand,
                                     iter_identity_packs, label_lines, load_claims, load_nodes,
                                     node_order, read_truth, render_identity_pack, write_set)
from eval.tasks.identity import judged, reliability, summary
from tagger.taxonomy import taxonomy


def test_every_node_exists_and_lies_outside_fashion_and_grocery():
    nodes = load_nodes()
    tax = taxonomy()
    assert check_nodes(nodes) == []
    assert len({n["id"] for n in nodes}) >= 40
    for node in nodes:
        assert node["id"] in tax
        assert tax.node(tax.top_level(node["id"])).name not in EXCLUDED_BRANCHES
    assert len({tax.top_level(n["id"]) for n in nodes}) >= 6


def test_check_nodes_names_each_problem():
    good = load_nodes()[0]
    problems = check_nodes([good, dict(good), {**good, "id": 999999999},
                            {**good, "id": 2271, "fr": []}])  # 2271: Dresses
    assert any("listed twice" in p for p in problems)
    assert any("999999999" in p and "not a Google" in p for p in problems)
    assert any("2271" in p and "Apparel & Accessories" in p for p in problems)
    assert any("2271: no fr lines" in p for p in problems)


def test_the_default_set_has_300_packs_spread_over_every_node():
    nodes = load_nodes()
    order = node_order(nodes, seed=0)
    truth = [order[i % len(order)]["id"] for i in range(DEFAULT_COUNT)]
    assert DEFAULT_COUNT >= 300
    assert set(truth) == {n["id"] for n in nodes}
    counts = [truth.count(n["id"]) for n in nodes]
    assert max(counts) - min(counts) <= 1
    # a short (--limit) set still spans several branches
    tax = taxonomy()
    assert len({tax.top_level(t) for t in truth[:20]}) >= 5


def test_label_lines_print_brand_english_words_and_a_fitting_quantity():
    node = next(n for n in load_nodes() if n["id"] == 276)  # batteries
    lines = label_lines(node, load_claims(), random.Random(3))
    assert lines[0] not in node["en"]
    assert sum(line in node["en"] for line in lines) == 1
    assert not any("{" in line or "}" in line for line in lines)
    assert expand("{800|1900} mAh", random.Random(1)) in ("800 mAh", "1900 mAh")


def _background(colour):
    return Image.new("RGB", (224, 300), colour)


def test_rendering_is_deterministic_for_a_seed():
    node, claims = load_nodes()[5], load_claims()
    first = render_identity_pack(node, claims, _background("teal"), random.Random("a"),
                                 fonts=["/no/such/font.ttf"])
    again = render_identity_pack(node, claims, _background("teal"), random.Random("a"),
                                 fonts=["/no/such/font.ttf"])
    other = render_identity_pack(node, claims, _background("teal"), random.Random("b"),
                                 fonts=["/no/such/font.ttf"])
    assert first.image.tobytes() == again.image.tobytes()
    assert first.lines == again.lines and first.layout == again.layout
    assert first.google_id == node["id"]
    assert (other.lines, other.image.size) != (first.lines, first.image.size)


@pytest.fixture
def tiny_data(tmp_path):
    """A stand-in for the shared data: two fashion photos and one produce photo."""
    (tmp_path / "fashion" / "images").mkdir(parents=True)
    for name, colour in (("1.jpg", "navy"), ("2.jpg", "pink")):
        _background(colour).save(tmp_path / "fashion" / "images" / name)
    produce = tmp_path / "grocery" / "images" / "train" / "Fruit" / "Apple"
    produce.mkdir(parents=True)
    _background("green").save(produce / "a.jpg")
    (tmp_path / "grocery" / "train.txt").write_text("train/Fruit/Apple/a.jpg, 0, 0\n")
    return tmp_path


def test_two_packs_render_the_same_twice_and_write_a_truth_csv(tiny_data, tmp_path):
    first = list(iter_identity_packs(tiny_data, 2, seed=7))
    again = list(iter_identity_packs(tiny_data, 2, seed=7))
    assert [p.image.tobytes() for p in first] == [p.image.tobytes() for p in again]
    order = node_order(load_nodes(), 7)
    assert [p.google_id for p in first] == [order[0]["id"], order[1]["id"]]
    truth = write_set(tiny_data, tmp_path / "out", count=2, seed=7)
    rows = read_truth(truth)
    assert [int(r["google_id"]) for r in rows] == [p.google_id for p in first]
    assert rows[0]["google_path"] == taxonomy().path_text(first[0].google_id)
    assert all((truth.parent / r["file"]).is_file() for r in rows)


def _identity(node, confidence, uncertain):
    return SimpleNamespace(taxonomy_id=node, taxonomy_path="", confidence=confidence,
                           uncertain=uncertain, reason="x" if uncertain else "")


def test_scoring_counts_an_ancestor_as_right_and_an_unflagged_miss_as_confidently_wrong():
    tax = taxonomy()
    vitamins = 525
    health = tax.top_level(vitamins)
    rows = [judged(_identity(vitamins, 0.9, False), vitamins, tax),  # exact
            judged(_identity(health, 0.4, True), vitamins, tax),  # backed off, flagged
            judged(_identity(2425, 0.8, False), vitamins, tax),  # light bulbs: wrong
            judged(_identity(None, 0.0, True), vitamins, tax)]  # no node
    m = summary(rows)
    assert (m["exact"], m["right_or_ancestor"], m["top_level"]) == (0.25, 0.5, 0.5)
    assert (m["flagged"], m["confidently_wrong"], m["no_node"]) == (0.5, 0.25, 0.25)
    assert m["flags_wrong"] == 0.5
    bins, ece = reliability(rows)
    assert sum(b["count"] for b in bins) == 4
    # |1-0.9| + |1-0.4| + |0-0.8| + |0-0| over 4
    assert ece == pytest.approx((0.1 + 0.6 + 0.8 + 0.0) / 4, abs=1e-4)
