"""Pack facts: AMLC-style F1 on synthetic packs, brand and volume on real grocery packs, latency.

``python -m eval.run --task facts [--limit N]``; ``--limit`` caps both the synthetic set and
the grocery test photos.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from eval.common import grocery_truth, percentile
from eval.synthetic_packs import run_synthetic
from eval.tasks import TaskResult, register
from listingsmith.metrics import amlc_f1

FACT_STAGES = ("ocr", "barcodes", "facts")
CATEGORY_STAGES = ("colours", "tags", "category")
"""Run too on grocery packs, so the brand can use the category hint; not timed as facts."""


def grocery_photos(data: Path, split: str) -> list[tuple[Path, str]]:
    """(photo, class name) for every Packages photo of a split, in file order."""
    photos = []
    for line in (data / "grocery" / f"{split}.txt").read_text().splitlines():
        relative = line.split(",")[0].strip().lstrip("/")
        if "/Packages/" in relative:
            photos.append((data / "grocery" / "images" / relative, relative.split("/")[-2]))
    return photos


def expected_brand(truth: dict[str, dict[str, str]], cls: str) -> str:
    return truth[cls]["brand"].lower()


def run_grocery(data: Path, limit: int | None, tagger) -> tuple[dict, str, list[str], list[float]]:
    """Brand accuracy (open set, and with the train split's brands as the known list) and
    volume/weight F1 on the official test split; returns per-photo OCR+facts seconds too."""
    from tagger.facts import extract_brand, predict_entity
    from listingsmith.core.io import load_image
    from tagger.pipeline import StageTimer, TaggerOptions

    truth = grocery_truth(data)
    known = sorted({truth[cls]["brand"] for _, cls in grocery_photos(data, "train")})
    photos = grocery_photos(data, "test")
    if limit:
        photos = photos[::max(1, len(photos) // limit)][:limit]
    open_hits = known_hits = hinted_hits = 0
    predictions, truths, seconds, failures = [], [], [], []
    for path, cls in photos:
        timer = StageTimer()
        attributes = tagger.analyze([load_image(path)], timer=timer,
                                    options=TaggerOptions(stages=FACT_STAGES + CATEGORY_STAGES))
        seconds.append(sum(timer.seconds.get(stage, 0.0) for stage in FACT_STAGES))
        hinted = attributes.fact("brand")
        hinted_hits += bool(hinted and hinted.value.lower() == expected_brand(truth, cls))
        expected = truth[cls]
        open_brand = extract_brand(attributes.text_spans)
        known_brand = extract_brand(attributes.text_spans, known)
        open_hits += bool(open_brand and open_brand.value.lower() == expected["brand"].lower())
        known_ok = bool(known_brand and known_brand.value.lower() == expected["brand"].lower())
        known_hits += known_ok
        entity = expected["entity_name"]
        predicted = predict_entity(attributes.facts, entity)
        predictions.append({entity: predicted})
        truths.append({entity: expected["entity_value"]})
        if (not known_ok or predicted != expected["entity_value"]) and len(failures) < 10:
            lines = " | ".join(span.text for span in attributes.text_spans[:8])
            failures.append(f"{path.name}: brand {expected['brand']!r} → "
                            f"{known_brand.value if known_brand else None!r}; {entity} "
                            f"{expected['entity_value']!r} → {predicted!r}; read: {lines}")
    volume = amlc_f1(predictions, truths, ["item_volume", "item_weight"])
    count = len(photos)
    metrics = {"photos": count, "known_brands": known,
               "brand_accuracy_open_set": round(open_hits / count, 4),
               "brand_accuracy_known_brands": round(known_hits / count, 4),
               "brand_accuracy_pipeline": round(hinted_hits / count, 4),
               "volume_weight": volume}
    table = "\n".join([
        "| grocery test packs | value |", "|---|---|",
        f"| photos | {count} |",
        f"| brand accuracy, open set (most prominent name-like line) | {open_hits / count:.1%} |",
        f"| brand accuracy, known-brand list from the train split ({len(known)} brands) "
        f"| {known_hits / count:.1%} |",
        f"| brand accuracy, the pipeline (no list: brands of the likeliest predicted grocery "
        f"classes, read on the pack or else inferred from the classes) | {hinted_hits / count:.1%} |",
        f"| volume/weight precision | {volume['precision']:.3f} |",
        f"| volume/weight recall | {volume['recall']:.3f} |",
        f"| volume/weight F1 (AMLC) | {volume['f1']:.3f} |"])
    return metrics, table, failures, seconds


@register("facts")
def run(data: Path, limit: int | None) -> TaskResult:
    from tagger.pipeline import Tagger, TaggerOptions

    tagger = Tagger()

    def analyze(images):
        return tagger.analyze(images, options=TaggerOptions(stages=FACT_STAGES))

    synthetic_metrics, synthetic_table, synthetic_failures = run_synthetic(data, limit, analyze)
    grocery_metrics, grocery_table, grocery_failures, seconds = run_grocery(data, limit, tagger)
    latency = {"p50_s": round(statistics.median(seconds), 3),
               "p95_s": round(percentile(seconds, 0.95), 3),
               "mean_s": round(statistics.fmean(seconds), 3), "photos": len(seconds)}
    latency_table = "\n".join([
        "| OCR + facts per photo (grocery test, 348 px) | seconds |", "|---|---|",
        f"| p50 | {latency['p50_s']} |", f"| p95 | {latency['p95_s']} |",
        f"| mean | {latency['mean_s']} |"])
    notes = ([f"synthetic failure: {f}" for f in synthetic_failures[:5]]
             + [f"grocery failure: {f}" for f in grocery_failures[:5]])
    return TaskResult(
        metrics={"synthetic": synthetic_metrics, "grocery": grocery_metrics, "latency": latency},
        table="\n\n".join(["### (a) synthetic packs (AMLC F1)", synthetic_table,
                           "### (b) real grocery packs", grocery_table,
                           "### (c) latency", latency_table]),
        notes=notes)
