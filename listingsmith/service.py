"""One product at a time for interactive front ends (the Gradio app): models loaded once,
photos analysed, a listing streamed, seller corrections applied without re-reading photos.

The app stays a thin shell: everything it shows comes from here, as typed results, and
everything here runs the one ``listingsmith.pipeline`` that the command line and batch run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from listingsmith.batch_worker import ListingProcessor
from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.io import ProductImage, limit
from listingsmith.core.types import Attributes, ImageInfo, Listing
from listingsmith.pipeline import Pipeline, PipelineSettings, load_photos
from tagger.seller import with_seller_facts

APP_LIMITS = ("listingsmith.core", "vocab/app.toml")
"""The app's limits: upload size, queue length, time to analyse one request's photos."""


@dataclass
class Analysis:
    """What the photos of one product gave: the attributes, one annotated image per
    readable photo, and one line per photo that could not be read."""

    attributes: Attributes
    annotated: list[Image.Image] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ListingService:
    """Holds one ``Pipeline`` (default settings unless one is given) for the life of a server;
    safe to share across requests (model calls are serialised by a lock: two requests at once
    would only slow each other on a small machine)."""

    def __init__(self, pipeline: Pipeline | None = None):
        self.pipeline = pipeline or Pipeline()
        self.max_request_seconds = limit("MAX_REQUEST_SECONDS",
                                         vocab.load(*APP_LIMITS)["max_request_seconds"])
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load every model now (a blank photo through every stage) so the first seller
        does not wait for loading."""
        blank = Image.new("RGB", (64, 64), (255, 255, 255))
        image = ProductImage(source="warm-up", image=blank, info=_info(blank))
        for _ in self.listing_stream(self.analyze_images([image]).attributes, "neutral",
                                     "short"):
            pass

    def analyze(self, paths: list[str | Path], seller: dict[str, str] | None = None) -> Analysis:
        """Read each photo (a bad one becomes an error line naming only its file name, never a
        server path) and analyse the readable ones as one product, within
        ``max_request_seconds``."""
        names = ", ".join(Path(path).name for path in paths) or "the photos"
        return _within(self.max_request_seconds, lambda: self._analyze(paths, seller),
                       f"analysing {names} took longer than {self.max_request_seconds:g} s; "
                       "try a smaller photo or fewer photos")

    def _analyze(self, paths: list[str | Path], seller: dict[str, str] | None) -> Analysis:
        loaded = load_photos(paths)
        errors = [f"{Path(exc.source).name}: {exc.reason}" for exc in loaded.errors]
        if not loaded.images:
            raise ListingsmithError("; ".join(errors) if errors else "upload at least one photo")
        analysis = self.analyze_images(loaded.images, seller)
        analysis.errors = errors
        return analysis

    def analyze_images(self, images: list[ProductImage],
                       seller: dict[str, str] | None = None) -> Analysis:
        from tagger.annotate import annotate

        with self._lock:
            attributes = self.pipeline.analyze(images, clean_seller(seller))
        return Analysis(attributes, [annotate(image, attributes, i)
                                     for i, image in enumerate(images)])

    def batch_processor(self, settings: PipelineSettings) -> ListingProcessor:
        """A batch engine processor (``listingsmith.batch``) on this service's models, holding
        the lock for each chunk so interactive requests wait their turn."""
        return ListingProcessor(settings, pipeline=self.pipeline, lock=self._lock)

    def listing_stream(self, attributes: Attributes, tone: str,
                       length: str) -> Iterator[str | Listing]:
        """Description drafts as they are written, then the finished listing."""
        with self._lock:
            yield from self.pipeline.describer.stream(attributes, tone=tone, length=length)


def clean_seller(seller: dict[str, str] | None) -> dict[str, str]:
    """Seller fields with blank values dropped and whitespace trimmed."""
    return {key: value.strip() for key, value in (seller or {}).items()
            if isinstance(value, str) and value.strip()}


def with_seller(attributes: Attributes, seller: dict[str, str]) -> Attributes:
    """The attributes with the seller's fields replaced (facts the seller typed re-parsed, as
    the pipeline parses them): corrections apply on regenerate without reading the photos
    again."""
    photo_facts = [f for f in attributes.facts if f.source != "seller"]
    return with_seller_facts(replace(attributes, seller=clean_seller(seller), facts=photo_facts))


def edited(listing: Listing, title: str, description: str, bullets: str) -> Listing:
    """The listing with the seller's hand edits (bullets one per line)."""
    lines = [line.strip().lstrip("•-* ").strip() for line in bullets.splitlines()]
    return replace(listing, title=title.strip() or listing.title,
                   description=description.strip() or listing.description,
                   bullets=[line for line in lines if line])


def _within(seconds: float, work: Callable[[], Analysis], message: str) -> Analysis:
    """``work()`` run in a worker thread; past ``seconds`` a ``ListingsmithError(message)``.

    Python cannot stop a thread: timed-out work finishes in the background (holding the model
    lock, so the next request waits for it) and its result, or error, is dropped unread.
    """
    result: Future = Future()

    def run():
        try:
            result.set_result(work())
        except BaseException as exc:  # handed to the waiting request, which re-raises it
            result.set_exception(exc)

    threading.Thread(target=run, name="listingsmith-request", daemon=True).start()
    if not wait([result], timeout=seconds).done:
        raise ListingsmithError(message)
    return result.result()


def _info(image: Image.Image) -> ImageInfo:
    return ImageInfo(source="warm-up", width=image.width, height=image.height,
                     original_mode=image.mode, exif_rotated=False)
