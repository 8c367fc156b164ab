"""Timing of ``describe``: per stage and end to end, warm and cold, and peak memory."""

from __future__ import annotations

import csv
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from eval.tasks import TaskResult, register


def sample_photos(data: Path, count: int) -> list[Path]:
    """A fixed mix of real photos: grocery packs, fashion studio shots and ABO products."""
    grocery = [data / "grocery" / "images" / line.split(",")[0].strip().lstrip("/")
               for line in (data / "grocery" / "test.txt").read_text().splitlines()
               if "/Packages/" in line]
    with open(data / "fashion" / "styles.csv", newline="", encoding="utf-8") as handle:
        fashion = [data / "fashion" / row["image"] for row in csv.DictReader(handle)
                   if row["split"] == "test" and row["image"]]
    abo = sorted((data / "fixtures" / "abo").glob("*/*.jpg"))
    per_source = max(1, count // 3)
    picks = (grocery[::max(1, len(grocery) // per_source)][:per_source]
             + fashion[::max(1, len(fashion) // per_source)][:per_source]
             + abo)
    return picks[:count]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.0
    """
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def cold_start(photo: Path) -> float:
    """Seconds for a fresh ``listingsmith describe`` process, imports and model loads included."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "listingsmith", "describe", str(photo), "--json"],
                   check=True, capture_output=True)
    return time.perf_counter() - start


@register("speed")
def run(data: Path, limit: int | None) -> TaskResult:
    from describer.pipeline import Describer
    from tagger.io import load_image
    from tagger.pipeline import StageTimer, Tagger

    photos = sample_photos(data, limit or 20)
    tagger, describer = Tagger(), Describer()

    start = time.perf_counter()
    first = load_image(photos[0])
    describer.describe([tagger.analyze([first])])
    first_call = time.perf_counter() - start

    per_stage: dict[str, list[float]] = {}
    totals = []
    for photo in photos:
        timer = StageTimer()
        start = time.perf_counter()
        with timer.stage("load"):
            image = load_image(photo)
        attributes = tagger.analyze([image], timer=timer)
        with timer.stage("generate"):
            describer.describe([attributes])
        totals.append(time.perf_counter() - start)
        for stage, seconds in timer.seconds.items():
            per_stage.setdefault(stage, []).append(seconds)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cold = cold_start(photos[0])
    cold_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    rows = {stage: {"p50_s": round(statistics.median(v), 3), "p95_s": round(percentile(v, 0.95), 3),
                    "mean_s": round(statistics.fmean(v), 3)} for stage, v in per_stage.items()}
    rows["end_to_end"] = {"p50_s": round(statistics.median(totals), 3),
                          "p95_s": round(percentile(totals, 0.95), 3),
                          "mean_s": round(statistics.fmean(totals), 3)}
    metrics = {"photos": len(photos), "warm": rows,
               "first_call_in_process_s": round(first_call, 2),
               "cold_start_cli_s": round(cold, 2),
               "peak_rss_mb": round(peak_rss_mb), "cold_cli_peak_rss_mb": round(cold_rss_mb),
               "listings_per_s_warm": round(len(totals) / sum(totals), 3)}
    table = ["| stage | p50 s | p95 s | mean s |", "|---|---|---|---|"]
    table += [f"| {stage} | {r['p50_s']} | {r['p95_s']} | {r['mean_s']} |"
              for stage, r in rows.items()]
    notes = [f"{len(photos)} photos (grocery packs, fashion test shots, ABO fixtures), one "
             "listing per photo, warm (models loaded by a first call)",
             f"first call in process (model loads included): {metrics['first_call_in_process_s']} s",
             f"cold start of `listingsmith describe PHOTO --json` in a new process: "
             f"{metrics['cold_start_cli_s']} s (peak RSS {metrics['cold_cli_peak_rss_mb']} MB)",
             f"peak RSS of the benchmark process: {metrics['peak_rss_mb']} MB",
             f"warm throughput: {metrics['listings_per_s_warm']} listings/s"]
    return TaskResult(metrics=metrics, table="\n".join(table), notes=notes)
