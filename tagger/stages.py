"""The ``Tagger``'s stages: each reads a shared ``StageContext``, fills its part of the
``Attributes`` and returns its provenance (where its answer came from).

A stage is any object with a ``name``, ``wanted(selected)`` (whether it runs for the
stages a caller selected) and ``run(context)``. ``Tagger.analyze`` only loops over its
stage list, timing each stage by name; adding a stage is one more object in that list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from listingsmith.core import vocab
from listingsmith.core.io import ProductImage
from listingsmith.core.types import Attributes, CategoryPrediction, Detections, Fact, TextSpan
from tagger.aligner import AlignedImageText
from tagger.backbone import BackboneOutput, ImageBackbone
from tagger.barcodes import read_barcodes
from tagger.classify import (SHIPPED, CategoryFeaturizer, fused_features, load_category_model,
                             route, shipped_model)
from tagger.colours import dominant_colours
from tagger.detect import product_regions, text_regions
from tagger.grounding import GroundingDinoDetector, part_queries
from tagger.image_text import ImageTextModel
from tagger.ocr import OcrEngine
from tagger.quality import quality_warnings
from tagger.tags import TagScorer, load_vocabulary, product_embedding

ROUTE_CONFIDENCE: float = vocab.load("tagger", "vocab/routing.toml")["route_confidence"]


class StageOptions(Protocol):
    """What the stages read of the per-call options (``tagger.pipeline.TaggerOptions``)."""

    top_k_tags: int
    tag_threshold: float | None
    tag_vocabulary: str | None
    taxonomy: str | None
    part_kind: str | None
    part_box_threshold: float
    max_colours: int
    known_brands: tuple[str, ...]


@dataclass
class StageContext:
    """One ``analyze`` call: its inputs, the ``Attributes`` being filled, and what a stage
    leaves for later ones (OCR lines per photo, barcode facts, product boxes, the shared
    backbone outputs, brand hints from the category)."""

    images: list[ProductImage]
    options: StageOptions
    attrs: Attributes
    spans_per_image: list[list[TextSpan]]
    barcode_facts: list[Fact] = field(default_factory=list)
    products: list[Detections] | None = None
    outputs: list[BackboneOutput] | None = None
    brand_hints: dict[str, tuple[str, float]] = field(default_factory=dict)


class Stage(Protocol):
    """One step of ``Tagger.analyze``."""

    name: str

    def wanted(self, selected: frozenset[str]) -> bool:
        """Whether the stage runs when the caller selected the stage names ``selected``."""

    def run(self, context: StageContext) -> str | None:
        """Fill ``context`` (and its ``attrs``); the provenance, or None to record none."""


class SelectedStage:
    """A stage that runs when its own name is selected."""

    name = ""

    def wanted(self, selected: frozenset[str]) -> bool:
        return self.name in selected


class OcrStage(SelectedStage):
    name = "ocr"

    def __init__(self, engine: OcrEngine):
        self.engine = engine

    def run(self, context: StageContext) -> str:
        context.spans_per_image = self.engine(context.images)
        context.attrs.text_spans = [span for spans in context.spans_per_image for span in spans]
        return self.engine.spec.source


class BarcodeStage(SelectedStage):
    name = "barcodes"

    def run(self, context: StageContext) -> str:
        detections, context.barcode_facts = read_barcodes(context.images)
        context.attrs.detections.extend(d for d in detections if len(d))
        return "bundled:zxingcpp"


class DetectStage(SelectedStage):
    name = "detect"

    def run(self, context: StageContext) -> str:
        context.products = product_regions(context.images)
        context.attrs.detections[:0] = context.products
        context.attrs.detections.extend(d for d in text_regions(context.spans_per_image) if len(d))
        return "builtin:border-seeded-mask"


class PartsStage(SelectedStage):
    """Part boxes from an open-vocabulary detector; runs only when one is configured."""

    name = "parts"

    def __init__(self, detector: GroundingDinoDetector | None):
        self.detector = detector

    def wanted(self, selected: frozenset[str]) -> bool:
        return self.detector is not None and super().wanted(selected)

    def run(self, context: StageContext) -> str:
        parts = self.detector(context.images, part_queries(context.options.part_kind),
                              box_threshold=context.options.part_box_threshold)
        context.attrs.detections.extend(d for d in parts if len(d))
        return self.detector.spec.source


class BackboneStage:
    """The shared image backbone, run once for every stage that reads its outputs; it adds
    nothing to the attributes, so it records no provenance (only its time)."""

    name = "backbone"
    readers = frozenset({"tags", "colours", "category", "identify"})

    def __init__(self, backbone: ImageBackbone):
        self.backbone = backbone

    def wanted(self, selected: frozenset[str]) -> bool:
        return bool(self.readers & selected)

    def run(self, context: StageContext) -> None:
        context.outputs = self.backbone(context.images)


class ColourStage(SelectedStage):
    name = "colours"

    def __init__(self, backbone: ImageBackbone):
        self.backbone = backbone

    def run(self, context: StageContext) -> str:
        outputs = context.outputs
        context.attrs.colours = dominant_colours(
            context.images, max_colours=context.options.max_colours,
            image_features=np.mean([output.features for output in outputs], axis=0),
            tail_inputs=np.stack([output.tail_input for output in outputs]))
        return "builtin:kmeans-lab+weights/colour_head.joblib+" + self.backbone.spec.source


class TagStage(SelectedStage):
    """Open-vocabulary tags; owns the tag scorers (one per vocabulary file, built once)."""

    name = "tags"

    def __init__(self, tag_model: ImageTextModel, backbone: ImageBackbone):
        self.tag_model = tag_model
        self.backbone = backbone
        self._scorers: dict[str | None, TagScorer] = {}

    def scorer(self, vocabulary: str | None = None) -> TagScorer:
        """The tag scorer of a vocabulary file (None: bundled), built once per file."""
        if vocabulary not in self._scorers:
            self._scorers[vocabulary] = TagScorer(self.tag_model, load_vocabulary(vocabulary))
        return self._scorers[vocabulary]

    def image_embeddings(self, images: list[ProductImage],
                         outputs: list[BackboneOutput] | None = None) -> np.ndarray:
        """The tag model's embedding per photo; the bundled aligner reuses backbone outputs."""
        if isinstance(self.tag_model, AlignedImageText):
            outputs = outputs if outputs is not None else self.backbone(images)
            return self.tag_model.embed_features(np.stack([o.features for o in outputs]))
        return self.tag_model.embed_images(images)

    def run(self, context: StageContext) -> str:
        options = context.options
        scorer = self.scorer(options.tag_vocabulary)
        embedding = product_embedding(self.image_embeddings(context.images, context.outputs))
        context.attrs.tags = scorer.tags(embedding[None], top_k=options.top_k_tags,
                                         threshold=options.tag_threshold)[0]
        return f"{self.tag_model.spec.source}+{scorer.vocabulary.source}"


class CategoryStage(SelectedStage):
    """The category from fused attributes, plus the brands of the likeliest classes (hints
    for reading the brand off the pack, used by the facts stage)."""

    name = "category"

    def __init__(self, tags: TagStage):
        self.tags = tags
        self._featurizer: CategoryFeaturizer | None = None

    def featurizer(self) -> CategoryFeaturizer:
        """Built on first use; shares the tags stage's scorer when the tag model is the
        bundled aligner."""
        if self._featurizer is None:
            if isinstance(self.tags.tag_model, AlignedImageText):
                self._featurizer = CategoryFeaturizer(self.tags.tag_model,
                                                      scorer=self.tags.scorer(None))
            else:
                self._featurizer = CategoryFeaturizer(
                    AlignedImageText(backbone=self.tags.backbone))
        return self._featurizer

    def run(self, context: StageContext) -> str:
        context.attrs.category, source, context.brand_hints = self._categorise(
            context.outputs, context.attrs, context.options.taxonomy)
        return source

    def _categorise(self, outputs: list[BackboneOutput], attrs: Attributes, taxonomy: str | None
                    ) -> tuple[CategoryPrediction, str, dict[str, tuple[str, float]]]:
        """Without a taxonomy, the shipped one that the product's aligned product-type tags
        point to (uncertain when they barely do)."""
        featurizer = self.featurizer()
        features = np.stack([output.features for output in outputs])
        inputs = featurizer.product_inputs(features, attrs.colours,
                                           [span.text for span in attrs.text_spans],
                                           np.stack([o.tail_input for o in outputs]))
        route_confidence = 1.0
        if taxonomy is None:
            tag_scores = inputs.aligned[featurizer.aligner.dimension:]
            taxonomy, route_confidence = route(tag_scores, featurizer.scorer.vocabulary)
        model = shipped_model(taxonomy) if taxonomy in SHIPPED else load_category_model(taxonomy)
        prediction = model.predict(fused_features(inputs, model.blocks)[None],
                                   tail_inputs=[inputs.tail_inputs])[0]
        if route_confidence < ROUTE_CONFIDENCE and not prediction.uncertain:
            prediction = replace(prediction, uncertain=True)
        source = f"{model.name}:{'+'.join(model.blocks)}"
        if model.needs_tail_inputs:
            source += "+tuned-image-head"
        return prediction, source, model.brand_hints(prediction)


class QualityStage(SelectedStage):
    name = "quality"

    def run(self, context: StageContext) -> str:
        context.attrs.warnings = quality_warnings(context.images, context.products)
        return "builtin:vocab/quality.json"
