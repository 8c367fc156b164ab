"""Text -> Google Product Taxonomy: what a title, a seller field or a line of pack text says
the product is.

Two trained heads and one zero-shot signal:

- a trained head (multinomial logistic regression) on the bundled MiniLM sentence embedding,
  over the Google IDs that the shared corpora map onto (``tagger/train/text_identity.py``;
  tables in ``tagger/vocab/taxonomy_map``), fused (summed log-odds) with a linear head on hashed
  word and character n-grams (pruned, sparse), which knows the catalogues' brand and pack words;
- zero-shot similarity between the text and every node of the taxonomy (its leaf name with its
  path), so a node no corpus covers can still be named. Its share grows as the trained head's
  top probability falls: where the head is sure, the corpora decide; where it is not, the
  meaning of the words does.

The blend is a probability per node. A node's *support* is the summed probability of its
subtree; the answer is the deepest node whose support reaches the trained threshold, so weak
or split evidence backs off to "Health & Beauty" instead of guessing a wrong leaf, and no
node at all when even the top-level branch is unsure.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from listingsmith.core.errors import ListingsmithError
from listingsmith.core.registry import load_once
from tagger.taxonomy import taxonomy
from tagger.text_embed import TextEmbedder

WEIGHTS = "text_identity"
"""``tagger/weights/text_identity.npz`` (head, node embeddings) and ``.json`` (settings)."""

NODES_TEXT = "{leaf} ({path})"
"""How a node is written for the zero-shot similarity: its own name first, the path for sense."""

TOP_K = 5
NGRAM_BUCKETS = 1 << 17
"""Hashed n-gram features (word 1-2-grams, character 3-5-grams inside words) of the n-gram head."""


def ngram_features(texts: list[str], idf: np.ndarray | None = None):
    """Sparse ``(texts, NGRAM_BUCKETS)`` matrix: log(1 + count) of every hashed word 1-2-gram
    and in-word character 3-5-gram (crc32, so training and inference agree without sklearn),
    times the bucket's ``idf`` (inverse document frequency, from training) when given,
    each row scaled to unit length."""
    from scipy.sparse import csr_matrix

    rows, cols = [], []
    for row, text in enumerate(texts):
        words = re.findall(r"\w+", text.lower())
        grams = [f"w {w}" for w in words] + [f"b {a} {b}" for a, b in zip(words, words[1:])]
        for word in words:
            padded = f" {word} "
            grams += [padded[i:i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
        rows += [row] * len(grams)
        cols += [zlib.crc32(g.encode("utf-8")) % NGRAM_BUCKETS for g in grams]
    matrix = csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)),
                        shape=(len(texts), NGRAM_BUCKETS))
    matrix.sum_duplicates()
    matrix.data = np.log1p(matrix.data)
    if idf is not None:
        matrix = csr_matrix(matrix.multiply(idf[None, :]))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    return csr_matrix(matrix.multiply(1.0 / np.maximum(norms, 1e-9)[:, None]))


@dataclass(frozen=True)
class Alternative:
    google_id: int
    path: str
    probability: float


@dataclass(frozen=True)
class TextIdentity:
    """What one text says the product is."""

    google_id: int | None
    """The deepest node the evidence supports; ``None`` when no top-level branch is supported."""
    path: str
    confidence: float
    """The support of ``google_id`` (its subtree's summed probability); for ``None`` the best
    top-level branch's support."""
    leaf_id: int
    """The single most probable node (may be deeper than ``google_id``)."""
    leaf_confidence: float
    alternatives: tuple[Alternative, ...]
    """The ``TOP_K`` most probable nodes, best first."""


def node_prompt(node_id: int) -> str:
    """>>> node_prompt(2425)
    'Light Bulbs (Home & Garden > Lighting > Light Bulbs)'"""
    tax = taxonomy()
    return NODES_TEXT.format(leaf=tax.node(node_id).name, path=tax.path_text(node_id))


def weights_dir() -> Path:
    return Path(str(resources.files("tagger").joinpath("weights")))


def inverse_document_frequency(matrix) -> np.ndarray:
    """``log((1 + n) / (1 + df)) + 1`` per bucket of an n-gram matrix (sklearn's smooth idf)."""
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    return (np.log((1 + matrix.shape[0]) / (1 + df)) + 1).astype(np.float32)


def ngram_scores(texts: list[str], head: dict) -> np.ndarray:
    """The n-gram head's per-class scores (``texts x classes``): hashed n-grams times its pruned
    sparse ``(buckets x classes)`` weights, plus the intercepts."""
    return (ngram_features(texts, head["idf"]) @ head["weights"]).toarray() + head["intercept"]


def fuse(trained: np.ndarray, scores: np.ndarray | None, weight: float,
         temperature: float = 1.0) -> np.ndarray:
    """The MiniLM head's probabilities times ``exp(weight x n-gram score)``, renormalised:
    a softmax over the sum of both heads' log-odds, divided by ``temperature`` (fitted by
    out-of-fold log-loss, so the fused probabilities are calibrated)."""
    if scores is None or weight == 0:
        return trained
    logits = np.log(np.maximum(trained, 1e-12)) + weight * scores
    return softmax(logits / temperature)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@lru_cache(maxsize=4)
def subtree_matrix(node_ids: tuple[int, ...] | list[int]):
    """Sparse ``(nodes, nodes)`` 0/1 matrix, row = ancestor, column = node in its subtree
    (itself included): ``probabilities @ matrix.T`` is each node's support."""
    from scipy.sparse import csr_matrix

    tax = taxonomy()
    column = {node: i for i, node in enumerate(node_ids)}
    rows, cols = [], []
    for node in node_ids:
        for ancestor in [*tax.ancestors(node), node]:
            rows.append(column[ancestor])
            cols.append(column[node])
    return csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                      shape=(len(node_ids), len(node_ids)))


def mix(trained: np.ndarray, similarity: np.ndarray, class_columns: np.ndarray, blend: float,
        temperature: float) -> np.ndarray:
    """Per-node probabilities: the zero-shot share is ``blend`` times the trained head's
    doubt (1 - its top probability), so the corpora decide where the head is sure."""
    share = blend * (1.0 - trained.max(axis=1, keepdims=True))
    mixed = share * softmax(similarity / temperature)
    mixed[:, class_columns] += (1.0 - share) * trained
    return mixed


def deepest_supported(support: np.ndarray, depths: np.ndarray, threshold: float) -> np.ndarray:
    """Per row, the column of the deepest node with ``support >= threshold`` (ties: the better
    supported); -1 where none is."""
    score = np.where(support >= threshold, depths * 2.0 + support, -1.0)
    best = score.argmax(axis=1)
    return np.where(score[np.arange(len(best)), best] >= 0, best, -1)


class TextIdentifier:
    """``predict(texts)`` -> one ``TextIdentity`` per text; the weights load once, lazily."""

    def __init__(self, embedder: TextEmbedder | None = None):
        self.embedder = embedder or TextEmbedder()

    @property
    def model(self) -> dict:
        return load_once(self.embedder.spec, "text-identity-head", self._load)

    def _load(self) -> dict:
        folder = weights_dir()
        try:
            meta = json.loads((folder / f"{WEIGHTS}.json").read_text("utf-8"))
            arrays = dict(np.load(folder / f"{WEIGHTS}.npz", allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise ListingsmithError(f"tagger/weights/{WEIGHTS}.npz: cannot load the text identity "
                                    f"model ({exc}); run `python -m tagger.train.text_identity`") from exc
        if meta.get("embedder_files") != self.embedder.spec.files:
            raise ListingsmithError(f"tagger/weights/{WEIGHTS}.npz was trained on other text "
                                    f"embeddings than {self.embedder.spec.name!r}; run "
                                    "`python -m tagger.train.text_identity` to retrain it")
        tax = taxonomy()
        if meta.get("taxonomy_version") != tax.version:
            raise ListingsmithError(f"tagger/weights/{WEIGHTS}.npz was trained on taxonomy "
                                    f"{meta.get('taxonomy_version')}, not {tax.version}; retrain it")
        node_ids = tuple(tax.ids())
        column = {node: i for i, node in enumerate(node_ids)}
        ngrams = None
        if "ngram_data" in arrays:
            from scipy.sparse import csr_matrix

            ngrams = {"idf": arrays["ngram_idf"].astype(np.float32),
                      "intercept": arrays["ngram_intercept"].astype(np.float32),
                      "weights": csr_matrix((arrays["ngram_data"].astype(np.float32),
                                             arrays["ngram_indices"].astype(np.int32),
                                             arrays["ngram_indptr"]),
                                            shape=(NGRAM_BUCKETS, len(arrays["classes"])))}
        return {"meta": meta, "ngrams": ngrams, "coef": arrays["coef"].astype(np.float32),
                "intercept": arrays["intercept"], "nodes": arrays["nodes"].astype(np.float32),
                "node_ids": node_ids, "class_columns": np.array([column[c] for c in arrays["classes"]]),
                "depths": np.array([tax.node(n).depth for n in node_ids], dtype=np.float32)}

    def probabilities(self, vectors: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """Per-node probabilities (columns in taxonomy order) for MiniLM ``vectors`` of ``texts``
        (the n-gram head joins in when the texts are given and the weights have one)."""
        m = self.model
        trained = softmax(vectors @ m["coef"].T + m["intercept"])
        if texts is not None and m["ngrams"] is not None:
            trained = fuse(trained, ngram_scores(list(texts), m["ngrams"]),
                           m["meta"].get("ngram_weight", 0.0),
                           m["meta"].get("fused_temperature", 1.0))
        return mix(trained, vectors @ m["nodes"].T, m["class_columns"], m["meta"]["blend"],
                   m["meta"]["temperature"])

    def predict(self, texts: list[str]) -> list[TextIdentity]:
        if not texts:
            return []
        probabilities = self.probabilities(self.embedder(list(texts)), list(texts))
        return self.identities(probabilities)

    def zero_shot(self, texts: list[str], temperature: float, support: float
                  ) -> list[TextIdentity]:
        """What ``texts`` say from their similarity to the node names alone, without the trained
        head: for text unlike the corpora (a pack's lines in the open world), where the head
        is sure of itself and wrong. ``temperature`` and ``support`` are the caller's: the
        similarities alone spread differently from the blend the trained settings fit."""
        if not texts:
            return []
        similarity = self.embedder(list(texts)) @ self.model["nodes"].T
        return self.identities(softmax(similarity / temperature), support)

    def identities(self, probabilities: np.ndarray, threshold: float | None = None
                   ) -> list[TextIdentity]:
        """Per row, the deepest node whose subtree holds ``threshold`` of the probability
        (default: the trained ``support``)."""
        m = self.model
        tax = taxonomy()
        node_ids = m["node_ids"]
        support = np.asarray(probabilities @ subtree_matrix(node_ids).T)
        answers = deepest_supported(support, m["depths"],
                                    m["meta"]["support"] if threshold is None else threshold)
        top_level = m["depths"] == 1
        results = []
        for row, answer in enumerate(answers):
            order = np.argsort(-probabilities[row])[:TOP_K]
            alternatives = tuple(Alternative(node_ids[i], tax.path_text(node_ids[i]),
                                             round(float(probabilities[row, i]), 4)) for i in order)
            if answer >= 0:
                google_id, confidence = node_ids[answer], float(support[row, answer])
            else:
                google_id, confidence = None, float(support[row, top_level].max())
            results.append(TextIdentity(
                google_id, tax.path_text(google_id) if google_id is not None else "",
                round(min(confidence, 1.0), 4), alternatives[0].google_id,
                alternatives[0].probability, alternatives))
        return results
