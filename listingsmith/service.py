"""One product at a time for interactive front ends (the Gradio app): models loaded once,
photos analysed, a listing streamed, seller corrections applied without re-reading photos.

The app stays a thin shell: everything it shows comes from here, as typed results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from describer.pipeline import Describer
from listingsmith.core.errors import ImageLoadError, ListingsmithError
from listingsmith.core.io import ProductImage, limit, load_image
from tagger.pipeline import Tagger, TaggerOptions, seller_facts
from listingsmith.core.types import Attributes, Listing

MAX_REQUEST_SECONDS = 60.0
"""How long reading and analysing one request's photos may take before the seller gets an
error instead of a wait with no end; ``$LISTINGSMITH_MAX_REQUEST_SECONDS`` overrides it.
Writing the listing has its own bound (``max_generation_seconds``)."""


@dataclass
class Analysis:
    """What the photos of one product gave: the attributes, one annotated image per
    readable photo, and one line per photo that could not be read."""

    attributes: Attributes
    annotated: list[Image.Image] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ListingService:
    """Holds the tagger and describer for the life of a server; safe to share across requests
    (model calls are serialised by a lock: two requests at once would only slow each other
    on a small machine)."""

    def __init__(self, tagger: Tagger | None = None, describer: Describer | None = None,
                 options: TaggerOptions = TaggerOptions()):
        self.tagger = tagger or Tagger()
        self.describer = describer or Describer()
        self.options = options
        self.max_request_seconds = limit("MAX_REQUEST_SECONDS", MAX_REQUEST_SECONDS)
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
        images, errors = [], []
        for path in paths:
            try:
                images.append(load_image(path))
            except ImageLoadError as exc:
                errors.append(f"{Path(exc.source).name}: {exc.reason}")
        if not images:
            raise ListingsmithError("; ".join(errors) if errors else "upload at least one photo")
        analysis = self.analyze_images(images, seller)
        analysis.errors = errors
        return analysis

    def analyze_images(self, images: list[ProductImage],
                       seller: dict[str, str] | None = None) -> Analysis:
        from tagger.annotate import annotate

        with self._lock:
            attributes = self.tagger.analyze(images, seller=clean_seller(seller),
                                             options=self.options)
        return Analysis(attributes, [annotate(image, attributes, i)
                                     for i, image in enumerate(images)])

    def batch_processor(self, settings):
        """A batch engine processor (``listingsmith.batch``) on this service's models, holding
        the lock for each chunk so interactive requests wait their turn."""
        from listingsmith.batch import ListingProcessor

        return ListingProcessor(settings, tagger=self.tagger, describer=self.describer,
                                options=self.options, lock=self._lock)

    def listing_stream(self, attributes: Attributes, tone: str,
                       length: str) -> Iterator[str | Listing]:
        """Description drafts as they are written, then the finished listing."""
        with self._lock:
            yield from self.describer.stream(attributes, tone=tone, length=length)


def clean_seller(seller: dict[str, str] | None) -> dict[str, str]:
    """Seller fields with blank values dropped and whitespace trimmed."""
    return {key: value.strip() for key, value in (seller or {}).items()
            if isinstance(value, str) and value.strip()}


def with_seller(attributes: Attributes, seller: dict[str, str]) -> Attributes:
    """The attributes with the seller's fields replaced (facts the seller typed re-parsed):
    corrections apply on regenerate without reading the photos again."""
    seller = clean_seller(seller)
    facts = [f for f in attributes.facts if f.source != "seller"] + seller_facts(seller)
    return replace(attributes, seller=seller, facts=facts)


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


def _info(image: Image.Image):
    from listingsmith.core.types import ImageInfo

    return ImageInfo(source="warm-up", width=image.width, height=image.height,
                     original_mode=image.mode, exif_rotated=False)
