"""Train the text -> Google Product Taxonomy classifier (``tagger/weights/text_identity.npz``).

Every corpus in ``../shared/data`` names its products in its own categories; the hand-reviewed
tables in ``tagger/vocab/taxonomy_map`` turn those into Google IDs, so titles from all of them
train one model over one label space:

- Flipkart ``product_name`` by ``category_tree`` (longest listed prefix wins),
- BigBasket ``product`` by ``category > sub_category > type`` (else ``category > sub_category``),
- fashion ``productDisplayName`` by ``articleType`` (never the photo ``test`` split),
- Myntra ``Product_Name`` by its last words (the product noun: "... Casual Shirt"),
- the grocery classes' names and English descriptions by coarse class.

Flipkart and BigBasket each keep a stratified held-out share that neither training nor any
choice below reads (``held_out``); ``python -m eval.run --task identity_text`` scores it.

The model: the bundled MiniLM sentence embedding of the text -> multinomial logistic
regression over the mapped Google IDs, fused with a linear SVM on hashed word 1-2-grams and
character 3-5-grams (pruned to ``NGRAM_KEEP`` weights; its weight in the fused log-odds by CV). Why MiniLM and not word n-grams: a seller's wording
outside these Indian marketplace catalogues (an Amazon supplement, a European bulb) still
lands near its meaning, and the weights stay small (n-gram models of the same accuracy
need tens of MB of coefficients). Settings (C, temperature, the zero-shot blend and the
support threshold) are chosen by cross-validation inside the training share only.

    python -m tagger.train.text_identity [--data ../shared/data] [--out tagger/weights]
        [--per-class 400]

Embeddings are cached per text (``embed``), so a re-fit takes seconds; the first run embeds
~27k training titles (minutes on a laptop CPU; the eval embeds the ~5k held-out ones).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from listingsmith.core import vocab
from listingsmith.core.registry import cache_dir, cached_array, pinned_key
from tagger.taxonomy import taxonomy
from tagger.text_identity import (NODES_TEXT, TextIdentifier, deepest_supported, fuse,
                                  inverse_document_frequency, mix, ngram_features, node_prompt,
                                  subtree_matrix, weights_dir)
from tagger.train.data import default_data_dir, grocery_classes, grocery_description

HELD_OUT_SHARE = 0.2
"""Share of Flipkart and BigBasket titles kept out of training and tuning (stratified)."""
SEED = 22
PER_CLASS = 400
"""At most this many training titles per (source, Google ID): the big fashion and jewellery
branches would otherwise drown the rest."""
C_GRID = (3.0, 10.0, 30.0)
BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURE_GRID = (0.02, 0.05)
SUPPORT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Support thresholds tried, lowest first: the first whose answers are right often enough wins
(lower = deeper answers, higher = safer ones)."""
RIGHT_OR_ANCESTOR = 0.95
NGRAM_C = 0.5
"""Linear SVM C of the n-gram head."""
NGRAM_KEEP = 400_000
"""Non-zero n-gram weights shipped (the largest by magnitude; the rest are pruned to zero)."""
NGRAM_WEIGHT_GRID = (0.0, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0)
"""Weights of the n-gram head's scores in the fused log-odds, tried by CV (0 = MiniLM alone)."""
FUSED_TEMPERATURE_GRID = tuple(round(0.5 * 1.15 ** k, 3) for k in range(30))
"""Temperatures of the fused log-odds tried (0.5 to 29), the one with the least out-of-fold
log-loss wins: the summed log-odds of two heads are over-confident at 1."""


def mapping(name: str) -> dict[str, int]:
    """``source_category -> google_id`` of ``tagger/vocab/taxonomy_map/<name>.csv`` (mapped rows)."""
    return {row["source_category"]: int(row["google_id"])
            for row in vocab.load("tagger", f"vocab/taxonomy_map/{name}.csv") if row["google_id"]}


def flipkart_label(tree: str, table: dict[str, int]) -> int | None:
    """The Google ID of the longest listed prefix of a Flipkart ``category_tree``.

    >>> flipkart_label("Kitchen & Dining >> Lighting >> Bulbs >> Philips 9W LED", mapping("flipkart"))
    2425
    """
    parts = [part.strip() for part in tree.split(">>")]
    for depth in range(len(parts), 0, -1):
        key = " >> ".join(parts[:depth])
        if key in table:
            return table[key]
    return None


def myntra_label(title: str, table: dict[str, int]) -> int | None:
    """The Google ID of a Myntra title's product noun (its last 1-3 words)."""
    words = title.lower().replace(" ml", "").split()
    for n in (3, 2, 1):
        key = " ".join(words[-n:])
        if key in table:
            return table[key]
    return None


def corpora(data: Path) -> dict[str, list[tuple[str, int]]]:
    """``source -> [(text, google_id)]`` for every mapped row of every corpus."""
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    text = data / "text"
    flipkart = mapping("flipkart")
    with open(text / "flipkart_titles.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = flipkart_label(row["category_tree"], flipkart)
            if label is not None:
                out["flipkart"].append((row["product_name"].strip(), label))
    bigbasket = mapping("bigbasket")
    with open(text / "bigbasket.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            fine = f"{row['category']} > {row['sub_category']} > {row['type']}"
            coarse = f"{row['category']} > {row['sub_category']}"
            label = bigbasket.get(fine, bigbasket.get(coarse))
            if label is not None:
                out["bigbasket"].append((row["product"].strip(), label))
    fashion = mapping("fashion")
    with open(data / "fashion" / "styles.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["split"] != "test" and row["articleType"] in fashion and row["productDisplayName"]:
                out["fashion"].append((row["productDisplayName"].strip(), fashion[row["articleType"]]))
    myntra = mapping("myntra")
    with open(text / "myntra.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            label = myntra_label(row["Product_Name"], myntra)
            if label is not None:
                out["myntra"].append((row["Product_Name"].strip(), label))
    grocery = mapping("grocery")
    for row in grocery_classes(data):
        label = grocery[row["coarse"]]
        out["grocery"].append((row["fine"].replace("-", " "), label))
        description = grocery_description(data, row)
        if description:
            out["grocery"].append((description.split(".")[0][:300], label))
    return dict(out)


def held_out(examples: list[tuple[str, int]], seed: int = SEED) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): a stratified ``HELD_OUT_SHARE`` of every Google ID
    with at least 5 titles; rarer IDs stay in training. Fixed by ``seed``."""
    by_label: dict[int, list[int]] = defaultdict(list)
    for index, (_, label) in enumerate(examples):
        by_label[label].append(index)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        cut = round(len(indices) * HELD_OUT_SHARE) if len(indices) >= 5 else 0
        test += indices[:cut]
        train += indices[cut:]
    return sorted(train), sorted(test)


def training_set(sources: dict[str, list[tuple[str, int]]], per_class: int = PER_CLASS,
                 seed: int = SEED) -> list[tuple[str, int, str]]:
    """``(text, google_id, source)`` for training: the non-held-out Flipkart and BigBasket
    titles and all the others, deduplicated, at most ``per_class`` per (source, ID)."""
    rng = random.Random(seed)
    chosen: list[tuple[str, int, str]] = []
    for source, examples in sorted(sources.items()):
        keep = held_out(examples)[0] if source in ("flipkart", "bigbasket") else range(len(examples))
        groups: dict[int, list[str]] = defaultdict(list)
        seen = set()
        for index in keep:
            text, label = examples[index]
            if text.lower() not in seen:
                seen.add(text.lower())
                groups[label].append(text)
        for label, texts in sorted(groups.items()):
            rng.shuffle(texts)
            chosen += [(text, label, source) for text in texts[:per_class]]
    return chosen


def embed(texts: list[str]) -> np.ndarray:
    """MiniLM vectors of ``texts``; every text is embedded once per machine and kept in
    ``<cache>/text_identity/<embedder>.npz``, so a changed mapping table re-fits in seconds."""
    identifier = TextIdentifier()
    key = pinned_key([identifier.embedder.spec], "text-identity-train") or "unpinned"
    path = cache_dir() / "text_identity" / f"{key}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            known = dict(zip(stored["texts"].tolist(), stored["vectors"]))
    missing = sorted(set(texts) - set(known))
    if missing:
        print(f"  embedding {len(missing)} new texts", flush=True)
        known.update(zip(missing, identifier.embedder(missing, batch_size=128)))
        path.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(known)
        np.savez(path, texts=np.array(ordered), vectors=np.stack([known[t] for t in ordered]))
    return np.stack([known[t] for t in texts]).astype(np.float32)


def fit(features: np.ndarray, labels: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=300)
    return model.fit(features, labels)


def fit_ngrams(matrix, labels: np.ndarray, c: float = NGRAM_C, keep: int = NGRAM_KEEP) -> dict:
    """Linear SVM over hashed n-grams; only the ``keep`` largest weights survive, as a sparse
    ``(buckets x classes)`` matrix."""
    from scipy.sparse import csr_matrix
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c).fit(matrix, labels)
    coef = svm.coef_.T.astype(np.float32)
    if np.count_nonzero(coef) > keep:
        cut = np.partition(np.abs(coef).ravel(), -keep)[-keep]
        coef[np.abs(coef) < cut] = 0.0
    return {"weights": csr_matrix(coef), "intercept": svm.intercept_.astype(np.float32),
            "classes": svm.classes_}


def ngram_oof_scores(head: dict, matrix, classes: np.ndarray) -> np.ndarray:
    """The head's scores in the columns of ``classes``; a class it never saw scores -10."""
    out = np.full((matrix.shape[0], len(classes)), -10.0, dtype=np.float32)
    out[:, np.searchsorted(classes, head["classes"])] = ((matrix @ head["weights"]).toarray()
                                                         + head["intercept"])
    return out


def choose_settings(features: np.ndarray, labels: np.ndarray, nodes: np.ndarray,
                    node_ids: tuple[int, ...], c_grid: tuple[float, ...] = C_GRID,
                    ngrams=None) -> dict:
    """C, n-gram weight, temperature, zero-shot blend and support threshold by 3-fold CV on
    the training set (``ngrams``: the hashed n-gram matrix of the same texts)."""
    from sklearn.model_selection import StratifiedKFold

    counts = Counter(labels.tolist())
    strat = np.array([label if counts[label] >= 3 else -1 for label in labels])
    folds = list(StratifiedKFold(3, shuffle=True, random_state=SEED).split(features, strat))
    scores = {}
    for c in c_grid if len(c_grid) > 1 else ():
        hits = sum(int((fit(features[train], labels[train], c).predict(features[test])
                        == labels[test]).sum()) for train, test in folds)
        scores[c] = hits / len(labels)
        print(f"  C={c}: CV leaf accuracy {scores[c]:.4f}", flush=True)
    best_c = max(scores, key=scores.get) if scores else c_grid[0]
    # out-of-fold probabilities with the chosen C, for the blend and the support threshold
    classes = np.unique(labels)
    oof = np.zeros((len(labels), len(classes)), dtype=np.float32)
    oof_ngrams = np.zeros_like(oof) if ngrams is not None else None
    for train, test in folds:
        model = fit(features[train], labels[train], best_c)
        oof[np.ix_(test, np.searchsorted(classes, model.classes_))] = model.predict_proba(features[test])
        if ngrams is not None:
            oof_ngrams[test] = ngram_oof_scores(fit_ngrams(ngrams[train], labels[train]),
                                                ngrams[test], classes)
    settings = {"C": best_c, "cv_leaf_accuracy": float(np.mean(classes[oof.argmax(1)] == labels))}
    settings["ngram_weight"] = 0.0
    if ngrams is not None:
        settings.update(tune_fusion(oof, oof_ngrams, labels, classes))
        oof = fuse(oof, oof_ngrams, settings["ngram_weight"], settings["fused_temperature"])
    zero_shot = features @ nodes.T
    settings.update(tune_blend(oof, zero_shot, labels, classes, node_ids))
    return settings


def tune_fusion(oof: np.ndarray, oof_ngrams: np.ndarray, labels: np.ndarray,
                classes: np.ndarray) -> dict:
    """The n-gram weight with the best out-of-fold leaf accuracy, then the temperature of the
    fused log-odds with the least out-of-fold log-loss (it leaves the argmax alone)."""
    tax = taxonomy()
    rows = np.arange(len(labels))
    truth = np.searchsorted(classes, labels)
    tops = np.array([tax.top_level(c) for c in classes])
    accuracy = {}
    for weight in NGRAM_WEIGHT_GRID:
        best = fuse(oof, oof_ngrams, weight).argmax(1)
        accuracy[weight] = float(np.mean(classes[best] == labels))
        print(f"  n-gram weight {weight}: CV leaf {accuracy[weight]:.4f}, top-level (argmax's "
              f"branch) {np.mean(tops[best] == tops[truth]):.4f}", flush=True)
    weight = max(accuracy, key=accuracy.get)
    loss = {t: float(-np.log(np.maximum(fuse(oof, oof_ngrams, weight, t)[rows, truth], 1e-12)).mean())
            for t in FUSED_TEMPERATURE_GRID}
    temperature = min(loss, key=loss.get)
    print(f"  fused temperature {temperature}: CV log-loss {loss[temperature]:.4f} "
          f"(at 1: {float(-np.log(np.maximum(fuse(oof, oof_ngrams, weight)[rows, truth], 1e-12)).mean()):.4f})",
          flush=True)
    return {"ngram_weight": weight, "cv_leaf_accuracy_fused": accuracy[weight],
            "fused_temperature": temperature, "cv_log_loss_fused": loss[temperature]}


def tune_blend(trained: np.ndarray, similarity: np.ndarray, labels: np.ndarray,
               classes: np.ndarray, node_ids: tuple[int, ...]) -> dict:
    """Zero-shot temperature and blend weight maximising leaf accuracy, then the smallest
    support threshold whose answers (where there is one) are right, the truth or an ancestor
    of it, on >= ``RIGHT_OR_ANCESTOR``."""
    tax = taxonomy()
    column = {node: i for i, node in enumerate(node_ids)}
    class_columns = np.array([column[c] for c in classes])
    node_array = np.array(node_ids)
    best = (-1.0, 0.0, 0.05)
    for temperature in TEMPERATURE_GRID:
        for blend in BLEND_GRID:
            mixed = mix(trained, similarity, class_columns, blend, temperature)
            accuracy = float(np.mean(node_array[mixed.argmax(1)] == labels))
            if accuracy > best[0]:
                best = (accuracy, blend, temperature)
    accuracy, blend, temperature = best
    print(f"  zero-shot blend {blend} at temperature {temperature}: leaf accuracy {accuracy:.4f}")
    support = np.asarray(mix(trained, similarity, class_columns, blend, temperature)
                         @ subtree_matrix(node_ids).T)
    depths = np.array([tax.node(n).depth for n in node_ids], dtype=np.float32)
    chosen = SUPPORT_GRID[-1]
    for threshold in SUPPORT_GRID:
        answers = deepest_supported(support, depths, threshold)
        answered = answers >= 0
        right = np.array([tax.is_ancestor_or_self(node_array[a], t)
                          for a, t in zip(answers[answered], labels[answered])])
        print(f"  support {threshold}: {answered.mean():.4f} answered, of which {right.mean():.4f} "
              "are the truth or its ancestor", flush=True)
        if right.mean() >= RIGHT_OR_ANCESTOR:
            chosen = threshold
            confidence = support[np.flatnonzero(answered), answers[answered]]
            for low, high in ((0, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01)):
                band = (confidence >= low) & (confidence < high)
                if band.any():
                    print(f"    confidence {low}-{min(high, 1)}: n {band.sum()}, mean "
                          f"{confidence[band].mean():.3f}, right {right[band].mean():.3f}")
            break
    return {"blend": blend, "temperature": temperature, "support": chosen}


def compare_ngrams(texts: list[str], labels: np.ndarray, features: np.ndarray, c: float) -> dict:
    """3-fold CV leaf accuracy of the shipped recipe beside TF-IDF word + char n-grams with a
    linear SVM, and of both fused (summed standardised scores): the evidence for the choice."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    counts = Counter(labels.tolist())
    strat = np.array([label if counts[label] >= 3 else -1 for label in labels])
    hits = Counter()
    for train, test in StratifiedKFold(3, shuffle=True, random_state=SEED).split(features, strat):
        words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True)
        train_text = [texts[i] for i in train]
        test_text = [texts[i] for i in test]
        x_train = hstack([words.fit_transform(train_text), chars.fit_transform(train_text)]).tocsr()
        x_test = hstack([words.transform(test_text), chars.transform(test_text)]).tocsr()
        svm = LinearSVC(C=0.5).fit(x_train, labels[train])
        minilm = fit(features[train], labels[train], c)
        ngram_scores = svm.decision_function(x_test)
        minilm_scores = minilm.decision_function(features[test])
        fused = (ngram_scores / ngram_scores.std() + minilm_scores / minilm_scores.std())
        hits["ngrams"] += int((svm.classes_[ngram_scores.argmax(1)] == labels[test]).sum())
        hits["minilm"] += int((minilm.classes_[minilm_scores.argmax(1)] == labels[test]).sum())
        hits["fused"] += int((minilm.classes_[fused.argmax(1)] == labels[test]).sum())
        hits["ngram_features"] = x_train.shape[1]
    result = {name: hits[name] / len(labels) for name in ("minilm", "ngrams", "fused")}
    print(f"  3-fold CV leaf accuracy: {result}; n-gram model: {hits['ngram_features']} features "
          f"x {len(counts)} classes of coefficients", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tagger.train.text_identity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=Path(str(weights_dir())))
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument("--c", type=float, default=None,
                        help=f"regularisation C, frozen (default: the best of {C_GRID} by CV)")
    parser.add_argument("--compare", action="store_true",
                        help="also cross-validate TF-IDF n-grams + linear SVM, and both fused")
    args = parser.parse_args(argv)
    if not (args.data / "text" / "flipkart_titles.csv").is_file():
        print(f"text_identity: error: no text corpora under {args.data}; pass --data DIR",
              file=sys.stderr)
        return 2
    started = time.time()
    sources = corpora(args.data)
    rows = training_set(sources, args.per_class)
    print("training titles per source:", dict(Counter(source for _, _, source in rows)), flush=True)
    features = embed([text for text, _, _ in rows])
    labels = np.array([label for _, label, _ in rows])
    identifier = TextIdentifier()
    node_ids = tuple(taxonomy().ids())
    key = pinned_key([identifier.embedder.spec], "taxonomy-nodes", taxonomy().version, NODES_TEXT)
    nodes = cached_array("taxonomy-nodes", key,
                         lambda: identifier.embedder([node_prompt(n) for n in node_ids], batch_size=256))
    texts = [text for text, _, _ in rows]
    counts = ngram_features(texts)
    idf = inverse_document_frequency(counts)
    ngrams = ngram_features(texts, idf)
    settings = choose_settings(features, labels, nodes, node_ids,
                               (args.c,) if args.c else C_GRID, ngrams)
    if args.compare:
        settings["compare_cv_leaf_accuracy"] = compare_ngrams(
            [text for text, _, _ in rows], labels, features, settings["C"])
    model = fit(features, labels, settings["C"])
    args.out.mkdir(parents=True, exist_ok=True)
    head = fit_ngrams(ngrams, labels)
    assert (head["classes"] == model.classes_).all()
    np.savez_compressed(args.out / "text_identity.npz", coef=model.coef_.astype(np.float16),
                        intercept=model.intercept_.astype(np.float32),
                        classes=model.classes_.astype(np.int64), nodes=nodes.astype(np.float16),
                        ngram_data=head["weights"].data.astype(np.float16),
                        ngram_indices=head["weights"].indices.astype(np.int16),
                        ngram_indptr=head["weights"].indptr.astype(np.int32),
                        ngram_intercept=head["intercept"], ngram_idf=idf.astype(np.float16))
    meta = {"taxonomy_version": taxonomy().version, "embedder": identifier.embedder.spec.name,
            "embedder_files": identifier.embedder.spec.files, "node_prompt": NODES_TEXT,
            "training_titles": dict(Counter(source for _, _, source in rows)),
            "per_class": args.per_class, "seed": SEED, "ngram_buckets": int(ngrams.shape[1]),
            "ngram_c": NGRAM_C, "ngram_kept_weights": int(head["weights"].nnz), **settings}
    (args.out / "text_identity.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out / 'text_identity.npz'} ({len(model.classes_)} Google IDs) in "
          f"{time.time() - started:.0f}s; settings {settings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
