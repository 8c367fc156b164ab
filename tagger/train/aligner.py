"""Train the aligner heads (``tagger.aligner``): frozen photo and text towers, InfoNCE.

    python -m tagger.train.aligner --data ../shared/data [--epochs 40] [--out-dir tagger]
    listingsmith train aligner --data ../shared/data        (the same)

Pairs: each fashion photo with its title and attribute phrases (``prompts/tag_prompts.toml``
[training], e.g. "a navy blue shirt for men") and its tags' prompts; each grocery photo
(and class catalogue image) with its class name, coarse name and catalogue description.
A random 20% of fashion article types and 10% of grocery classes never reach training
(neither photo nor text), so ``python -m eval.run --task zeroshot`` measures true zero-shot
accuracy on them; the held-out lists are stored in the weights' metadata.

Fits on ``train``, picks the epoch on ``val`` (seen classes only), calibrates the tag
thresholds on ``val``, writes ``weights/aligner.safetensors``, ``vocab/tag_thresholds.json``
and ``weights/aligner.md``. Photo features come from ``tagger.train.features`` (cached).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tagger.aligner import AlignedImageText, ProjectionHeads, save_heads
from listingsmith.core.registry import ModelSpec, sha256_file
from tagger.tags import (THRESHOLDS_FILE, Calibration, TagScorer, TagVocabulary, load_vocabulary,
                         prompt_templates)
from tagger.text_embed import TextEmbedder
from tagger.train.data import (default_data_dir, fashion_rows, grocery_classes,
                               grocery_description, grocery_photos, readable)
from tagger.train.features import CACHE_DIR, image_features

SEED = 0
HOLDOUT_FASHION_SHARE = 0.2
HOLDOUT_MIN_PHOTOS = 10
"""Held-out article types are drawn among types with at least this many photos, so each
zero-shot class has enough photos to measure."""
HOLDOUT_GROCERY_CLASSES = 8
UNLABELLED_THRESHOLD = 0.5
"""Groups without labels (material, pattern …) report a tag when the calibrated sigmoid
says it is more likely than not."""
MIN_POSITIVES = 10
"""A tag gets its own threshold only with at least this many val photos showing it."""
MIN_THRESHOLD = 0.1
"""Floor for fitted thresholds: on few val photos F1 can favour a cut-off that lets a
tag through on any photo."""
LABELLED_GROUPS = {"product_type": "articleType", "gender": "gender", "usage": "usage",
                   "season": "season", "colour": "baseColour"}
"""Vocabulary group → fashion column it is trained and calibrated on."""


def holdout(data: Path) -> dict[str, list[str]]:
    """The article types and grocery classes kept out of training (fixed by ``SEED``)."""
    counts = Counter(row["articleType"] for row in fashion_rows(data))
    eligible = sorted(t for t, n in counts.items() if n >= HOLDOUT_MIN_PHOTOS)
    rng = random.Random(SEED)
    n_types = int(np.ceil(HOLDOUT_FASHION_SHARE * len(counts)))
    classes = sorted(row["fine"] for row in grocery_classes(data))
    return {"fashion_article_types": sorted(rng.sample(eligible, n_types)),
            "grocery_classes": sorted(rng.sample(classes, HOLDOUT_GROCERY_CLASSES))}


def label_to_tag(group: str) -> dict[str, str]:
    """Data-set label → vocabulary tag for one vocabulary group."""
    return {label: tag for tag, label in load_vocabulary().group(group).labels.items()}


def fashion_texts(row: dict[str, str], rng: random.Random) -> list[str]:
    """Title, attribute phrases and tag prompts describing one fashion photo."""
    templates = prompt_templates()
    fields = {"type": label_to_tag("product_type").get(row["articleType"], row["articleType"].lower()),
              "gender": label_to_tag("gender").get(row["gender"], row["gender"].lower()),
              "usage": row["usage"].lower(), "season": row["season"].lower(),
              "colour": row["baseColour"].lower()}
    texts = [row["productDisplayName"]]
    texts += [phrase.format(**fields) for phrase in templates["training"]["fashion"]]
    vocab = load_vocabulary()
    for group, column in LABELLED_GROUPS.items():
        tag = label_to_tag(group).get(row[column])
        if tag is not None:
            template = rng.choice(templates["templates"][vocab.group(group).template])
            texts.append(template.format(tag=tag))
    return [t for t in texts if t.strip()]


def grocery_texts(fine: str, coarse: str, description: str) -> list[str]:
    coarse_tag = label_to_tag("product_type").get(coarse, readable(coarse).lower())
    texts = [phrase.format(fine=readable(fine), coarse=coarse_tag)
             for phrase in prompt_templates()["training"]["grocery"]]
    sentences = [s.strip() for s in description.split(". ") if len(s.strip()) > 20]
    return texts + sentences[:2]


def build_pairs(data: Path, held_out: dict[str, list[str]], limit: int | None = None) -> dict:
    """Per training/val photo: its backbone feature, its texts and its split.
    ``limit`` keeps evenly spaced photos of each data set (development runs, tests)."""
    rng = random.Random(SEED)
    fashion = [r for r in fashion_rows(data)
               if r["articleType"] not in held_out["fashion_article_types"] and r["split"] != "test"]
    grocery = [p for p in grocery_photos(data, ("train", "val"))
               if p.fine not in held_out["grocery_classes"]]
    if limit:
        fashion = fashion[::max(1, len(fashion) // limit)][:limit]
        grocery = grocery[::max(1, len(grocery) // limit)][:limit]
    classes = {row["fine"]: row for row in grocery_classes(data)}
    descriptions = {fine: grocery_description(data, row) for fine, row in classes.items()}

    feats = np.concatenate([
        image_features(data / "fashion", [r["image"] for r in fashion], cache_name="fashion"),
        image_features(data / "grocery" / "images", [p.path for p in grocery], cache_name="grocery")])
    texts = [fashion_texts(r, rng) for r in fashion]
    texts += [grocery_texts(p.fine, p.coarse, descriptions[p.fine]) for p in grocery]
    splits = [r["split"] for r in fashion] + [p.split for p in grocery]
    return {"features": feats, "texts": texts, "splits": np.array(splits),
            "fashion_rows": [r for r in fashion], "n_fashion": len(fashion)}


def embed_texts(texts: list[str]) -> dict[str, np.ndarray]:
    """MiniLM vectors of every distinct text, cached on disk by content."""
    unique = sorted(set(texts))
    key = hashlib.sha1("\n".join(unique).encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"minilm-{key}.npy"
    if cache.exists():
        vectors = np.load(cache)
    else:
        start = time.perf_counter()
        vectors = TextEmbedder()(unique, batch_size=128)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
        print(f"embedded {len(unique)} texts in {time.perf_counter() - start:.0f}s")
    return dict(zip(unique, vectors))


def info_nce(image: torch.Tensor, text: torch.Tensor, same_text: torch.Tensor,
             scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE; photos that drew the same text are all positives (soft targets)."""
    logits = scale * image @ text.T
    targets = same_text / same_text.sum(dim=1, keepdim=True)
    return 0.5 * (nn.functional.cross_entropy(logits, targets)
                  + nn.functional.cross_entropy(logits.T, targets))


def imagenet_teacher(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frozen backbone's ImageNet posterior per photo and MiniLM vectors of the 1000
    class names: distilling them keeps what the image tower knew about classes that no
    training photo shows (jeans, sandals, perfume …), which zero-shot needs."""
    from tagger.backbone import ImageBackbone, imagenet_labels

    classifier = ImageBackbone().model._fc
    with torch.inference_mode():
        posterior = classifier(torch.from_numpy(features)).softmax(-1).numpy()
    names = [f"a photo of a {label.split(',')[0]}" for label in imagenet_labels()]
    return posterior.astype(np.float32), TextEmbedder()(names)


def group_accuracy(heads: ProjectionHeads, features: np.ndarray, rows: list[dict],
                   text_vectors: dict[str, np.ndarray]) -> dict[str, float]:
    """Top-1 accuracy of each labelled vocabulary group by prompts alone (seen classes)."""
    vocab = load_vocabulary()
    templates = prompt_templates()["templates"]
    with torch.inference_mode():
        images = heads.embed_image_features(torch.from_numpy(features))
        result = {}
        for group_name, column in LABELLED_GROUPS.items():
            group = vocab.group(group_name)
            tags = [t for t in group.tags if t in group.labels]
            prompts = [[tmpl.format(tag=t) for tmpl in templates[group.template]] for t in tags]
            vectors = np.stack([np.mean([_vector(p, text_vectors) for p in ps], axis=0)
                                for ps in prompts])
            text = heads.embed_text_vectors(torch.from_numpy(vectors))
            prediction = (images @ text.T).argmax(dim=1).numpy()
            truth = [group.labels[tags[i]] for i in prediction]
            result[group_name] = round(float(np.mean([t == r[column] for t, r in zip(truth, rows)])), 4)
    return result


_EXTRA_TEXT: dict[str, np.ndarray] = {}


def _vector(text: str, text_vectors: dict[str, np.ndarray]) -> np.ndarray:
    if text in text_vectors:
        return text_vectors[text]
    if text not in _EXTRA_TEXT:
        _EXTRA_TEXT[text] = TextEmbedder()([text])[0]
    return _EXTRA_TEXT[text]


def train(data: Path, out_dir: Path, epochs: int = 40, batch_size: int = 512,
          lr: float = 1e-3, weight_decay: float = 0.05, limit: int | None = None,
          distill: float = 1.0) -> dict:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    held_out = holdout(data)
    pairs = build_pairs(data, held_out, limit)
    text_vectors = embed_texts([t for texts in pairs["texts"] for t in texts])
    train_idx = np.flatnonzero(pairs["splits"] == "train")
    val_fashion = [i for i in range(pairs["n_fashion"]) if pairs["splits"][i] == "val"]
    val_rows = [pairs["fashion_rows"][i] for i in val_fashion]
    val_feats = pairs["features"][val_fashion]
    print(f"pairs: {len(train_idx)} train photos, {len(val_fashion)} val fashion photos, "
          f"{len(text_vectors)} distinct texts; held out {held_out}")

    heads = ProjectionHeads()
    train_feats = pairs["features"][train_idx]
    teacher, imagenet_text = imagenet_teacher(pairs["features"])
    imagenet_text = torch.from_numpy(imagenet_text)
    heads.image_mean.copy_(torch.from_numpy(train_feats.mean(axis=0)))
    heads.image_std.copy_(torch.from_numpy(train_feats.std(axis=0) + 1e-4))
    optimiser = torch.optim.AdamW(heads.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(len(train_idx) / batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps,
                                                   pct_start=0.1)
    best = {"score": -1.0}
    history = []
    for epoch in range(epochs):
        heads.train()
        order = rng.permutation(train_idx)
        losses = []
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            feats = pairs["features"][batch]
            drawn = [pairs["texts"][i][rng.integers(len(pairs["texts"][i]))] for i in batch]
            text = torch.from_numpy(np.stack([text_vectors[t] for t in drawn]))
            same = torch.tensor([[a == b for b in drawn] for a in drawn], dtype=torch.float32)
            image = heads.embed_image_features(torch.from_numpy(feats))
            loss = info_nce(image, heads.embed_text_vectors(text), same, heads.logit_scale)
            if distill:
                student = (heads.logit_scale * image @ heads.embed_text_vectors(imagenet_text).T)
                loss = loss + distill * nn.functional.kl_div(
                    student.log_softmax(-1), torch.from_numpy(teacher[batch]), reduction="batchmean")
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
        heads.eval()
        accuracy = group_accuracy(heads, val_feats, val_rows, text_vectors)
        score = float(np.mean(list(accuracy.values())))
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), **accuracy})
        print(f"epoch {epoch + 1:>3} loss {np.mean(losses):.3f} val {accuracy} "
              f"scale {float(heads.logit_scale):.1f} ({time.perf_counter() - start:.0f}s)", flush=True)
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, "accuracy": accuracy,
                    "state": {k: v.clone() for k, v in heads.state_dict().items()}}
    heads.load_state_dict(best["state"])
    heads.eval()
    metadata = {"held_out": held_out, "epochs": epochs, "distill": distill, "best_epoch": best["epoch"],
                "val_top1_by_prompt": best["accuracy"], "train_photos": int(len(train_idx)),
                "distinct_texts": len(text_vectors), "seed": SEED,
                "trained": datetime.date.today().isoformat()}
    (out_dir / "weights").mkdir(parents=True, exist_ok=True)
    save_heads(heads, out_dir / "weights" / "aligner.safetensors", metadata)
    print(f"best epoch {best['epoch']}: val {best['accuracy']} -> {out_dir / 'weights/aligner.safetensors'} "
          f"(trained in {time.perf_counter() - start:.0f}s)")
    return {"heads": heads, "metadata": metadata, "history": history, "pairs": pairs,
            "val_rows": val_rows, "val_features": val_feats}


def calibrate(out_dir: Path, val_features: np.ndarray, val_rows: list[dict]) -> dict:
    """Fit the sigmoid of non-exclusive groups and the per-tag thresholds on val photos;
    write ``vocab/tag_thresholds.json`` beside the vocabulary."""
    from sklearn.linear_model import LogisticRegression

    model = AlignedImageText(ModelSpec(name="aligner-candidate", task="image-text",
                                       source=f"local:{(out_dir / 'weights').resolve()}",
                                       description="being calibrated",
                                       files={"aligner.safetensors": ""}))
    vocab = load_vocabulary()
    scorer = TagScorer(model, vocab)
    images = model.embed_features(val_features)
    cosine = images @ scorer.text_embeddings.T
    entries = vocab.entries
    colour_columns = [i for i, (g, t) in enumerate(entries) if g.name == "colour" and t in g.labels]
    colour_labels = np.array([entries[i][0].labels[entries[i][1]] for i in colour_columns])
    truth = np.array([r["baseColour"] for r in val_rows])[:, None] == colour_labels[None, :]
    fit = LogisticRegression(C=10.0).fit(cosine[:, colour_columns].reshape(-1, 1), truth.reshape(-1))
    sigmoid = {"scale": round(float(fit.coef_[0, 0]), 4), "bias": round(float(fit.intercept_[0]), 4)}
    calibrated = TagScorer(model, TagVocabulary(vocab.groups, Calibration(**sigmoid), vocab.source))
    scores = calibrated.scores(images)

    groups, tags = {}, {}
    for group_name, column in LABELLED_GROUPS.items():
        group = vocab.group(group_name)
        columns = [i for i, (g, t) in enumerate(entries) if g.name == group_name and t in group.labels]
        actual = np.array([[r[column] == group.labels[entries[i][1]] for i in columns] for r in val_rows])
        block = scores[:, columns]
        groups[group_name] = max(MIN_THRESHOLD, best_f1_threshold(block.reshape(-1), actual.reshape(-1))[0])
        for j, i in enumerate(columns):
            if actual[:, j].sum() >= MIN_POSITIVES:
                tags[f"{group_name}/{entries[i][1]}"] = max(
                    MIN_THRESHOLD, best_f1_threshold(block[:, j], actual[:, j])[0])
    result = {"calibration": {**sigmoid, "default_threshold": UNLABELLED_THRESHOLD,
                              "groups": groups, "tags": tags},
              "fitted_on": f"fashion val split, {len(val_rows)} photos of seen article types",
              "aligner_sha256": sha256_file(out_dir / "weights" / "aligner.safetensors")}
    (out_dir / "vocab").mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab" / THRESHOLDS_FILE).write_text(json.dumps(result, indent=1) + "\n")
    print(f"calibrated {len(tags)} per-tag thresholds; groups {groups}; sigmoid {sigmoid}")
    return result


def best_f1_threshold(scores: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    """The score cut-off with the highest F1 (ties: the higher cut-off)."""
    best = (1.0, 0.0)
    for threshold in np.unique(np.round(scores, 3)):
        predicted = scores >= threshold
        tp = float((predicted & actual).sum())
        f1 = 2 * tp / max(1.0, predicted.sum() + actual.sum())
        if f1 >= best[1]:
            best = (float(threshold), f1)
    return round(best[0], 3), round(best[1], 4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="listingsmith train aligner",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--out-dir", type=Path, default=Path("tagger"),
                        help="package folder receiving weights/ and vocab/ files")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--limit", type=int, default=None, help="photos to use (development)")
    parser.add_argument("--distill", type=float, default=1.0,
                        help="weight of the ImageNet-posterior distillation loss (0: off)")
    args = parser.parse_args(argv)
    result = train(args.data, args.out_dir, epochs=args.epochs, limit=args.limit,
                   distill=args.distill)
    calibrate(args.out_dir, result["val_features"], result["val_rows"])


if __name__ == "__main__":
    main()
