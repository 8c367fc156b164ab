"""The bundled image–text model: frozen EfficientNet-Lite0 and MiniLM towers ("locked"
towers, as in LiT) joined by two small projection heads trained here with InfoNCE.

No CLIP-style weights reach this machine, but both bundled encoders do. The heads map the
1280-d pooled image feature and the 384-d sentence embedding into one 256-d space where the
cosine says how well a text describes a photo; ``tagger/weights/aligner.md`` says on what
data they were trained and how well they do, ``python -m tagger.train.aligner`` retrains them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from torch import nn

from tagger.backbone import ImageBackbone
from listingsmith.core.errors import ModelError
from tagger.image_text import normalise
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import ModelSpec, load_once, resolve, spec_for
from tagger.text_embed import TextEmbedder

WEIGHTS = "weights/aligner.safetensors"


class ProjectionHeads(nn.Module):
    """Image head: standardise → MLP; text head: linear + a residual MLP; one temperature."""

    def __init__(self, image_dim: int = 1280, text_dim: int = 384, dim: int = 256,
                 hidden: int = 1024, dropout: float = 0.1):
        super().__init__()
        self.config = {"image_dim": image_dim, "text_dim": text_dim, "dim": dim,
                       "hidden": hidden, "dropout": dropout}
        self.register_buffer("image_mean", torch.zeros(image_dim))
        self.register_buffer("image_std", torch.ones(image_dim))
        self.image = nn.Sequential(nn.Linear(image_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                   nn.Linear(hidden, dim))
        self.text = nn.Linear(text_dim, dim)
        self.text_residual = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def embed_image_features(self, features: torch.Tensor) -> torch.Tensor:
        standardised = (features - self.image_mean) / self.image_std
        return nn.functional.normalize(self.image(standardised), dim=-1)

    def embed_text_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        projected = self.text(vectors)
        return nn.functional.normalize(projected + self.text_residual(projected), dim=-1)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.log_logit_scale.exp().clamp(max=100.0)


def save_heads(heads: ProjectionHeads, path, metadata: dict) -> None:
    """Safetensors (float16) with the head config and training facts in its metadata header."""
    from safetensors.torch import save_file

    header = {"config": json.dumps(heads.config), "training": json.dumps(metadata)}
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous()
               for k, v in heads.state_dict().items()}  # float16 on disk: half the size
    save_file(tensors, str(path), header)


def load_heads(path) -> tuple[ProjectionHeads, dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
    if "config" not in header:
        raise ModelError(f"{path}: expected aligner heads with a 'config' header, got "
                         f"keys {sorted(header)}; retrain with 'listingsmith train aligner'")
    heads = ProjectionHeads(**json.loads(header["config"]))
    heads.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return heads.eval(), json.loads(header.get("training", "{}"))


class AlignedImageText:
    """``ImageTextModel`` on the bundled towers; ``embed_features`` skips the image tower
    when the pipeline already has the photo's backbone feature."""

    def __init__(self, spec: ModelSpec | None = None, *, backbone: ImageBackbone | None = None,
                 text_embedder: TextEmbedder | None = None):
        self.spec = spec or spec_for("image-text", None)
        self.backbone = backbone or ImageBackbone()
        self.text_embedder = text_embedder or TextEmbedder()

    @property
    def heads(self) -> ProjectionHeads:
        return load_once(self.spec, "aligner-heads", self._build)[0]

    @property
    def training_facts(self) -> dict:
        return load_once(self.spec, "aligner-heads", self._build)[1]

    def _build(self) -> tuple[ProjectionHeads, dict]:
        folder = resolve(self.spec)
        return load_heads(folder / next(iter(self.spec.files)))

    @property
    def logit_scale(self) -> float:
        return float(self.heads.logit_scale.detach())

    @property
    def dimension(self) -> int:
        return int(self.heads.config["dim"])

    @torch.inference_mode()
    def embed_features(self, features: np.ndarray) -> np.ndarray:
        """Backbone features ``(n, 1280)`` → ``(n, dim)`` unit vectors."""
        features = np.asarray(features, dtype=np.float32).reshape(-1, self.heads.config["image_dim"])
        return self.heads.embed_image_features(torch.from_numpy(features)).numpy()

    def embed_images(self, images: list[ProductImage]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.embed_features(np.stack([o.features for o in self.backbone(images)]))

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = torch.from_numpy(self.text_embedder(list(texts)))
        return normalise(self.heads.embed_text_vectors(vectors).numpy())
