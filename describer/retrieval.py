"""Nearest-neighbour describer: the listing of the training product whose attributes read most
like the query's.

The retrieval baseline for the fine-tuned describer (issue 7): a learned model has to beat
copying the closest training listing. Both sides are embedded with the bundled MiniLM from the
same one-line rendering of their attributes (``attributes_text``, the listing's own bullets),
so a seller record and a training example are compared like for like. Only the ``train``
split is indexed. The title comes from the nearest example, the description from the nearest
example that has one (fashion rows have titles only).

The index (unique rendering vectors and the row ids) is cached as ``.npz`` under
``listingsmith.core.registry.cache_dir()/describer``, keyed by data folder, sources, file sizes and
dates, the embedder and ``INDEX_VERSION``; a cache whose ids differ from the data is rebuilt.

Copied text describes another product: its sizes, brand and colours may be wrong. The
``nearest`` baseline only lets the grounding guard (``describer.guard``) cut such sentences;
``retrieve-edit`` (``RetrieveEditGenerator``) lets it rewrite them to this product's colour,
brand and quantity first (``Guard.repair``), and may read its listings from a seller's own
catalogue file instead of the shared data (``memory_examples``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from describer import prompting
from describer.data import SOURCES, Example, example_attributes, examples, source_file
from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.registry import cache_dir
from tagger.text_embed import TextEmbedder
from tagger.train.data import default_data_dir
from listingsmith.core.types import Attributes

MEMORY_TEXT_FIELDS = ("title", "description")
"""Columns of a listing-memory file that are the listing, not the product's fields."""

INDEX_VERSION = 1
"""Bump when ``attributes_text`` or the examples change, so cached vectors are rebuilt."""

_SENTENCE_END = (".", "!", "?")


@dataclass(frozen=True)
class Neighbours:
    """The training examples one query borrows from, with their cosine similarities."""

    title: Example
    title_similarity: float
    description: Example | None
    description_similarity: float


def attributes_text(attributes: Attributes) -> str:
    """One line of what the attributes say, as the listing's bullets say it.

    >>> from listingsmith.core.types import Attributes
    >>> attributes_text(Attributes(seller={"brand": "Parx", "colour": "Pink", "price": "739"}))
    'Brand: Parx; Colour: Pink'
    """
    return "; ".join(prompting.bullets(prompting.product_context(attributes)))


class NearestNeighbourGenerator:
    """Writes a listing by copying the nearest training example's title and description.

    ``Describer(NearestNeighbourGenerator())`` uses it. Its listings come from ``data``:
    the shared data folder (default ``$LISTINGSMITH_DATA`` or ``../shared/data``; the train
    split of ``sources``) or a seller's catalogue file (``memory_examples``).
    """

    name = "nearest"
    repairs_claims = False
    """A baseline copies: the Describer's guard only cuts what the copy gets wrong."""

    def __init__(self, data: Path | None = None, *, sources: tuple[str, ...] = SOURCES,
                 embedder: TextEmbedder | None = None):
        self.data = Path(data) if data is not None else default_data_dir()
        self.sources = () if self.data.is_file() else tuple(sources)
        # a seller's file is read now, so a bad line fails here, in one line
        self._memory = memory_examples(self.data) if self.data.is_file() else None
        for source in self.sources:
            source_file(self.data, source)  # a missing folder fails here, in one line
        self.embedder = embedder or TextEmbedder()
        self._index: tuple[tuple[Example, ...], np.ndarray] | None = None

    @property
    def index(self) -> tuple[tuple[Example, ...], np.ndarray]:
        """The memory's examples and their attribute vectors, loaded or built once."""
        if self._index is None:
            if self._memory is not None:
                train = self._memory
            else:
                train = tuple(e for source in self.sources
                              for e in examples(self.data, source, "train"))
            if not train:
                raise ListingsmithError(f"{self.data}: no train-split rows for "
                                        f"{', '.join(self.sources)}; check the data files")
            vectors = cached_embeddings(
                "nearest-attributes", self.data, self.sources, [e.key for e in train],
                [attributes_text(example_attributes(e)) for e in train], self.embedder)
            self._index = (train, vectors)
        return self._index

    def nearest(self, attributes: Sequence[Attributes]) -> list[Neighbours]:
        """For each product, the most similar training example, and the most similar one
        with a description."""
        if not attributes:
            return []
        train, vectors = self.index
        similarity = self.embedder([attributes_text(a) for a in attributes]) @ vectors.T
        described = np.array([bool(e.description) for e in train])
        found = []
        for row in similarity:
            best = int(np.argmax(row))
            with_text = np.where(described, row, -np.inf)
            best_text = int(np.argmax(with_text)) if described.any() else None
            found.append(Neighbours(
                train[best], float(row[best]),
                train[best_text] if best_text is not None else None,
                float(row[best_text]) if best_text is not None else 0.0))
        return found

    def write(self, attributes: Sequence[Attributes], products: Sequence[dict], *,
              tone: str = "neutral", length: str = "medium",
              deterministic: bool = True) -> tuple[list[str], list[str]]:
        """(titles, descriptions) copied from the neighbours; "" where none has a description.

        A description gets a closing full stop so that the Describer's clean-up, which drops
        an unfinished last sentence, keeps the whole copied text.
        """
        found = self.nearest(attributes)
        return ([f.title.title for f in found],
                [_with_full_stop(f.description.description) if f.description else ""
                 for f in found])


class RetrieveEditGenerator(NearestNeighbourGenerator):
    """Retrieve and edit: the nearest listing, with the colours, brands and quantities that
    belong to the other product rewritten to this one's by the Describer's guard
    (``Guard.repair``) before it cuts what is still unsupported.

    Myntra's descriptions are near-duplicates across a brand's products and differ mostly in
    those claims, so a copy that the guard would cut whole ("Grey printed sleep shirts, has a
    round neck") is kept with the product's own colour. Everything else in the copy (a
    neckline, a fabric) is still the other product's: the guard checks claims, not meaning.
    """

    name = "retrieve-edit"
    repairs_claims = True

    def write(self, attributes: Sequence[Attributes], products: Sequence[dict], *,
              tone: str = "neutral", length: str = "medium",
              deterministic: bool = True) -> tuple[list[str], list[str]]:
        """The formula titles (``prompts/titles.toml``) and the neighbours' descriptions;
        "" (the Describer's template description) where the nearest listing is less similar
        than ``retrieval.toml``'s ``min_similarity``: a product unlike anything in the memory.

        A copied title names the other product ("Deodorant Body Spray - RoMence Forever For
        Men" for a vitamin pack the tagger took for a deodorant), which no claim check
        catches; the template title states only the attributes, at a small cost in title
        ROUGE-L on the describe eval.
        """
        floor = retrieval_settings()["min_similarity"]
        texts = [_with_full_stop(found.description.description)
                 if found.description is not None and found.description_similarity >= floor
                 else "" for found in self.nearest(attributes)]
        titles = [prompting.template_title(product) for product in products]
        return titles, texts


def retrieval_settings() -> dict:
    """``describer/vocab/retrieval.toml``: the similarity below which retrieve-edit does not copy."""
    return vocab.load("describer", "vocab/retrieval.toml")


def memory_examples(path: Path) -> tuple[Example, ...]:
    """A seller's listings (``.jsonl``/``.csv`` records with ``id``, ``title``,
    ``description`` and any product fields) as retrieval examples, so ``retrieve-edit``
    writes new listings from the seller's own catalogue; every listed line is used."""
    from listingsmith.core.records import read_records

    found, problems = [], []
    for record in read_records(Path(path)):
        if record.error:
            problems.append(record.error)
            continue
        missing = [name for name in MEMORY_TEXT_FIELDS if not record.fields.get(name)]
        if missing:
            problems.append(f"line {record.line}: no {' or '.join(missing)}")
            continue
        seller = {k: v for k, v in record.fields.items() if k not in MEMORY_TEXT_FIELDS}
        found.append(Example(record.id, "memory", seller, record.fields["title"],
                             record.fields["description"], "train"))
    if problems:
        raise ListingsmithError(f"{path}: {problems[0]} ({len(problems)} bad line(s)); a "
                                "listing memory needs id, title and description on every line")
    if not found:
        raise ListingsmithError(f"{path}: no listings; a listing memory needs lines with id, "
                                "title and description")
    return tuple(found)


def _with_full_stop(text: str) -> str:
    return text if not text or text.endswith(_SENTENCE_END) else text + "."


def cached_embeddings(kind: str, data: Path, sources: tuple[str, ...], ids: list[str],
                      texts: list[str], embedder: TextEmbedder) -> np.ndarray:
    """MiniLM vectors of ``texts`` (one per id), each distinct text embedded once, cached.

    The cache file is named by ``kind``, the data folder and its source files (or the memory
    file when ``sources`` is empty), the embedder and ``INDEX_VERSION``; it is used only if
    its ids equal ``ids``.
    """
    path = _cache_path(kind, data, sources, embedder)
    if path.is_file():
        with np.load(path) as stored:
            if stored["ids"].tolist() == list(ids):
                return stored["unique"][stored["rows"]]
    unique = list(dict.fromkeys(texts))
    position = {text: i for i, text in enumerate(unique)}
    rows = np.array([position[text] for text in texts], dtype=np.int32)
    vectors = embedder(unique)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, ids=np.array(ids), unique=vectors, rows=rows)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return vectors[rows]


def _cache_path(kind: str, data: Path, sources: tuple[str, ...],
                embedder: TextEmbedder) -> Path:
    digest = hashlib.sha256()
    parts = [kind, str(Path(data).resolve()), str(INDEX_VERSION), embedder.spec.source]
    files = [(s, source_file(data, s)) for s in sources] if sources else [("memory", Path(data))]
    for source, path in files:
        stat = path.stat()
        parts += [source, str(stat.st_size), str(stat.st_mtime_ns)]
    digest.update("\n".join(parts).encode())
    return cache_dir() / "describer" / f"{kind}-{digest.hexdigest()[:16]}.npz"
