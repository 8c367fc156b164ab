"""Fit the identity confidence maps (``tagger/vocab/identity_calibration.json``).

``python -m tagger.train.identity_calibration --data ../shared/data [--labelled TRUTH.csv ...]
[--photos N]``

Calibration photos are ones no benchmark figure scores: fashion and grocery *val* photos
(truth: their category through ``vocab/taxonomy_map``), evenly spaced, ``N`` of each, and any
labelled photo sets given as a ``truth.csv`` with ``file`` and ``google_id`` columns (files
relative to the CSV): e.g. open-world packs rendered with a seed of their own,
``python -m eval.synthetic_identity --seed 2 --out /tmp/calibration-packs`` (eval's figures use
seeds 0 and 1).

Two steps, so a change of fusion rules refits in seconds: *collect* runs the tagger once
per photo up to the identify stage and keeps what that stage reads (seller fields, OCR lines,
ImageNet probabilities, the specialist's prediction) under
``~/.cache/listingsmith/identity_calibration/``; *fit* replays the identifier on them with the
current rules and fits an isotonic map per group (``tagger.identity_calibration``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import pickle
import sys
from importlib import resources
from pathlib import Path

from tagger.train.data import default_data_dir, fashion_rows, grocery_photos

CACHE = Path.home() / ".cache" / "listingsmith" / "identity_calibration"
DEFAULT_PHOTOS = 200


def _spaced(items: list, count: int) -> list:
    return items[::max(1, len(items) // count)][:count]


def calibration_photos(data: Path, count: int, labelled: list[Path]) -> list[tuple[Path, int]]:
    """(photo, truth Google ID) for the val photos and the labelled sets."""
    from tagger.identify import category_map

    fashion_map, grocery_map = category_map("fashion"), category_map("grocery")
    fashion = [(data / "fashion" / r["image"], fashion_map[r["articleType"]])
               for r in fashion_rows(data) if r["split"] == "val" and r["articleType"] in fashion_map]
    grocery = [(data / "grocery" / "images" / p.path, grocery_map[p.coarse])
               for p in grocery_photos(data, ("val",)) if p.coarse in grocery_map]
    photos = _spaced(fashion, count) + _spaced(grocery, count)
    for truth_csv in labelled:
        with open(truth_csv, newline="", encoding="utf-8") as handle:
            photos += [(truth_csv.parent / row["file"], int(row["google_id"]))
                       for row in csv.DictReader(handle)]
    return photos


def collect(photos: list[tuple[Path, int]]) -> list[dict]:
    """What the identify stage reads, per photo (cached per photo file and size)."""
    import tagger.identify as identify
    from listingsmith.core.io import load_image
    from tagger.pipeline import Tagger

    CACHE.mkdir(parents=True, exist_ok=True)
    tagger = Tagger()
    seen: dict = {}
    original = identify.Identifier.identify

    def recording(self, seller, spans=(), image_probabilities=None, specialist=None):
        seen.update(seller=dict(seller), spans=list(spans), probabilities=image_probabilities,
                    specialist=specialist)
        return original(self, seller, spans, image_probabilities, specialist)

    identify.Identifier.identify = recording
    inputs = []
    try:
        for index, (path, truth) in enumerate(photos):
            key = hashlib.sha256(f"{path.resolve()}:{path.stat().st_size}".encode()).hexdigest()[:24]
            cached = CACHE / f"{key}.pkl"
            if cached.is_file():
                inputs.append({**pickle.loads(cached.read_bytes()), "truth": truth})
                continue
            tagger.analyze([load_image(path)])
            record = dict(seen)
            cached.write_bytes(pickle.dumps(record))
            inputs.append({**record, "truth": truth})
            if index % 50 == 0:
                print(f"collected {index + 1}/{len(photos)}", file=sys.stderr)
    finally:
        identify.Identifier.identify = original
    return inputs


def replay(inputs: list[dict]) -> tuple[list[float], list[bool], list[bool]]:
    """Raw (uncalibrated) identities under the current rules: score, right or ancestor, unsure."""
    from tagger.identify import Identifier

    identifier = Identifier()
    tree = identifier.tree
    scores, right, unsure = [], [], []
    for record in inputs:
        identity = identifier.identify(record["seller"], record["spans"], record["probabilities"],
                                       record["specialist"], calibrate=False)
        if identity.taxonomy_id is None:
            continue
        scores.append(identity.confidence)
        right.append(tree.is_ancestor_or_self(identity.taxonomy_id, record["truth"]))
        unsure.append(identity.uncertain)
    return scores, right, unsure


def main(argv: list[str] | None = None) -> int:
    from tagger.identity_calibration import CALIBRATION_FILE, fit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--photos", type=int, default=DEFAULT_PHOTOS,
                        help="fashion and grocery val photos each")
    parser.add_argument("--labelled", type=Path, nargs="*", default=[],
                        help="truth.csv files of other labelled photo sets")
    args = parser.parse_args(argv)
    photos = calibration_photos(args.data, args.photos, args.labelled)
    scores, right, unsure = replay(collect(photos))
    groups = fit(scores, right, unsure)
    out = Path(str(resources.files("tagger").joinpath(CALIBRATION_FILE)))
    out.write_text(json.dumps({
        "what": "isotonic maps: fused identity score -> share of identities whose node is the "
                "truth or an ancestor of it (tagger/identity_calibration.py)",
        "command": "python -m tagger.train.identity_calibration " + " ".join(argv or sys.argv[1:]),
        "photos": {"val_photos_each": args.photos,
                   "labelled_sets": [p.parent.name for p in args.labelled],
                   "scored": len(scores), "right": int(sum(right))},
        "groups": groups}, indent=1) + "\n", "utf-8")
    print(f"wrote {out}: " + ", ".join(f"{name} {g['photos']} photos"
                                       for name, g in groups.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
