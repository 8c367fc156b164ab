"""Train a category classifier (``tagger.classify``) on fused attributes.

Shipped taxonomies, from ``../shared/data`` (train split to fit, val to choose C, the
temperature and the "uncertain" cut-off; test is left to ``eval.run --task category``):

    python -m tagger.train.classifier --dataset grocery     # → tagger/weights/category_grocery.joblib
    python -m tagger.train.classifier --dataset fashion

A seller's own labelled photos (``listingsmith train classifier`` is the same script):

    listingsmith train classifier --images photos/ --out my_categories.joblib
        photos/<class>/*.jpg, or nested photos/<parent>/<class>/*.jpg for a hierarchy
    listingsmith train classifier --images labels.csv --label-column department \\
        --label-column category --out my_categories.joblib
        a CSV with an ``image`` column (paths relative to the CSV) and one label column per
        level, coarsest first; an optional ``split`` column (train/val) fixes the split

then ``listingsmith describe PHOTO --taxonomy my_categories.joblib``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tagger.classify import (BLOCKS, CategoryFeaturizer, CategoryModel, FeatureInputs,
                             fused_features, specialist_settings)
from listingsmith.core.errors import ValidationError

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
"""Inverse regularisation strengths tried on val (features are standardised)."""
CONFIDENT_PRECISION = 0.90
"""A prediction is "uncertain" below the top probability at which val predictions are
right this often."""
SEED = 0
SHIPPED_BLOCKS = {"grocery": BLOCKS, "fashion": ("image", "aligned", "colours")}
"""Studio fashion shots carry no text, so the fashion model has no OCR block."""
SHIPPED_HEAD_VIEWS = {"grocery": 6, "fashion": 3}
"""Shipped models' tuned image heads: views per training photo (fashion has 3× the photos,
so fewer views keep its training near 45 min on 2 cores)."""
HEAD_EPOCHS = 8
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def feature_matrix(inputs: list[FeatureInputs], blocks: tuple[str, ...]) -> np.ndarray:
    return np.stack([fused_features(x, blocks) for x in inputs]).astype(np.float32)


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The softmax temperature minimising val negative log-likelihood (grid search)."""
    best, best_nll = 1.0, np.inf
    for temperature in np.geomspace(0.05, 20, 60):
        logits = scores / temperature
        logits = logits - logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        nll = -log_probs[np.arange(len(truth)), truth].mean()
        if nll < best_nll:
            best, best_nll = float(temperature), nll
    return round(best, 4)


def uncertain_cutoff(top_probability: np.ndarray, correct: np.ndarray) -> float:
    """Lowest top probability above which val predictions reach ``CONFIDENT_PRECISION``."""
    for cutoff in np.round(np.arange(0.0, 1.0, 0.02), 2):
        kept = top_probability >= cutoff
        if kept.any() and correct[kept].mean() >= CONFIDENT_PRECISION:
            return float(cutoff)
    return 1.0


def fit(name: str, x_train: np.ndarray, y_train: list[str], x_val: np.ndarray, y_val: list[str],
        paths: dict[str, list[str]], levels: list[str], blocks: tuple[str, ...],
        c_grid: tuple[float, ...] = C_GRID, log=print) -> CategoryModel:
    """Fit one pipeline per C on train, keep the best on val accuracy, calibrate on val."""
    best = None
    for c in c_grid:
        start = time.perf_counter()
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(
            C=c, max_iter=300, class_weight="balanced"))
        pipeline.fit(x_train, y_train)
        accuracy = float(np.mean(pipeline.predict(x_val) == np.array(y_val))) if len(y_val) else 0.0
        log(f"  C={c:<6} val accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f}s)")
        if best is None or accuracy > best[1]:
            best = (pipeline, accuracy, c)
    pipeline, val_accuracy, c = best
    classes = [str(label) for label in pipeline.classes_]
    model = CategoryModel(name=name, pipeline=pipeline, classes=classes,
                          paths={label: list(paths[label]) for label in classes},
                          levels=list(levels), blocks=tuple(blocks))
    _, macro_f1, _ = calibrate(model, x_val, y_val)
    model.card = {"C": c, "val_accuracy": round(val_accuracy, 4), "val_macro_f1": round(macro_f1, 4),
                  "train_photos": int(len(y_train)), "val_photos": int(len(y_val)),
                  "classes": len(classes), "trained": datetime.date.today().isoformat()}
    log(f"chose C={c}: val accuracy {val_accuracy:.4f}, macro-F1 {macro_f1:.4f}, "
        f"temperature {model.temperature}, uncertain below {model.uncertain_below}, "
        f"{model.ood_score} above {model.ood_above}, distance above {model.distance_above}")
    return model


def calibrate(model: CategoryModel, x_val: np.ndarray, y_val: list[str],
              tail_inputs: list[np.ndarray] | None = None) -> tuple[float, float, float]:
    """Fit the temperature and the "uncertain" cut-off on val photos; returns val accuracy,
    macro-F1 and negative log-likelihood (NaN without val photos)."""
    if not len(y_val):
        return float("nan"), float("nan"), float("nan")
    index = {label: i for i, label in enumerate(model.classes)}
    known = np.array([label in index for label in y_val])
    truth = np.array([index[label] for label in np.array(y_val)[known]])
    tails = [t for t, k in zip(tail_inputs, known) if k] if tail_inputs is not None else None
    model.temperature = fit_temperature(model.scores(x_val[known], tails), truth)
    probabilities = model.probabilities(x_val[known], tails)
    predicted = probabilities.argmax(axis=1)
    model.uncertain_below = uncertain_cutoff(probabilities.max(axis=1), predicted == truth)
    set_ood_thresholds(model, x_val[known], tails)
    nll = float(-np.log(probabilities[np.arange(len(truth)), truth] + 1e-12).mean())
    return (float(np.mean(predicted == truth)), float(f1_score(truth, predicted, average="macro")),
            nll)


def set_ood_thresholds(model: CategoryModel, x_val: np.ndarray,
                       tail_inputs: list[np.ndarray] | None = None,
                       ood_share: float | None = None, distance_share: float | None = None
                       ) -> CategoryModel:
    """The out-of-distribution thresholds from val photos of the training classes: the
    novelty and feature distance that flag ``ood_share`` and ``distance_share`` of them
    (``tagger/vocab/specialists.toml`` unless given)."""
    settings = specialist_settings()
    ood_share = settings["ood_val_share"] if ood_share is None else ood_share
    distance_share = settings["distance_val_share"] if distance_share is None else distance_share
    model.ood_score = settings.get(model.name, {}).get("ood_score", settings["ood_score"])
    novelty = model.novelty(x_val, tail_inputs)
    model.ood_above = round(float(np.quantile(novelty, 1 - ood_share)), 4)
    model.distance_above = round(float(np.quantile(model.feature_distance(x_val),
                                                   1 - distance_share)), 4)
    return model


HEAD_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Weights of the tuned image head's log-probabilities tried on val."""


def attach_image_head(model: CategoryModel, maps: np.ndarray, labels: list[str],
                      x_val: np.ndarray, y_val: list[str], val_tails: list[np.ndarray],
                      epochs: int, log=print) -> CategoryModel:
    """Fine-tune an image head (``tagger.train.image_head``) on training views ``maps`` with
    their class ``labels``, then choose its weight, the temperature and the cut-off on val
    (lowest negative log-likelihood)."""
    from tagger.train.image_head import train_head

    index = {label: i for i, label in enumerate(model.classes)}
    head = train_head(maps, np.array([index[label] for label in labels]), len(model.classes),
                      epochs=epochs, log=log)
    model.image_head, model.image_head_classes = head.to_arrays(), list(model.classes)
    results = {}
    for weight in HEAD_WEIGHTS:
        model.image_head_weight = weight
        results[weight] = calibrate(model, x_val, y_val, val_tails)
        log(f"  head weight {weight}: val accuracy {results[weight][0]:.4f}, "
            f"NLL {results[weight][2]:.3f}")
    model.image_head_weight = min(results, key=lambda w: results[w][2])
    accuracy, macro_f1, _ = calibrate(model, x_val, y_val, val_tails)
    model.card.update(val_accuracy=round(accuracy, 4), val_macro_f1=round(macro_f1, 4),
                      image_head={"epochs": epochs, "training_views": int(len(maps)),
                                  "weight": model.image_head_weight,
                                  "val_accuracy_without": round(results[0.0][0], 4)})
    log(f"chose head weight {model.image_head_weight}: val accuracy {accuracy:.4f}, "
        f"temperature {model.temperature}, uncertain below {model.uncertain_below}")
    return model


# ------------------------------------------------------------------ shipped data sets


def refit_on_val(model: CategoryModel, x_train: np.ndarray, y_train: list[str],
                 x_val: np.ndarray, y_val: list[str]) -> CategoryModel:
    """The chosen pipeline refitted on train + val. C, the temperature and the uncertainty
    cut-off stay the ones val chose for the train-only fit (and the validation report is of
    that fit); the weights see the val photos too, which helps on the official test splits
    (``eval/report.md``)."""
    if not len(y_val):
        return model
    model.pipeline = clone(model.pipeline).fit(np.vstack([x_train, x_val]),
                                               list(y_train) + list(y_val))
    model.classes = [str(label) for label in model.pipeline.classes_]
    model.card["refit_on"] = "train+val"
    return model


def shipped_inputs(data: Path, dataset: str, only_splits: tuple[str, ...] | None = None,
                   blocks: tuple[str, ...] = BLOCKS) -> dict:
    """Per photo of a shipped data set: ``FeatureInputs``, label, split; plus the label paths.

    Photo features, OCR lines and colours come from the ``tagger.train.features`` caches
    (computed on first use), so the numbers match what the pipeline computes. ``only_splits``
    keeps only those splits' photos; without the colours and ocr ``blocks`` the (slow) OCR
    and colour attributes are left empty.
    """
    from tagger.train.data import fashion_rows, grocery_photos
    from tagger.train.features import image_features, pipeline_attributes

    if dataset == "grocery":
        photos = grocery_photos(data)
        root, relpaths = data / "grocery" / "images", [p.path for p in photos]
        labels, splits = [p.fine for p in photos], [p.split for p in photos]
        paths = {p.fine: [p.coarse, p.fine] for p in photos}
        levels, ocr = ["coarse", "fine"], {r for r in relpaths if "/Packages/" in r}
    elif dataset == "fashion":
        rows = fashion_rows(data)
        root, relpaths = data / "fashion", [r["image"] for r in rows]
        labels, splits = [r["articleType"] for r in rows], [r["split"] for r in rows]
        parents: dict[str, Counter] = {}
        for r in rows:
            parents.setdefault(r["articleType"], Counter())[(r["masterCategory"], r["subCategory"])] += 1
        paths = {t: [*c.most_common(1)[0][0], t] for t, c in parents.items()}
        levels, ocr = ["masterCategory", "subCategory", "articleType"], None
    else:
        raise ValidationError(f"--dataset: expected grocery or fashion, got {dataset!r}")
    if only_splits is not None:
        kept = [i for i, split in enumerate(splits) if split in only_splits]
        relpaths, labels = [relpaths[i] for i in kept], [labels[i] for i in kept]
        splits = [splits[i] for i in kept]
    features = image_features(root, relpaths, cache_name=dataset)
    attributes = (pipeline_attributes(root, relpaths, cache_name=dataset, features=features,
                                      ocr=ocr is not None, ocr_only=ocr)
                  if {"colours", "ocr"} & set(blocks) else [{"ocr": [], "colours": []}] * len(relpaths))
    featurizer = CategoryFeaturizer()
    aligned = featurizer.aligned(features)
    ocr_vectors = featurizer.ocr_vectors([a["ocr"] for a in attributes])
    inputs = [FeatureInputs(features[i:i + 1], aligned[i], _swatches(attributes[i]["colours"]),
                            ocr_vectors[i], " ".join(attributes[i]["ocr"]))
              for i in range(len(relpaths))]
    brands = grocery_brands(data) if dataset == "grocery" else {}
    return {"inputs": inputs, "labels": labels, "splits": np.array(splits), "paths": paths,
            "levels": levels, "root": root, "relpaths": relpaths, "brands": brands}


def shipped_ood_thresholds(data: Path, dataset: str, log=print) -> dict[str, float]:
    """The OOD thresholds of a shipped model from its val photos, for
    ``tagger/vocab/specialists.toml`` (the weights stay as they are). The shipped pipeline was
    refitted on train + val, so its val scores are a little more confident than unseen
    photos': the test share flagged comes out above the val share
    (``python -m eval.run --task leave-types-out`` measures it)."""
    from tagger.classify import shipped_model
    from tagger.train.image_head import tail_inputs

    model = shipped_model(dataset)
    table = shipped_inputs(data, dataset, only_splits=("val",), blocks=model.blocks)
    x = feature_matrix(table["inputs"], model.blocks)
    tails = None
    if model.needs_tail_inputs:
        maps, photo = tail_inputs(table["root"], table["relpaths"], views=1, cache_name=dataset)
        tails = [maps[photo == j] for j in range(len(x))]
    set_ood_thresholds(model, x, tails)
    values = {"ood_score": model.ood_score, "ood_above": model.ood_above,
              "distance_above": model.distance_above}
    log(f"[{dataset}] from {len(x)} val photos: " + ", ".join(f"{k} = {v}" for k, v in values.items()))
    return values


def grocery_brands(data: Path) -> dict[str, str]:
    """Packages class → the brand printed on it (``grocery/entities.csv``)."""
    with open(data / "grocery" / "entities.csv", newline="", encoding="utf-8") as handle:
        return {row["class_name"]: row["brand"] for row in csv.DictReader(handle)}


def _swatches(colours: list[list]) -> list[tuple[str, float]]:
    return [(str(name), float(share)) for name, share in colours]


# ------------------------------------------------------------------ a seller's photos


def labelled_photos(source: Path, label_columns: list[str], image_column: str = "image"
                    ) -> list[tuple[Path, list[str], str | None]]:
    """(photo, label path coarsest first, split or None) from a class folder tree or a CSV."""
    if source.is_dir():
        found = []
        for photo in sorted(source.rglob("*")):
            if photo.suffix.lower() in IMAGE_SUFFIXES and photo.is_file():
                parts = list(photo.relative_to(source).parent.parts)
                if parts:
                    found.append((photo, parts, None))
        if not found:
            raise ValidationError(f"{source}: no photos in class sub-folders; expected "
                                  f"{source}/<class>/<photo>.jpg")
        return found
    if source.suffix.lower() != ".csv" or not source.is_file():
        raise ValidationError(f"{source}: expected a folder of class sub-folders or a .csv file")
    if not label_columns:
        raise ValidationError(f"{source}: name the label column(s) with --label-column")
    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in [image_column, *label_columns] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValidationError(f"{source}: expected columns {missing}, got {reader.fieldnames}")
        rows = list(reader)
    found = []
    for number, row in enumerate(rows, 2):
        path = [row[c].strip() for c in label_columns]
        if not all(path) or not row[image_column].strip():
            print(f"  {source}:{number}: skipped (empty image or label)", file=sys.stderr)
            continue
        split = (row.get("split") or "").strip().lower() or None
        found.append((source.parent / row[image_column].strip(), path, split))
    return found


def seller_inputs(photos: list[tuple[Path, list[str], str | None]]) -> tuple[list, list]:
    """Run the pipeline's OCR, colours and backbone on each photo (a progress bar);
    unreadable photos are reported on one line each and left out."""
    from tqdm import tqdm

    from tagger.colours import dominant_colours
    from listingsmith.core.errors import ListingsmithError
    from listingsmith.core.io import load_image
    from tagger.pipeline import Tagger

    tagger, featurizer = Tagger(), CategoryFeaturizer()
    inputs, kept = [], []
    for photo, path, split in tqdm(photos, desc="features", unit="photo", file=sys.stderr):
        try:
            image = load_image(photo)
        except ListingsmithError as exc:
            tqdm.write(f"  skipped: {exc}", file=sys.stderr)
            continue
        features = tagger.backbone([image])[0].features[None]
        lines = [span.text for span in tagger.ocr([image])[0]]
        colours = dominant_colours([image], image_features=features[0])
        inputs.append(featurizer.product_inputs(features, colours, lines))
        kept.append((photo, path, split))
    return inputs, kept


def split_rows(labels: list[str], given: list[str | None], val_share: float) -> np.ndarray:
    """``train``/``val`` per photo: the CSV's own split where given, else a stratified draw
    (a class with one photo stays in train)."""
    rng = np.random.default_rng(SEED)
    splits = np.array([g if g in ("train", "val") else "" for g in given], dtype=object)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        if not splits[i]:
            by_class.setdefault(label, []).append(i)
    for members in by_class.values():
        members = list(rng.permutation(members))
        n_val = int(round(val_share * len(members))) if len(members) > 1 else 0
        for j, i in enumerate(members):
            splits[i] = "val" if j < n_val else "train"
    return splits


def report(model: CategoryModel, x: np.ndarray, y: list[str],
           tail_inputs: list[np.ndarray] | None = None) -> str:
    """Accuracy per level on the given photos (val for a seller, test in ``eval``)."""
    probabilities = model.probabilities(x, tail_inputs)
    lines = []
    for level, name in enumerate(model.levels):
        labels, level_probs = model.level_probabilities(probabilities, level)
        predicted = np.array(labels)[level_probs.argmax(axis=1)]
        truth = np.array([model.paths[t][level] if t in model.paths else "?" for t in y])
        lines.append(f"  {name:<16} accuracy {np.mean(predicted == truth):.1%} on {len(y)} photos")
    return "\n".join(lines)


def model_card(model: CategoryModel, source: str, argv: list[str], seconds: int) -> str:
    """A short markdown card written beside the model: data, recipe, val metrics, retraining."""
    card = model.card
    return "\n".join([
        f"# Model card: category classifier `{model.name}`", "",
        f"**Data.** {source}: {card['train_photos']} training photos, {card['val_photos']} "
        f"validation photos, {card['classes']} classes; levels: {' → '.join(model.levels)} "
        "(coarser levels are sums of the finest level's probabilities, so they always agree).", "",
        f"**Features.** Blocks {', '.join(model.blocks)} of `tagger.classify` (image: the "
        "EfficientNet-Lite0 feature; aligned: the bundled aligner's embedding and tag scores; "
        "colours: share per vocabulary colour; ocr: MiniLM embedding and hashed character "
        "n-grams of the text read on the photo).", "",
        f"**Model.** Standardise → logistic regression (class-balanced, C={card['C']} chosen "
        f"on val{', then refitted on train + val' if card.get('refit_on') else ''}); "
        f"temperature {model.temperature} fitted on val; predictions below "
        f"{model.uncertain_below} top probability are flagged uncertain (above it, val "
        f"predictions were right ≥ {CONFIDENT_PRECISION:.0%} of the time), and so are inputs "
        f"that look out-of-distribution: {model.ood_score} above {model.ood_above} or feature "
        f"distance above {model.distance_above} (thresholds from val photos; shipped models "
        "take theirs from `tagger/vocab/specialists.toml`).", "",
        *([f"**Tuned image head.** The backbone's last block and head convolution, fine-tuned "
           f"with a linear layer over the classes (`tagger.image_head`, "
           f"`tagger.train.image_head`): {card['image_head']['epochs']} epochs over "
           f"{card['image_head']['training_views']} training views (the centre crop and random "
           f"crops of each training photo); its log-probabilities are added to the classifier's "
           f"scores with weight {card['image_head']['weight']} (chosen on val: accuracy "
           f"{card['image_head']['val_accuracy_without']:.1%} without the head).", ""]
          if card.get("image_head") else []),
        f"**Validation.** accuracy {card['val_accuracy']:.1%}, macro-F1 {card['val_macro_f1']:.3f} "
        f"(finest level). Test numbers: `python -m eval.run --task category` (shipped models).", "",
        f"**Retrain.** `listingsmith train classifier {' '.join(argv)}` ({seconds} s on this "
        f"machine, trained {card['trained']}).", ""])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="listingsmith train classifier",
                                     description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=sorted(SHIPPED_BLOCKS),
                        help="retrain a shipped taxonomy from the shared data")
    source.add_argument("--images", type=Path, help="your labelled photos: a folder or a CSV")
    parser.add_argument("--label-column", action="append", default=[],
                        help="CSV label column; repeat for levels, coarsest first")
    parser.add_argument("--image-column", default="image", help="CSV column with photo paths")
    parser.add_argument("--data", type=Path, default=None, help="shared data (with --dataset)")
    parser.add_argument("--blocks", nargs="+", choices=BLOCKS, default=None,
                        help="feature blocks to use (default: all that apply)")
    parser.add_argument("--val-share", type=float, default=0.2)
    parser.add_argument("--image-head", type=int, default=None, metavar="VIEWS",
                        help="fine-tune an image head on VIEWS views per training photo "
                             "(0: none; default: 6 for grocery, 3 for fashion, 0 for --images)")
    parser.add_argument("--head-epochs", type=int, default=HEAD_EPOCHS)
    parser.add_argument("--out", type=Path, default=None, help="where to save the model (.joblib)")
    parser.add_argument("--ood-thresholds", action="store_true",
                        help="with --dataset: only print the shipped model's out-of-distribution "
                             "thresholds from val photos (for tagger/vocab/specialists.toml)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.dataset and args.ood_thresholds:
        from tagger.train.data import default_data_dir

        shipped_ood_thresholds(args.data or default_data_dir(), args.dataset)
        return
    if args.dataset:
        from tagger.train.data import default_data_dir

        table = shipped_inputs(args.data or default_data_dir(), args.dataset)
        blocks = tuple(args.blocks or SHIPPED_BLOCKS[args.dataset])
        x = feature_matrix(table["inputs"], blocks)
        labels, splits = table["labels"], table["splits"]
        paths, levels, name = table["paths"], table["levels"], args.dataset
        brands = table["brands"]
        out = args.out or Path("tagger/weights") / f"category_{args.dataset}.joblib"
        root, relpaths = table["root"], table["relpaths"]
        cache_name = args.dataset
        views = SHIPPED_HEAD_VIEWS.get(args.dataset, 0) if args.image_head is None else args.image_head
    else:
        if args.out is None:
            parser.error("--out is required with --images")
        photos = labelled_photos(args.images, args.label_column, args.image_column)
        inputs, kept = seller_inputs(photos)
        if len({tuple(p) for _, p, _ in kept}) < 2:
            raise ValidationError(f"{args.images}: expected photos of at least 2 classes, got "
                                  f"{len({tuple(p) for _, p, _ in kept})}")
        blocks = tuple(args.blocks or BLOCKS)
        x = feature_matrix(inputs, blocks)
        labels = [" / ".join(p) for _, p, _ in kept]
        paths = {" / ".join(p): [" / ".join(p[:i + 1]) for i in range(len(p))] for _, p, _ in kept}
        depth = max(len(p) for _, p, _ in kept)
        levels = args.label_column or [f"level {i + 1}" for i in range(depth)]
        if any(len(p) != depth for _, p, _ in kept):
            raise ValidationError(f"{args.images}: every photo needs the same number of levels "
                                  f"(found {sorted({len(p) for _, p, _ in kept})})")
        splits = split_rows(labels, [s for _, _, s in kept], args.val_share)
        name, out, brands = args.out.stem, args.out, {}
        root, relpaths, cache_name = Path("/"), [str(p.resolve()) for p, _, _ in kept], None
        views = args.image_head or 0
    train_rows = np.flatnonzero(splits == "train")
    val_rows = np.flatnonzero(splits == "val")
    print(f"{name}: {len(train_rows)} train / {len(val_rows)} val photos, "
          f"{len(set(labels))} classes, blocks {blocks}, {x.shape[1]} features")
    model = fit(name, x[train_rows], [labels[i] for i in train_rows], x[val_rows],
                [labels[i] for i in val_rows], paths, levels, blocks)
    val_tails = None
    if views:
        from tagger.train.image_head import tail_inputs

        maps, photo = tail_inputs(root, [relpaths[i] for i in train_rows], views=views,
                                  cache_name=cache_name)
        centre, centre_photo = tail_inputs(root, [relpaths[i] for i in val_rows], views=1,
                                           cache_name=cache_name)
        val_tails = [centre[centre_photo == j] for j in range(len(val_rows))]
        model = attach_image_head(model, maps, [labels[train_rows[j]] for j in photo],
                                  x[val_rows], [labels[i] for i in val_rows], val_tails,
                                  args.head_epochs)
    if len(val_rows):
        print("validation report:\n" + report(model, x[val_rows], [labels[i] for i in val_rows],
                                               val_tails))
    model = refit_on_val(model, x[train_rows], [labels[i] for i in train_rows], x[val_rows],
                         [labels[i] for i in val_rows])
    model.brands = {label: brand for label, brand in brands.items() if label in model.classes}
    seconds = round(time.perf_counter() - start)
    model.save(out)
    source = (f"`../shared/data` {args.dataset} (official train split; val for selection)"
              if args.dataset else f"`{args.images}`")
    out.with_suffix(".md").write_text(model_card(model, source, argv or sys.argv[1:], seconds), "utf-8")
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB) and its model card in {seconds}s")


if __name__ == "__main__":
    main()
