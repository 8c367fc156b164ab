"""Category classifier: fused features, hierarchy, calibration, saving, training on a
seller's folder end to end (real bundled models, tiny synthetic data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from listingsmith.cli import main
from tagger.classify import (BLOCKS, OCR_GRAMS, CategoryModel, FeatureInputs, colour_histogram,
                             fused_features, load_category_model, novelty_from_scores, route,
                             shipped_model, specialist_settings, with_shipped_settings)
from tagger.colours import vocabulary as colour_vocabulary
from listingsmith.core.errors import ModelError, ValidationError
from tagger.tags import Calibration, TagGroup, TagVocabulary
from tagger.train.classifier import (fit, fit_temperature, labelled_photos, set_ood_thresholds,
                                     split_rows, uncertain_cutoff)


def inputs(seed: int, ocr: bool = True) -> FeatureInputs:
    rng = np.random.default_rng(seed)
    return FeatureInputs(rng.random((2, 1280), dtype=np.float32), rng.random(20, dtype=np.float32),
                         [("Red", 0.6), ("Blue", 0.3)], rng.random(384, dtype=np.float32) if ocr else None,
                         "Arla Ko standard mjolk 1 l" if ocr else "")


def test_fused_features_concatenate_blocks_in_fixed_order():
    x = inputs(0)
    n_colours = len(colour_vocabulary())
    everything = fused_features(x, BLOCKS)
    assert everything.shape == (1280 + 20 + n_colours + 385 + OCR_GRAMS,)
    np.testing.assert_allclose(everything[:1280], x.image_features.mean(axis=0), rtol=1e-6)
    assert np.array_equal(fused_features(x, ("ocr", "image")), fused_features(x, ("image", "ocr")))
    assert fused_features(inputs(0, ocr=False), ("ocr",)).sum() == 0  # no text: zeros, flag off
    assert fused_features(x, ("ocr",))[384] == 1.0
    grams = fused_features(x, ("ocr",))[385:]
    assert grams.sum() > 0 and np.linalg.norm(grams) == pytest.approx(1.0, rel=1e-5)


def test_colour_histogram_puts_shares_on_vocabulary_names():
    names = [c.name for c in colour_vocabulary()]
    vector = colour_histogram([("Red", 0.6), ("Blue", 0.3), ("not a colour", 0.1)])
    assert vector[names.index("Red")] == pytest.approx(0.6)
    assert vector.sum() == pytest.approx(0.9)


def toy_model(uncertain_below: float = 0.5) -> tuple[CategoryModel, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    centres = {"Tshirts": 0, "Shirts": 3, "Heels": 6}
    labels = [c for c in centres for _ in range(20)]
    x = np.stack([rng.normal(centres[c], 0.5, 4) for c in labels]).astype(np.float32)
    paths = {"Tshirts": ["Apparel", "Topwear", "Tshirts"], "Shirts": ["Apparel", "Topwear", "Shirts"],
             "Heels": ["Footwear", "Shoes", "Heels"]}
    model = fit("toy", x[::2], labels[::2], x[1::2], labels[1::2], paths,
                ["master", "sub", "type"], ("image",), c_grid=(1.0,), log=lambda *_: None)
    return model, x, labels


def test_predictions_are_consistent_across_levels():
    model, x, labels = toy_model()
    probabilities = model.probabilities(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    for level in range(3):
        names, level_probs = model.level_probabilities(probabilities, level)
        np.testing.assert_allclose(level_probs.sum(axis=1), 1.0, rtol=1e-5)
    masters, master_probs = model.level_probabilities(probabilities, 0)
    apparel = master_probs[:, masters.index("Apparel")]
    np.testing.assert_allclose(apparel, probabilities[:, model.classes.index("Tshirts")]
                               + probabilities[:, model.classes.index("Shirts")], rtol=1e-5)
    prediction = model.predict(x[:1], top_k=2)[0]
    assert prediction.label == "Tshirts" and prediction.path == ["Apparel", "Topwear", "Tshirts"]
    assert len(prediction.top_k) == 2 and prediction.taxonomy == "toy"
    assert model.card["val_accuracy"] == 1.0


def test_uncertain_flag_follows_the_cutoff():
    model, x, _ = toy_model()
    model.ood_above = model.distance_above = None  # the probability cut-off alone
    model.uncertain_below = 1.01
    assert all(p.uncertain for p in model.predict(x[:3]))
    model.uncertain_below = 0.0
    assert not any(p.uncertain for p in model.predict(x[:3]))


def test_novelty_scores_from_logits():
    scores = np.array([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    energy = novelty_from_scores(scores, "energy")
    np.testing.assert_allclose(energy, -np.log(np.exp(scores).sum(axis=1)))
    assert energy[0] < energy[1]  # one strong logit: familiar; flat and weak: novel
    np.testing.assert_allclose(novelty_from_scores(scores, "max_logit"), [-10.0, -1.0])
    np.testing.assert_allclose(novelty_from_scores(scores, "max_probability")[1], -1 / 3)
    np.testing.assert_allclose(novelty_from_scores(scores * 2, "energy", temperature=2.0),
                               2 * energy)
    with pytest.raises(ValueError, match="unknown novelty score"):
        novelty_from_scores(scores, "entropy")


def test_ood_check_flags_far_off_inputs_and_passes_familiar_ones():
    model, x, labels = toy_model(uncertain_below=0.0)
    model.uncertain_below = 0.0  # only the out-of-distribution check can flag
    assert model.ood_score == specialist_settings()["ood_score"]
    assert model.ood_above is not None and model.distance_above is not None
    familiar = np.array([[0.1, -0.1, 0.0, 0.2], [3.0, 3.1, 2.9, 3.0], [6.0, 6.0, 5.9, 6.1]])
    assert not any(p.uncertain for p in model.predict(familiar))
    rng = np.random.default_rng(1)
    far = rng.normal(0, 40, (5, 4))  # random features nowhere near any training photo
    assert all(p.uncertain for p in model.predict(far))
    between = np.full((1, 4), 1.5)  # halfway between two classes: weak, flat logits
    assert model.novelty(between)[0] > model.novelty(familiar[:1])[0]
    # thresholds come from val: flagging a larger share of val photos lowers them
    stricter = set_ood_thresholds(model, x[1::2], ood_share=0.5, distance_share=0.5)
    assert stricter.ood_above < max(model.novelty(x[1::2]))


def test_shipped_specialists_take_ood_settings_from_the_data_file():
    settings = specialist_settings()
    model = CategoryModel(name="fashion", pipeline=None, classes=[], paths={}, levels=[], blocks=())
    with_shipped_settings(model)
    assert model.ood_score == settings["fashion"].get("ood_score", settings["ood_score"])
    assert model.ood_above == settings["fashion"].get("ood_above")
    fashion = shipped_model("fashion")
    assert fashion.ood_above is not None and fashion.distance_above is not None
    scaler = fashion.pipeline.steps[0][1]
    centre = scaler.mean_[None]  # the training features' mean is as familiar as it gets
    noise = np.random.default_rng(0).normal(0, 50, (3, len(scaler.mean_)))
    distances = fashion.feature_distance(np.vstack([centre, noise]))
    assert distances[0] == pytest.approx(0.0)
    assert list(fashion.out_of_distribution(np.full(4, -np.inf), distances)) == [False] + [True] * 3


def test_temperature_and_cutoff_calibration():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    scores = rng.normal(0, 1, (300, 3))
    scores[np.arange(300), truth] += 2.0
    overconfident = fit_temperature(scores * 10, truth)
    assert overconfident > 5  # scores ten times too sharp need a temperature near ten
    top = np.array([0.9, 0.8, 0.4, 0.3])
    assert 0.4 < uncertain_cutoff(top, np.array([True, True, False, False])) <= 0.8
    assert uncertain_cutoff(top, np.array([False] * 4)) == 1.0


def test_save_and_load_round_trip(tmp_path):
    model, x, _ = toy_model()
    path = tmp_path / "toy.joblib"
    model.save(path)
    loaded = load_category_model(path)
    np.testing.assert_allclose(loaded.probabilities(x), model.probabilities(x), rtol=1e-6)
    assert loaded.paths == model.paths and loaded.blocks == ("image",)


def test_load_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(ModelError, match="no such file; train one with 'listingsmith train classifier'"):
        load_category_model(tmp_path / "absent.joblib")
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="junk.joblib: not a listingsmith classifier"):
        load_category_model(junk)


def test_route_follows_product_type_mass():
    vocab = TagVocabulary((TagGroup("product_type", ("shirt", "milk", "lamp"), exclusive=True),),
                          Calibration(), domains={"fashion": ("shirt",), "grocery": ("milk",)})
    assert route(np.array([0.7, 0.2, 0.1]), vocab) == ("fashion", pytest.approx(0.7 / 0.9))
    assert route(np.array([0.1, 0.3, 0.6]), vocab)[0] == "grocery"


def test_labelled_photos_from_a_nested_folder_and_a_csv(tmp_path):
    for relative in ["Fruit/Apple/a.jpg", "Fruit/Pear/b.png", "Dairy/Milk/c.jpg", "notes.txt"]:
        path = tmp_path / "photos" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    found = labelled_photos(tmp_path / "photos", [])
    assert sorted(tuple(p) for _, p, _ in found) == [("Dairy", "Milk"), ("Fruit", "Apple"), ("Fruit", "Pear")]
    table = tmp_path / "labels.csv"
    table.write_text("image,dept,cat,split\nphotos/Fruit/Apple/a.jpg,Fruit,Apple,val\n"
                     "photos/Dairy/Milk/c.jpg,Dairy,,\n", "utf-8")
    rows = labelled_photos(table, ["dept", "cat"])
    assert rows == [(tmp_path / "photos/Fruit/Apple/a.jpg", ["Fruit", "Apple"], "val")]
    with pytest.raises(ValidationError, match=r"expected columns \['colour'\]"):
        labelled_photos(table, ["colour"])
    with pytest.raises(ValidationError, match="name the label column"):
        labelled_photos(table, [])
    with pytest.raises(ValidationError, match="no photos in class sub-folders"):
        labelled_photos(tmp_path / "photos" / "Fruit" / "Apple", [])


def test_split_rows_is_stratified_and_keeps_given_splits():
    labels = ["a"] * 10 + ["b"] * 10 + ["c"]
    splits = split_rows(labels, [None] * 20 + ["val"], 0.2)
    assert list(splits[:10]).count("val") == 2 and list(splits[10:20]).count("val") == 2
    assert splits[20] == "val"
    assert split_rows(["solo"], [None], 0.5)[0] == "train"


def _draw(kind: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    background = tuple(int(v) for v in rng.integers(225, 256, 3))
    image = Image.new("RGB", (96, 96), background)
    draw = ImageDraw.Draw(image)
    jitter = int(rng.integers(-6, 7))
    if kind == "red-square":
        draw.rectangle([20 + jitter, 20, 76 + jitter, 76], fill=(200 + jitter, 20, 30))
    elif kind == "blue-circle":
        draw.ellipse([18, 18 + jitter, 78, 78 + jitter], fill=(20, 40, 190 + jitter))
    else:
        for x in range(10, 90, 12):
            draw.rectangle([x + jitter, 10, x + jitter + 5, 86], fill=(30, 150 + jitter, 40))
    return image


def test_train_classifier_on_a_folder_end_to_end(tmp_path, capsys):
    """`listingsmith train classifier --images DIR --image-head 2` on three synthetic classes,
    then the model is selected with --taxonomy and predicts the class of a new photo."""
    for kind in ("red-square", "blue-circle", "green-stripes"):
        folder = tmp_path / "photos" / kind
        folder.mkdir(parents=True)
        for seed in range(5):
            _draw(kind, seed).save(folder / f"{seed}.png")
    (tmp_path / "photos" / "red-square" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "shapes.joblib"
    assert main(["train", "classifier", "--images", str(tmp_path / "photos"), "--out", str(out),
                 "--image-head", "2", "--head-epochs", "2"]) == 0
    printed = capsys.readouterr()
    assert "skipped" in printed.err and "broken.jpg" in printed.err
    assert "validation report" in printed.out and out.is_file()
    model = load_category_model(out)
    assert sorted(model.classes) == ["blue-circle", "green-stripes", "red-square"]
    assert model.card["train_photos"] + model.card["val_photos"] == 15
    assert model.image_head is not None and model.image_head_classes == model.classes
    assert model.card["image_head"]["training_views"] == 2 * model.card["train_photos"]
    assert "Tuned image head" in out.with_suffix(".md").read_text("utf-8")

    photo = tmp_path / "new.png"
    _draw("blue-circle", 99).save(photo)
    assert main(["analyze", str(photo), "--taxonomy", str(out), "--json"]) == 0
    category = json.loads(capsys.readouterr().out)["category"]
    assert category["taxonomy"] == "shapes" and category["label"] == "blue-circle"


def test_train_classifier_needs_two_classes(tmp_path, capsys):
    folder = tmp_path / "photos" / "only"
    folder.mkdir(parents=True)
    _draw("red-square", 0).save(folder / "a.png")
    assert main(["train", "classifier", "--images", str(tmp_path / "photos"), "--out",
                 str(tmp_path / "m.joblib")]) == 2
    assert "expected photos of at least 2 classes, got 1" in capsys.readouterr().err
