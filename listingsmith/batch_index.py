"""What a batch run's embeddings are for: near-duplicate pairs for a person to check, and an
index of the listings that ``similar`` searches with a new product's photos."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from describer.export import replace_atomically, safe_cell
from listingsmith.batch_state import SIDE_FILES, side_file
from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError

DUPLICATE_SIMILARITY = vocab.load("listingsmith.core", "vocab/batch.toml")["duplicates"][
    "similarity"]
"""Products whose embeddings have at least this cosine are reported as near-duplicates
(``core/vocab/batch.toml`` says how it was chosen)."""


def near_duplicates(ids: list[str], embeddings: np.ndarray,
                    threshold: float = DUPLICATE_SIMILARITY,
                    block: int = 1024) -> list[tuple[str, str, float]]:
    """(id, id, cosine) of every pair at ``threshold`` or above, most similar first; the
    similarity matrix is built ``block`` rows at a time, so memory stays flat."""
    pairs = []
    for start in range(0, len(ids), block):
        similarity = embeddings[start:start + block] @ embeddings.T
        for row, column in zip(*np.nonzero(similarity >= threshold)):
            if column > start + row:
                pairs.append((ids[start + row], ids[column],
                              round(min(1.0, float(similarity[row, column])), 4)))
    return sorted(pairs, key=lambda pair: -pair[2])


def write_duplicates(pairs: list[tuple[str, str, float]], path: Path) -> Path | None:
    """The pairs as a CSV for a person to check (ids escaped against spreadsheet formulas);
    None, and no file, when there are none."""
    if not pairs:
        path.unlink(missing_ok=True)
        return None

    def write(staging: Path) -> None:
        with open(staging, "x", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id_a", "id_b", "similarity"])
            writer.writerows([safe_cell(a), safe_cell(b), f"{similarity:.4f}"]
                             for a, b, similarity in pairs)

    return replace_atomically(path, write)


def write_index(path: Path, ids: list[str], titles: list[str], embeddings: np.ndarray,
                model: str) -> Path:
    """The ids, titles and embeddings of the listings, with the ``model`` (its source) that
    embedded them: ``similar`` refuses to compare photos embedded by another."""

    def write(staging: Path) -> None:
        with open(staging, "xb") as handle:
            np.savez(handle, ids=np.array(ids, dtype=str), titles=np.array(titles, dtype=str),
                     embeddings=embeddings.astype(np.float32), model=np.array(model))

    return replace_atomically(path, write)


@dataclass(frozen=True)
class SimilarListing:
    id: str
    title: str
    similarity: float


def similar(photo_paths: list[str | Path], index: str | Path, top_k: int = 5,
            tagger=None) -> list[SimilarListing]:
    """The ``top_k`` listings of a batch output most like the product in the photos, best
    first. ``index`` is the batch output (its index is beside it) or the index file itself."""
    from listingsmith.core.io import load_image
    from tagger.pipeline import Tagger
    from tagger.tags import product_embedding

    index = Path(index)
    if not index.name.endswith(SIDE_FILES["index"]):
        index = side_file(index, "index")
    try:
        with np.load(index, allow_pickle=False) as data:
            ids, titles = data["ids"].tolist(), data["titles"].tolist()
            embeddings, model = data["embeddings"], str(data["model"])
    except (OSError, ValueError, KeyError) as exc:
        raise ListingsmithError(f"{index}: not a readable listing index ({exc}); run "
                                "'listingsmith batch' to write one") from exc
    if not ids:
        raise ListingsmithError(f"{index}: holds no listings; run 'listingsmith batch' on "
                               "products first")
    tagger = tagger or Tagger()
    if model != tagger.tag_model.spec.source:
        raise ListingsmithError(f"{index}: built with {model}, but photos are now embedded with "
                                f"{tagger.tag_model.spec.source}; run 'listingsmith batch' again")
    query = product_embedding(tagger.image_embeddings([load_image(path) for path in photo_paths]))
    scores = embeddings @ query
    best = np.argsort(-scores, kind="stable")[:top_k]
    return [SimilarListing(ids[i], titles[i], round(float(scores[i]), 4)) for i in best]
