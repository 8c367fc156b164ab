"""Zero-shot classification and tag quality of the bundled aligner, with baselines.

``python -m eval.run --task zeroshot [--limit N]``

- **Zero-shot**: the fashion article types and grocery classes the shipped aligner never saw
  (listed in its weights' metadata) are classified from text prompts alone: among the
  held-out classes only ("ZSL") and among all classes of the data set ("GZSL").
  Baselines on the same photos and prompts: chance, and the ImageNet posterior of the
  bundled EfficientNet-Lite0 weighted by the MiniLM similarity of each ImageNet class name
  to the prompt (an image–text score built from the same two towers, untrained).
- **Tag quality** on the fashion test split: top-1 accuracy, mAP and F1 (the calibrated
  per-tag thresholds) for gender, usage, season, article type and colour.
- **Latency** of tag scoring once the photo's backbone feature exists.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np

from eval.tasks import TaskResult, register
from eval.common import percentile

TAG_GROUPS = {"gender": "gender", "usage": "usage", "season": "season",
              "product_type": "articleType", "colour": "baseColour"}


def prompt_matrix(embed, names: list[str], template_group: str) -> np.ndarray:
    """Ensembled, normalised prompt embeddings (one row per class name)."""
    from tagger.image_text import normalise
    from tagger.tags import prompt_templates

    templates = prompt_templates()["templates"][template_group]
    vectors = embed([t.format(tag=name) for name in names for t in templates])
    return normalise(vectors.reshape(len(names), len(templates), -1).mean(axis=1))


def topk_accuracy(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([t in row for t, row in zip(truth, top)]))


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    order = np.argsort(-scores)
    hits = positive[order]
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


class ImagenetBaseline:
    """score(prompt) = Σ_k p(ImageNet class k | photo) · cos(MiniLM(name_k), MiniLM(prompt))."""

    def __init__(self, backbone, embedder):
        import torch

        from tagger.backbone import imagenet_labels

        self.torch = torch
        self.classifier = backbone.model._fc
        self.label_vectors = embedder([label.split(",")[0] for label in imagenet_labels()])

    def scores(self, features: np.ndarray, prompt_vectors: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            probs = self.classifier(self.torch.from_numpy(features)).softmax(-1).numpy()
        return probs @ (self.label_vectors @ prompt_vectors.T)


@register("zeroshot")
def run(data: Path, limit: int | None) -> TaskResult:
    from tagger.aligner import AlignedImageText
    from tagger.tags import TagScorer, load_vocabulary
    from tagger.train.data import fashion_rows
    from tagger.train.features import image_features

    model = AlignedImageText()
    held_out = model.training_facts["held_out"]
    vocab = load_vocabulary()
    fashion = fashion_rows(data)
    all_types = sorted({r["articleType"] for r in fashion})
    metrics: dict = {"held_out": held_out, "zero_shot": {}}
    lines = ["| data | setting | classes | photos | method | top-1 | top-5 |",
             "|---|---|---|---|---|---|---|"]
    lines += zero_shot(model, vocab, data, fashion, limit, metrics["zero_shot"])

    # Tag quality on the fashion test split, scored as the product does (TagScorer).
    test_rows = [r for r in fashion if r["split"] == "test"]
    if limit:
        test_rows = test_rows[::max(1, len(test_rows) // limit)][:limit]
    test_features = image_features(data / "fashion", [r["image"] for r in test_rows],
                                   cache_name="fashion")
    scorer = TagScorer(model, vocab)
    test_vectors = model.embed_features(test_features)
    lines += ["", "| tag group (fashion test) | photos | top-1 | majority-class top-1 | mAP | "
                  "F1 (calibrated thresholds) |", "|---|---|---|---|---|---|"]
    metrics["tags"] = {}
    lines += tag_quality(vocab, scorer.scores(test_vectors), test_rows, metrics["tags"])

    seconds = []
    scorer.tags(test_vectors[:1])  # warm-up: vocabulary embeddings (cached once per process)
    for feature in test_features[:200]:
        start = time.perf_counter()
        scorer.tags(model.embed_features(feature[None]), top_k=10)
        seconds.append(time.perf_counter() - start)
    metrics["tag_scoring_ms_p50"] = round(1000 * percentile(seconds, 0.5), 2)
    metrics["tag_scoring_ms_p95"] = round(1000 * percentile(seconds, 0.95), 2)
    lines += ["", f"Tag scoring once the backbone feature exists ({len(vocab.entries)} tags): "
                  f"p50 {metrics['tag_scoring_ms_p50']} ms, p95 {metrics['tag_scoring_ms_p95']} "
                  "ms per photo (goal ≤ 30 ms)."]
    fashion_zsl = metrics["zero_shot"]["fashion/ZSL/aligner (ours)"]["top1"]
    notes = [f"held-out fashion article types ({len(held_out['fashion_article_types'])} of "
             f"{len(all_types)}): {', '.join(held_out['fashion_article_types'])}",
             f"held-out grocery classes: {', '.join(held_out['grocery_classes'])}",
             f"goal ≥ 50% top-1 zero-shot (fashion ZSL): {fashion_zsl:.1%} — "
             + ("met" if fashion_zsl >= 0.5 else "NOT met")]
    return TaskResult(metrics=metrics, table="\n".join(lines), notes=notes)


def zero_shot(model, vocab, data: Path, fashion: list[dict], limit: int | None,
              metrics: dict) -> list[str]:
    """Table rows for the held-out fashion article types and grocery classes, ZSL and GZSL,
    the aligner beside its baselines; fills ``metrics`` with the same numbers."""
    from tagger.train.data import grocery_classes, grocery_photos, readable
    from tagger.train.features import image_features

    held_out = model.training_facts["held_out"]
    type_tag = {label: tag for tag, label in vocab.group("product_type").labels.items()}
    baseline = ImagenetBaseline(model.backbone, model.text_embedder)
    all_types = sorted({r["articleType"] for r in fashion})
    unseen_rows = [r for r in fashion if r["articleType"] in held_out["fashion_article_types"]]
    grocery_names = sorted(row["fine"] for row in grocery_classes(data))
    unseen_grocery = [p for p in grocery_photos(data, ("test",))
                      if p.fine in held_out["grocery_classes"]]
    if limit:
        unseen_rows = unseen_rows[::max(1, len(unseen_rows) // limit)][:limit]
        unseen_grocery = unseen_grocery[::max(1, len(unseen_grocery) // limit)][:limit]

    setups = {
        "fashion": (image_features(data / "fashion", [r["image"] for r in unseen_rows],
                                   cache_name="fashion"),
                    [r["articleType"] for r in unseen_rows], held_out["fashion_article_types"],
                    all_types, lambda label: type_tag.get(label, label.lower()), "product_type"),
        "grocery": (image_features(data / "grocery" / "images", [p.path for p in unseen_grocery],
                                   cache_name="grocery"),
                    [p.fine for p in unseen_grocery], held_out["grocery_classes"], grocery_names,
                    readable, "product_type"),
    }
    lines = []
    for name, (features, truth, unseen, everything, phrase, template) in setups.items():
        image_vectors = model.embed_features(features)
        for setting, candidates in (("ZSL", sorted(unseen)), ("GZSL", everything)):
            index = {c: i for i, c in enumerate(candidates)}
            truth_idx = np.array([index[t] for t in truth])
            phrases = [phrase(c) for c in candidates]
            methods = {
                "aligner (ours)": image_vectors @ prompt_matrix(model.embed_texts, phrases,
                                                                template).T,
                "ImageNet×MiniLM": baseline.scores(
                    features, prompt_matrix(model.text_embedder, phrases, template)),
            }
            for method, scores in methods.items():
                top1 = topk_accuracy(scores, truth_idx, 1)
                top5 = topk_accuracy(scores, truth_idx, 5)
                metrics[f"{name}/{setting}/{method}"] = {"top1": round(top1, 4),
                                                         "top5": round(top5, 4)}
                lines.append(f"| {name} | {setting} | {len(candidates)} | {len(truth)} | "
                             f"{method} | {top1:.1%} | {top5:.1%} |")
            chance1, chance5 = 1 / len(candidates), min(1.0, 5 / len(candidates))
            metrics[f"{name}/{setting}/chance"] = {"top1": round(chance1, 4),
                                                   "top5": round(chance5, 4)}
            lines.append(f"| {name} | {setting} | {len(candidates)} | {len(truth)} | chance | "
                         f"{chance1:.1%} | {chance5:.1%} |")
    return lines


def tag_quality(vocab, scores: np.ndarray, test_rows: list[dict], metrics: dict) -> list[str]:
    """Table rows per tag group: top-1, majority-class top-1, mAP and F1 at the calibrated
    thresholds; fills ``metrics`` with the same numbers."""
    entries = vocab.entries
    lines = []
    for group_name, column in TAG_GROUPS.items():
        group = vocab.group(group_name)
        columns = [i for i, (g, t) in enumerate(entries)
                   if g.name == group_name and t in group.labels]
        labels = np.array([group.labels[entries[i][1]] for i in columns])
        rows = [r for r in test_rows if r[column] in set(labels)]
        keep = np.array([r[column] in set(labels) for r in test_rows])
        block = scores[keep][:, columns]
        truth = np.array([r[column] for r in rows])
        top1 = float(np.mean(labels[block.argmax(axis=1)] == truth))
        aps = [average_precision(block[:, j], truth == labels[j]) for j in range(len(columns))]
        ap = float(np.nanmean(aps))
        cutoffs = np.array([vocab.calibration.threshold(group_name, entries[i][1])
                            for i in columns])
        predicted = block >= cutoffs
        actual = truth[:, None] == labels[None, :]
        tp = float((predicted & actual).sum())
        f1 = 2 * tp / max(1.0, predicted.sum() + actual.sum())
        majority = Counter(truth).most_common(1)[0][1] / len(truth)
        metrics[group_name] = {"photos": len(rows), "top1": round(top1, 4),
                               "majority_top1": round(majority, 4),
                               "mAP": round(ap, 4), "f1": round(f1, 4)}
        lines.append(f"| {group_name} | {len(rows)} | {top1:.1%} | {majority:.1%} | {ap:.3f} | "
                     f"{f1:.3f} |")
    return lines
