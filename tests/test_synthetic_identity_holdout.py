"""The held-out node table of the synthetic identity packs (never tuned on) and the identity
task's (a2) and (f) sections: valid, untouched by the tuning set, rendered into its own cache
folder, and the image-only answer is the fusion on the probabilities the pipeline computed."""

from types import SimpleNamespace

import numpy as np
from PIL import Image

from eval.synthetic_identity import (EXCLUDED_BRANCHES, HOLDOUT_NODES_FILE, NODES_FILE,
                                     check_nodes, iter_identity_packs, load_claims, load_nodes,
                                     main, node_order, read_truth, set_folder)
from eval.tasks import identity as task
from tagger.taxonomy import taxonomy


def test_holdout_nodes_are_real_new_and_outside_fashion_and_food():
    held, tuned = load_nodes(HOLDOUT_NODES_FILE), load_nodes(NODES_FILE)
    tax = taxonomy()
    assert check_nodes(held) == []  # IDs exist, no repeats, every language and units present
    ids = [n["id"] for n in held]
    assert len(set(ids)) >= 30
    assert not set(ids) & {n["id"] for n in tuned}, "a held-out node is also a tuning node"
    branches = {tax.node(tax.top_level(i)).name for i in ids}
    assert not branches & set(EXCLUDED_BRANCHES)
    assert len(branches) >= 8
    assert set(load_claims(HOLDOUT_NODES_FILE)) == {"en", "de", "fr", "es", "it"}


def test_holdout_claims_and_words_are_not_the_tuning_files():
    held, tuned = load_claims(HOLDOUT_NODES_FILE), load_claims(NODES_FILE)
    assert not {c for lines in held.values() for c in lines} & {
        c for lines in tuned.values() for c in lines}


def test_each_node_table_renders_into_its_own_cache_folder(tmp_path):
    tuned = set_folder(tmp_path, 200, 1)
    assert set_folder(tmp_path, 200, 1, NODES_FILE) == tuned
    assert set_folder(tmp_path, 200, 1, HOLDOUT_NODES_FILE) != tuned
    copy = tmp_path / "nodes.toml"
    copy.write_bytes(HOLDOUT_NODES_FILE.read_bytes() + b"\n# edited\n")
    assert set_folder(tmp_path, 200, 1, copy) != set_folder(tmp_path, 200, 1, HOLDOUT_NODES_FILE)


def _tiny_data(root):
    (root / "fashion" / "images").mkdir(parents=True)
    Image.new("RGB", (224, 300), "navy").save(root / "fashion" / "images" / "1.jpg")
    (root / "grocery").mkdir()
    (root / "grocery" / "train.txt").write_text("")
    return root


def test_nodes_flag_renders_the_holdout_set(tmp_path):
    data = _tiny_data(tmp_path / "data")
    packs = list(iter_identity_packs(data, 3, seed=1, nodes=HOLDOUT_NODES_FILE))
    order = node_order(load_nodes(HOLDOUT_NODES_FILE), 1)
    assert [p.google_id for p in packs] == [n["id"] for n in order[:3]]
    out = tmp_path / "out"
    assert main(["--data", str(data), "--count", "2", "--seed", "1",
                 "--nodes", str(HOLDOUT_NODES_FILE), "--out", str(out)]) == 0
    rows = read_truth(out / "truth.csv")
    assert [int(r["google_id"]) for r in rows] == [n["id"] for n in order[:2]]


def test_holdout_count_is_five_per_node_capped_by_limit_and_can_be_skipped(monkeypatch):
    nodes = len(load_nodes(HOLDOUT_NODES_FILE))
    monkeypatch.delenv(task.HOLDOUT_ENV, raising=False)
    assert task.holdout_count(None) == task.HOLDOUT_PER_NODE * nodes
    assert task.holdout_count(4) == 4
    monkeypatch.setenv(task.HOLDOUT_ENV, "0")
    assert task.holdout_count(None) == 0


class _Fusion:
    """Answers with what it was given, so the test sees what the recorder passed on."""

    tree = "tree"

    def identify(self, seller, spans=(), image_probabilities=None, specialist=None):
        return SimpleNamespace(seller=seller, spans=list(spans), probabilities=image_probabilities,
                               specialist=specialist)


def test_recorder_answers_as_the_pipeline_and_reuses_its_probabilities_for_image_only():
    recorder = task.RecordingIdentifier(_Fusion())
    assert recorder.tree == "tree"  # the stage's gate_tags reads the identifier's tree
    probabilities = np.array([0.2, 0.8])
    spans, specialist = ["pack line"], object()
    full = recorder.identify({"title": "a lamp"}, spans, probabilities, specialist)
    assert (full.seller, full.spans, full.specialist) == ({"title": "a lamp"}, spans, specialist)
    alone = recorder.image_only()
    assert (alone.seller, alone.spans, alone.specialist) == ({}, [], None)
    assert alone.probabilities is probabilities


def test_image_only_metrics_and_targets_read_right():
    right = {"truth": 525, "predicted": 525, "path": "", "confidence": 0.9, "uncertain": False,
             "reason": "", "top_level": True, "right_or_ancestor": True, "exact": True,
             "confidently_wrong": False}
    wrong = {**right, "predicted": 2425, "top_level": False, "right_or_ancestor": False,
             "exact": False, "confidently_wrong": True}
    metrics = task.image_only_metrics([right, right, right], [wrong], [{**right, "product": "x"}])
    assert metrics["all"]["count"] == 5 and metrics["all"]["top_level"] == 0.8
    assert metrics["all"]["confidently_wrong"] == 0.2
    assert metrics["abo_products"][0]["product"] == "x"
    [note] = task.image_target_notes(metrics["all"])
    top, wrong = note.split("confidently wrong")
    assert "top_level 80.0%" in top and "met" in top and "NOT met" not in top
    assert "20.0%" in wrong and "NOT met" in wrong
