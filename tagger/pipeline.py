"""The ``Tagger`` facade: the photos of one product → fused ``Attributes``.

Each stage (``tagger.stages``) is a batched component (all photos of the product at once);
models load lazily on first use and stay loaded for the process. Per-call options
(``top_k`` …) are arguments, never state on the instance.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from listingsmith.core import vocab
from listingsmith.core.io import ProductImage
from listingsmith.core.runtime import RuntimeProfile, runtime_profile
from listingsmith.core.types import Attributes, Fact
from tagger import facts as fact_parser
from tagger.aligner import AlignedImageText
from tagger.backbone import BackboneOutput, ImageBackbone
from tagger.grounding import GroundingDinoDetector
from tagger.identify import IdentifyStage
from tagger.image_text import ImageTextModel
from tagger.more_facts import parse_product_facts
from tagger.ocr import OcrEngine
from tagger.stages import (BackboneStage, BarcodeStage, CategoryStage, ColourStage, DetectStage,
                           OcrStage, PartsStage, QualityStage, SelectedStage, Stage, StageContext,
                           TagStage)
from tagger.tags import TagScorer

STAGES = ("ocr", "barcodes", "detect", "parts", "colours", "tags", "category", "facts", "identify",
          "quality")
"""Every stage a caller can select, in run order; "parts" runs only when a part detector is
configured."""

CATEGORY_BRAND_MASS: float = vocab.load("tagger", "vocab/routing.toml")["category_brand_mass"]


@dataclass(frozen=True)
class TaggerOptions:
    """Per-call knobs for ``Tagger.analyze``."""

    top_k_tags: int = 10
    tag_threshold: float | None = None
    """Overrides every calibrated per-tag threshold when set."""
    tag_vocabulary: str | None = None
    """A user's vocabulary file (.txt or .toml) instead of the bundled one."""
    taxonomy: str | None = None
    """A shipped taxonomy (grocery, fashion), a model file from ``train classifier``, or
    None: the shipped taxonomy the product's aligned tags point to."""
    part_kind: str | None = None
    part_box_threshold: float = 0.35
    max_colours: int = 5
    known_brands: tuple[str, ...] = ()
    stages: tuple[str, ...] = STAGES


@dataclass
class StageTimer:
    """Wall time per stage in seconds, filled in by ``analyze`` when passed in."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


class Tagger:
    """Runs the stages; the optional ``parts_detector`` (Grounding DINO) adds part boxes;
    ``tag_model`` scores tags (default: the bundled aligner on the shared backbone);
    ``profile`` is the runtime profile (``listingsmith/core/vocab/runtime.toml``; default ``fast``).

    ``stages`` lists the stage objects in run order (``tagger.stages``); the shared backbone
    is one of them, timed as "backbone" and run when a stage that reads it is selected."""

    def __init__(self, ocr: OcrEngine | None = None, backbone: ImageBackbone | None = None,
                 parts_detector: GroundingDinoDetector | None = None,
                 tag_model: ImageTextModel | None = None, profile: RuntimeProfile | None = None):
        self.profile = profile or runtime_profile()
        self.ocr = ocr or OcrEngine(profile=self.profile)
        self.backbone = backbone or ImageBackbone()
        self.parts_detector = parts_detector
        self.tag_model = tag_model or AlignedImageText(backbone=self.backbone)
        self._tags = TagStage(self.tag_model, self.backbone)
        self.stages: list[Stage] = [
            OcrStage(self.ocr), BarcodeStage(), DetectStage(), PartsStage(parts_detector),
            BackboneStage(self.backbone), ColourStage(self.backbone), self._tags,
            CategoryStage(self._tags), FactStage(), IdentifyStage(), QualityStage()]

    def scorer(self, vocabulary: str | None = None) -> TagScorer:
        """The tag scorer of a vocabulary file (None: bundled), built once per file."""
        return self._tags.scorer(vocabulary)

    def image_embeddings(self, images: list[ProductImage],
                         outputs: list[BackboneOutput] | None = None) -> np.ndarray:
        """The tag model's embedding per photo; the bundled aligner reuses backbone outputs."""
        return self._tags.image_embeddings(images, outputs)

    def analyze(self, images: list[ProductImage], *, seller: dict[str, str] | None = None,
                options: TaggerOptions = TaggerOptions(),
                timer: StageTimer | None = None) -> Attributes:
        """Everything but the text: detections, colours, tags, facts, provenance."""
        if not images:
            raise ValueError("analyze needs at least one photo")
        timer = timer or StageTimer()
        unknown = set(options.stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; valid: {', '.join(STAGES)}")
        selected = frozenset(options.stages)
        attrs = Attributes(images=[image.info for image in images], seller=dict(seller or {}))
        context = StageContext(images, options, attrs, [[] for _ in images])
        for stage in self.stages:
            if not stage.wanted(selected):
                continue
            with self._stage(timer, stage.name, images):
                source = stage.run(context)
            if source is not None:
                attrs.provenance[stage.name] = source
        return attrs

    @contextmanager
    def _stage(self, timer: StageTimer, name: str, images: list[ProductImage]):
        """``timer.stage(name)``; a profile without ``reuse_per_photo`` then forgets what the
        stage left on the photos, so the next stage computes it again (the naive baseline)."""
        with timer.stage(name):
            yield
            if not self.profile.reuse_per_photo:
                for image in images:
                    image.derived.clear()


class FactStage(SelectedStage):
    """Facts from the pack text (the Amazon-ML-2024 eight and the product facts: counts,
    strength, lumens, kelvin, bulb base …), barcodes and the seller. A brand of one of the likeliest
    categories counts as known, but only where the pack text shows it."""

    name = "facts"

    def run(self, context: StageContext) -> str:
        attrs, options, brand_hints = context.attrs, context.options, context.brand_hints
        found = parse_product_facts(attrs.text_spans) + context.barcode_facts
        known = tuple(options.known_brands) + tuple(b for b in brand_hints
                                                    if b not in options.known_brands)
        brand = fact_parser.extract_brand(attrs.text_spans, known)
        if (brand is not None and brand.value in brand_hints
                and brand.value not in options.known_brands):
            brand = replace(brand, explanation=f"{brand.explanation}; a brand of the predicted "
                                               f"category {brand_hints[brand.value][0]}")
        if brand is None or brand.value not in known:
            brand = category_brand(brand_hints) or brand
        if brand is not None:
            found.append(brand)
        attrs.facts = fact_parser.distinct_facts(found + fact_parser.seller_facts(attrs.seller),
                                                 fact_parser.MIN_CONFIDENCE)
        return "builtin:regex-units"


def category_brand(brand_hints: dict[str, tuple[str, float]]) -> Fact | None:
    """The brand the likeliest classes agree on (grocery classes each carry one brand), for
    packs whose text did not show it legibly: two juice classes of one maker at 54% and 15%
    make that maker 69% likely even when neither class is certain."""
    if not brand_hints:
        return None
    brand, (label, mass) = max(brand_hints.items(), key=lambda item: item[1][1])
    if mass < CATEGORY_BRAND_MASS:
        return None
    return Fact(entity="brand", value=brand, unit=None, raw_text=label, source="category",
                confidence=round(min(1.0, mass), 4),
                explanation=f"the brand of the likeliest predicted categories ({mass:.0%}, "
                            f"best {label}); the pack text did not show it legibly")
