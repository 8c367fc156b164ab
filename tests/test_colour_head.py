"""Colour head: the shipped weights, the features it reads, and the training script."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tagger.colours import (FEATURE_VERSION, colour_features, colour_head, dominant_colours, fuse,
                            name_by_head, needs_tail_inputs, vocabulary, prepare_head)
from tagger.image_head import TunedImageHead
from listingsmith.core.io import load_image
from tagger.train.colour_head import HEAD_WEIGHTS, train

SWATCH_COLOURS = {"Red": (200, 30, 40), "Navy Blue": (31, 42, 68), "Green": (40, 140, 60),
                  "Yellow": (240, 205, 40), "Black": (25, 25, 25)}


def _product(tmp_path, name, colour, jitter=0):
    image = Image.new("RGB", (120, 160), (255, 255, 255))
    shade = tuple(int(np.clip(c + jitter, 0, 255)) for c in colour)
    ImageDraw.Draw(image).rectangle((30, 40, 90, 120), fill=shade)
    path = tmp_path / name
    image.save(path)
    return load_image(path)


def test_shipped_head_loads_with_vocabulary_classes():
    head = colour_head()
    assert head is not None
    assert {"model", "classes", "threshold", "feature_version", "metrics", "data",
            "trained"} <= set(head)
    assert head["feature_version"] == FEATURE_VERSION
    assert set(head["classes"]) <= {colour.name for colour in vocabulary()}
    assert 0.0 <= head["threshold"] <= 1.0


def test_features_have_fixed_length_and_are_deterministic(tmp_path):
    red = _product(tmp_path, "red.png", SWATCH_COLOURS["Red"])
    plain = _product(tmp_path, "plain.png", (128, 128, 128))
    first, again = colour_features([red]), colour_features([red])
    assert first.shape == colour_features([plain]).shape == colour_features([red, plain]).shape
    np.testing.assert_array_equal(first, again)


def test_head_keeps_measured_values_and_names_red_red(tmp_path):
    red = _product(tmp_path, "red.jpg", SWATCH_COLOURS["Red"])
    nearest = dominant_colours([red], named_by="nearest")
    named = dominant_colours([red])
    assert [(s.rgb, s.hex, s.share) for s in named] == \
        [(s.rgb, s.hex, s.share) for s in nearest][:len(named)]
    assert named[0].family == "red"


def test_confident_head_renames_only_the_top_swatch(tmp_path):
    class Always:
        def predict_proba(self, features):
            return np.array([[0.1, 0.9]])

    swatches = dominant_colours([_product(tmp_path, "navy.png", SWATCH_COLOURS["Navy Blue"])],
                                named_by="nearest")
    head = {"model": Always(), "classes": ["Red", "Teal"], "threshold": 0.5}
    renamed = name_by_head(np.zeros(3), swatches, head)
    assert (renamed[0].name, renamed[0].family) == ("Teal", "blue")
    assert (renamed[0].rgb, renamed[0].hex, renamed[0].share) == \
        (swatches[0].rgb, swatches[0].hex, swatches[0].share)
    assert name_by_head(np.zeros(3), swatches, {**head, "threshold": 0.95}) == swatches


def test_training_runs_on_a_tiny_dataset(tmp_path):
    rows = []
    for index in range(30):
        label = list(SWATCH_COLOURS)[index % len(SWATCH_COLOURS)]
        name = f"{index}.png"
        _product(tmp_path, name, SWATCH_COLOURS[label], jitter=(index % 3 - 1) * 8)
        rows.append({"image": name, "baseColour": label,
                     "split": "val" if index >= 20 else "train"})
    out = tmp_path / "head.joblib"
    train(rows, tmp_path, out, image_components=4, head_views=1, head_epochs=1)
    bundle = joblib.load(out)
    assert set(bundle["classes"]) == set(SWATCH_COLOURS)
    assert bundle["feature_version"] == FEATURE_VERSION
    assert bundle["metrics"]["val"]["exact"] >= bundle["metrics"]["val_without_image_head"]["exact"]
    assert bundle["image_head_weight"] in HEAD_WEIGHTS
    assert (bundle["image_head"] is None) == (bundle["image_head_weight"] == 0.0)


def _image_head_arrays(logit_bias):
    head = TunedImageHead(len(logit_bias))
    with torch.no_grad():
        head.classifier.weight.zero_()
        head.classifier.bias.copy_(torch.tensor(logit_bias))
    return head.to_arrays()


def test_a_tuned_image_head_is_fused_with_the_classifier(tmp_path):
    class Teal:
        def predict_proba(self, features):
            return np.array([[0.3, 0.7]])

    swatches = dominant_colours([_product(tmp_path, "navy.png", SWATCH_COLOURS["Navy Blue"])],
                                named_by="nearest")
    bundle = {"model": Teal(), "classes": ["Red", "Teal"], "threshold": 0.0,
              "image_head": _image_head_arrays([4.0, 0.0]), "image_head_weight": 1.0}
    fused = prepare_head(bundle)
    tails = np.zeros((2, 192, 7, 7), np.float32)  # two photos of one product
    assert name_by_head(np.zeros(3), swatches, fused, tails)[0].name == "Red"  # head overrules
    lighter = prepare_head({**bundle, "image_head_weight": 0.1})
    assert name_by_head(np.zeros(3), swatches, lighter, tails)[0].name == "Teal"
    unfused = prepare_head({**bundle, "image_head_weight": 0.0})
    assert not needs_tail_inputs(unfused)
    assert name_by_head(np.zeros(3), swatches, unfused)[0].name == "Teal"
    with pytest.raises(ValueError, match="expected the backbone's .* tail inputs"):
        name_by_head(np.zeros(3), swatches, fused)


def test_fuse_multiplies_probabilities_and_renormalises():
    fused = fuse(np.array([[0.5, 0.5], [0.9, 0.1]]), np.log(np.array([[0.2, 0.8], [0.5, 0.5]])), 1.0)
    np.testing.assert_allclose(fused, [[0.2, 0.8], [0.9, 0.1]], atol=1e-6)
