"""CLIP-style image–text embeddings from a Hugging Face checkpoint (an ``ImageTextModel``).

Any ``transformers`` model that ``AutoModel`` loads and that exposes
``get_image_features`` / ``get_text_features`` works: CLIP (``CLIPModel``) is the target;
SigLIP-like dual encoders load too, but they were trained with a sigmoid loss and a
``logit_bias`` that this interface ignores, so their softmax scores are only a ranking.

No CLIP model is registered by default (the bundled aligner is the default for task
``image-text``): a hub model cannot be pinned to a verified commit offline, so the caller
supplies the source, e.g. ``spec_for("image-text", "hf:openai/clip-vit-base-patch32@<commit>")``
for a model already in the local Hugging Face cache, or ``"local:<dir>"`` for a folder
written by ``save_pretrained`` (model, image processor and tokenizer).

Images are preprocessed by the PIL backend of the checkpoint's image processor (e.g.
``CLIPImageProcessorPil``), so torchvision is never needed and results do not change with
whether it is installed. Texts are padded and truncated to the text tower's maximum length.

Tested only on a tiny randomly initialised CLIP (the code path: loading, batching, shapes,
normalisation); no real CLIP weights are reachable here, so tag quality is unverified.
"""

from __future__ import annotations

import numpy as np
import torch

from listingsmith.core.errors import ModelError, ValidationError
from tagger.image_text import normalise
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import ModelSpec, load_once, quiet_transformers, resolve

DEFAULT_LOGIT_SCALE = 100.0
"""CLIP's trained temperature (exp(t) clamped at 100), used when a model has none."""


class ClipImageText:
    """A dual-encoder checkpoint from a caller-supplied spec; loaded lazily, once per process."""

    def __init__(self, spec: ModelSpec | None = None, *, allow_network: bool = False,
                 batch_size: int = 16):
        if spec is None:
            raise ModelError("no CLIP model given: pass a source such as "
                             "'hf:<id>@<revision>' (from the local Hugging Face cache) or "
                             "'local:<dir>' (a folder written by save_pretrained)")
        if batch_size < 1:
            raise ValidationError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.spec = spec
        self.allow_network = allow_network
        self.batch_size = batch_size

    @property
    def loaded(self) -> tuple:
        """``(model, image_processor, tokenizer, max_text_length)``, built on first use."""
        return load_once(self.spec, "clip", self._build)

    def _build(self):
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        quiet_transformers()
        folder = resolve(self.spec, allow_network=self.allow_network)
        where = f"model {self.spec.name!r} ({folder})"
        try:
            model = AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{where}: no loadable model there ({_first_line(exc)}); expected "
                             "a folder written by save_pretrained") from exc
        if not (callable(getattr(model, "get_image_features", None))
                and callable(getattr(model, "get_text_features", None))):
            raise ModelError(f"{where}: {type(model).__name__} is not an image–text dual "
                             "encoder (no get_image_features / get_text_features); use a "
                             "CLIP-style checkpoint")
        try:
            image_processor = AutoImageProcessor.from_pretrained(
                folder, local_files_only=True, backend="pil")
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise ModelError(f"{where}: image processor or tokenizer missing "
                             f"({_first_line(exc)}); save them with the model") from exc
        return model.to("cpu").eval(), image_processor, tokenizer, _max_text_length(model,
                                                                                    tokenizer)

    @property
    def model(self):
        return self.loaded[0]

    @property
    def logit_scale(self) -> float:
        scale = getattr(self.model, "logit_scale", None)
        if isinstance(scale, torch.Tensor):
            return float(scale.detach().exp())
        return DEFAULT_LOGIT_SCALE

    @property
    def dimension(self) -> int:
        return _embedding_width(self.model.config)

    def embed_images(self, images: list[ProductImage]) -> np.ndarray:
        model, image_processor, _, _ = self.loaded
        batches = []
        for start in range(0, len(images), self.batch_size):
            batch = [img.image.convert("RGB") for img in images[start:start + self.batch_size]]
            pixels = image_processor(images=batch, return_tensors="pt")["pixel_values"]
            batches.append(self._features(model.get_image_features, pixel_values=pixels))
        return self._stack(batches)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        model, _, tokenizer, max_length = self.loaded
        batches = []
        for start in range(0, len(texts), self.batch_size):
            tokens = tokenizer(list(texts[start:start + self.batch_size]), padding="max_length",
                               truncation=True, max_length=max_length, return_tensors="pt")
            inputs = {k: v for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
            batches.append(self._features(model.get_text_features, **inputs))
        return self._stack(batches)

    @torch.inference_mode()
    def _features(self, method, **inputs) -> np.ndarray:
        output = method(**inputs)
        if not isinstance(output, torch.Tensor):
            # transformers 5 returns a BaseModelOutputWithPooling whose pooler_output is
            # the projected embedding; older releases returned the tensor itself.
            pooled = getattr(output, "pooler_output", None)
            if pooled is None:
                raise ModelError(f"model {self.spec.name!r}: {type(output).__name__} from "
                                 f"{method.__name__} has no pooled embedding")
            output = pooled
        return output.float().cpu().numpy()

    def _stack(self, batches: list[np.ndarray]) -> np.ndarray:
        if not batches:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return normalise(np.concatenate(batches, axis=0))


def _embedding_width(config) -> int:
    """The shared space's width: CLIP's projection_dim, else the text tower's output width."""
    width = getattr(config, "projection_dim", None)
    if width:
        return int(width)
    text = getattr(config, "text_config", None)
    for name in ("projection_size", "hidden_size"):
        width = getattr(text, name, None)
        if width:
            return int(width)
    raise ModelError(f"{type(config).__name__}: cannot tell the embedding width")


def _max_text_length(model, tokenizer) -> int:
    """Texts are cut to the position-embedding table (the tokenizer's limit may be a sentinel)."""
    text = getattr(model.config, "text_config", model.config)
    limits = [getattr(text, "max_position_embeddings", None),
              getattr(tokenizer, "model_max_length", None)]
    limits = [int(n) for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(limits) if limits else 77


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
