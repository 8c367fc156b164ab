"""Category accuracy of the shipped classifiers on the official test splits, with ablations.

``python -m eval.run --task category [--limit N]``

- grocery (GroceryStoreDataset test, 2,485 photos): fine and coarse accuracy and macro-F1;
- fashion (test split, 946 photos): article type and sub-category accuracy and macro-F1;
- an ablation per data set: the same training recipe (C of the shipped model) refitted on
  train with feature blocks added one at a time, scored on test;
- the share of predictions flagged "uncertain" and the accuracy of the rest;
- ``eval/results/category_confusion.png``: grocery coarse-level confusion matrix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from sklearn.metrics import f1_score

from eval.tasks import TaskResult, chart_font, register

ABLATIONS = {
    "grocery": [("image",), ("image", "ocr"), ("image", "aligned"), ("image", "colours"),
                ("image", "aligned", "colours", "ocr")],
    "fashion": [("image",), ("image", "aligned"), ("image", "colours"),
                ("image", "aligned", "colours")],
}
GOALS = {"grocery": 0.90, "fashion": 0.92}
RESULTS = Path(__file__).resolve().parents[1] / "results"


def level_scores(model, probabilities: np.ndarray, truth: list[str], level: int) -> tuple[float, float]:
    labels, level_probs = model.level_probabilities(probabilities, level)
    predicted = np.array(labels)[level_probs.argmax(axis=1)]
    actual = np.array([model.paths[t][level] if t in model.paths else "?" for t in truth])
    return float(np.mean(predicted == actual)), float(f1_score(actual, predicted, average="macro"))


def confusion_png(model, probabilities: np.ndarray, truth: list[str], level: int, path: Path) -> None:
    """Row-normalised confusion matrix as a heat map with class names (PIL only)."""
    labels, level_probs = model.level_probabilities(probabilities, level)
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)))
    for row, t in zip(level_probs.argmax(axis=1), truth):
        matrix[index[model.paths[t][level]], row] += 1
    matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    cell, margin = 14, 150
    size = margin + cell * len(labels) + 10
    image = Image.new("RGB", (size, size + 30), "white")
    draw = ImageDraw.Draw(image)
    font = chart_font(10)
    for i, label in enumerate(labels):
        draw.text((4, margin + i * cell + 1), label[:24], fill="black", font=font)
        vertical = Image.new("RGB", (margin - 6, cell), "white")
        ImageDraw.Draw(vertical).text((2, 1), label[:24], fill="black", font=font)
        image.paste(vertical.rotate(90, expand=True), (margin + i * cell, 4))
        for j in range(len(labels)):
            shade = int(255 * (1 - matrix[i, j]))
            colour = (shade, shade, 255) if i == j else (255, shade, shade)
            draw.rectangle([margin + j * cell, margin + i * cell, margin + (j + 1) * cell - 1,
                            margin + (i + 1) * cell - 1], fill=colour)
    draw.text((4, size + 8), f"{model.name} {model.levels[level]}: rows = truth, columns = "
              "prediction (blue: correct share, red: confusions)", fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_tails(table: dict, rows: np.ndarray, dataset: str) -> list[np.ndarray]:
    """The centre-crop tail input of each test photo (cached like the training views)."""
    from tagger.train.image_head import tail_inputs

    maps, photo = tail_inputs(table["root"], [table["relpaths"][i] for i in rows], views=1,
                              cache_name=dataset)
    return [maps[photo == j] for j in range(len(rows))]


@register("category")
def run(data: Path, limit: int | None) -> TaskResult:
    from tagger.classify import shipped_model
    from tagger.train.classifier import feature_matrix, fit, shipped_inputs

    metrics: dict = {}
    lines = ["| data set | level | test photos | accuracy | macro-F1 | goal |", "|---|---|---|---|---|---|"]
    ablation_lines = ["| data set | feature blocks | test accuracy (finest level) |", "|---|---|---|"]
    notes = []
    for dataset in ("grocery", "fashion"):
        model = shipped_model(dataset)
        table = shipped_inputs(data, dataset)
        test = np.flatnonzero(table["splits"] == "test")
        if limit:
            test = test[::max(1, len(test) // limit)][:limit]
        truth = [table["labels"][i] for i in test]
        x_test = feature_matrix([table["inputs"][i] for i in test], model.blocks)
        tails = test_tails(table, test, dataset) if model.needs_tail_inputs else None
        probabilities = model.probabilities(x_test, tails)
        metrics[dataset] = {"test_photos": len(test), "blocks": list(model.blocks)}
        for level in reversed(range(len(model.levels))):
            accuracy, macro_f1 = level_scores(model, probabilities, truth, level)
            name = model.levels[level]
            finest = level == len(model.levels) - 1
            metrics[dataset][name] = {"accuracy": round(accuracy, 4), "macro_f1": round(macro_f1, 4)}
            goal = f"≥ {GOALS[dataset]:.0%}: " + ("met" if accuracy >= GOALS[dataset] else "NOT met") if finest else ""
            lines.append(f"| {dataset} | {name} | {len(test)} | {accuracy:.1%} | {macro_f1:.3f} | {goal} |")
        top = probabilities.max(axis=1)
        index = {c: i for i, c in enumerate(model.classes)}
        correct = np.array([index.get(t, -1) for t in truth]) == probabilities.argmax(axis=1)
        flagged = (top < model.uncertain_below) | model.out_of_distribution(
            model.novelty(x_test, tails), model.feature_distance(x_test))
        metrics[dataset]["uncertain_share"] = round(float(flagged.mean()), 4)
        metrics[dataset]["confident_accuracy"] = round(float(correct[~flagged].mean()), 4) if (~flagged).any() else None
        notes.append(f"{dataset}: {flagged.mean():.1%} of test predictions flagged uncertain "
                     f"(top probability < {model.uncertain_below}, {model.ood_score} > "
                     f"{model.ood_above} or feature distance > {model.distance_above}); the "
                     f"others are right {metrics[dataset]['confident_accuracy']:.1%} of the time "
                     "(OOD on unseen types: `python -m eval.run --task leave-types-out`)")
        if dataset == "grocery":
            confusion_png(model, probabilities, truth, 0, RESULTS / "category_confusion.png")
        train_rows = np.flatnonzero(table["splits"] == "train")
        metrics[dataset]["ablation"] = {}
        for blocks in ABLATIONS[dataset]:
            x_train = feature_matrix([table["inputs"][i] for i in train_rows], blocks)
            x_test = feature_matrix([table["inputs"][i] for i in test], blocks)
            refit = fit(dataset, x_train, [table["labels"][i] for i in train_rows], x_test[:0], [],
                        table["paths"], table["levels"], blocks, c_grid=(model.card["C"],),
                        log=lambda *_: None)
            predicted = np.array(refit.classes)[refit.probabilities(x_test).argmax(axis=1)]
            accuracy = float(np.mean(predicted == np.array(truth)))
            metrics[dataset]["ablation"]["+".join(blocks)] = round(accuracy, 4)
            ablation_lines.append(f"| {dataset} | {' + '.join(blocks)} | {accuracy:.1%} |")
        if tails is not None:
            head_alone = np.array(model.classes)[model.head_log_probabilities(tails).argmax(axis=1)]
            shipped_without = np.array(model.classes)[model.pipeline.decision_function(x_test).argmax(axis=1)]
            for label, predicted in (("tuned image head alone", head_alone),
                                     ("shipped model without its head", shipped_without)):
                accuracy = float(np.mean(predicted == np.array(truth)))
                metrics[dataset]["ablation"][label] = round(accuracy, 4)
                ablation_lines.append(f"| {dataset} | {label} | {accuracy:.1%} |")
    notes.append("confusion matrix (grocery coarse level): eval/results/category_confusion.png")
    return TaskResult(metrics=metrics, table="\n".join(lines + [""] + ablation_lines), notes=notes)
