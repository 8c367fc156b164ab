"""The batch engines' worker: a chunk of products in, one ``ProductResult`` each out, through
the one ``Pipeline``; and the local engine, which runs it in this process or in a pool of
worker processes. The Ray engine (``listingsmith.batch_ray``) runs the same worker in its
actors, so both engines write the same listings."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from multiprocessing import get_context

from describer.export import check_catalogue_values
from listingsmith.batch_input import Product
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, Listing, QualityWarning
from listingsmith.pipeline import Pipeline, PipelineSettings, load_photos


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

    The ``pipeline`` is built from ``settings`` unless one is given (the app's batch tab shares
    the service's loaded models, and their ``lock``); its models load on first use and stay
    for the process. Each product's photos go through the tagger together, with the seller's
    fields handled as ``describe`` handles them; the chunk's listings are written in one
    generation batch, in the tone and length of ``settings``. A product that fails (no
    readable photo, an exception) fails alone, with the reason."""

    def __init__(self, settings: PipelineSettings = PipelineSettings(), *,
                 pipeline: Pipeline | None = None, lock: AbstractContextManager | None = None):
        self.settings = settings
        self.pipeline = pipeline or Pipeline(settings)
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
        from tagger.tags import product_embedding

        images, unreadable = [], []
        for file, shown in zip(product.photo_files(), product.image_paths):
            # one photo at a time, so a failure is named as the input wrote it: listings and
            # reasons never show where the server keeps files (or fetched them to)
            loaded = load_photos([file], allow_remote=self.settings.allow_remote,
                                 shown_as=[shown])
            images += loaded.images
            unreadable += [f"{shown}: {exc.reason}" for exc in loaded.errors]
        if not images:
            raise ListingsmithError("; ".join(unreadable))
        attributes = self.pipeline.analyze(images, seller=product.seller)
        attributes.warnings += [QualityWarning("unreadable_photo", message)
                                for message in unreadable]
        # the backbone outputs are cached on the photos: this runs the small head only
        return attributes, product_embedding(self.pipeline.tagger.image_embeddings(images))

    def _listings(self, attributes: list[Attributes]) -> list[Listing | Exception]:
        """Listings in one batch; if the batch fails, one by one, each failure its own."""
        tone, length = self.settings.tone, self.settings.length
        try:
            return self.pipeline.describe(attributes, tone=tone, length=length)
        except Exception:
            listings: list[Listing | Exception] = []
            for one in attributes:
                try:
                    listings += self.pipeline.describe([one], tone=tone, length=length)
                except Exception as exc:
                    listings.append(exc)
            return listings


def failure_reason(exc: Exception) -> str:
    """One line: our own errors as they are, anything else marked as a bug."""
    text = str(exc) if isinstance(exc, ListingsmithError) else \
        f"internal error: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


Processor = Callable[[list[Product]], list[ProductResult]]


def local_results(settings: PipelineSettings, chunks: list[list[Product]], workers: int,
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


def _start_worker(settings: PipelineSettings, threads: int) -> None:
    global _worker_processor
    _worker_processor = worker_processor(settings, threads)


def worker_processor(settings: PipelineSettings, threads: int) -> ListingProcessor:
    """A processor for one of several workers, limited to its share of the cores for torch
    and for OCR's onnxruntime (which ignores OMP_NUM_THREADS): workers that each take every
    core slow each other down."""
    import torch

    from tagger.ocr import OcrEngine

    torch.set_num_threads(min(torch.get_num_threads(), threads))  # OMP_NUM_THREADS still caps
    pipeline = Pipeline(settings)
    tagger = pipeline.tagger  # built without loading a model: OCR loads on its first photo
    tagger.ocr = OcrEngine(threads=threads, profile=tagger.profile)
    return ListingProcessor(settings, pipeline=pipeline)


def _process_in_worker(chunk: list[Product]) -> list[ProductResult]:
    return _worker_processor(chunk)
