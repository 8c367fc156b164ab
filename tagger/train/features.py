"""Cached EfficientNet-Lite0 features of training photos, shared by every training script.

The image tower is frozen, so its pooled feature of a photo never changes: each photo is
run through the backbone once and stored under ``~/.cache/listingsmith/features``
(one ``.npz`` per data set, keyed by the photo's path relative to the data root).
Re-training the aligner or a classifier then takes seconds instead of minutes.

    python -m tagger.train.features --data ../shared/data     # warm the cache for all photos
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tagger.backbone import ImageBackbone
from listingsmith.core.io import load_image
from tagger.train.data import fashion_rows, grocery_photos

CACHE_DIR = Path.home() / ".cache" / "listingsmith" / "features"

BATCH = 32
SAVE_EVERY = 1024
"""Photos between cache writes, so an interrupted warm-up keeps most of its work."""


def image_features(root: Path, relpaths: list[str], *, cache_name: str,
                   backbone: ImageBackbone | None = None, progress: bool = True) -> np.ndarray:
    """``(len(relpaths), 1280)`` float32 pooled features of ``root / relpath`` as the pipeline
    computes them (short side 256, centre crop 224), cached.

    Photos that fail to load get a zero row and a printed warning instead of stopping
    the whole extraction.
    """
    cache = CACHE_DIR / f"{cache_name}-center.npz"
    known = _load(cache)
    missing = [p for p in dict.fromkeys(relpaths) if p not in known]
    if missing:
        backbone = backbone or ImageBackbone()
        start = time.perf_counter()
        for first in range(0, len(missing), BATCH):
            chunk = missing[first:first + BATCH]
            images, loaded = [], []
            for relpath in chunk:
                try:
                    images.append(load_image(root / relpath))
                    loaded.append(relpath)
                except Exception as error:  # one bad photo must not stop the extraction
                    print(f"  skipped {relpath}: {error}")
                    known[relpath] = np.zeros(1280, dtype=np.float32)
            for relpath, output in zip(loaded, backbone(images, batch_size=BATCH)):
                known[relpath] = output.features.astype(np.float32)
            done = first + len(chunk)
            if done % SAVE_EVERY < BATCH or done == len(missing):
                _save(cache, known)
            if progress and (done % 512 < BATCH or done == len(missing)):
                rate = done / (time.perf_counter() - start)
                print(f"  {cache_name}: {done}/{len(missing)} photos "
                      f"({rate:.0f}/s, {(len(missing) - done) / rate:.0f}s left)", flush=True)
    return np.stack([known[p] for p in relpaths]) if relpaths else np.zeros((0, 1280), np.float32)


def pipeline_attributes(root: Path, relpaths: list[str], *, cache_name: str,
                        features: np.ndarray, ocr: bool = True,
                        ocr_only: set[str] | None = None, progress: bool = True) -> list[dict]:
    """Per photo, what the pipeline's OCR and colour stages report: ``{"ocr": [lines],
    "colours": [[name, share], …]}``, cached as JSON lines (OCR is the slow part).

    ``features`` are the photos' backbone features (``image_features``), which the colour
    head needs; ``ocr=False`` skips reading text (studio fashion shots carry none), and
    ``ocr_only`` limits it to those photos (grocery: the packages; loose fruit has no text
    worth the 0.5 s a photo costs on 2 cores).
    """
    from tagger.colours import dominant_colours
    from tagger.ocr import OcrEngine

    cache = CACHE_DIR / f"{cache_name}-attributes{'' if ocr else '-no-ocr'}.jsonl"
    known: dict[str, dict] = {}
    if cache.exists():
        for line in cache.read_text("utf-8").splitlines():
            record = json.loads(line)
            known[record.pop("path")] = record
    missing = [(i, p) for i, p in enumerate(relpaths) if p not in known]
    engine = OcrEngine() if ocr and missing else None
    start = time.perf_counter()
    with open(cache, "a", encoding="utf-8") as handle:
        for done, (index, relpath) in enumerate(missing, 1):
            try:
                image = load_image(root / relpath)
                read = engine is not None and (ocr_only is None or relpath in ocr_only)
                lines = [span.text for span in engine([image])[0]] if read else []
                swatches = dominant_colours([image], image_features=features[index])
                record = {"ocr": lines, "colours": [[s.name, s.share] for s in swatches]}
            except Exception as error:  # one bad photo must not stop the extraction
                print(f"  skipped {relpath}: {error}")
                record = {"ocr": [], "colours": []}
            known[relpath] = record
            handle.write(json.dumps({"path": relpath, **record}) + "\n")
            if progress and (done % 250 == 0 or done == len(missing)):
                handle.flush()
                rate = done / (time.perf_counter() - start)
                print(f"  {cache_name}/attributes: {done}/{len(missing)} photos "
                      f"({rate:.1f}/s, {(len(missing) - done) / rate:.0f}s left)", flush=True)
    return [known[p] for p in relpaths]


def _load(cache: Path) -> dict[str, np.ndarray]:
    if not cache.exists():
        return {}
    with np.load(cache, allow_pickle=False) as table:
        return dict(zip(table["paths"].tolist(), table["features"]))


def _save(cache: Path, known: dict[str, np.ndarray]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial.npz")
    np.savez(partial, paths=np.array(list(known)), features=np.stack(list(known.values())))
    partial.replace(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--attributes", action="store_true",
                        help="also run OCR (grocery) and colours (both) for the classifier")
    args = parser.parse_args()
    image_features(args.data / "grocery" / "images",
                   [photo.path for photo in grocery_photos(args.data)], cache_name="grocery")
    image_features(args.data / "fashion", [row["image"] for row in fashion_rows(args.data)],
                   cache_name="fashion")
    if args.attributes:
        grocery = [photo.path for photo in grocery_photos(args.data)]
        pipeline_attributes(args.data / "grocery" / "images", grocery, cache_name="grocery",
                            ocr_only={p for p in grocery if "/Packages/" in p},
                            features=image_features(args.data / "grocery" / "images", grocery,
                                                    cache_name="grocery"))
        fashion = [row["image"] for row in fashion_rows(args.data)]
        pipeline_attributes(args.data / "fashion", fashion, cache_name="fashion", ocr=False,
                            features=image_features(args.data / "fashion", fashion,
                                                    cache_name="fashion"))


if __name__ == "__main__":
    main()
