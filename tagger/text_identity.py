"""Text -> Google Product Taxonomy: what a title, a seller field or a line of pack text says
the product is.

Two signals over the bundled MiniLM sentence embedding of the text:

- a trained head (multinomial logistic regression) over the Google IDs that the shared
  corpora map onto (``tagger/train/text_identity.py``; tables in ``tagger/vocab/taxonomy_map``);
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
        return {"meta": meta, "coef": arrays["coef"].astype(np.float32),
                "intercept": arrays["intercept"], "nodes": arrays["nodes"].astype(np.float32),
                "node_ids": node_ids, "class_columns": np.array([column[c] for c in arrays["classes"]]),
                "depths": np.array([tax.node(n).depth for n in node_ids], dtype=np.float32)}

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Per-node probabilities (columns in taxonomy order) for MiniLM ``vectors``."""
        m = self.model
        trained = softmax(vectors @ m["coef"].T + m["intercept"])
        return mix(trained, vectors @ m["nodes"].T, m["class_columns"], m["meta"]["blend"],
                   m["meta"]["temperature"])

    def predict(self, texts: list[str]) -> list[TextIdentity]:
        if not texts:
            return []
        probabilities = self.probabilities(self.embedder(list(texts)))
        return self.identities(probabilities)

    def identities(self, probabilities: np.ndarray) -> list[TextIdentity]:
        m = self.model
        tax = taxonomy()
        node_ids = m["node_ids"]
        support = np.asarray(probabilities @ subtree_matrix(node_ids).T)
        answers = deepest_supported(support, m["depths"], m["meta"]["support"])
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
