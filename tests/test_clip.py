"""CLIP image–text backend (``tagger.clip``).

What is verified: the code path on a tiny randomly initialised ``CLIPModel`` (vision:
32-px images in 8-px patches; text: a byte-level BPE ``CLIPTokenizer`` built here, no
download), saved with ``save_pretrained`` and loaded through a ``local:`` source like a real
checkpoint: PIL-only preprocessing, shapes and dtype, unit rows, that the embeddings are
CLIP's own projected ``image_embeds`` / ``text_embeds`` and ``logit_scale`` its own
temperature, batching, empty inputs, truncation of long texts, loading once per process,
and the one-line errors for a missing spec, a folder without a model, a model that is not
a dual encoder and an uncached hub source.
What is not: no real CLIP weights are reachable here, so tag quality (whether "red
sneaker" scores highest on a red sneaker) is untested.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tagger.clip import ClipImageText
from listingsmith.core.errors import ModelError
from tagger.image_text import ImageTextModel
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import spec_for
from listingsmith.core.types import ImageInfo

MAX_TEXT_TOKENS = 32
PROJECTION_DIM = 16


def _tiny_clip_tokenizer():
    """Byte-level BPE over single bytes plus a few merges, CLIP's special tokens last."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = [("r", "e"), ("re", "d</w>"), ("b", "l"), ("bl", "u"), ("blu", "e</w>"),
              ("s", "h"), ("sh", "o"), ("sho", "e</w>")]
    vocab = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={token: i for i, token in enumerate(vocab)}, merges=merges,
                         model_max_length=MAX_TEXT_TOKENS)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A random CLIP (~60k parameters) with a PIL image processor and a local tokenizer."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    tokenizer = _tiny_clip_tokenizer()
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37,
                         num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=MAX_TEXT_TOKENS,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                           num_hidden_layers=2, num_attention_heads=2),
        projection_dim=PROJECTION_DIM, logit_scale_init_value=2.0)
    torch.manual_seed(0)
    model = CLIPModel(config)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32},
                                            crop_size={"height": 32, "width": 32})
    folder = tmp_path_factory.mktemp("tiny-clip")
    model.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip(tiny_clip):
    return ClipImageText(spec_for("image-text", f"local:{tiny_clip}"), batch_size=2)


def _photo(width: int, height: int, seed: int) -> ProductImage:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    info = ImageInfo(source=f"photo-{seed}.png", width=width, height=height, original_mode="RGB")
    return ProductImage(source=info.source, image=Image.fromarray(pixels), info=info)


PHOTOS = [_photo(120, 80, 0), _photo(50, 90, 1), _photo(70, 70, 2)]
TEXTS = ["red shoe", "blue shoe", "a photo of a bag", ""]


def test_embeddings_are_unit_float32_rows(clip):
    images, texts = clip.embed_images(PHOTOS), clip.embed_texts(TEXTS)

    assert clip.dimension == PROJECTION_DIM
    assert images.shape == (3, PROJECTION_DIM) and texts.shape == (4, PROJECTION_DIM)
    assert images.dtype == np.float32 and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


def test_embeddings_are_clips_own_projected_embeddings(clip):
    """Same vectors and logits as CLIPModel.forward: the projection, not the hidden states."""
    import torch

    model, image_processor, tokenizer, max_length = clip.loaded
    pixels = image_processor(images=[p.image for p in PHOTOS], return_tensors="pt")
    tokens = tokenizer(TEXTS, padding="max_length", truncation=True, max_length=max_length,
                       return_tensors="pt")
    with torch.inference_mode():
        out = model(pixel_values=pixels["pixel_values"], input_ids=tokens["input_ids"],
                    attention_mask=tokens["attention_mask"])
    images, texts = clip.embed_images(PHOTOS), clip.embed_texts(TEXTS)

    assert pixels["pixel_values"].shape == (3, 3, 32, 32)
    np.testing.assert_allclose(images, out.image_embeds.numpy(), atol=1e-5)
    np.testing.assert_allclose(texts, out.text_embeds.numpy(), atol=1e-5)
    np.testing.assert_allclose(clip.logit_scale * images @ texts.T,
                               out.logits_per_image.numpy(), rtol=1e-4, atol=1e-4)


def test_logit_scale_is_exp_of_the_models_parameter(clip):
    model = clip.loaded[0]
    assert clip.logit_scale == pytest.approx(float(np.exp(model.logit_scale.item())))
    assert clip.logit_scale == pytest.approx(np.exp(2.0), rel=1e-6)
    assert isinstance(clip.logit_scale, float)


def test_batches_match_one_by_one(tiny_clip):
    spec = spec_for("image-text", f"local:{tiny_clip}")
    batched, single = ClipImageText(spec, batch_size=2), ClipImageText(spec, batch_size=1)

    one_by_one = np.concatenate([single.embed_images([p]) for p in PHOTOS])
    np.testing.assert_allclose(batched.embed_images(PHOTOS), one_by_one, atol=1e-5)
    np.testing.assert_allclose(single.embed_images(PHOTOS), one_by_one, atol=1e-6)
    texts_one_by_one = np.concatenate([single.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(batched.embed_texts(TEXTS), texts_one_by_one, atol=1e-5)


def test_different_inputs_give_different_embeddings(clip):
    images, texts = clip.embed_images(PHOTOS), clip.embed_texts(TEXTS)

    assert np.all(np.abs(images @ images.T - np.eye(3))[~np.eye(3, dtype=bool)] > 1e-4)
    assert np.all(np.abs(texts @ texts.T - np.eye(4))[~np.eye(4, dtype=bool)] > 1e-4)
    np.testing.assert_allclose(clip.embed_images(PHOTOS[:1]), images[:1], atol=1e-6)


def test_empty_inputs_give_empty_arrays_of_the_right_width(clip):
    for empty in (clip.embed_images([]), clip.embed_texts([])):
        assert empty.shape == (0, PROJECTION_DIM) and empty.dtype == np.float32


def test_long_text_is_truncated_to_the_text_tower(clip):
    long = " ".join(["red blue shoe"] * 40)
    vectors = clip.embed_texts([long, long + " extra words past the limit"])

    assert clip.loaded[3] == MAX_TEXT_TOKENS
    assert vectors.shape == (2, PROJECTION_DIM) and np.isfinite(vectors).all()
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_non_rgb_and_odd_sized_photos(clip):
    grey = _photo(33, 200, 7)
    grey = ProductImage(source="grey.png", image=grey.image.convert("L"), info=grey.info)
    vectors = clip.embed_images([grey, _photo(1, 1, 8)])
    assert vectors.shape == (2, PROJECTION_DIM) and np.isfinite(vectors).all()


def test_satisfies_the_image_text_protocol(clip):
    assert isinstance(clip, ImageTextModel)


def test_processing_is_pil_only(clip):
    from transformers.image_processing_backends import PilBackend

    assert isinstance(clip.loaded[1], PilBackend)


def test_hub_style_processor_config_still_loads_the_pil_processor(tiny_clip, tmp_path):
    """Hub CLIP folders name the torchvision class ``CLIPImageProcessor``; PIL is used anyway."""
    folder = tmp_path / "hub-style"
    shutil.copytree(tiny_clip, folder)
    config_path = folder / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    config.update(image_processor_type="CLIPImageProcessor",
                  feature_extractor_type="CLIPFeatureExtractor")
    config_path.write_text(json.dumps(config))

    hub_style = ClipImageText(spec_for("image-text", f"local:{folder}"))
    assert type(hub_style.loaded[1]).__name__ == "CLIPImageProcessorPil"
    assert hub_style.embed_images(PHOTOS[:1]).shape == (1, PROJECTION_DIM)


def test_model_loads_once_per_source(tiny_clip, tmp_path, monkeypatch):
    import transformers

    folder = tmp_path / "copy"  # a source no other test has loaded
    shutil.copytree(tiny_clip, folder)
    calls = []
    real = transformers.AutoModel.from_pretrained

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", counting)
    spec = spec_for("image-text", f"local:{folder}")
    first, second = ClipImageText(spec), ClipImageText(spec, batch_size=1)
    assert calls == []  # lazy: nothing loads until used

    first.embed_texts(["red shoe"])
    second.embed_images(PHOTOS[:1])
    assert len(calls) == 1
    assert first.loaded[0] is second.loaded[0]


def test_no_spec_names_the_source_forms():
    with pytest.raises(ModelError, match=r"hf:<id>@<revision>.*local:<dir>"):
        ClipImageText()


def test_folder_without_a_model_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    clip = ClipImageText(spec_for("image-text", f"local:{tmp_path}"))
    with pytest.raises(ModelError, match="no loadable model there") as info:
        clip.embed_texts(["red shoe"])
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)


def test_missing_folder_is_a_clear_error(tmp_path):
    clip = ClipImageText(spec_for("image-text", f"local:{tmp_path / 'nowhere'}"))
    with pytest.raises(ModelError, match="does not exist"):
        clip.embed_images(PHOTOS[:1])


def test_a_model_that_is_not_a_dual_encoder_is_refused(tmp_path):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                         num_attention_heads=1, intermediate_size=8)).save_pretrained(tmp_path)
    clip = ClipImageText(spec_for("image-text", f"local:{tmp_path}"))
    with pytest.raises(ModelError, match="BertModel is not an image–text dual encoder"):
        clip.embed_texts(["red shoe"])


def test_uncached_hub_model_names_the_local_cache():
    spec = spec_for("image-text",
                    "hf:openai/clip-vit-base-patch32@0000000000000000000000000000000000000000")
    with pytest.raises(ModelError, match="local Hugging Face cache"):
        ClipImageText(spec).embed_texts(["red shoe"])


def test_pipeline_and_cli_score_tags_with_a_clip_backend(tiny_clip, capsys):
    """The same tag vocabulary and scorer run on CLIP embeddings (``--tagger local:…``)."""
    from listingsmith.cli import main
    from tagger.pipeline import Tagger, TaggerOptions

    tagger = Tagger(tag_model=ClipImageText(spec_for("image-text", f"local:{tiny_clip}")))
    options = TaggerOptions(stages=("tags",), tag_threshold=0.0, top_k_tags=4)
    attributes = tagger.analyze([_photo(40, 30, 0), _photo(30, 40, 1)], options=options)
    assert len(attributes.tags) == 4
    assert all(t.source == f"local:{tiny_clip}" for t in attributes.tags)
    assert attributes.provenance["tags"].startswith(f"local:{tiny_clip}+")

    photo = Path(__file__).parent / "fixtures" / "abo" / "starter-yoga-bag.jpg"
    assert main(["tags", str(photo), "--tagger", f"local:{tiny_clip}", "--threshold", "0",
                 "--top-k", "3", "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert len(tags) == 3 and {t["source"] for t in tags} == {f"local:{tiny_clip}"}
