"""Dominant colour against the fashion ``baseColour`` label, product-box coverage, latency.

``python -m eval.run --task colours [--limit N]`` on the fashion test split. Writes a
per-colour accuracy chart to ``eval/results/colours.png``.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from eval.tasks import TaskResult, chart_font, register
from eval.common import percentile

SKIPPED_LABELS = {"Multi", "NA", "Metallic", ""}
"""Labels no single dominant colour can match."""

OBJECT_DISTANCE = 40
"""RGB distance from white above which a studio-shot pixel counts as the object."""

COVERAGE_GOAL = 0.95
"""A product box "covers" the object when it holds this share of the object's pixels."""


def fashion_test_rows(data: Path, limit: int | None) -> list[dict[str, str]]:
    with open(data / "fashion" / "styles.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle)
                if row["split"] == "test" and row["image"] and row["baseColour"] not in SKIPPED_LABELS]
    if limit:
        rows = rows[::max(1, len(rows) // limit)][:limit]
    return rows


def box_agreement(image: Image.Image, box: tuple[float, float, float, float]) -> tuple[float, float]:
    """(coverage, IoU) of a product box against a white-background shot's object pixels.

    Coverage alone rewards a box as big as the photo, so the IoU with the object's own
    bounding box is reported beside it.
    """
    rgb = np.asarray(image, dtype=np.int32)
    object_pixels = np.sqrt(((255 - rgb) ** 2).sum(axis=2)) > OBJECT_DISTANCE
    rows, cols = np.nonzero(object_pixels)
    if rows.size == 0:
        return 1.0, 0.0
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    coverage = float(object_pixels[y0:y1, x0:x1].sum()) / rows.size
    ref = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    inter_w = max(0, min(x1, ref[2]) - max(x0, ref[0]))
    inter_h = max(0, min(y1, ref[3]) - max(y0, ref[1]))
    inter = inter_w * inter_h
    union = (x1 - x0) * (y1 - y0) + (ref[2] - ref[0]) * (ref[3] - ref[1]) - inter
    return coverage, inter / union if union else 0.0


@register("colours")
def run(data: Path, limit: int | None) -> TaskResult:
    from tagger.backbone import ImageBackbone
    from tagger.colours import base_colour, dominant_colours, vocabulary
    from tagger.detect import product_regions
    from listingsmith.core.io import load_image

    family_of = {colour.name: colour.family for colour in vocabulary()}
    rows = fashion_test_rows(data, limit)
    backbone = ImageBackbone()
    dominant_colours([load_image(data / "fashion" / rows[0]["image"])])  # warm-up: imports
    exact = family = covered = 0
    ious = []
    confusions: Counter = Counter()
    per_label: dict[str, list[int]] = {}
    colour_seconds, detect_seconds = [], []
    for row in rows:
        image = load_image(data / "fashion" / row["image"])
        (output,) = backbone([image])  # the pipeline's backbone stage, not timed here
        start = time.perf_counter()
        swatches = dominant_colours([image], image_features=output.features,
                                    tail_inputs=output.tail_input[None])
        colour_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        (regions,) = product_regions([image])
        detect_seconds.append(time.perf_counter() - start)
        predicted = base_colour(swatches) or "none"
        truth = row["baseColour"]
        hit = predicted == truth
        exact += hit
        truth_family = family_of.get(truth)
        family += truth_family is not None and family_of.get(predicted) == truth_family
        per_label.setdefault(truth, []).append(int(hit))
        if not hit:
            confusions[(truth, predicted)] += 1
        coverage, iou = box_agreement(image.image, regions.boxes[0]) if len(regions) else (0.0, 0.0)
        covered += coverage >= COVERAGE_GOAL
        ious.append(iou)
    count = len(rows)
    chart = Path(__file__).resolve().parents[1] / "results" / "colours.png"
    draw_accuracy_chart(per_label, chart)
    metrics = {
        "images": count, "exact_accuracy": round(exact / count, 4),
        "family_accuracy": round(family / count, 4),
        "product_box_covers_object": round(covered / count, 4),
        "product_box_mean_iou": round(statistics.fmean(ious), 4),
        "colours_ms": {"p50": round(1000 * statistics.median(colour_seconds), 1),
                       "p95": round(1000 * percentile(colour_seconds, 0.95), 1)},
        "product_region_ms": {"p50": round(1000 * statistics.median(detect_seconds), 1),
                              "p95": round(1000 * percentile(detect_seconds, 0.95), 1)},
        "top_confusions": [[t, p, n] for (t, p), n in confusions.most_common(15)],
        "per_label_accuracy": {label: round(sum(v) / len(v), 3) for label, v in per_label.items()},
    }
    table = "\n".join([
        "| fashion test split | value |", "|---|---|",
        f"| images (baseColour not Multi/NA/Metallic) | {count} |",
        f"| top colour = baseColour (exact) | {exact / count:.1%} |",
        f"| same colour family | {family / count:.1%} |",
        f"| product box holds ≥ {COVERAGE_GOAL:.0%} of the object's pixels | {covered / count:.1%} |",
        f"| product box IoU with the object's bounding box (mean) | {statistics.fmean(ious):.3f} |",
        f"| colours p50 / p95 ms per image | {metrics['colours_ms']['p50']} / "
        f"{metrics['colours_ms']['p95']} |",
        f"| product region p50 / p95 ms per image | {metrics['product_region_ms']['p50']} / "
        f"{metrics['product_region_ms']['p95']} |",
        "", "| label → predicted (most frequent confusions) | count |", "|---|---|",
        *[f"| {t} → {p} | {n} |" for (t, p), n in confusions.most_common(10)]])
    notes = [f"per-colour accuracy chart: {chart.relative_to(chart.parents[2])}",
             "object pixels for the coverage check: farther than "
             f"{OBJECT_DISTANCE} (RGB distance) from white, valid for the white studio shots"]
    return TaskResult(metrics=metrics, table=table, notes=notes)


def draw_accuracy_chart(per_label: dict[str, list[int]], path: Path) -> None:
    """A horizontal bar per label (accuracy, with the sample count), drawn with PIL."""
    labels = sorted(per_label, key=lambda label: -len(per_label[label]))
    row, left, width = 22, 170, 420
    image = Image.new("RGB", (left + width + 120, row * (len(labels) + 2)), "white")
    draw = ImageDraw.Draw(image)
    font = chart_font(13)
    draw.text((8, 4), "top colour = baseColour, per label (fashion test)", fill="black", font=font)
    for index, label in enumerate(labels, start=1):
        hits = per_label[label]
        accuracy = sum(hits) / len(hits)
        y = index * row + 4
        draw.text((8, y), label, fill="black", font=font)
        draw.rectangle((left, y + 2, left + int(width * accuracy), y + row - 6), fill="#4a78a8")
        draw.text((left + width + 6, y), f"{accuracy:.0%} (n={len(hits)})", fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
