"""The seller app's waits (issue 8): from upload to the first description text on screen and
to the complete listing, warm, through the same ``ListingService`` calls the app's handlers
make (the browser and Gradio's HTTP hop are not in these numbers).

``python -m eval.run --task app [--limit N]`` (default 10 shared photos)
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from eval.tasks import TaskResult, register
from eval.common import percentile, sample_photos

TARGETS = {"first text": 1.5, "complete listing": 3.0}
"""Seconds, p50, warm, 2 cores (issue 8)."""


@register("app")
def run(data: Path, limit: int | None) -> TaskResult:
    from listingsmith.service import ListingService
    from listingsmith.core.types import Listing

    photos = sample_photos(data, limit or 10)
    service = ListingService()
    start = time.perf_counter()
    service.warm_up()
    warm_up = time.perf_counter() - start
    waits: dict[str, list[float]] = {"analysis": [], "first text": [], "complete listing": []}
    for photo in photos:
        start = time.perf_counter()
        analysis = service.analyze([photo])
        waits["analysis"].append(time.perf_counter() - start)
        first = None
        for item in service.listing_stream(analysis.attributes, "neutral", "medium"):
            if first is None:
                first = time.perf_counter() - start
            if isinstance(item, Listing):
                waits["complete listing"].append(time.perf_counter() - start)
        waits["first text"].append(first)
    rows = []
    for name, values in waits.items():
        target = TARGETS.get(name)
        verdict = "—" if target is None else ("met" if statistics.median(values) <= target
                                               else "missed")
        rows.append(f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.95):.2f} "
                    f"| {target if target else '—'} | {verdict} |")
    table = "\n".join(["| wait from upload | p50 s | p95 s | target s | |", "|---|---|---|---|---|",
                       *rows])
    metrics = {"photos": len(photos), "warm_up_seconds": warm_up,
               "generator": service.pipeline.describer.generator_name,
               **{name: {"p50": statistics.median(v), "p95": percentile(v, 0.95)}
                  for name, v in waits.items()}}
    notes = [f"{len(photos)} shared photos (grocery packs, fashion shots, ABO), one product each, "
             f"after a warm-up of {warm_up:.1f} s (model loading, as at app start)",
             f"generator: {service.pipeline.describer.generator_name}; 'first text' is the first streamed "
             "piece of the description (the title is written before it)"]
    return TaskResult(metrics=metrics, table=table, notes=notes)
