"""Helpers that several benchmark tasks share: the photo sample, the percentile, the grocery
truth table and one timed ``listingsmith batch`` run. Tasks import them from here, never from
each other, so the task modules stay independent.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil


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
    extra = [p for p in grocery + fashion if p not in picks]  # fill up to ``count``
    picks += extra[::max(1, len(extra) // max(1, count - len(picks)))]
    return picks[:count]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.0
    """
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def grocery_truth(data: Path) -> dict[str, dict[str, str]]:
    """Per Packages class: the brand and the one volume/weight entity printed on it."""
    with open(data / "grocery" / "entities.csv", newline="", encoding="utf-8") as handle:
        return {row["class_name"]: row for row in csv.DictReader(handle)}


POLL_S = 0.2
"""How often the memory of the command's process tree is sampled."""


def timed_batch(source: Path, out_dir: Path, engine: str, generator: str,
                workers: int | None = None) -> dict:
    """One ``listingsmith batch`` run into a fresh ``out_dir``: its wall seconds, the peak of
    its process tree's summed RSS, and what it wrote (``workers``: the CLI's default)."""
    from listingsmith.batch_state import side_file
    from listingsmith.cli import EXIT_OK, EXIT_PARTIAL

    out_dir.mkdir()
    out = out_dir / "listings.jsonl"
    command = [sys.executable, "-m", "listingsmith", "batch", str(source), "--out", str(out),
               "--engine", engine] + ([] if generator == "default" else
                                      ["--generator", generator])
    command += [] if workers is None else ["--workers", str(workers)]
    log = out_dir / "stderr.txt"
    with open(log, "w", encoding="utf-8") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        tree, peak = psutil.Process(process.pid), 0
        while True:
            peak = max(peak, tree_rss(tree))
            try:
                process.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                continue
        seconds = time.perf_counter() - start
    if process.returncode not in (EXIT_OK, EXIT_PARTIAL):
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{tail}")
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    rows = {row["id"]: row for row in map(json.loads, lines)}
    failures = side_file(out, "failures")
    failed = 0
    if failures.exists():
        with open(failures, newline="", encoding="utf-8") as handle:
            failed = sum(1 for _ in csv.DictReader(handle))
    products = sum(1 for _ in source.iterdir())
    return {"products": products, "done": len(rows), "failed": failed, "lines": len(lines),
            "complete": len(lines) == len(rows) and len(rows) + failed == products,
            "seconds": seconds, "listings_per_s": len(rows) / seconds,
            "peak_rss_gb": peak / 1024 ** 3, "listings": rows}


def tree_rss(root: psutil.Process) -> int:
    """Bytes of RSS summed over ``root`` and its descendants (Ray's workers are children of
    its raylet, grandchildren of the command); pages shared between them count once each."""
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:  # ended between the listing and the reading
            continue
    return total


def start_up_estimate(full: dict, one_photo_seconds: float) -> dict:
    """Start-up (imports, model loads, Ray) as the one-photo run's seconds less one product's
    share of the difference to the full run, and the rate once started. Estimates: a
    one-product chunk generates in a batch of one, the full run in batches."""
    estimate = {"one_photo_seconds": one_photo_seconds, "est_start_up_s": None,
                "est_listings_per_s_after_start_up": None}
    if full["products"] > 1 and full["seconds"] > one_photo_seconds:
        per_product = (full["seconds"] - one_photo_seconds) / (full["products"] - 1)
        start_up = one_photo_seconds - per_product
        estimate["est_start_up_s"] = start_up
        estimate["est_listings_per_s_after_start_up"] = full["done"] / (full["seconds"]
                                                                        - start_up)
    return estimate
