"""Do the specialists know what they do not know? Leave-types-out abstention and 5-fold CV.

``python -m eval.run --task leave-types-out``

1. **Leave types out (fashion).** ``HELD_OUT`` articleTypes (drawn with a fixed seed among the
   types with photos in every split) are removed from training; the shipped recipe (C of the
   shipped model, ``tagger.train.classifier.fit``) is fitted on the rest with the image and
   aligned blocks (``LEAVE_OUT_BLOCKS``: the colour block needs a second backbone pass per
   photo and adds nothing on test, 88.6% vs 88.5% in the category ablation) and no tuned image
   head (45 min on 2 cores), its temperature and OOD thresholds on val photos
   of the seen types. Each out-of-distribution score (``tagger.classify.NOVELTY_SCORES``, the
   feature distance, and a nearest-class-centroid distance measured here only) is compared by
   AUROC (seen vs unseen types) on val and test. The shipped score's val share is chosen on val
   (seen + unseen val photos), never on test; on test the task reports the share of unseen-type
   photos flagged, the share of all photos flagged, and the share of flags that were errors.
   **At identity level** (what a user gets): the same model runs as the specialist inside the
   real fusion (``tagger.identify.Identifier.identify``: the photo's ImageNet probabilities
   from the cached backbone features, the specialist's prediction; no seller fields, no OCR:
   studio shots carry no pack text) on the val and test photos; truth is the articleType's
   Google node (``tagger/vocab/taxonomy_map/fashion.csv``). Reported: unseen-type photos
   flagged or given the truth or an ancestor (issue 22: >= 80%), all photos flagged
   (<= 15%), flags that were not the true leaf / on a wrong node, the specialist's own
   seen-type accuracy. The ``[specialist]`` settings of ``tagger/vocab/identity.toml`` were
   chosen on the val rows.
2. **Shipped model on test** (``LEAVE_TYPES_OUT_SHIPPED=1``; ``--task category`` reports it
   too). The shipped fashion classifier with the thresholds of ``tagger/vocab/specialists.toml``:
   accuracy (unchanged: flags do not move the top label), share flagged, flags that were errors.
3. **5-fold CV.** The same recipe with its settings frozen (``LEAVE_OUT_BLOCKS``, the shipped
   C; no image head), stratified 5-fold over all photos, beside the same recipe's single
   test-split figure (the shipped model's own is in section 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from eval.tasks import TaskResult, register

HELD_OUT = 10
SEED = 22
LEAVE_OUT_BLOCKS = ("image", "aligned")
TARGET_UNSEEN_FLAGGED = 0.80
MAX_FLAGGED = 0.15
SHARES = (0.01, 0.02, 0.03, 0.05, 0.075, 0.10, 0.125, 0.15)
"""Val shares of seen-type photos that the novelty threshold may flag (the choice is made on
val: the smallest share reaching the unseen-flagged target, within the flag budget; the budget
is on in-distribution photos, as the shipped model sees every type)."""
FOLDS = 5


def held_out_types(labels: np.ndarray, splits: np.ndarray, n: int = HELD_OUT,
                   seed: int = SEED) -> list[str]:
    """``n`` article types with at least 3 photos in each of train, val and test, drawn with
    ``seed`` (sorted, so the draw does not depend on row order)."""
    eligible = sorted(t for t in set(labels)
                      if all(np.sum((labels == t) & (splits == s)) >= 3
                             for s in ("train", "val", "test")))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(eligible, size=min(n, len(eligible)), replace=False).tolist())


def centroid_distance(x_train: np.ndarray, y_train: np.ndarray, scaler, x: np.ndarray
                      ) -> np.ndarray:
    """Distance from each row to the nearest class centroid of the standardised training
    features (measured for comparison; not shipped: it needs the centroids)."""
    z_train, z = scaler.transform(x_train), scaler.transform(x)
    centres = np.stack([z_train[y_train == c].mean(axis=0) for c in np.unique(y_train)])
    squared = (z * z).sum(1)[:, None] - 2 * z @ centres.T + (centres * centres).sum(1)[None]
    return np.sqrt(np.maximum(squared.min(axis=1), 0) / z.shape[1])


def all_scores(model, x: np.ndarray, extra) -> dict[str, np.ndarray]:
    from tagger.classify import NOVELTY_SCORES

    scores = {kind: model.novelty(x, kind=kind) for kind in NOVELTY_SCORES}
    scores["feature_distance"] = model.feature_distance(x)
    scores["centroid_distance"] = extra(x)
    return scores


def choose_share(novelty_seen: np.ndarray, novelty_unseen: np.ndarray) -> tuple[float, float]:
    """On val: the smallest share of seen-type photos to flag at which ``TARGET_UNSEEN_FLAGGED``
    of the unseen-type photos are flagged, else the largest share within the flag budget
    (``MAX_FLAGGED`` of in-distribution photos); returns the share and its threshold."""
    for share in SHARES:
        threshold = float(np.quantile(novelty_seen, 1 - share))
        if np.mean(novelty_unseen > threshold) >= TARGET_UNSEEN_FLAGGED:
            return share, threshold
    share = max(s for s in SHARES if s <= MAX_FLAGGED)
    return share, float(np.quantile(novelty_seen, 1 - share))


def flag_figures(flagged: np.ndarray, wrong: np.ndarray, unseen: np.ndarray | None = None
                 ) -> dict:
    figures = {"photos": int(len(flagged)), "flagged_share": round(float(flagged.mean()), 4),
               "flags_that_were_errors": round(float(wrong[flagged].mean()), 4)
               if flagged.any() else None,
               "errors_flagged": round(float(flagged[wrong].mean()), 4) if wrong.any() else None,
               "accuracy_unflagged": round(float(1 - wrong[~flagged].mean()), 4)
               if (~flagged).any() else None}
    if unseen is not None:
        figures["unseen_flagged"] = round(float(flagged[unseen].mean()), 4)
        figures["seen_flagged"] = round(float(flagged[~unseen].mean()), 4)
    return figures


def leave_types_out(table: dict, x: np.ndarray, shipped,
                    blocks: tuple[str, ...] = LEAVE_OUT_BLOCKS) -> tuple[dict, list[str]]:
    from tagger.classify import specialist_settings
    from tagger.train.classifier import fit, set_ood_thresholds

    labels, splits = np.array(table["labels"]), table["splits"]
    held = held_out_types(labels, splits)
    unseen = np.isin(labels, held)
    rows = {s: np.flatnonzero(splits == s) for s in ("train", "val", "test")}
    train = rows["train"][~unseen[rows["train"]]]
    val_seen = rows["val"][~unseen[rows["val"]]]
    model = fit("fashion", x[train], list(labels[train]), x[val_seen], list(labels[val_seen]),
                table["paths"], table["levels"], blocks, c_grid=(shipped.card["C"],),
                log=lambda *_: None)
    scaler = model.pipeline.steps[0][1]
    extra = lambda rows_x: centroid_distance(x[train], labels[train], scaler, rows_x)  # noqa: E731
    metrics: dict = {"held_out_types": held, "train_photos": int(len(train))}
    auroc_lines = ["| OOD score | val AUROC (seen vs unseen types) | test AUROC |", "|---|---|---|"]
    scores = {s: all_scores(model, x[rows[s]], extra) for s in ("val", "test")}
    metrics["auroc"] = {}
    for kind in scores["val"]:
        aurocs = [roc_auc_score(unseen[rows[s]], scores[s][kind]) for s in ("val", "test")]
        metrics["auroc"][kind] = {"val": round(aurocs[0], 4), "test": round(aurocs[1], 4)}
        auroc_lines.append(f"| {kind} | {aurocs[0]:.3f} | {aurocs[1]:.3f} |")
    settings = specialist_settings()
    kind = settings["fashion"].get("ood_score", settings["ood_score"])
    val_novelty, val_unseen = scores["val"][kind], unseen[rows["val"]]
    share, _ = choose_share(val_novelty[~val_unseen], val_novelty[val_unseen])
    set_ood_thresholds(model, x[val_seen], ood_share=share)
    metrics["chosen_on_val"] = {"ood_score": kind, "ood_val_share": share,
                                "ood_above": model.ood_above,
                                "distance_above": model.distance_above}
    lines = ["| photos (leave-types-out model) | n | flagged | seen-type flagged | unseen flagged "
             "| unseen flagged or right subCategory | flags that were errors | errors flagged | "
             "accuracy of unflagged |", "|---|---|---|---|---|---|---|---|---|"]
    identities: dict = {}
    for split in ("val", "test"):
        r = rows[split]
        predicted = np.array(model.classes)[model.probabilities(x[r]).argmax(axis=1)]
        wrong = predicted != labels[r]
        top = model.probabilities(x[r]).max(axis=1)
        flagged = model.out_of_distribution(model.novelty(x[r]), model.feature_distance(x[r])) \
            | (top < model.uncertain_below)
        figures = flag_figures(flagged, wrong, unseen[r])
        sub = [model.paths[p][1] for p in predicted]
        truth_sub = [table["paths"][t][1] for t in labels[r]]
        ancestor = np.array([a == b for a, b in zip(sub, truth_sub)])
        figures["unseen_flagged_or_subcategory_right"] = round(
            float((flagged | ancestor)[unseen[r]].mean()), 4)
        figures["seen_accuracy"] = round(float(1 - wrong[~unseen[r]].mean()), 4)
        metrics[split] = figures
        identities[split] = identity_figures(table, x[r], r, model, unseen[r])
        lines.append(f"| {split}{' (share chosen here)' if split == 'val' else ''} | {len(r)} "
                     f"| {figures['flagged_share']:.1%} | {figures['seen_flagged']:.1%} "
                     f"| {figures['unseen_flagged']:.1%} ({unseen[r].sum()} photos) "
                     f"| {figures['unseen_flagged_or_subcategory_right']:.1%} "
                     f"| {figures['flags_that_were_errors']:.1%} "
                     f"| {figures['errors_flagged']:.1%} | {figures['accuracy_unflagged']:.1%} |")
    metrics["identity"] = identities
    return metrics, auroc_lines + [""] + lines + [""] + identity_table(identities)


def imagenet_probabilities(features: np.ndarray) -> np.ndarray:
    """The backbone's ImageNet-1k probabilities (``BackboneOutput.probabilities``: the softmax
    of its head on the pooled feature) from the cached pooled features, so no photo is run
    through the network again."""
    import torch

    from tagger.backbone import ImageBackbone

    head = ImageBackbone().model._fc
    with torch.inference_mode():
        logits = head(torch.from_numpy(np.asarray(features, dtype=np.float32)))
    return logits.softmax(dim=-1).numpy()


def truth_node(label: str, path: list[str]) -> int | None:
    """An articleType's Google node (``vocab/taxonomy_map/fashion.csv``), else its nearest
    mapped ancestor's (subCategory, masterCategory)."""
    from tagger.identify import category_map

    mapped = category_map("fashion")
    return next((mapped[n] for n in (label, *reversed(path)) if n in mapped), None)


def identity_figures(table: dict, x: np.ndarray, rows: np.ndarray, model,
                     unseen: np.ndarray) -> dict:
    """The leave-types-out specialist inside the real fusion (``Identifier.identify``) on
    each photo: the photo's ImageNet probabilities and the specialist's prediction, no seller
    fields, and no OCR spans (studio fashion shots carry no pack text; the training caches do
    not read them, ``shipped_inputs``). Right: the identity's node is the truth or an ancestor
    of it; flagged: the identity is uncertain or has no node."""
    from tagger.identify import Identifier

    identifier = Identifier()
    tree = identifier.tree
    labels = [table["labels"][i] for i in rows]
    truths = [truth_node(label, table["paths"][label]) for label in labels]
    probabilities = imagenet_probabilities(
        np.stack([table["inputs"][i].image_features.mean(axis=0) for i in rows]))
    predictions = model.predict(x, top_k=5)
    identities = [identifier.identify({}, [], p, s) for p, s in zip(probabilities, predictions)]
    known = np.array([t is not None for t in truths])
    flagged = np.array([i.uncertain or i.taxonomy_id is None for i in identities])
    right = np.array([t is not None and i.taxonomy_id is not None
                      and tree.is_ancestor_or_self(i.taxonomy_id, t)
                      for i, t in zip(identities, truths)])
    leaf = np.array([i.taxonomy_id == t for i, t in zip(identities, truths)])
    specialist_right = np.array([p.label == label for p, label in zip(predictions, labels)])
    sure_specialist = np.array([not p.uncertain for p in predictions])

    def share(mask: np.ndarray, of: np.ndarray) -> float | None:
        return round(float(mask[of].mean()), 4) if of.any() else None

    seen = known & ~unseen
    return {"photos": int(len(rows)), "mapped_photos": int(known.sum()),
            "unseen_photos": int((unseen & known).sum()),
            "unseen_flagged_or_right": share(flagged | right, unseen & known),
            "unseen_flagged": share(flagged, unseen & known),
            "unseen_wrong_unflagged": share(~flagged & ~right, unseen & known),
            "flagged_share": share(flagged, known),
            "seen_flagged": share(flagged, seen),
            "flags_not_true_leaf": share(~leaf, flagged & known),
            "flags_wrong_node": share(~right, flagged & known),
            "right_or_ancestor": share(right, known),
            "true_leaf": share(leaf, known), "seen_true_leaf": share(leaf, seen),
            "wrong_unflagged": share(~flagged & ~right, known),
            "specialist_seen_accuracy": share(specialist_right, ~unseen),
            "specialist_unsure_share": share(~sure_specialist, np.ones(len(rows), bool))}


def identity_table(identities: dict) -> list[str]:
    lines = ["| identity (fusion: image + leave-types-out specialist) | photos | unseen flagged "
             "or truth-or-ancestor | unseen flagged | unseen wrong & unflagged | all flagged | "
             "seen flagged | flags not the true leaf | flags on a wrong node | truth-or-ancestor "
             "| true leaf | wrong & unflagged | specialist seen-type accuracy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for split, f in identities.items():
        lines.append(f"| {split} | {f['mapped_photos']} ({f['unseen_photos']} unseen) | "
                     + " | ".join(_pct(f[k]) for k in (
                         "unseen_flagged_or_right", "unseen_flagged", "unseen_wrong_unflagged",
                         "flagged_share", "seen_flagged", "flags_not_true_leaf",
                         "flags_wrong_node", "right_or_ancestor", "true_leaf",
                         "wrong_unflagged", "specialist_seen_accuracy")) + " |")
    return lines


def shipped_on_test(data: Path, dataset: str, table: dict, x: np.ndarray, model) -> dict:
    """The shipped model and its data-file thresholds on its test split."""
    from eval.tasks.category import test_tails

    test = np.flatnonzero(table["splits"] == "test")
    tails = test_tails(table, test, dataset) if model.needs_tail_inputs else None
    truth = np.array([table["labels"][i] for i in test])
    predictions = model.predict(x[test], tail_inputs=tails, top_k=1)
    wrong = np.array([p.label for p in predictions]) != truth
    flagged = np.array([p.uncertain for p in predictions])
    figures = flag_figures(flagged, wrong)
    figures["accuracy"] = round(float(1 - wrong.mean()), 4)
    return figures


def cross_validated(table: dict, x: np.ndarray, shipped, blocks: tuple[str, ...] = LEAVE_OUT_BLOCKS,
                    folds: int = FOLDS) -> dict:
    """Stratified ``folds``-fold accuracy of the recipe (frozen ``blocks`` and the shipped C,
    no image head) over all photos, and the same recipe's test-split accuracy."""
    from sklearn.model_selection import StratifiedKFold

    from tagger.train.classifier import fit

    labels, splits = np.array(table["labels"]), table["splits"]

    def accuracy(train: np.ndarray, test: np.ndarray) -> float:
        model = fit(shipped.name, x[train], list(labels[train]), x[:0], [], table["paths"],
                    table["levels"], blocks, c_grid=(shipped.card["C"],),
                    log=lambda *_: None)
        predicted = np.array(model.classes)[model.pipeline.decision_function(x[test]).argmax(1)]
        return float(np.mean(predicted == labels[test]))

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    scores = [accuracy(train, test) for train, test in splitter.split(x, labels)]
    single = accuracy(np.flatnonzero(splits == "train"), np.flatnonzero(splits == "test"))
    return {"folds": [round(s, 4) for s in scores], "mean": round(float(np.mean(scores)), 4),
            "std": round(float(np.std(scores)), 4), "test_split": round(single, 4),
            "photos": int(len(labels))}


@register("leave-types-out")
def run(data: Path, limit: int | None) -> TaskResult:
    """Fashion leave-types-out and 5-fold CV (``--limit``: skip the CV). The shipped models'
    share flagged on their own test photos is in ``--task category`` (it needs the colour
    attributes of the test photos); ``shipped_on_test`` computes it here too when
    ``LEAVE_TYPES_OUT_SHIPPED=1``."""
    from tagger.classify import shipped_model
    from tagger.train.classifier import feature_matrix, shipped_inputs

    shipped = shipped_model("fashion")
    metrics: dict = {"fashion": {}}
    tables: list[str] = []
    if os.environ.get("LEAVE_TYPES_OUT_SHIPPED") == "1":
        test = shipped_inputs(data, "fashion", only_splits=("test",), blocks=shipped.blocks)
        f = metrics["fashion"]["shipped_test"] = shipped_on_test(
            data, "fashion", test, feature_matrix(test["inputs"], shipped.blocks), shipped)
        tables.append("| shipped fashion model | test photos | accuracy | flagged | flags that "
                      "were errors |\n|---|---|---|---|---|\n| " + f"{shipped.ood_score} > "
                      f"{shipped.ood_above}, distance > {shipped.distance_above} | {f['photos']} | "
                      f"{f['accuracy']:.1%} | {f['flagged_share']:.1%} | "
                      f"{_pct(f['flags_that_were_errors'])} |")
    table = shipped_inputs(data, "fashion", blocks=LEAVE_OUT_BLOCKS)
    x = feature_matrix(table["inputs"], LEAVE_OUT_BLOCKS)
    metrics["fashion"]["leave_types_out"], lines = leave_types_out(table, x, shipped)
    tables.append("\n".join(lines))
    chosen = metrics["fashion"]["leave_types_out"]
    notes = [f"fashion leave-types-out: held out {', '.join(chosen['held_out_types'])} (seed "
             f"{SEED}), {chosen['train_photos']} training photos left; the "
             f"{chosen['chosen_on_val']['ood_score']} threshold flags "
             f"{chosen['chosen_on_val']['ood_val_share']:.1%} of seen-type val photos (share "
             "chosen on val)"]
    notes.append(targets_note(chosen["identity"]["test"]))
    if not limit:
        cv = metrics["fashion"]["cross_validation"] = cross_validated(table, x, shipped)
        tables.append("| recipe (settings frozen, no image head) | 5-fold CV accuracy (mean ± sd) "
                      "| folds | test-split accuracy |\n|---|---|---|---|\n"
                      f"| fashion ({'+'.join(LEAVE_OUT_BLOCKS)}, C={shipped.card['C']}) | "
                      f"{cv['mean']:.1%} ± {cv['std']:.1%} | "
                      f"{', '.join(f'{s:.1%}' for s in cv['folds'])} | {cv['test_split']:.1%} |")
    return TaskResult(metrics=metrics, table="\n\n".join(tables), notes=notes)


def targets_note(test: dict) -> str:
    """Issue 22's leave-types-out targets on the test photos, at identity level."""
    covered = test["unseen_flagged_or_right"] or 0.0
    flagged = test["flagged_share"] or 0.0
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    return (f"identity targets on test: unseen-type photos flagged or truth-or-ancestor "
            f"{covered:.1%} (target >= {TARGET_UNSEEN_FLAGGED:.0%}: "
            f"{met(covered >= TARGET_UNSEEN_FLAGGED)}); all photos flagged {flagged:.1%} "
            f"(target <= {MAX_FLAGGED:.0%}: {met(flagged <= MAX_FLAGGED)}); the shipped "
            "specialists' accuracy (within 1 point of today's) is in --task category and, for "
            "fashion, LEAVE_TYPES_OUT_SHIPPED=1")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
