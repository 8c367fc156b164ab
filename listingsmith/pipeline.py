"""The one path from input to ``Listing`` that every entry point runs.

``describe``, ``analyze``, ``facts``, ``tags``, ``write``, ``batch`` (local and Ray), the
service and the app all go through here, so a stage added to the path (a part detector, a
CLIP tagger, product identity) reaches every one of them the same way:

    settings (checked once)  ─►  photos loaded once  ─►  Tagger.analyze  ─┐
    a seller record's fields  ─►  record_attributes  ──────────────────────┼─►  Describer  ─►  Listing

The settings are checked before any photo or record is read, each problem as one line that
names the option and the fix. Models load lazily, on the first photo or record, and stay
loaded for the life of the ``Pipeline``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from describer.guard import default_guard
from describer.pipeline import Describer, check_generator_choice, check_text_options, describer_for
from listingsmith.core.errors import ImageLoadError, ListingsmithError, ModelError
from listingsmith.core.io import ProductImage, load_image
from listingsmith.core.registry import spec_for
from listingsmith.core.types import Attributes, Listing
from tagger.classify import SHIPPED, load_category_model
from tagger.pipeline import Tagger, TaggerOptions
from tagger.seller import record_attributes, with_seller_facts

@dataclass(frozen=True)
class PipelineSettings:
    """What a listing depends on, chosen once per run (a CLI command, a batch job, a server).

    ``generator``, ``memory`` and ``allow_network`` as for ``describer_for``; ``detector``
    (Grounding DINO) and ``tag_model`` (CLIP) are ``hf:<id>@<revision>`` or ``local:<dir>``
    sources; ``taxonomy`` a shipped category model name or a ``.joblib``; ``known_brands`` the
    seller's brands (a pack brand matching one is preferred, and the guard accepts them)."""

    generator: str | None = None
    tone: str = "neutral"
    length: str = "medium"
    memory: str | None = None
    taxonomy: str | None = None
    detector: str | None = None
    tag_model: str | None = None
    part_kind: str | None = None
    known_brands: tuple[str, ...] = ()
    allow_network: bool = False
    allow_remote: bool = False

    def check(self) -> None:
        """Refuse a bad choice before any input is read, with a one-line error that names
        the option (as the command line spells it)."""
        check_text_options(self.tone, self.length)
        with _naming("--generator"):
            check_generator_choice(self.generator, self.memory)
        if self.taxonomy is not None and self.taxonomy not in SHIPPED:
            load_category_model(self.taxonomy)
        if self.detector is not None:
            with _naming("--detector"):
                spec_for("part-detection", self.detector)
        if self.tag_model is not None:
            with _naming("--tagger"):
                spec_for("image-text", self.tag_model)

    def fingerprint(self) -> dict[str, str | None]:
        """The settings a batch job records: resuming with others would mix two kinds of
        listing in one output. Keys of options left unset are absent, so jobs started before
        an option existed still resume."""
        optional = {"memory": self.memory, "detector": self.detector,
                    "tag_model": self.tag_model, "part_kind": self.part_kind}
        return {"generator": self.generator, "tone": self.tone, "length": self.length,
                "taxonomy": self.taxonomy, **{k: v for k, v in optional.items() if v}}

    def tagger_options(self, **overrides) -> TaggerOptions:
        """Per-call tagger options from these settings; ``overrides`` for one command's needs
        (``stages``, ``top_k_tags`` …)."""
        return TaggerOptions(taxonomy=self.taxonomy, part_kind=self.part_kind,
                             known_brands=self.known_brands, **overrides)


@contextmanager
def _naming(option: str):
    """A model choice's error, prefixed with the option that made it."""
    try:
        yield
    except ModelError as exc:
        raise ModelError(f"{option}: {exc}") from exc


def read_brands(path: str | Path) -> tuple[str, ...]:
    """A seller's brands file: one brand per line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ListingsmithError(f"{path}: cannot read the brands file ({exc.strerror}); "
                                "pass a text file with one brand per line") from exc
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@dataclass
class LoadedPhotos:
    """The readable photos of one product and the load error of each unreadable one."""

    images: list[ProductImage] = field(default_factory=list)
    errors: list[ImageLoadError] = field(default_factory=list)


def load_photos(paths: Sequence[str | Path], *, allow_remote: bool = False,
                shown_as: Sequence[str] | None = None) -> LoadedPhotos:
    """Every photo of one product, a bad one recorded and skipped (one bad photo never loses
    the rest). ``shown_as`` renames each photo as the input wrote it, so a listing never shows
    where a server keeps its files."""
    loaded = LoadedPhotos()
    for position, path in enumerate(paths):
        try:
            image = load_image(path, allow_remote=allow_remote)
        except ImageLoadError as exc:
            loaded.errors.append(exc)
            continue
        if shown_as is not None:
            shown = shown_as[position]
            image = replace(image, source=shown, info=replace(image.info, source=shown))
        loaded.images.append(image)
    return loaded


class Pipeline:
    """The tagger and describer one set of settings asks for, built on first use.

    ``tagger`` and ``describer`` may be passed in (tests, or a server sharing loaded models).
    Per-call choices (a request's tone, a command's stages) are arguments, never state."""

    def __init__(self, settings: PipelineSettings = PipelineSettings(), *,
                 tagger: Tagger | None = None, describer: Describer | None = None):
        self.settings = settings
        if tagger is not None:
            self.tagger = tagger
        if describer is not None:
            self.describer = describer

    @cached_property
    def tagger(self) -> Tagger:
        detector = tag_model = None
        if self.settings.detector:
            from tagger.grounding import GroundingDinoDetector

            detector = GroundingDinoDetector(spec_for("part-detection", self.settings.detector))
        if self.settings.tag_model:
            from tagger.clip import ClipImageText

            tag_model = ClipImageText(spec_for("image-text", self.settings.tag_model))
        return Tagger(parts_detector=detector, tag_model=tag_model)

    @cached_property
    def describer(self) -> Describer:
        settings = self.settings
        guard = default_guard(settings.known_brands) if settings.known_brands else None
        memory = Path(settings.memory) if settings.memory else None
        return describer_for(settings.generator, allow_network=settings.allow_network,
                             guard=guard, memory=memory)

    def analyze(self, images: list[ProductImage], seller: dict[str, str] | None = None,
                options: TaggerOptions | None = None, timer=None) -> Attributes:
        """The photos of one product → attributes (the seller's fields and title facts kept)."""
        options = options or self.settings.tagger_options()
        attributes = self.tagger.analyze(images, seller=seller, options=options, timer=timer)
        return with_seller_facts(attributes)

    def describe(self, attributes: list[Attributes], *, tone: str | None = None,
                 length: str | None = None) -> list[Listing]:
        """One listing per product, in the settings' tone and length unless a request gives
        its own."""
        return self.describer.describe(attributes, tone=tone or self.settings.tone,
                                       length=length or self.settings.length)

    def listing(self, images: list[ProductImage], seller: dict[str, str] | None = None) -> Listing:
        """The photos of one product → its listing."""
        return self.describe([self.analyze(images, seller)])[0]

    def record_listings(self, records: list[dict[str, str]]) -> list[Listing]:
        """Seller records (their fields) → one listing each, written in one batch."""
        return self.describe([record_attributes(fields) for fields in records])
