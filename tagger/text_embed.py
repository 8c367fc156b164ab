"""Bundled MiniLM sentence embeddings (384-d, L2-normalised), batched and loaded once.

Used to compare text with text: tag vocabularies, OCR lines and category names in the
later stages; repeated phrases are embedded once per process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tagger.registry import ModelSpec, load_once, quiet_transformers, resolve, spec_for


class TextEmbedder:
    def __init__(self, spec: ModelSpec | None = None):
        self.spec = spec or spec_for("text-embedding", None)

    @property
    def model(self):
        return load_once(self.spec, "sentence-transformer", self._build)

    def _build(self):
        from sentence_transformers import SentenceTransformer

        quiet_transformers()
        folder = resolve(self.spec)
        model_dir = folder / "model" if (folder / "model").is_dir() else folder
        return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)

    def __call__(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """An ``(len(texts), 384)`` float32 array of unit vectors; cosine = dot product."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)
        return vectors.astype(np.float32)

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def cached(self, texts: tuple[str, ...]) -> np.ndarray:
        """Embeddings of a fixed vocabulary, computed once per process and embedder."""
        return _cached_embeddings(self, texts)


@lru_cache(maxsize=32)
def _cached_embeddings(embedder: TextEmbedder, texts: tuple[str, ...]) -> np.ndarray:
    vectors = embedder(list(texts))
    vectors.setflags(write=False)
    return vectors
