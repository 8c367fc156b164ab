"""Listings for a whole catalogue: a folder of photos or a CSV/JSONL of products in, one listing
per product out, resumable.

The job's state is a SQLite file beside the output (``OUT.state.sqlite``): every input row is
pending, done or failed (with the reason), and each chunk's results are committed in one
transaction, so a killed run loses at most the chunks in flight and running the same command
again carries on where it stopped. The outputs are written from that state at the end, in
input order, each in one step: the listings, the failed rows as a CSV the seller can fix and
feed back, near-duplicate pairs, and an embedding index for ``similar``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from itertools import groupby
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from describer.export import (catalogue_format, check_catalogue_values, replace_atomically,
                              safe_cell, write_catalogue)
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.io import is_url

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
"""Files a folder input treats as photos; anything else in it (notes, metadata) is ignored."""

ID_COLUMNS = ("id", "product_id", "sku")
"""The first of these in a CSV/JSONL is the product id; the others stay seller fields."""

IMAGE_COLUMNS = ("image", "images", "image_path", "image_paths")
"""Columns holding photo paths: one path, several separated by ``|`` or ``;``, or a JSON list."""

ERROR_COLUMN = "error"
"""The failures file's reason column; ignored on input, so the file can be fed back as is."""

ENGINES = ("local", "ray")

DUPLICATE_SIMILARITY = 0.9
"""Products whose embeddings (the bundled aligner's, mean over photos) have at least this
cosine are reported as near-duplicates. Measured, not guessed: the same photo gives 1.0;
re-saved at JPEG quality 40, halved or cropped by 5%, the 12 ABO fixture photos give a median
0.97 and 32 of 36 copies reach 0.9 (the misses: one photo whose embedding moves under every
edit, 0.61-0.74, and one crop, 0.81); different ABO products give at most 0.50 (photos) and
0.38 (products); 19,213 pairs of different grocery products at most 0.86; but 0.26% of 79,800
pairs of different fashion studio shots reach 0.9 (look-alikes such as sunglasses cases, up
to 0.987), which the pairs file lists for a person to check."""

SIDE_FILES = {"state": ".state.sqlite", "failures": ".failures.csv",
              "duplicates": ".duplicates.csv", "index": ".index.npz"}
"""What sits beside ``OUT``: ``OUT.state.sqlite`` and so on."""

_PATH_SEPARATORS = re.compile(r"\s*[|;]\s*")
STATE_VERSION = 1


def side_file(out: str | Path, kind: str) -> Path:
    """The ``kind`` (a ``SIDE_FILES`` key) file of output ``out``."""
    out = Path(out)
    return out.with_name(out.name + SIDE_FILES[kind])


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class Product:
    """One input row: its id, its photos as the input wrote them (relative to ``root``), the
    seller's fields, and why it cannot be processed (None when it can).

    ``key`` names the row in the job state: the id, or for a row whose id is missing or
    repeated, the id and ``origin`` (``line 7``, or the folder entry) that tell it apart."""

    id: str
    image_paths: tuple[str, ...]
    seller: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    root: str = ""
    origin: str = ""
    key: str = ""

    def photo_files(self) -> list[str | Path]:
        return [path if is_url(path) else Path(self.root, path) for path in self.image_paths]


def read_products(source: str | Path, *, allow_outside_root: bool = False,
                  allow_remote: bool = False) -> list[Product]:
    """The products of a folder (each sub-folder one product with every photo inside it, each
    photo at the top one product; ids are the names) or of a ``.csv``/``.jsonl`` whose photo
    paths are relative to its folder. A bad row becomes a ``Product`` with an ``error``; a
    photo path outside the input folder is one unless ``allow_outside_root``, a web address
    unless ``allow_remote``."""
    source = Path(source)
    if source.is_dir():
        rows = _folder_rows(source)
    elif source.is_file() and source.suffix.lower() in (".csv", ".jsonl"):
        rows = _csv_rows(source) if source.suffix.lower() == ".csv" else _jsonl_rows(source)
    else:
        raise ListingsmithError(f"{source}: expected a folder of photos or a .csv/.jsonl of "
                                "products; check the path")
    root = input_root(source)
    return _checked([replace(row, root=str(root)) for row in rows], root, allow_outside_root,
                    allow_remote)


def input_root(source: str | Path) -> Path:
    """The folder photo paths are relative to, and must stay inside: the input folder, or
    the folder of the CSV/JSONL."""
    source = Path(source).resolve()
    return source if source.is_dir() else source.parent


def _folder_rows(folder: Path) -> list[Product]:
    rows = []
    for entry in sorted(folder.iterdir(), key=lambda path: path.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            photos = sorted(path.relative_to(folder).as_posix() for path in _photos_under(entry))
            error = None if photos else "no photos inside; add .jpg or .png files or remove it"
            rows.append(Product(entry.name, tuple(photos), error=error, origin=f"{entry.name}/"))
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            rows.append(Product(entry.stem, (entry.name,), origin=entry.name))
    return rows


def _photos_under(folder: Path) -> Iterator[Path]:
    """Photo files under ``folder``, hidden ones and symlinked folders left out."""
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(parent, name)


def _csv_rows(path: Path) -> list[Product]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [str(name).strip().lower() for name in reader.fieldnames or []]
        if not any(name in columns for name in ID_COLUMNS):
            raise ListingsmithError(f"{path}: no id column; name one of {', '.join(ID_COLUMNS)}")
        if not any(name in columns for name in IMAGE_COLUMNS):
            raise ListingsmithError(f"{path}: no photo column; name one of "
                                    f"{', '.join(IMAGE_COLUMNS)} (paths relative to the file)")
        return [_record_row(f"line {number}", {str(key).strip().lower(): value
                                                for key, value in row.items() if key is not None})
                for number, row in enumerate(reader, start=2)]


def _jsonl_rows(path: Path) -> list[Product]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            origin = f"line {number}"
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                rows.append(Product("", (), error=f"not valid JSON ({exc.msg}); fix the line",
                                    origin=origin))
                continue
            if not isinstance(data, dict):
                rows.append(Product("", (), error=f"expected a JSON object, got "
                                                  f"{type(data).__name__}", origin=origin))
                continue
            rows.append(_record_row(origin, {str(k).strip().lower(): v for k, v in data.items()}))
    return rows


def _record_row(origin: str, data: dict) -> Product:
    """A product from one record: the id column, the photo columns, the rest seller fields."""
    id_column = next((name for name in ID_COLUMNS if name in data), None)
    identifier = "" if id_column is None or data[id_column] is None else str(data[id_column])
    paths: list[str] = []
    error = None
    for column in IMAGE_COLUMNS:
        value = data.get(column)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            paths += [item.strip() for item in value if item.strip()]
        elif isinstance(value, str):
            paths += [item for item in _PATH_SEPARATORS.split(value.strip()) if item]
        elif value is not None:
            error = f"'{column}': expected a path, paths separated by | or a list of paths"
    seller = {}
    for key, value in data.items():
        if key in (id_column, ERROR_COLUMN, *IMAGE_COLUMNS) or value is None:
            continue
        text = (json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list))
                else str(value))
        if text.strip():
            seller[key] = text.strip()
    return Product(identifier.strip(), tuple(paths), seller, error, origin=origin)


def _checked(rows: list[Product], root: Path, allow_outside_root: bool,
             allow_remote: bool) -> list[Product]:
    """Rows with their ``key`` and the first problem of each in ``error``, prefixed by where
    the row is: a missing or repeated id, no photos, a remote or outside path."""
    first_seen: dict[str, Product] = {}
    checked = []
    for row in rows:
        problem = row.error
        if not row.id and problem is None:
            problem = f"no product id; fill in the {'/'.join(ID_COLUMNS)} column"
        if row.id and row.id in first_seen:
            problem = (f"duplicate id, first on {first_seen[row.id].origin}; give each product "
                       "its own id")
            key = f"{row.id} ({row.origin})"
        elif row.id:
            first_seen[row.id] = row
            key = row.id
        else:
            key = f"({row.origin})"
        if problem is None and not row.image_paths:
            problem = f"no photos; list them in the {'/'.join(IMAGE_COLUMNS)} column"
        problem = problem or next(filter(None, (_path_problem(path, root, allow_outside_root,
                                                              allow_remote)
                                                for path in row.image_paths)), None)
        checked.append(replace(row, key=key, error=problem and f"{row.origin}: {problem}"))
    return checked


def _path_problem(path: str, root: Path, allow_outside_root: bool,
                  allow_remote: bool) -> str | None:
    if is_url(path):
        return None if allow_remote else (f"{path}: remote photos are fetched only with "
                                          "--allow-remote; or download them first")
    if not allow_outside_root and not Path(root, path).resolve().is_relative_to(root):
        return (f"{path}: outside the input folder {root}; move the photo into it or pass "
                "--allow-outside-root")
    return None


# --------------------------------------------------------------------------- processing


@dataclass(frozen=True)
class BatchSettings:
    """What the listings depend on. A job remembers them: resuming with others would mix
    two kinds of listing in one output."""

    generator: str | None = None
    """As for ``describer_for``: template, nearest, a registered name or a model source."""
    tone: str = "neutral"
    length: str = "medium"
    taxonomy: str | None = None
    allow_network: bool = False
    allow_remote: bool = False
    """Fetch ``http(s)://`` photos (time and size limits in ``listingsmith.core.io``)."""
    memory: str | None = None
    """Listings the retrieval generators copy from (``describer_for``)."""

    def fingerprint(self) -> dict[str, str | None]:
        memory = {"memory": self.memory} if self.memory else {}  # older jobs have no key
        return {"generator": self.generator, "tone": self.tone, "length": self.length,
                "taxonomy": self.taxonomy, **memory}

    def check(self) -> None:
        """Refuse a bad choice before any product is read, with a one-line error."""
        from describer.pipeline import TEMPLATE_GENERATOR
        from describer.prompting import check_choice
        from describer.retrieval import RETRIEVAL_GENERATORS, memory_examples
        from tagger.classify import SHIPPED, load_category_model
        from listingsmith.core.errors import ListingsmithError
        from listingsmith.core.registry import spec_for

        check_choice("tones", self.tone)
        check_choice("lengths", self.length)
        if self.memory is not None:
            if self.generator not in (None, *RETRIEVAL_GENERATORS):
                raise ListingsmithError(f"--memory: only {' and '.join(RETRIEVAL_GENERATORS)} "
                                        f"read a listing memory, got --generator "
                                        f"{self.generator}; drop one of them")
            if Path(self.memory).is_file():
                memory_examples(Path(self.memory))
        elif self.generator not in (TEMPLATE_GENERATOR, *RETRIEVAL_GENERATORS):
            spec_for("text-generation", self.generator)
        if self.taxonomy is not None and self.taxonomy not in SHIPPED:
            load_category_model(self.taxonomy)


@dataclass(frozen=True)
class ProductResult:
    """One product's outcome: the listing (as ``Listing.to_dict``) or why it failed, and its
    embedding (the normalised mean of its photos') for duplicates and ``similar``."""

    id: str
    listing: dict | None = None
    error: str | None = None
    embedding: list[float] | None = None


class ListingProcessor:
    """The models of one worker: a chunk of products in, one ``ProductResult`` each out.

    Models load on first use and stay for the process. Each product's photos go through the
    tagger together; the chunk's listings are written in one generation batch. A product
    that fails (no readable photo, an exception) fails alone, with the reason."""

    def __init__(self, settings: BatchSettings = BatchSettings(), *, tagger=None,
                 describer=None, options=None, lock: AbstractContextManager | None = None):
        from describer.pipeline import describer_for
        from tagger.pipeline import Tagger, TaggerOptions

        self.settings = settings
        self.tagger = tagger or Tagger()
        memory = Path(settings.memory) if settings.memory else None
        self.describer = describer or describer_for(settings.generator,
                                                    allow_network=settings.allow_network,
                                                    memory=memory)
        self.options = options or TaggerOptions(taxonomy=settings.taxonomy)
        self.lock = lock or nullcontext()
        """Held for a whole chunk when the models are shared with other callers (the app)."""

    def __call__(self, products: list[Product]) -> list[ProductResult]:
        with self.lock:
            results: dict[str, ProductResult] = {}
            analysed = []
            for product in products:
                try:
                    analysed.append((product, *self._analyse(product)))
                except Exception as exc:  # one product's failure must not lose the chunk
                    results[product.key] = ProductResult(product.id, error=failure_reason(exc))
            listings = self._listings([attributes for _, attributes, _ in analysed])
            for (product, _, embedding), listing in zip(analysed, listings):
                try:
                    if isinstance(listing, Exception):
                        raise listing
                    check_catalogue_values(listing)
                    results[product.key] = ProductResult(product.id, listing.to_dict(),
                                                         embedding=embedding.tolist())
                except Exception as exc:
                    results[product.key] = ProductResult(product.id, error=failure_reason(exc))
        return [results[product.key] for product in products]

    def _analyse(self, product: Product):
        """The product's attributes (unreadable photos noted as warnings) and embedding."""
        from listingsmith.core.errors import ImageLoadError
        from listingsmith.core.io import load_image
        from tagger.tags import product_embedding
        from listingsmith.core.types import QualityWarning

        images, unreadable = [], []
        for file, shown in zip(product.photo_files(), product.image_paths):
            try:
                image = load_image(file, allow_remote=self.settings.allow_remote)
            except ImageLoadError as exc:
                unreadable.append(f"{shown}: {exc.reason}")
                continue
            # named as the input wrote it: listings never show where the server keeps files
            images.append(replace(image, source=shown, info=replace(image.info, source=shown)))
        if not images:
            raise ListingsmithError("; ".join(unreadable))
        attributes = self.tagger.analyze(images, seller=product.seller, options=self.options)
        attributes.warnings += [QualityWarning("unreadable_photo", message)
                                for message in unreadable]
        # the backbone outputs are cached on the photos: this runs the small head only
        return attributes, product_embedding(self.tagger.image_embeddings(images))

    def _listings(self, attributes: list) -> list:
        """Listings in one batch; if the batch fails, one by one, each failure its own."""
        settings = self.settings
        try:
            return self.describer.describe(attributes, tone=settings.tone,
                                           length=settings.length)
        except Exception:
            listings = []
            for one in attributes:
                try:
                    listings += self.describer.describe([one], tone=settings.tone,
                                                        length=settings.length)
                except Exception as exc:
                    listings.append(exc)
            return listings


def failure_reason(exc: Exception) -> str:
    """One line: our own errors as they are, anything else marked as a bug."""
    text = str(exc) if isinstance(exc, ListingsmithError) else \
        f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


Processor = Callable[[list[Product]], list[ProductResult]]


def local_results(settings: BatchSettings, chunks: list[list[Product]], workers: int,
                  processor: Processor | None = None) -> Iterator[list[ProductResult]]:
    """Each chunk's results as it finishes: in this process, or in ``workers`` spawned
    processes that each load the models once (the results come back here to be recorded)."""
    if workers <= 1:
        processor = processor or ListingProcessor(settings)
        for chunk in chunks:
            yield processor(chunk)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                               initializer=_start_worker, initargs=(settings, threads))
    queue, running = iter(chunks), set()
    try:
        for chunk in queue:  # two chunks per worker in flight: enough to keep each busy
            running.add(pool.submit(_process_in_worker, chunk))
            if len(running) >= 2 * workers:
                break
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                chunk = next(queue, None)
                if chunk is not None:
                    running.add(pool.submit(_process_in_worker, chunk))
    except BrokenProcessPool as exc:
        raise ListingsmithError("a worker process died (out of memory?); finished products are "
                                "saved: run the same command again, with fewer --workers") from exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


_worker_processor: ListingProcessor | None = None


def _start_worker(settings: BatchSettings, threads: int) -> None:
    global _worker_processor
    _worker_processor = worker_processor(settings, threads)


def worker_processor(settings: BatchSettings, threads: int) -> ListingProcessor:
    """A processor for one of several workers, limited to its share of the cores for torch
    and for OCR's onnxruntime (which ignores OMP_NUM_THREADS): workers that each take every
    core slow each other down."""
    import torch

    from tagger.ocr import OcrEngine
    from tagger.pipeline import Tagger

    torch.set_num_threads(min(torch.get_num_threads(), threads))  # OMP_NUM_THREADS still caps
    return ListingProcessor(settings, tagger=Tagger(ocr=OcrEngine(threads=threads)))


def _process_in_worker(chunk: list[Product]) -> list[ProductResult]:
    return _worker_processor(chunk)


# --------------------------------------------------------------------------- job state


class JobState:
    """The SQLite file beside an output: one row per input row (pending, done or failed, the
    reason, the listing, the embedding) and the settings the job was started with."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a killed process loses nothing committed; only a power cut may
            # lose the last chunks, and then they are simply pending again
            self.db.execute("PRAGMA synchronous=NORMAL")
            with self.db:
                self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
                                "value TEXT NOT NULL)")
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, id TEXT NOT NULL, "
                    "position INTEGER NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL "
                    "CHECK (status IN ('pending', 'done', 'failed')), reason TEXT, result TEXT, "
                    "embedding BLOB)")
        except sqlite3.DatabaseError as exc:
            raise ListingsmithError(f"{path}: cannot keep the job state there ({exc}); make the "
                                    "folder writable, or pass --restart if the file is damaged"
                                    ) from exc

    def __enter__(self) -> JobState:
        return self

    def __exit__(self, *exc_info) -> None:
        self.db.close()

    def claim(self, job: dict) -> None:
        """Remember ``job`` (input and settings), or refuse if the state is another job's."""
        job = {"state_version": STATE_VERSION, **job}
        row = self.db.execute("SELECT value FROM meta WHERE key = 'job'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('job', ?)", (json.dumps(job),))
            return
        started = json.loads(row[0])
        changed = [f"{key} {started.get(key)!r} (now {value!r})" for key, value in job.items()
                   if started.get(key) != value]
        if changed:
            raise ListingsmithError(
                f"{self.path}: this output was started with {', '.join(changed)}; pass "
                "--restart to start over or choose another --out")

    def sync(self, products: list[Product]) -> None:
        """Make the rows those of ``products``, in their order. A done row whose input is
        unchanged stays done; rows with an input problem are failed; all others (new,
        changed, failed before) become pending. Rows no longer in the input are dropped."""
        known = {key: (given, status) for key, given, status in
                 self.db.execute("SELECT key, input, status FROM rows")}
        with self.db:
            self.db.executemany("DELETE FROM rows WHERE key = ?",
                                [(key,) for key in set(known) - {p.key for p in products}])
            for position, product in enumerate(products):
                given = json.dumps({"images": list(product.image_paths), "seller": product.seller},
                                   ensure_ascii=False, sort_keys=True)
                if product.error is None and known.get(product.key) == (given, "done"):
                    self.db.execute("UPDATE rows SET position = ? WHERE key = ?",
                                    (position, product.key))
                    continue
                status = "pending" if product.error is None else "failed"
                self.db.execute("INSERT OR REPLACE INTO rows (key, id, position, input, status, "
                                "reason) VALUES (?, ?, ?, ?, ?, ?)",
                                (product.key, product.id, position, given, status, product.error))

    def pending(self) -> list[tuple[str, int]]:
        """(key, position) of every pending row, in input order."""
        return self.db.execute("SELECT key, position FROM rows WHERE status = 'pending' "
                               "ORDER BY position").fetchall()

    def record(self, results: Iterable[ProductResult]) -> None:
        """Store the results of pending rows (whose key is their id), in one transaction: a
        kill leaves all of them or none."""
        with self.db:
            for result in results:
                if result.error is None:
                    embedding = np.asarray(result.embedding, dtype=np.float32).tobytes()
                    self.db.execute("UPDATE rows SET status = 'done', reason = NULL, result = ?, "
                                    "embedding = ? WHERE key = ?",
                                    (json.dumps(result.listing, ensure_ascii=False), embedding,
                                     result.id))
                else:
                    self.db.execute("UPDATE rows SET status = 'failed', reason = ?, "
                                    "result = NULL, embedding = NULL WHERE key = ?",
                                    (result.error, result.id))

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM rows GROUP BY status"))

    def done(self) -> list[tuple[str, str, bytes]]:
        """(id, listing JSON, embedding) of the done rows, in input order."""
        return self.db.execute("SELECT id, result, embedding FROM rows WHERE status = 'done' "
                               "ORDER BY position").fetchall()

    def failed(self) -> list[tuple[str, str, str]]:
        """(id, reason, input JSON) of the failed rows, in input order."""
        return self.db.execute("SELECT id, reason, input FROM rows WHERE status = 'failed' "
                               "ORDER BY position").fetchall()


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class BatchJob:
    """One ``listingsmith batch`` run: the input, where the listings go and how to make them."""

    input: Path
    out: Path
    format: str | None = None
    """One of ``CATALOGUE_FORMATS``; None: from the suffix of ``out``."""
    settings: BatchSettings = BatchSettings()
    engine: str = "local"
    workers: int = 1
    batch_size: int = 8
    address: str | None = None
    """A Ray cluster to join (``--engine ray``); None starts one on this machine."""
    restart: bool = False
    allow_outside_root: bool = False


@dataclass(frozen=True)
class BatchSummary:
    """What a run left: ``total`` rows = ``done`` + ``failed``, of which ``processed`` in this
    run and ``done_earlier`` skipped; the side files written (None: nothing to report)."""

    out: Path
    total: int
    done: int
    failed: int
    processed: int
    done_earlier: int
    failures: list[tuple[str, str]]
    """(id, reason) per failed row, in input order."""
    failures_file: Path | None
    duplicates_file: Path | None
    duplicate_pairs: int


Progress = Callable[[int, int], None]
"""Called with (products processed so far in this run, products to process)."""


def run_batch(job: BatchJob, *, processor: Processor | None = None,
              progress: Progress | None = None) -> BatchSummary:
    """Process the job's pending rows and write its outputs. ``processor`` replaces the
    local engine's own (the app passes one that shares its loaded models)."""
    out = Path(job.out)
    for name, value in (("--batch-size", job.batch_size), ("--workers", job.workers)):
        if value < 1:
            raise ListingsmithError(f"{name}: expected 1 or more, got {value}")
    if job.engine not in ENGINES:
        raise ListingsmithError(f"engine: expected one of {', '.join(ENGINES)}, got {job.engine!r}")
    if not out.parent.is_dir():
        raise ListingsmithError(f"{out}: no folder {out.parent}; create it first")
    if out.resolve() == Path(job.input).resolve():
        raise ListingsmithError(f"{out}: is the input; choose another --out")
    fmt = catalogue_format(out, job.format)
    if processor is None:
        job.settings.check()
    products = read_products(job.input, allow_outside_root=job.allow_outside_root,
                             allow_remote=job.settings.allow_remote)
    state_file = side_file(out, "state")
    if job.restart:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state_file}{suffix}").unlink(missing_ok=True)
    with JobState(state_file) as state:
        state.claim({"input": str(Path(job.input).resolve()), **job.settings.fingerprint()})
        state.sync(products)
        by_key = {product.key: product for product in products}
        pending = state.pending()
        todo = [by_key[key] for key, _ in pending]
        processed = 0
        if progress is not None and todo:
            progress(0, len(todo))
        for results in _results(job, todo, pending, processor):
            state.record(results)
            processed += len(results)
            if progress is not None:
                progress(processed, len(todo))
        done_earlier = sum(product.error is None for product in products) - len(todo)
        return _write_outputs(state, out, fmt, input_root(job.input), processed, done_earlier)


def _results(job: BatchJob, todo: list[Product], pending: list[tuple[str, int]],
             processor: Processor | None) -> Iterator[list[ProductResult]]:
    # chunks fall on the same input positions in every run and engine, so a resumed run
    # batches generation exactly as an uninterrupted one would
    chunks = [[product for product, _ in group] for _, group in
              groupby(zip(todo, (position for _, position in pending)),
                      key=lambda pair: pair[1] // job.batch_size)]
    if not chunks:
        return iter(())
    if job.engine == "ray":
        from listingsmith.batch_ray import ray_results

        return ray_results(job.settings, chunks, job.workers, job.address)
    return local_results(job.settings, chunks, job.workers, processor)


def _write_outputs(state: JobState, out: Path, fmt: str, root: Path, processed: int,
                   done_earlier: int) -> BatchSummary:
    from listingsmith.core.types import Listing

    counts = state.counts()
    if counts.get("pending"):
        raise ListingsmithError(f"{out}: {counts['pending']} products were not processed; run "
                                "the same command again to finish them")
    done = state.done()
    ids = [product_id for product_id, _, _ in done]
    listings = [Listing.from_dict(json.loads(result)) for _, result, _ in done]
    write_catalogue(zip(ids, listings), out, fmt)
    failed = state.failed()
    failures_file = _write_failures(failed, side_file(out, "failures"), root)
    embeddings = np.stack([np.frombuffer(blob, dtype=np.float32) for _, _, blob in done]) \
        if done else np.zeros((0, 0), dtype=np.float32)
    write_index(side_file(out, "index"), ids, [listing.title for listing in listings], embeddings)
    pairs = near_duplicates(ids, embeddings)
    duplicates_file = _write_duplicates(pairs, side_file(out, "duplicates"))
    return BatchSummary(out=out, total=len(done) + len(failed), done=len(done),
                        failed=len(failed), processed=processed, done_earlier=done_earlier,
                        failures=[(product_id, reason) for product_id, reason, _ in failed],
                        failures_file=failures_file, duplicates_file=duplicates_file,
                        duplicate_pairs=len(pairs))


def _write_failures(failed: list[tuple[str, str, str]], path: Path, root: Path) -> Path | None:
    """The failed rows as an input CSV (id, error, images, seller fields), photo paths made
    relative to its own folder, so a seller can fix it and run it as INPUT. The values are the
    seller's own and are written unchanged (no formula escaping), so they read back as given."""
    if not failed:
        path.unlink(missing_ok=True)
        return None
    rows = [(product_id, reason, json.loads(given)) for product_id, reason, given in failed]
    seller_columns = list(dict.fromkeys(key for _, _, given in rows for key in given["seller"]))

    def write(staging: Path) -> None:
        with open(staging, "x", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", ERROR_COLUMN, "images", *seller_columns])
            for product_id, reason, given in rows:
                images = [image if is_url(image) else
                          os.path.relpath(os.path.normpath(Path(root, image)), path.parent)
                          for image in given["images"]]
                writer.writerow([product_id, reason, "|".join(images),
                                 *(given["seller"].get(column, "") for column in seller_columns)])

    return replace_atomically(path, write)


# --------------------------------------------------------------------------- duplicates


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


def _write_duplicates(pairs: list[tuple[str, str, float]], path: Path) -> Path | None:
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


def write_index(path: Path, ids: list[str], titles: list[str], embeddings: np.ndarray) -> Path:
    """The ids, titles and embeddings of the listings, with the model that embedded them."""
    from listingsmith.core.registry import spec_for

    def write(staging: Path) -> None:
        with open(staging, "xb") as handle:
            np.savez(handle, ids=np.array(ids, dtype=str), titles=np.array(titles, dtype=str),
                     embeddings=embeddings.astype(np.float32),
                     model=np.array(spec_for("image-text", None).source))

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
