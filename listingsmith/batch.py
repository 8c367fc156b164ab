"""Listings for a whole catalogue: a folder of photos or a CSV/JSONL of products in, one listing
per product out, resumable.

The job's state is a SQLite file beside the output (``OUT.state.sqlite``, see
``listingsmith.batch_state``): every input row is pending, done or failed (with the reason),
and each chunk's results are committed in one transaction, so a killed run loses at most the
chunks in flight and running the same command again carries on where it stopped. Products
go through the one ``Pipeline`` (``listingsmith.batch_worker``), locally or on Ray
(``listingsmith.batch_ray``). The outputs are written from the state at the end, in input
order, each in one step: the listings, the failed rows as a CSV the seller can fix and feed
back, near-duplicate pairs, and an embedding index for ``similar``
(``listingsmith.batch_index``).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np

from describer.export import catalogue_format, replace_atomically, write_catalogue
from listingsmith.batch_index import near_duplicates, write_duplicates, write_index
from listingsmith.batch_input import ERROR_COLUMN, Product, input_root, read_products
from listingsmith.batch_state import JobState, side_file
from listingsmith.batch_worker import Processor, ProductResult, local_results
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.io import is_url
from listingsmith.core.registry import spec_for
from listingsmith.core.types import Listing
from listingsmith.pipeline import PipelineSettings

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchJob:
    """One ``listingsmith batch`` run: the input, where the listings go and how to make them."""

    input: Path
    out: Path
    format: str | None = None
    """One of ``CATALOGUE_FORMATS``; None: from the suffix of ``out``."""
    settings: PipelineSettings = PipelineSettings()
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
        model = spec_for("image-text", job.settings.tag_model).source
        return _write_outputs(state, out, fmt, input_root(job.input), model, processed,
                              done_earlier)


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


def _write_outputs(state: JobState, out: Path, fmt: str, root: Path, model: str,
                   processed: int, done_earlier: int) -> BatchSummary:
    """The outputs, from the state alone; ``model`` (the source of the tag model that embedded
    the photos) goes into the index."""
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
    write_index(side_file(out, "index"), ids, [listing.title for listing in listings], embeddings,
                model)
    pairs = near_duplicates(ids, embeddings)
    duplicates_file = write_duplicates(pairs, side_file(out, "duplicates"))
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
