"""Train the colour head: cluster colour features + image features -> fashion ``baseColour``.

Nearest-vocabulary naming (``tagger.colours``) gets the top colour's exact name right on about
half the fashion photos: studio light, shading and trims shift a cluster's mean colour across
name boundaries. A small classifier on the colour stage's own features learns those shifts;
the bundled EfficientNet-Lite0 feature of the photo (reduced by PCA) tells it what kind of
product it is, which the catalogue's naming habits depend on.

A tuned image head (``tagger.image_head``: the backbone's last block fine-tuned to name the
colour from the whole photo) is then fused with the classifier: its log-probabilities, times a
weight chosen on val, are added to the classifier's. Alone it names colours worse than the
classifier; together they beat both.

    python -m tagger.train.colour_head --data ../shared/data [--limit N]
        [--image-head-views 3] [--head-epochs 6] [--out tagger/weights/colour_head.joblib]

Fits on ``split == "train"`` rows, selects the model, the image head's weight and the
override threshold on ``"val"``; never reads ``"test"`` (``python -m eval.run --task
colours`` measures that). Features and the image head's views are cached under
``~/.cache/listingsmith/features/`` so re-fitting the classifier takes seconds.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tagger.backbone import ImageBackbone
from tagger.colours import (DOMINANT_SHARE, FEATURE_VERSION, MULTI, fuse, measure_colours,
                            vocabulary)
from listingsmith.core.io import load_image
from tagger.train.image_head import tail_inputs, train_head

SKIPPED_LABELS = {"Multi", "NA", "Metallic", ""}
"""Labels no single dominant colour can match (same rule as ``eval/tasks/colours.py``)."""

CACHE_DIR = Path.home() / ".cache" / "listingsmith" / "features"
THRESHOLDS = np.round(np.arange(0.0, 0.96, 0.05), 2)
"""Override thresholds tried on val for the head's top probability."""

IMAGE_FEATURES = 1280
"""Width of the EfficientNet-Lite0 pooled feature appended to the colour features."""

IMAGE_COMPONENTS = 48
"""PCA components kept of the image feature (chosen on val: fewer named colours worse)."""

BATCH = 32
"""Photos per backbone batch while extracting features."""

MAX_BYTES = 3_000_000
"""Shipped weights stay small: a candidate whose pickle is larger is not chosen."""

HEAD_VIEWS = 3
"""Training views per photo for the tuned image head (the centre crop + random crops)."""

HEAD_EPOCHS = 6

HEAD_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
"""Image-head weights tried on val (0: the classifier alone)."""

TAIL_CACHE = "fashion"
"""Cache name of the fashion photos' tail inputs, shared with the category head's training."""


def read_rows(data: Path, limit: int | None) -> list[dict[str, str]]:
    """Train and val rows of ``fashion/styles.csv`` with a photo and a single-colour label."""
    with open(data / "fashion" / "styles.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle)
                if row["split"] in ("train", "val") and row["image"]
                and row["baseColour"] not in SKIPPED_LABELS]
    if limit:  # evenly spaced, so a small run still sees both splits and most colours
        rows = rows[::max(1, len(rows) // limit)][:limit]
    return rows


def extract(rows: list[dict[str, str]], images_dir: Path, cache: Path | None = None) -> dict:
    """Features, nearest-naming top name and top share per row (cached when ``cache`` given)."""
    if cache is not None and cache.exists():
        return dict(np.load(cache, allow_pickle=False))
    features, nearest, top_share = [], [], []
    backbone = ImageBackbone()
    start = time.perf_counter()
    for first in range(0, len(rows), BATCH):
        images = [load_image(images_dir / row["image"]) for row in rows[first:first + BATCH]]
        for image, output in zip(images, backbone(images, batch_size=BATCH)):
            vector, swatches = measure_colours([image])
            features.append(np.concatenate([vector, output.features]))
            nearest.append(swatches[0].name if swatches else "none")
            top_share.append(swatches[0].share if swatches else 0.0)
        print(f"  features {len(features)}/{len(rows)} ({time.perf_counter() - start:.0f}s)")
    table = {"features": np.array(features, dtype=np.float32), "nearest": np.array(nearest),
             "top_share": np.array(top_share), "label": np.array([r["baseColour"] for r in rows]),
             "split": np.array([r["split"] for r in rows])}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, **table)
    return table


def candidates(image_components: int) -> dict[str, object]:
    """Small models compared on val exact accuracy; each sees the colour features as they are
    and the 1280-d image feature reduced by PCA (fitted on train) to ``image_components``."""
    def with_image_pca(model):
        columns = ColumnTransformer([
            ("colour", "passthrough", slice(0, -IMAGE_FEATURES)),
            ("image", PCA(image_components, random_state=0), slice(-IMAGE_FEATURES, None))])
        return make_pipeline(columns, model)

    return {
        "logistic": with_image_pca(make_pipeline(StandardScaler(),
                                                 LogisticRegression(C=1.0, max_iter=2000))),
        "gradient_boosting": with_image_pca(HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=15, l2_regularization=1.0,
            early_stopping=False, random_state=0)),
    }


def scores(predicted: np.ndarray, top_share: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Exact and family accuracy as ``base_colour`` reports it (a thin top colour is Multi)."""
    family_of = {colour.name: colour.family for colour in vocabulary()}
    reported = np.where(top_share >= DOMINANT_SHARE, predicted, MULTI)
    exact = float(np.mean(reported == label))
    family = float(np.mean([family_of.get(p) is not None and family_of.get(p) == family_of[t]
                            for p, t in zip(reported, label)]))
    return {"exact": round(exact, 4), "family": round(family, 4)}


def calibrate(probability: np.ndarray, head: np.ndarray, nearest: np.ndarray,
              label: np.ndarray) -> float:
    """Lowest threshold where the head's overrides beat nearest naming on the same photos
    (precision), by a margin, while it still maximises overall exact accuracy on val."""
    best, best_hits = 1.0, -1
    for threshold in THRESHOLDS:
        override = probability >= threshold
        if not override.any():
            continue
        if np.mean(head[override] == label[override]) <= np.mean(nearest[override] == label[override]):
            continue
        hits = int(np.sum(np.where(override, head, nearest) == label))
        if hits > best_hits:
            best, best_hits = float(threshold), hits
    return best


def train(rows: list[dict[str, str]], images_dir: Path, out: Path,
          cache: Path | None = None, image_components: int = IMAGE_COMPONENTS,
          head_views: int = HEAD_VIEWS, head_epochs: int = HEAD_EPOCHS,
          tail_cache: str | None = None) -> dict:
    """Extract features, fit the candidates on train, pick one on val, add the tuned image
    head (``head_views`` 0: none), save and return the bundle."""
    table = extract(rows, images_dir, cache)
    vocab_names = {colour.name for colour in vocabulary()}
    known = np.isin(table["label"], list(vocab_names))
    fit_rows = known & (table["split"] == "train")
    val_rows = known & (table["split"] == "val")
    x_fit, y_fit = table["features"][fit_rows], table["label"][fit_rows]
    x_val, y_val = table["features"][val_rows], table["label"][val_rows]
    nearest, share = table["nearest"][val_rows], table["top_share"][val_rows]
    print(f"train {len(y_fit)} / val {len(y_val)} images, {x_fit.shape[1]} features")
    print(f"nearest naming    val {scores(nearest, share, y_val)}")

    chosen = None
    for name, model in candidates(image_components).items():
        start = time.perf_counter()
        model.fit(x_fit, y_fit)
        probability = model.predict_proba(x_val)
        head = model.classes_[np.argmax(probability, axis=1)]
        threshold = calibrate(probability.max(axis=1), head, nearest, y_val)
        combined = np.where(probability.max(axis=1) >= threshold, head, nearest)
        metrics = {"head_only": scores(head, share, y_val), "with_threshold": scores(combined, share, y_val)}
        size = len(_pickled(model))
        print(f"{name:<18} val {metrics} threshold {threshold} "
              f"{size / 1e6:.2f} MB fit {time.perf_counter() - start:.1f}s")
        if size <= MAX_BYTES and (chosen is None or metrics["with_threshold"]["exact"]
                                  > chosen["metrics"]["val"]["exact"]):
            chosen = {"name": name, "model": model, "threshold": threshold,
                      "probability": probability,
                      "metrics": {"val": metrics["with_threshold"],
                                  "val_head_only": metrics["head_only"],
                                  "val_nearest": scores(nearest, share, y_val)}}
    classes = [str(c) for c in chosen["model"].classes_]
    bundle = {"model": chosen["model"], "classes": classes,
              "threshold": chosen["threshold"], "feature_version": FEATURE_VERSION,
              "model_name": chosen["name"], "metrics": chosen["metrics"],
              "image_head": None, "image_head_weight": 0.0,
              "data": f"fashion/styles.csv train split, {len(y_fit)} images "
                      f"(val {len(y_val)} for selection)",
              "trained": datetime.date.today().isoformat()}
    if head_views:
        train_rows = [rows[i] for i in np.flatnonzero(fit_rows)]
        val_list = [rows[i] for i in np.flatnonzero(val_rows)]
        fused = fuse_image_head(train_rows, val_list, images_dir, classes,
                                chosen["probability"], nearest, share, y_val, head_views,
                                head_epochs, tail_cache)
        bundle["metrics"].update(val_without_image_head=chosen["metrics"]["val"],
                                 val=fused.pop("val"),
                                 val_image_head_only=fused.pop("val_image_head_only"))
        bundle.update(fused)
    out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle, out, compress=3)
    print(f"chose {chosen['name']} + image head weight {bundle['image_head_weight']}: val "
          f"{bundle['metrics']['val']} -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return bundle


def fuse_image_head(train_rows: list[dict[str, str]], val_rows: list[dict[str, str]],
                    images_dir: Path, classes: list[str], probability: np.ndarray,
                    nearest: np.ndarray, share: np.ndarray, y_val: np.ndarray, views: int,
                    epochs: int, tail_cache: str | None) -> dict:
    """Train a tuned image head on the train photos, then choose its weight (and re-calibrate
    the threshold) on val by exact accuracy; weight 0 ships no head."""
    column = {name: i for i, name in enumerate(classes)}
    maps, photo = tail_inputs(images_dir, [r["image"] for r in train_rows], views=views,
                              cache_name=tail_cache)
    labels = np.array([column[train_rows[j]["baseColour"]] for j in photo])
    head = train_head(maps, labels, len(classes), epochs=epochs)
    val_maps, val_photo = tail_inputs(images_dir, [r["image"] for r in val_rows], views=1,
                                      cache_name=tail_cache)
    image_log = np.zeros_like(probability)  # a photo that did not load: the classifier alone
    image_log[val_photo] = head.log_probabilities(val_maps)
    names = np.array(classes)
    trials = []
    for weight in HEAD_WEIGHTS:
        fused = fuse(probability, image_log, weight)
        predicted = names[np.argmax(fused, axis=1)]
        threshold = calibrate(fused.max(axis=1), predicted, nearest, y_val)
        combined = np.where(fused.max(axis=1) >= threshold, predicted, nearest)
        trials.append((scores(combined, share, y_val), weight, threshold))
        print(f"image head weight {weight}: val {trials[-1][0]} threshold {threshold}")
    val, weight, threshold = max(trials, key=lambda t: (t[0]["exact"], -t[1]))
    return {"image_head": head.to_arrays() if weight else None, "image_head_weight": weight,
            "threshold": threshold, "image_head_views": views, "image_head_epochs": epochs,
            "val": val, "val_image_head_only": scores(names[np.argmax(image_log, axis=1)],
                                                      share, y_val)}


def _pickled(model: object) -> bytes:
    """The model as shipped (compressed), to compare sizes before choosing."""
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, default=None, help="rows to use (development)")
    parser.add_argument("--out", type=Path, default=Path("tagger/weights/colour_head.joblib"))
    parser.add_argument("--image-head-views", type=int, default=HEAD_VIEWS,
                        help="training views per photo for the tuned image head (0: no head)")
    parser.add_argument("--head-epochs", type=int, default=HEAD_EPOCHS)
    args = parser.parse_args()
    rows = read_rows(args.data, args.limit)
    key = hashlib.sha1(f"{args.data.resolve()}|{args.limit}|v{FEATURE_VERSION}".encode())
    cache = CACHE_DIR / f"colour_head-{key.hexdigest()[:16]}.npz"
    start = time.perf_counter()
    train(rows, args.data / "fashion", args.out, cache, head_views=args.image_head_views,
          head_epochs=args.head_epochs, tail_cache=None if args.limit else TAIL_CACHE)
    print(f"done in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
