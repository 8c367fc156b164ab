"""Warm latency of one checkout: photos → ``Tagger.analyze`` → ``Describer.describe`` (default
generator), one product per photo, after a warm-up. For before/after checks of a refactor:
run it on two checkouts in turn, on a quiet machine, a few rounds interleaved.

    PYTHONPATH=CHECKOUT python -m eval.warm_latency [N] [--data DIR]

Older checkouts (before ``listingsmith.core``) load photos with ``tagger.io``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def photos(data: Path, count: int) -> list[Path]:
    """Half fashion studio shots, half grocery test photos, always the same ones."""
    fashion = sorted((data / "fashion" / "images").glob("*.jpg"))[:count // 2]
    lines = (data / "grocery" / "test.txt").read_text().splitlines()[::97][:count - count // 2]
    return fashion + [data / "grocery" / "images" / line.split(",")[0].strip().lstrip("/")
                      for line in lines]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=10)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    try:
        from tagger.io import load_image
    except ImportError:
        from listingsmith.core.io import load_image
    from describer.pipeline import Describer
    from tagger.pipeline import Tagger

    tagger, describer = Tagger(), Describer()
    images = [load_image(path) for path in photos(args.data, args.count)]
    describer.describe([tagger.analyze([images[0]])])  # loads every model
    seconds = []
    for image in images:
        image.derived.clear()
        start = time.perf_counter()
        describer.describe([tagger.analyze([image])])
        seconds.append(time.perf_counter() - start)
    print(f"p50 {statistics.median(seconds):.3f} s  mean {statistics.mean(seconds):.3f} s  "
          f"n={len(seconds)}")


if __name__ == "__main__":
    main()
