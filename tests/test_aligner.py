"""The bundled aligner (``tagger.aligner``) and its training script, plus the tags it gives
through the pipeline and the CLI on real photos with the real bundled towers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from listingsmith.cli import main
from tagger.aligner import AlignedImageText, ProjectionHeads, load_heads, save_heads
from listingsmith.core.errors import ModelError
from listingsmith.core.registry import get_spec, model_status
from tagger.train.aligner import best_f1_threshold, info_nce

FIXTURES = Path(__file__).parent / "fixtures" / "abo"
YOGA_BAG = FIXTURES / "starter-yoga-bag.jpg"
VITAMIN_E = FIXTURES / "solimo-vitamin-e-front.jpg"


def test_heads_round_trip_through_safetensors(tmp_path):
    torch.manual_seed(0)
    heads = ProjectionHeads(image_dim=12, text_dim=6, dim=4, hidden=8).eval()
    heads.image_mean.fill_(0.5)
    path = tmp_path / "heads.safetensors"
    save_heads(heads, path, {"note": "test"})
    loaded, facts = load_heads(path)
    assert facts == {"note": "test"} and loaded.config == heads.config
    features, text = torch.randn(3, 12), torch.randn(2, 6)
    with torch.inference_mode():  # float16 on disk: equal to about 3 significant digits
        torch.testing.assert_close(loaded.embed_image_features(features),
                                   heads.embed_image_features(features), atol=2e-3, rtol=1e-2)
        torch.testing.assert_close(loaded.embed_text_vectors(text), heads.embed_text_vectors(text),
                                   atol=2e-3, rtol=1e-2)
        norms = loaded.embed_image_features(features).norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones(3))


def test_heads_without_a_config_header_are_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelError, match="expected aligner heads with a 'config' header"):
        load_heads(path)


def test_info_nce_prefers_matching_pairs_and_counts_repeated_texts_as_positives():
    image = torch.nn.functional.normalize(torch.eye(4), dim=-1)
    same = torch.eye(4)
    aligned = info_nce(image, image, same, torch.tensor(10.0))
    shuffled = info_nce(image, image[[1, 0, 3, 2]], same, torch.tensor(10.0))
    assert aligned < shuffled
    # two photos that drew the same text: both count as its positives (rows sum to one)
    duplicate = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.float32)
    logits = 10.0 * image @ image.T
    targets = duplicate / duplicate.sum(1, keepdim=True)
    expected = 0.5 * (torch.nn.functional.cross_entropy(logits, targets)
                      + torch.nn.functional.cross_entropy(logits.T, targets))
    torch.testing.assert_close(info_nce(image, image, duplicate, torch.tensor(10.0)), expected)


def test_best_f1_threshold():
    scores = np.array([0.9, 0.8, 0.3, 0.2])
    actual = np.array([True, True, False, False])
    threshold, f1 = best_f1_threshold(scores, actual)
    assert 0.3 < threshold <= 0.8 and f1 == 1.0


def test_shipped_aligner_is_registered_pinned_and_records_its_held_out_classes():
    spec = get_spec("aligner")
    assert spec.task == "image-text" and spec.source == "bundled:tagger"
    assert model_status(spec).ok
    model = AlignedImageText()
    held_out = model.training_facts["held_out"]
    assert len(held_out["fashion_article_types"]) >= 15 and held_out["grocery_classes"]
    assert model.dimension == 256 and 1.0 < model.logit_scale <= 100.0


def test_real_photos_embed_to_unit_vectors_and_texts_rank_sensibly():
    from listingsmith.core.io import load_image

    model = AlignedImageText()
    images = model.embed_images([load_image(YOGA_BAG), load_image(VITAMIN_E)])
    assert images.shape == (2, 256) and images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, rtol=1e-5)
    texts = model.embed_texts(["a photo of a bag", "a photo of a bottle"])
    assert texts.shape == (2, 256)
    # the bag photo is closer to "bag" than the bottle photo is, and vice versa
    similarity = images @ texts.T
    assert similarity[0, 0] - similarity[0, 1] > similarity[1, 0] - similarity[1, 1]


def test_cli_tags_json_with_the_bundled_vocabulary(capsys):
    assert main(["tags", str(YOGA_BAG), "--json", "--top-k", "8"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert 0 < len(tags) <= 8
    assert all(t["source"] == "bundled:tagger" for t in tags)
    assert len({t["group"] for t in tags}) > 1
    gender = [t for t in tags if t["group"] == "gender"]
    assert len(gender) <= 1  # an exclusive group reports one tag at most


def test_cli_tags_with_a_custom_vocabulary(tmp_path, capsys):
    vocab = tmp_path / "my_tags.txt"
    vocab.write_text("yoga mat bag\nvitamin capsules\nlaptop\n", "utf-8")
    assert main(["tags", str(YOGA_BAG), "--vocab", str(vocab), "--threshold", "0", "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert [t["group"] for t in tags] == ["custom"] * 3
    assert tags[0]["name"] == "yoga mat bag"


def test_cli_tags_with_a_missing_vocabulary_names_the_file(tmp_path, capsys):
    assert main(["tags", str(YOGA_BAG), "--vocab", str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err
    assert "nope.txt: no such file" in err and err.count("\n") == 1
