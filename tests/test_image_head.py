"""Tuned image head: the backbone's tail split, float16 storage, and fusion inside a
``CategoryModel`` (the bundled EfficientNet-Lite0; tiny synthetic data)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tagger.backbone import ImageBackbone
from listingsmith.core.errors import ModelError
from tagger.image_head import TunedImageHead
from listingsmith.core.types import ImageInfo
from tagger.classify import load_category_model
from listingsmith.core.io import ProductImage
from tagger.train.classifier import attach_image_head, fit
from tagger.train.image_head import photo_views, random_view, train_head


def photo(seed: int, size=(320, 240)) -> ProductImage:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    source = f"photo{seed}.png"
    info = ImageInfo(source=source, width=size[0], height=size[1], original_mode="RGB",
                     exif_rotated=False, frames=1)
    return ProductImage(source=source, image=Image.fromarray(pixels), info=info)


@pytest.fixture(scope="module")
def backbone() -> ImageBackbone:
    return ImageBackbone()


def test_tail_split_reproduces_the_network(backbone):
    """Stem + blocks before the tail, then the tail: the network's own features."""
    pixels = backbone.preprocess([photo(0), photo(1)])
    pooled, probabilities, tails = backbone.forward(pixels)
    with torch.inference_mode():
        reference = backbone.model.extract_features(pixels).mean(dim=(2, 3))
    assert tails.shape == (2, 192, 7, 7)
    torch.testing.assert_close(pooled, reference, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))
    head = TunedImageHead.from_backbone(backbone.model, n_classes=3).eval()
    with torch.inference_mode():
        torch.testing.assert_close(head.features(tails), reference, rtol=1e-4, atol=1e-5)
    assert backbone([photo(0)])[0].tail_input.shape == (192, 7, 7)


def test_float16_arrays_round_trip(backbone):
    head = TunedImageHead.from_backbone(backbone.model, n_classes=4).eval()
    arrays = head.to_arrays()
    assert arrays["classifier.weight"].dtype == np.float16
    assert arrays["classifier.weight"].shape == (4, 1280)
    tails = np.random.default_rng(0).normal(0, 1, (3, 192, 7, 7)).astype(np.float32)
    restored = TunedImageHead.from_arrays(arrays)
    np.testing.assert_allclose(restored.log_probabilities(tails), head.log_probabilities(tails),
                               atol=0.05)
    np.testing.assert_allclose(np.exp(restored.log_probabilities(tails)).sum(axis=1), 1.0,
                               rtol=1e-5)


def test_views_are_seeded_by_the_photo_and_start_with_the_centre_crop():
    image = photo(3, size=(400, 300))
    first, again = photo_views(image, 3, "a.jpg"), photo_views(image, 3, "a.jpg")
    assert len(first) == 3 and all(v.shape == (224, 224, 3) for v in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], photo_views(image, 3, "b.jpg")[1])
    assert random_view(Image.new("RGB", (1, 500)), random.Random(0)).shape == (224, 224, 3)


def _shape_tails(backbone, n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tail inputs of photos of three drawn shapes (a red square, a blue disc, green
    stripes), jittered per photo."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class)
    images = []
    for label in labels:
        image = Image.new("RGB", (256, 256), (245, 245, 245))
        draw = ImageDraw.Draw(image)
        x, y = (int(v) for v in rng.integers(20, 80, 2))
        if label == 0:
            draw.rectangle([x, y, x + 140, y + 140], fill=(210, 30, 30))
        elif label == 1:
            draw.ellipse([x, y, x + 140, y + 140], fill=(30, 40, 200))
        else:
            for left in range(x, x + 150, 24):
                draw.rectangle([left, y, left + 10, y + 150], fill=(30, 160, 40))
        info = ImageInfo(source="shape.png", width=256, height=256, original_mode="RGB",
                         exif_rotated=False, frames=1)
        images.append(ProductImage(source="shape.png", image=image, info=info))
    _, _, tails = backbone.forward(backbone.preprocess(images))
    return tails.numpy().astype(np.float16), labels


def test_head_learns_and_fuses_into_a_category_model(backbone, tmp_path):
    """A head trained on photos of shapes wins over an uninformative fused classifier: val
    chooses a positive weight, predictions need the tail inputs, and save/load keeps it."""
    maps, labels = _shape_tails(backbone, 12, 0)
    val_maps, val_labels = _shape_tails(backbone, 4, 1)
    names = np.array(["apple", "pear", "plum"])
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (len(labels), 5)).astype(np.float32)
    val_noise = rng.normal(0, 1, (len(val_labels), 5)).astype(np.float32)
    paths = {n: ["Fruit", n] for n in names}
    model = fit("fruit", noise, list(names[labels]), val_noise, list(names[val_labels]), paths,
                ["coarse", "fine"], ("image",), c_grid=(1.0,), log=lambda *_: None)
    val_tails = [m[None] for m in val_maps]
    model = attach_image_head(model, maps, list(names[labels]), val_noise,
                              list(names[val_labels]), val_tails, epochs=10, log=lambda *_: None)
    assert model.image_head_weight > 0 and model.needs_tail_inputs
    assert model.card["val_accuracy"] == 1.0
    assert model.card["image_head"]["val_accuracy_without"] < 1.0
    predictions = model.predict(val_noise, tail_inputs=val_tails)
    assert [p.label for p in predictions] == list(names[val_labels])
    with pytest.raises(ModelError, match="expected tail inputs for each of 12 products"):
        model.predict(val_noise)
    path = tmp_path / "fruit.joblib"
    model.save(path)
    loaded = load_category_model(path)
    np.testing.assert_allclose(loaded.probabilities(val_noise, val_tails),
                               model.probabilities(val_noise, val_tails), rtol=1e-5)
    two_photos = [np.concatenate([val_tails[0], val_tails[0]])] + val_tails[1:]
    np.testing.assert_allclose(loaded.probabilities(val_noise, two_photos),
                               model.probabilities(val_noise, val_tails), rtol=1e-4)


def test_train_head_reduces_the_loss(backbone):
    maps, labels = _shape_tails(backbone, 6, 2)
    logged = []
    train_head(maps, labels, 3, epochs=2, backbone=backbone, log=logged.append)
    losses = [float(line.split("loss ")[1].split()[0]) for line in logged]
    assert len(losses) == 2 and losses[1] < losses[0]


def test_tail_inputs_are_cached_per_view_and_skip_unreadable_photos(backbone, tmp_path,
                                                                     monkeypatch, capsys):
    import tagger.train.image_head as image_head

    monkeypatch.setattr(image_head, "CACHE_DIR", tmp_path / "cache")
    for name, colour in (("a.png", (200, 30, 30)), ("b.png", (30, 30, 200))):
        Image.new("RGB", (300, 260), colour).save(tmp_path / name)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    paths = ["a.png", "bad.jpg", "b.png"]
    maps, photo = image_head.tail_inputs(tmp_path, paths, views=2, cache_name="toy",
                                         backbone=backbone, progress=False)
    assert "skipped bad.jpg" in capsys.readouterr().out
    assert maps.shape == (4, 192, 7, 7) and maps.dtype == np.float16
    assert photo.tolist() == [0, 0, 2, 2]
    assert (tmp_path / "cache" / "toy-tail-2.npz").is_file()
    again, photo_again = image_head.tail_inputs(tmp_path, paths[::-1], views=2,
                                                cache_name="toy", backbone=backbone)
    assert photo_again.tolist() == [0, 0, 2, 2]
    np.testing.assert_array_equal(again[:2], maps[2:])
