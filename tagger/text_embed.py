"""Bundled MiniLM sentence embeddings (384-d, L2-normalised), batched and loaded once.

Used to compare text with text: tag vocabularies, OCR lines and category names in the
later stages. The model is all-MiniLM-L6-v2 as sentence-transformers packs it (BERT, then
the mean of the token vectors, then L2 normalisation); it runs here on plain transformers,
which the pipeline imports anyway, because importing sentence-transformers costs seconds of
every cold start. ``tests/test_text_embed.py`` holds the vectors to sentence-transformers'.
"""

from __future__ import annotations

import json

import numpy as np

from listingsmith.core.registry import ModelSpec, load_once, quiet_transformers, resolve, spec_for

DEFAULT_MAX_TOKENS = 256
"""Truncation when the model folder has no ``sentence_bert_config.json`` (MiniLM's own value)."""


class TextEmbedder:
    def __init__(self, spec: ModelSpec | None = None):
        self.spec = spec or spec_for("text-embedding", None)

    @property
    def model(self):
        """(tokenizer, BERT encoder, max tokens), loaded once per process."""
        return load_once(self.spec, "mean-pooled-encoder", self._build)

    def _build(self):
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        folder = resolve(self.spec)
        model_dir = folder / "model" if (folder / "model").is_dir() else folder
        config = model_dir / "sentence_bert_config.json"
        max_tokens = (json.loads(config.read_text("utf-8")).get("max_seq_length", DEFAULT_MAX_TOKENS)
                      if config.is_file() else DEFAULT_MAX_TOKENS)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        encoder = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        return tokenizer, encoder, max_tokens

    def __call__(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """An ``(len(texts), 384)`` float32 array of unit vectors; cosine = dot product.

        Texts are batched in length order, so a batch pads little."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        tokenizer, encoder, max_tokens = self.model
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                batch = tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                                  max_length=max_tokens, return_tensors="pt")
                tokens = encoder(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                vectors[chunk] = torch.nn.functional.normalize(mean, dim=-1).numpy()
        return vectors

    @property
    def dimension(self) -> int:
        return int(self.model[1].config.hidden_size)
