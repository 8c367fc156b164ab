"""Grounding DINO part detection: product photos plus part phrases in, labelled boxes out.

Grounding DINO is an open-vocabulary detector: it finds boxes for the phrases in a text
prompt (``"cap . label . pump ."``). The part phrases come per product kind from
``prompts/parts.json`` (see ``part_queries``).

No detector is registered by default: a hub model cannot be pinned to a verified commit
offline, so the caller supplies the source, e.g.
``spec_for("part-detection", "hf:IDEA-Research/grounding-dino-tiny@<commit>")`` for a
model already in the local Hugging Face cache, or ``"local:<dir>"`` for a folder written
by ``save_pretrained`` (model and processor).
"""

from __future__ import annotations

import difflib
from functools import lru_cache

import numpy as np
import torch

from listingsmith.core import vocab
from listingsmith.core.errors import ValidationError
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import ModelSpec, load_once, quiet_transformers, resolve
from listingsmith.core.types import Detections

PROMPT_SEPARATOR = " . "


@lru_cache(maxsize=1)
def _part_vocabularies() -> dict[str, tuple[str, ...]]:
    return {kind: tuple(parts) for kind, parts in vocab.load("prompts", "parts.json").items()
            if not kind.startswith("_")}


def part_queries(kind: str | None) -> list[str]:
    """The part phrases to look for on a product of ``kind``; ``default`` for unknown kinds.

    >>> part_queries("jar")
    ['lid', 'label']
    """
    vocabularies = _part_vocabularies()
    key = (kind or "").strip().lower()
    return list(vocabularies.get(key, vocabularies["default"]))


def prompt_phrase(query: str) -> str:
    """A query as the model reads it: lowercase, single-spaced, no '.' (the separator)."""
    return " ".join(query.replace(".", " ").lower().split())


def build_prompt(phrases: list[str]) -> str:
    """Grounding DINO's text input: phrases joined and terminated by ``" . "``."""
    return PROMPT_SEPARATOR.join(phrases) + PROMPT_SEPARATOR.rstrip()


def chunk_queries(queries: list[str], tokenizer, max_text_len: int) -> list[list[str]]:
    """Split queries into consecutive groups whose tokenized prompt fits ``max_text_len``.

    The model truncates longer prompts silently, so phrases past the limit would never be
    searched for; each group is run separately and the results merged instead.
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    for query in queries:
        candidate = current + [query]
        if _token_count(tokenizer, candidate) > max_text_len:
            if _token_count(tokenizer, [query]) > max_text_len:
                raise ValidationError(f"part query {query!r} alone is longer than the detector's "
                                      f"{max_text_len} text tokens; shorten it")
            chunks.append(current)
            candidate = [query]
        current = candidate
    if current:
        chunks.append(current)
    return chunks


def _token_count(tokenizer, queries: list[str]) -> int:
    prompt = build_prompt([prompt_phrase(q) for q in queries])
    return len(tokenizer(prompt)["input_ids"])


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, labels: list[str],
                    iou_threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression run separately per label, best first.

    Overlapping boxes with different labels are both kept: a cap sits inside a bottle.
    """
    keep: list[int] = []
    label_array = np.asarray(labels, dtype=object)
    for label in dict.fromkeys(labels):
        candidates = np.flatnonzero(label_array == label)
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        while order.size:
            best, rest = order[0], order[1:]
            keep.append(int(best))
            order = rest[_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return sorted(keep, key=lambda i: -scores[i])


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def closest_query(decoded: str, phrases: list[str], special_tokens: list[str]) -> int | None:
    """Index of the phrase a decoded label names, or None when it names nothing.

    The post-processor decodes whichever prompt tokens passed the text threshold, so a
    label can be a partial phrase, run over several phrases, or hold only special tokens.
    """
    for token in special_tokens:
        decoded = decoded.replace(token, " ")
    fragments = [_compact(f) for f in decoded.split(".")]
    fragments = [f for f in fragments if f]
    if not fragments:
        return None
    targets = [_compact(p) for p in phrases]
    ratio, index = max((difflib.SequenceMatcher(None, f, t).ratio(), -i)
                       for f in fragments for i, t in enumerate(targets))
    return -index if ratio > 0 else None


def _compact(text: str) -> str:
    """Whitespace- and '#'-free lowercase text: WordPiece decoding adds spaces and '##'."""
    return "".join(text.replace("#", "").lower().split())


class GroundingDinoDetector:
    """A Grounding DINO checkpoint from a caller-supplied spec; loaded lazily, once per process."""

    def __init__(self, spec: ModelSpec, *, allow_network: bool = False):
        self.spec = spec
        self.allow_network = allow_network

    @property
    def model_and_processor(self):
        return load_once(self.spec, "grounding-dino", self._build)

    def _build(self):
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        quiet_transformers()
        folder = resolve(self.spec, allow_network=self.allow_network)
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        model = AutoModelForZeroShotObjectDetection.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32)
        return model.eval(), processor

    def preprocess(self, images: list[ProductImage], prompt: str):
        _, processor = self.model_and_processor
        return processor(images=[img.image for img in images], text=[prompt] * len(images),
                         return_tensors="pt")

    @torch.inference_mode()
    def forward(self, inputs):
        model, _ = self.model_and_processor
        return model(**inputs)

    def postprocess(self, inputs, outputs, images: list[ProductImage], phrases: list[str], *,
                    box_threshold: float, text_threshold: float
                    ) -> list[tuple[list[list[float]], list[int], list[float]]]:
        """Per image: boxes in source pixels, indices into ``phrases``, and scores."""
        _, processor = self.model_and_processor
        results = processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold,
            target_sizes=[(img.size[1], img.size[0]) for img in images])
        special = processor.tokenizer.all_special_tokens
        per_image = []
        for result in results:
            boxes, indices, scores = [], [], []
            for box, text, score in zip(result["boxes"].tolist(), result["text_labels"],
                                        result["scores"].tolist()):
                index = closest_query(text, phrases, special)
                if index is not None:
                    boxes.append(box)
                    indices.append(index)
                    scores.append(score)
            per_image.append((boxes, indices, scores))
        return per_image

    def __call__(self, images: list[ProductImage], queries: list[str], *,
                 box_threshold: float = 0.35, text_threshold: float = 0.25, nms_iou: float = 0.5,
                 batch_size: int = 4) -> list[Detections]:
        """One ``Detections`` per image; each label is the caller's query that was matched."""
        queries = list(dict.fromkeys(q for q in queries if prompt_phrase(q)))
        found: list[tuple[list, list[str], list[float]]] = [([], [], []) for _ in images]
        if images and queries:
            model, processor = self.model_and_processor
            for chunk in chunk_queries(queries, processor.tokenizer, model.config.max_text_len):
                phrases = [prompt_phrase(q) for q in chunk]
                prompt = build_prompt(phrases)
                for start in range(0, len(images), batch_size):
                    batch = images[start:start + batch_size]
                    inputs = self.preprocess(batch, prompt)
                    per_image = self.postprocess(inputs, self.forward(inputs), batch, phrases,
                                                 box_threshold=box_threshold,
                                                 text_threshold=text_threshold)
                    for offset, (boxes, indices, scores) in enumerate(per_image):
                        all_boxes, labels, all_scores = found[start + offset]
                        all_boxes.extend(boxes)
                        labels.extend(chunk[i] for i in indices)
                        all_scores.extend(scores)
        return [_finish(img, boxes, labels, scores, nms_iou, self.spec.source, index)
                for index, (img, (boxes, labels, scores)) in enumerate(zip(images, found))]


def _finish(image: ProductImage, boxes: list, labels: list[str], scores: list[float],
            nms_iou: float, source: str, index: int) -> Detections:
    """Clip to the image, drop boxes clipped to nothing, suppress duplicates, sort by score."""
    width, height = image.size
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    array = np.clip(array, 0, [width, height, width, height])
    score_array = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    visible = np.flatnonzero((array[:, 2] > array[:, 0]) & (array[:, 3] > array[:, 1]))
    kept = visible[class_aware_nms(array[visible], score_array[visible],
                                   [labels[i] for i in visible], nms_iou)]
    return Detections(boxes=[tuple(float(v) for v in array[i]) for i in kept],
                      labels=[labels[i] for i in kept],
                      scores=[float(score_array[i]) for i in kept], source=source,
                      image_index=index)
