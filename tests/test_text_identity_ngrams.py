"""The n-gram head of the text -> taxonomy model: hashed features, the fusion with the MiniLM
head, the pruned weights that ship."""


import numpy as np
import pytest

from tagger.text_identity import (NGRAM_BUCKETS, TextIdentifier, fuse, inverse_document_frequency,
                                  ngram_features, ngram_scores)


def test_hashed_ngrams_are_fixed_and_unit_length():
    matrix = ngram_features(["Gel Pen - Blue, Fasty", "gel pen blue fasty", ""])
    assert matrix.shape == (3, NGRAM_BUCKETS)
    # 4 words + 3 word pairs + 33 in-word character 3-5-grams, before hash collisions
    assert 35 <= matrix[0].nnz <= 40
    assert (matrix[0] != matrix[1]).nnz == 0  # case and punctuation do not matter
    assert matrix[2].nnz == 0
    assert np.sqrt(matrix[0].multiply(matrix[0]).sum()) == pytest.approx(1.0, abs=1e-5)


def test_idf_down_weights_common_ngrams():
    counts = ngram_features(["tea bags", "tea leaves", "green tea", "steel bucket"])
    idf = inverse_document_frequency(counts)
    tea = ngram_features(["tea"]).indices[0]  # any of the buckets "tea" falls into
    bucket = ngram_features(["bucket"]).indices[0]
    assert idf[tea] < idf[bucket]


def test_fusion_adds_log_odds():
    trained = np.array([[0.5, 0.5], [0.9, 0.1]])
    scores = np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert fuse(trained, scores, 0.0) is trained
    fused = fuse(trained, scores, 1.0)
    assert fused.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert fused[0, 0] == pytest.approx(np.exp(2) / (1 + np.exp(2)))  # 0.5 e / (0.5 e + 0.5 / e)
    assert fused[1, 0] == pytest.approx(0.9 / (0.9 + 0.1 * np.exp(2)))


def test_fused_temperature_softens_without_reordering():
    trained = np.array([[0.5, 0.5], [0.9, 0.1]])
    scores = np.array([[1.0, -1.0], [-1.0, 1.0]])
    sharp, soft = fuse(trained, scores, 1.0), fuse(trained, scores, 1.0, 2.0)
    assert soft[0, 0] == pytest.approx(np.exp(1) / (1 + np.exp(1)))  # log-odds 2 halved
    assert (soft.argmax(axis=1) == sharp.argmax(axis=1)).all()
    assert soft.max(axis=1).tolist() < sharp.max(axis=1).tolist()


def test_tune_fusion_picks_weight_by_accuracy_and_temperature_by_log_loss():
    from tagger.train.text_identity import FUSED_TEMPERATURE_GRID, tune_fusion

    rng = np.random.default_rng(0)
    classes = np.array([1, 141, 166])  # Animals, Cameras & Optics, Apparel & Accessories
    labels = rng.choice(classes, 300)
    truth = np.searchsorted(classes, labels)
    trained = np.full((300, 3), 1 / 3)
    scores = rng.normal(size=(300, 3))
    right = rng.random(300) < 0.7  # the n-gram head's top score is right 70% of the time
    scores[np.arange(300), np.where(right, truth, (truth + 1) % 3)] += 3.0
    chosen = tune_fusion(trained, scores, labels, classes)
    assert chosen["ngram_weight"] > 0
    # scores this sharp at weight >= 1 are over-confident for a 70%-right head: T > 1 wins
    assert chosen["fused_temperature"] > 1 and chosen["fused_temperature"] in FUSED_TEMPERATURE_GRID
    calibrated = fuse(trained, scores, chosen["ngram_weight"], chosen["fused_temperature"])
    assert calibrated.max(axis=1).mean() == pytest.approx(0.7, abs=0.1)


def test_shipped_head_is_small():
    identifier = TextIdentifier()
    model = identifier.model
    head = model["ngrams"]
    assert head is not None and model["meta"]["ngram_weight"] > 0
    assert head["weights"].shape == (NGRAM_BUCKETS, len(model["class_columns"]))
    assert head["weights"].nnz <= model["meta"]["ngram_kept_weights"] <= 500_000
    lines = ["Tata Tea Gold 500 g", "Steel Bucket - 16 L", "Agarbatti - Sandal, 100 sticks"] * 4
    assert ngram_scores(lines, head).shape == (12, len(model["class_columns"]))
    assert len(identifier.predict(lines)) == len(lines)


def test_grocery_titles_land_in_their_branch():
    found = TextIdentifier().predict(["Agarbatti - Sandal, 100 sticks", "Toilet Cleaner - Liquid, 500 ml"])
    assert found[0].alternatives[0].path.startswith("Religious & Ceremonial"), found[0]
    assert found[1].alternatives[0].path.startswith("Home & Garden"), found[1]
