"""The ``Tagger`` facade: the photos of one product → fused ``Attributes``.

Each stage is a batched component (all photos of the product at once); models load
lazily on first use and stay loaded for the process. Per-call options (``top_k`` …) are
arguments, never state on the instance.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from tagger import facts as fact_parser
from tagger.aligner import AlignedImageText
from tagger.backbone import ImageBackbone
from tagger.barcodes import read_barcodes
from tagger.classify import (SHIPPED, CategoryFeaturizer, fused_features, load_category_model,
                             route, shipped_model)
from tagger.colours import dominant_colours
from tagger.detect import product_regions, text_regions
from tagger.grounding import GroundingDinoDetector, part_queries
from tagger.image_text import ImageTextModel
from listingsmith.core.io import ProductImage
from tagger.ocr import OcrEngine
from tagger.quality import quality_warnings
from listingsmith.core.runtime import RuntimeProfile, runtime_profile
from tagger.tags import TagScorer, load_vocabulary, product_embedding
from listingsmith.core.types import Attributes, CategoryPrediction, Detections, Fact

STAGES = ("ocr", "barcodes", "detect", "parts", "colours", "tags", "category", "facts", "quality")
"""Every stage, in run order; "parts" runs only when a part detector is configured."""

CATEGORY_BRAND_MASS = 0.6
"""A brand is inferred from the category only when the predicted classes carrying it hold at
least this much probability; a known brand read on the pack always wins."""

ROUTE_CONFIDENCE = 0.5
"""Below this share of product-type probability inside the chosen shipped taxonomy, the
category is flagged uncertain: the product may belong to neither (a lamp, a phone case)."""


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
    ``profile`` is the runtime profile (``listingsmith/core/vocab/runtime.toml``; default ``fast``)."""

    def __init__(self, ocr: OcrEngine | None = None, backbone: ImageBackbone | None = None,
                 parts_detector: GroundingDinoDetector | None = None,
                 tag_model: ImageTextModel | None = None, profile: RuntimeProfile | None = None):
        self.profile = profile or runtime_profile()
        self.ocr = ocr or OcrEngine(profile=self.profile)
        self.backbone = backbone or ImageBackbone()
        self.parts_detector = parts_detector
        self.tag_model = tag_model or AlignedImageText(backbone=self.backbone)
        self._scorers: dict[str | None, TagScorer] = {}
        self._featurizer: CategoryFeaturizer | None = None

    def scorer(self, vocabulary: str | None = None) -> TagScorer:
        """The tag scorer of a vocabulary file (None: bundled), built once per file."""
        if vocabulary not in self._scorers:
            self._scorers[vocabulary] = TagScorer(self.tag_model, load_vocabulary(vocabulary))
        return self._scorers[vocabulary]

    def image_embeddings(self, images: list[ProductImage], outputs: list | None = None) -> np.ndarray:
        """The tag model's embedding per photo; the bundled aligner reuses backbone outputs."""
        if isinstance(self.tag_model, AlignedImageText):
            outputs = outputs if outputs is not None else self.backbone(images)
            return self.tag_model.embed_features(np.stack([o.features for o in outputs]))
        return self.tag_model.embed_images(images)

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
        attrs = Attributes(images=[image.info for image in images], seller=dict(seller or {}))
        spans_per_image: list = [[] for _ in images]
        brand_hints: dict[str, tuple[str, float]] = {}
        if "ocr" in options.stages:
            with self._stage(timer, "ocr", images):
                spans_per_image = self.ocr(images)
                attrs.text_spans = [span for spans in spans_per_image for span in spans]
            attrs.provenance["ocr"] = self.ocr.spec.source
        barcode_facts: list[Fact] = []
        if "barcodes" in options.stages:
            with self._stage(timer, "barcodes", images):
                barcode_detections, barcode_facts = read_barcodes(images)
            attrs.detections.extend(d for d in barcode_detections if len(d))
            attrs.provenance["barcodes"] = "bundled:zxingcpp"
        products: list[Detections] | None = None
        if "detect" in options.stages:
            with self._stage(timer, "detect", images):
                products = product_regions(images)
                attrs.detections[:0] = products
                attrs.detections.extend(d for d in text_regions(spans_per_image) if len(d))
            attrs.provenance["detect"] = "builtin:border-seeded-mask"
        if "parts" in options.stages and self.parts_detector is not None:
            with self._stage(timer, "parts", images):
                parts = self.parts_detector(images, part_queries(options.part_kind),
                                            box_threshold=options.part_box_threshold)
                attrs.detections.extend(d for d in parts if len(d))
            attrs.provenance["parts"] = self.parts_detector.spec.source
        if {"tags", "colours", "category"} & set(options.stages):
            with self._stage(timer, "backbone", images):
                outputs = self.backbone(images)
        if "colours" in options.stages:
            with self._stage(timer, "colours", images):
                image_features = np.mean([output.features for output in outputs], axis=0)
                attrs.colours = dominant_colours(
                    images, max_colours=options.max_colours, image_features=image_features,
                    tail_inputs=np.stack([output.tail_input for output in outputs]))
            attrs.provenance["colours"] = ("builtin:kmeans-lab+weights/colour_head.joblib+"
                                           + self.backbone.spec.source)
        if "tags" in options.stages:
            with self._stage(timer, "tags", images):
                scorer = self.scorer(options.tag_vocabulary)
                embedding = product_embedding(self.image_embeddings(images, outputs))
                attrs.tags = scorer.tags(embedding[None], top_k=options.top_k_tags,
                                         threshold=options.tag_threshold)[0]
            attrs.provenance["tags"] = (f"{self.tag_model.spec.source}+"
                                        f"{scorer.vocabulary.source}")
        if "category" in options.stages:
            with self._stage(timer, "category", images):
                attrs.category, source, brand_hints = self._categorise(outputs, attrs,
                                                                       options.taxonomy)
            attrs.provenance["category"] = source
        if "facts" in options.stages:
            with self._stage(timer, "facts", images):
                attrs.facts = self._facts(attrs, barcode_facts, options, brand_hints)
            attrs.provenance["facts"] = "builtin:regex-units"
        if "quality" in options.stages:
            with self._stage(timer, "quality", images):
                attrs.warnings = quality_warnings(images, products)
            attrs.provenance["quality"] = "builtin:vocab/quality.json"
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

    def _categorise(self, outputs: list, attrs: Attributes, taxonomy: str | None
                    ) -> tuple[CategoryPrediction, str, dict[str, tuple[str, float]]]:
        """The category from fused attributes; without a taxonomy, the shipped one that the
        product's aligned product-type tags point to (uncertain when they barely do). Also
        the brands of the likeliest classes: hints for reading the brand off the pack."""
        if self._featurizer is None:
            if isinstance(self.tag_model, AlignedImageText):  # share the tags stage's scorer
                self._featurizer = CategoryFeaturizer(self.tag_model, scorer=self.scorer(None))
            else:
                self._featurizer = CategoryFeaturizer(AlignedImageText(backbone=self.backbone))
        features = np.stack([output.features for output in outputs])
        inputs = self._featurizer.product_inputs(features, attrs.colours,
                                                 [span.text for span in attrs.text_spans],
                                                 np.stack([o.tail_input for o in outputs]))
        route_confidence = 1.0
        if taxonomy is None:
            tag_scores = inputs.aligned[self._featurizer.aligner.dimension:]
            taxonomy, route_confidence = route(tag_scores, self._featurizer.scorer.vocabulary)
        model = shipped_model(taxonomy) if taxonomy in SHIPPED else load_category_model(taxonomy)
        prediction = model.predict(fused_features(inputs, model.blocks)[None],
                                   tail_inputs=[inputs.tail_inputs])[0]
        if route_confidence < ROUTE_CONFIDENCE and not prediction.uncertain:
            prediction = replace(prediction, uncertain=True)
        source = f"{model.name}:{'+'.join(model.blocks)}"
        if model.needs_tail_inputs:
            source += "+tuned-image-head"
        return prediction, source, model.brand_hints(prediction)

    @staticmethod
    def _facts(attrs: Attributes, barcode_facts: list[Fact], options: TaggerOptions,
               brand_hints: dict[str, tuple[str, float]]) -> list[Fact]:
        """Facts from the pack text, barcodes and the seller. A brand of one of the likeliest
        categories counts as known, but only where the pack text shows it."""
        found = fact_parser.parse_facts(attrs.text_spans) + barcode_facts
        known = tuple(options.known_brands) + tuple(b for b in brand_hints if b not in options.known_brands)
        brand = fact_parser.extract_brand(attrs.text_spans, known)
        if brand is not None and brand.value in brand_hints and brand.value not in options.known_brands:
            brand = replace(brand, explanation=f"{brand.explanation}; a brand of the predicted "
                                               f"category {brand_hints[brand.value][0]}")
        if brand is None or brand.value not in known:
            brand = category_brand(brand_hints) or brand
        if brand is not None:
            found.append(brand)
        return distinct_facts(found + seller_facts(attrs.seller), fact_parser.MIN_CONFIDENCE)


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


def distinct_facts(facts: list[Fact], min_confidence: float) -> list[Fact]:
    """One fact per (entity, value, unit, source), the most confident; weak readings dropped.

    The same "500 g" printed on three photos is one fact; readings below the parser's
    confidence threshold (a vitamin dose, a nutrition-table row) never reach a listing.
    """
    best: dict[tuple, Fact] = {}
    for fact in facts:
        if fact.confidence < min_confidence:
            continue
        key = (fact.entity, fact.value, fact.unit, fact.source)
        if key not in best or fact.confidence > best[key].confidence:
            best[key] = fact
    return list(best.values())


def seller_facts(seller: dict[str, str]) -> list[Fact]:
    """Facts a seller typed (``item_weight: "500 g"``, ``brand: "Acme"``), parsed like pack text."""
    found = []
    for key, value in seller.items():
        entity = key.strip().lower().replace(" ", "_")
        if entity == "brand" and value.strip():
            found.append(Fact(entity="brand", value=value.strip(), unit=None, raw_text=value,
                              source="seller"))
            continue
        for fact in fact_parser.parse_value(entity, value):
            found.append(fact)
    return found
