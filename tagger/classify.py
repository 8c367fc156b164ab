"""Category classifier on fused attributes: what the photo looks like (backbone feature),
what the aligner says about it (image–text embedding and tag scores), its colours, and the
text printed on it (OCR lines embedded with MiniLM: Arla and Garant milk look alike, but
their cartons say which is which).

A ``CategoryModel`` is a joblib bundle: a scikit-learn pipeline over the enabled feature
blocks, the class → ancestor path (grocery: coarse → fine; fashion: master → sub → article
type), a temperature fitted on validation photos and an "uncertain" cut-off. Coarser levels
are sums of the fine probabilities, so predictions agree across levels by construction.

A closed-set softmax is confident on things it never saw (nail polish → perfume), so a
prediction is also flagged uncertain when its out-of-distribution score (``novelty``, from
the logits: energy, max-logit or top probability, whichever separated unseen types best on
validation photos; higher = farther from the training photos) is above ``ood_above``, a
threshold chosen on validation photos. Logit scores miss inputs far
from everything (a linear model extrapolates with large logits), so the input's distance to
the training features (root-mean-square z-score under the pipeline's own scaler,
``feature_distance``) is checked too, against ``distance_above``. Shipped models take their
score and thresholds from ``tagger/vocab/specialists.toml``.
Shipped models live in ``tagger/weights/category_*.joblib`` with model cards; a seller's own
comes from ``listingsmith train classifier``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import joblib
import numpy as np

from tagger.aligner import AlignedImageText
from tagger.colours import vocabulary as colour_vocabulary
from listingsmith.core import vocab
from listingsmith.core.errors import ModelError
from listingsmith.core.registry import get_spec, load_once, resolve
from tagger.tags import TagScorer, TagVocabulary, load_vocabulary, product_embedding
from tagger.text_embed import TextEmbedder
from listingsmith.core.types import CategoryPrediction, ColorSwatch

BLOCKS = ("image", "aligned", "colours", "ocr")
"""Feature blocks in their fixed order; a model records which of them it was trained with."""

SHIPPED = ("grocery", "fashion")
"""Bundled taxonomies: ``tagger/weights/category_<name>.joblib``."""

NOVELTY_SCORES = ("energy", "max_logit", "max_probability")
"""Out-of-distribution scores computed from a model's logits (higher = more novel)."""


def specialist_settings() -> dict:
    """``tagger/vocab/specialists.toml``: the OOD score, its val share, per shipped model."""
    return vocab.load("tagger", "vocab/specialists.toml")


def novelty_from_scores(scores: np.ndarray, kind: str, temperature: float = 1.0) -> np.ndarray:
    """Per row of logits, how out-of-distribution it looks (higher = more novel):
    ``energy`` is ``-T·logsumexp(logits/T)``, ``max_logit`` is ``-max(logits)``,
    ``max_probability`` is ``-max(softmax(logits/T))``."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    if kind == "max_logit":
        return -scores.max(axis=1)
    logits = scores / temperature
    top = logits.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    if kind == "energy":
        return -temperature * log_total
    if kind == "max_probability":
        return -np.exp(top[:, 0] - log_total)
    raise ValueError(f"unknown novelty score {kind!r}; expected one of {NOVELTY_SCORES}")


@dataclass(frozen=True)
class FeatureInputs:
    """Everything the blocks are computed from, for the photos of one product."""

    image_features: np.ndarray
    """``(n_photos, 1280)`` backbone features."""
    aligned: np.ndarray
    """``(dim + n_tags,)``: the product's aligner embedding followed by its tag scores."""
    colours: list[ColorSwatch] | list[tuple[str, float]] = field(default_factory=list)
    ocr_vector: np.ndarray | None = None
    """MiniLM embedding of the OCR lines joined (None: no text read)."""
    ocr_text: str = ""
    """The OCR lines joined: its character n-grams catch exact brand spellings (Arla vs
    Garant) that a sentence embedding blurs."""
    tail_inputs: np.ndarray | None = None
    """``(n_photos, 192, 7, 7)`` backbone tail inputs, for a model with a tuned image head."""


class CategoryFeaturizer:
    """Builds ``FeatureInputs`` the same way for training and for the pipeline: the bundled
    aligner and the bundled tag vocabulary (whatever tag backend the user picked), MiniLM
    for the OCR text."""

    def __init__(self, aligner: AlignedImageText | None = None,
                 text_embedder: TextEmbedder | None = None, scorer: TagScorer | None = None):
        self.aligner = aligner or AlignedImageText()
        self.text_embedder = text_embedder or self.aligner.text_embedder
        # the bundled vocabulary on the aligner; the pipeline passes the tags stage's scorer so
        # the vocabulary embeddings (a MiniLM pass over every prompt) are computed once per process
        self.scorer = scorer or TagScorer(self.aligner, load_vocabulary())

    def aligned(self, image_features: np.ndarray) -> np.ndarray:
        """``(n, dim + n_tags)``: per row of photo features, its embedding and tag scores."""
        embeddings = self.aligner.embed_features(image_features)
        return np.concatenate([embeddings, self.scorer.scores(embeddings)], axis=1)

    def ocr_vectors(self, texts: list[list[str]]) -> list[np.ndarray | None]:
        """MiniLM vector of each product's OCR lines joined (None where no text was read)."""
        joined = [" ".join(lines).strip() for lines in texts]
        present = [i for i, text in enumerate(joined) if text]
        vectors = self.text_embedder([joined[i] for i in present]) if present else []
        result: list[np.ndarray | None] = [None] * len(texts)
        for i, vector in zip(present, vectors):
            result[i] = vector
        return result

    def product_inputs(self, image_features: np.ndarray, colours: list[ColorSwatch],
                       ocr_lines: list[str], tail_inputs: np.ndarray | None = None
                       ) -> FeatureInputs:
        """One product (all its photos)."""
        embeddings = self.aligner.embed_features(image_features)
        embedding = product_embedding(embeddings)
        aligned = np.concatenate([embedding, self.scorer.scores(embedding[None])[0]])
        return FeatureInputs(image_features, aligned, colours, self.ocr_vectors([ocr_lines])[0],
                             " ".join(ocr_lines), tail_inputs)


def route(tag_scores: np.ndarray, vocabulary: TagVocabulary,
          taxonomies: tuple[str, ...] = SHIPPED) -> tuple[str, float]:
    """Which shipped taxonomy a product belongs to, and how sure: the product-type
    probability mass (exclusive softmax of the aligner's tags) inside each domain."""
    entries = vocabulary.entries
    mass = {}
    for name in taxonomies:
        members = set(vocabulary.domains.get(name, ()))
        mass[name] = float(sum(tag_scores[i] for i, (g, t) in enumerate(entries)
                               if g.name == "product_type" and t in members))
    best = max(mass, key=mass.get)
    total = sum(mass.values())
    return best, (mass[best] / total if total else 0.0)


def colour_histogram(colours: list[tuple[str, float]] | list[ColorSwatch]) -> np.ndarray:
    """Share per vocabulary colour name (the swatches' shares, in vocabulary order)."""
    names = [c.name for c in colour_vocabulary()]
    index = {name: i for i, name in enumerate(names)}
    vector = np.zeros(len(names), dtype=np.float32)
    for item in colours:
        name, share = (item.name, item.share) if isinstance(item, ColorSwatch) else item
        if name in index:
            vector[index[name]] += share
    return vector


def block_vector(block: str, inputs: FeatureInputs, ocr_dim: int = 384) -> np.ndarray:
    if block == "image":
        return np.asarray(inputs.image_features, dtype=np.float32).mean(axis=0)
    if block == "aligned":
        return np.asarray(inputs.aligned, dtype=np.float32)
    if block == "colours":
        return colour_histogram(inputs.colours)
    if block == "ocr":
        grams = _char_grams().transform([inputs.ocr_text.lower()]).toarray()[0]
        if inputs.ocr_vector is None:
            return np.concatenate([np.zeros(ocr_dim + 1), grams]).astype(np.float32)
        return np.concatenate([inputs.ocr_vector, [1.0], grams]).astype(np.float32)
    raise ValueError(f"unknown feature block {block!r}; expected one of {BLOCKS}")


OCR_GRAMS = 1024
"""Hashed character 3–4-gram features of the OCR text: packs of one kind differ mostly in
the words printed on them."""


@lru_cache(maxsize=1)
def _char_grams():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer="char_wb", ngram_range=(3, 4), n_features=OCR_GRAMS,
                             alternate_sign=False, norm="l2")


def fused_features(inputs: FeatureInputs, blocks: tuple[str, ...]) -> np.ndarray:
    """The classifier's input: the enabled blocks concatenated in ``BLOCKS`` order."""
    return np.concatenate([block_vector(b, inputs) for b in BLOCKS if b in blocks])


@dataclass
class CategoryModel:
    """A trained classifier bundle (see the module docstring)."""

    name: str
    pipeline: object
    classes: list[str]
    paths: dict[str, list[str]]
    """class → its ancestors then itself, e.g. ``["Apparel", "Topwear", "Tshirts"]``."""
    levels: list[str]
    blocks: tuple[str, ...]
    temperature: float = 1.0
    uncertain_below: float = 0.5
    card: dict = field(default_factory=dict)
    brands: dict[str, str] = field(default_factory=dict)
    """class → the brand its products carry (grocery packs), a hint for reading the brand."""
    image_head: dict[str, np.ndarray] | None = None
    """A tuned image head's float16 weights (``tagger.image_head``), or None."""
    image_head_classes: list[str] = field(default_factory=list)
    image_head_weight: float = 0.0
    """How much the head's log-probabilities add to the pipeline's scores (chosen on val)."""
    ood_score: str = "energy"
    """Which ``novelty`` score flags out-of-distribution inputs (one of ``NOVELTY_SCORES``)."""
    ood_above: float | None = None
    """Predictions whose novelty is above this are flagged uncertain (None: no OOD check,
    e.g. a bundle saved before the check existed)."""
    distance_above: float | None = None
    """Inputs whose ``feature_distance`` is above this are flagged uncertain (None: no check)."""

    def __post_init__(self):
        self._head = None

    @property
    def needs_tail_inputs(self) -> bool:
        return self.image_head is not None and self.image_head_weight > 0

    def scores(self, features: np.ndarray, tail_inputs: list[np.ndarray] | None = None
               ) -> np.ndarray:
        """``(n, n_classes)`` logits before the temperature: the fused-feature classifier's
        scores, plus the weighted mean log-probability of the tuned image head over each
        product's photos where the model has one (``tail_inputs``: one array per row)."""
        scores = self.pipeline.decision_function(np.atleast_2d(features))
        if not self.needs_tail_inputs:
            return scores
        if tail_inputs is None or len(tail_inputs) != len(scores):
            raise ModelError(f"category model {self.name}: expected tail inputs for each of "
                             f"{len(scores)} products (its tuned image head needs them), got "
                             f"{'none' if tail_inputs is None else len(tail_inputs)}")
        return scores + self.image_head_weight * self.head_log_probabilities(tail_inputs)

    def head_log_probabilities(self, tail_inputs: list[np.ndarray]) -> np.ndarray:
        """``(n, n_classes)`` in ``classes`` order: per product, the mean over its photos."""
        from tagger.image_head import TunedImageHead

        if self._head is None:
            self._head = TunedImageHead.from_arrays(self.image_head)
        counts = [len(t) for t in tail_inputs]
        if min(counts) == 0:
            raise ModelError(f"category model {self.name}: a product without photos has no "
                             "tail inputs")
        per_photo = self._head.log_probabilities(np.concatenate(tail_inputs))
        per_product = np.stack([rows.mean(axis=0) for rows in
                                np.split(per_photo, np.cumsum(counts)[:-1])])
        column = {label: i for i, label in enumerate(self.image_head_classes)}
        floor = per_product.min()
        return np.stack([per_product[:, column[c]] if c in column else
                         np.full(len(per_product), floor) for c in self.classes], axis=1)

    def brand_hints(self, prediction: CategoryPrediction) -> dict[str, tuple[str, float]]:
        """brand → (its likeliest class, summed probability of its classes in the top k)."""
        hints: dict[str, tuple[str, float]] = {}
        for label, score in prediction.top_k:
            if label in self.brands:
                best, mass = hints.get(self.brands[label], (label, 0.0))
                hints[self.brands[label]] = (best, mass + score)
        return hints

    def probabilities(self, features: np.ndarray,
                      tail_inputs: list[np.ndarray] | None = None) -> np.ndarray:
        """``(n, n_classes)`` temperature-scaled class probabilities."""
        return self._softmax(self.scores(features, tail_inputs))

    def _softmax(self, scores: np.ndarray) -> np.ndarray:
        logits = scores / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def novelty(self, features: np.ndarray, tail_inputs: list[np.ndarray] | None = None,
                kind: str | None = None) -> np.ndarray:
        """``(n,)`` out-of-distribution score of each row (``novelty_from_scores``; the
        model's ``ood_score`` unless ``kind`` names another)."""
        return novelty_from_scores(self.scores(features, tail_inputs), kind or self.ood_score,
                                   self.temperature)

    def feature_distance(self, features: np.ndarray) -> np.ndarray:
        """``(n,)`` root-mean-square z-score of each row under the pipeline's scaler (about 1
        for training-like inputs); zeros when the pipeline has no fitted scaler."""
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        scaler = getattr(self.pipeline, "steps", [(None, None)])[0][1]
        if getattr(scaler, "mean_", None) is None or getattr(scaler, "scale_", None) is None:
            return np.zeros(len(features))
        z = (features - scaler.mean_) / scaler.scale_
        return np.sqrt(np.mean(z * z, axis=1))

    def out_of_distribution(self, novelty: np.ndarray, distance: np.ndarray | None = None
                            ) -> np.ndarray:
        """Which rows are above the model's ``ood_above`` novelty or ``distance_above``
        feature distance (none without thresholds)."""
        flagged = np.zeros(len(novelty), dtype=bool)
        if self.ood_above is not None:
            flagged |= np.asarray(novelty) > self.ood_above
        if self.distance_above is not None and distance is not None:
            flagged |= np.asarray(distance) > self.distance_above
        return flagged

    def level_probabilities(self, probabilities: np.ndarray, level: int) -> tuple[list[str], np.ndarray]:
        """Labels of one level and their probabilities (sums over the classes under each)."""
        labels = sorted({self.paths[c][level] for c in self.classes})
        index = {label: i for i, label in enumerate(labels)}
        member = np.zeros((len(self.classes), len(labels)), dtype=np.float32)
        for row, c in enumerate(self.classes):
            member[row, index[self.paths[c][level]]] = 1.0
        return labels, probabilities @ member

    def predict(self, features: np.ndarray, top_k: int = 5,
                tail_inputs: list[np.ndarray] | None = None) -> list[CategoryPrediction]:
        """One prediction per row; the label is the finest level, ``path`` its ancestors.
        Uncertain: the top probability is below ``uncertain_below`` or the row looks
        out-of-distribution (``ood_above``)."""
        scores = self.scores(features, tail_inputs)
        unseen = self.out_of_distribution(
            novelty_from_scores(scores, self.ood_score, self.temperature),
            self.feature_distance(features))
        results = []
        for row, novel in zip(self._softmax(scores), unseen):
            order = np.argsort(-row)[:top_k]
            best = self.classes[order[0]]
            results.append(CategoryPrediction(
                label=best, score=round(float(row[order[0]]), 4), taxonomy=self.name,
                top_k=[(self.classes[i], round(float(row[i]), 4)) for i in order],
                uncertain=bool(row[order[0]] < self.uncertain_below or novel),
                path=list(self.paths[best])))
        return results

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({k: v for k, v in self.__dict__.items() if not k.startswith("_")}, path,
                    compress=3)


def load_category_model(path: str | Path) -> CategoryModel:
    """A bundle written by ``CategoryModel.save`` (a shipped one or a seller's)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"category model {path}: no such file; train one with "
                         "'listingsmith train classifier' or pick one of " + ", ".join(SHIPPED))
    try:
        fields = joblib.load(path)
        return CategoryModel(**fields)
    except Exception as exc:  # joblib raises many types for foreign or damaged files
        raise ModelError(f"category model {path}: not a listingsmith classifier ({exc}); "
                         "retrain it with 'listingsmith train classifier'") from exc


def shipped_model(name: str) -> CategoryModel:
    """A bundled taxonomy (registry ``category-<name>``, sha256-pinned), loaded once per
    process, with its OOD score and threshold from ``tagger/vocab/specialists.toml``."""
    if name not in SHIPPED:
        raise ModelError(f"unknown taxonomy {name!r}; shipped: {', '.join(SHIPPED)}, "
                         "or pass the path of a model from 'listingsmith train classifier'")
    spec = get_spec(f"category-{name}")
    return load_once(spec, spec.name, lambda: with_shipped_settings(load_category_model(
        resolve(spec) / next(iter(spec.files)))))


def with_shipped_settings(model: CategoryModel) -> CategoryModel:
    """The shipped model's OOD score and threshold from the data file (the bundle's own
    when the file names none)."""
    settings = specialist_settings()
    entry = settings.get(model.name, {})
    model.ood_score = entry.get("ood_score", settings.get("ood_score", model.ood_score))
    for key in ("ood_above", "distance_above"):
        if key in entry:
            setattr(model, key, float(entry[key]))
    return model
