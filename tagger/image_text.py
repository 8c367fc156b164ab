"""The image–text interface every tag backend implements (bundled aligner, CLIP).

Both towers map into one space where cosine similarity says how well a text describes a
photo; ``logit_scale`` is the learned temperature that turns those cosines into softmax
logits. Embeddings are L2-normalised float32 arrays, one row per input (batch in, batch out).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from listingsmith.core.io import ProductImage
from listingsmith.core.registry import ModelSpec


@runtime_checkable
class ImageTextModel(Protocol):
    spec: ModelSpec

    @property
    def logit_scale(self) -> float:
        """Multiplier of cosine similarities before a softmax (CLIP's exp(t))."""

    @property
    def dimension(self) -> int:
        """Width of the shared embedding space."""

    def embed_images(self, images: list[ProductImage]) -> np.ndarray:
        """``(len(images), dimension)`` unit vectors."""

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` unit vectors."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
