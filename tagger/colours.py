"""Dominant colours of one product, named from a retail colour vocabulary.

Pipeline, per product (all of its photos together):

1. ``tagger.segment`` keeps the product's pixels at a small working resolution: the alpha
   channel when the photo has one, else the background is grown from the image border.
2. Up to ``SAMPLES_PER_IMAGE`` product pixels per photo are pooled and clustered with
   k-means in CIELAB (perceptually even, so cluster sizes mean "how much of this colour").
3. Clusters closer than ``MERGE_DELTA_E`` (CIEDE2000) are merged: fabric shading splits one
   colour into light and dark clusters.
4. Each cluster takes the name of the nearest vocabulary colour (CIEDE2000); clusters with the
   same name are merged, shares under ``min_share`` dropped, the rest sorted by share.

Tuning values (samples, k, merge distance …) live in ``tagger/vocab/colours.toml``.

Vocabulary: ``tagger/vocab/colours.csv``
----------------------------------------
Columns ``name,family,hex``; edit the CSV, not this module, to add or move a colour.

* Names: every Fashion Product Images ``baseColour`` (less "Multi", "Metallic", "NA") plus a
  few common extras ("Light Blue"). "Multi" is not a row: ``base_colour`` returns it when no
  single colour dominates the product.
* Hex: the colour as it looks in a product photo, not the paint-chip ideal (studio light
  lifts and greys fabric: Black is #3a3c3c, Blue a denim-like #5a7ba8). The values started
  from hand-picked colours and were nudged, within a few CIELAB units of lightness, chroma
  and hue, to agree with ``baseColour`` on the dataset's *train* split while still naming
  plain web colours (#ff8000 is Orange, #000080 Navy Blue) correctly.
* Family: a small closed set by appearance, for filters: black, white, grey, blue, brown,
  beige, red, orange, yellow, green, pink, purple. Metals go by hue (Silver and Steel are
  grey, Gold yellow, Bronze and Copper brown): pixels alone cannot tell metal from matte.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import joblib
import numpy as np
from sklearn.cluster import KMeans

from listingsmith.core import vocab
from listingsmith.core.errors import ModelError
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import get_spec, resolve
from listingsmith.core.types import ColorSwatch
from tagger.cielab import delta_e_2000, srgb_to_lab
from tagger.segment import working_view

_TUNING = vocab.load("tagger", "vocab/colours.toml")
SAMPLES_PER_IMAGE: int = _TUNING["samples_per_image"]
N_CLUSTERS: int = _TUNING["n_clusters"]
MERGE_DELTA_E: float = _TUNING["merge_delta_e"]
CENTRE_SIGMA: float = _TUNING["centre_sigma"]
DOMINANT_SHARE: float = _TUNING["dominant_share"]

MULTI = "Multi"

_SEED = 0


@dataclass(frozen=True)
class VocabColour:
    """One row of ``vocab/colours.csv`` with its CIELAB value precomputed."""

    name: str
    family: str
    hex: str
    lab: tuple[float, float, float]


@lru_cache(maxsize=1)
def vocabulary() -> tuple[VocabColour, ...]:
    """The retail colour vocabulary, read once from ``tagger/vocab/colours.csv``."""
    rows = vocab.load("tagger", "vocab/colours.csv")
    rgb = np.array([[int(r["hex"][i:i + 2], 16) for i in (1, 3, 5)] for r in rows], np.uint8)
    labs = srgb_to_lab(rgb)
    return tuple(VocabColour(r["name"], r["family"], r["hex"].lower(), tuple(map(float, lab)))
                 for r, lab in zip(rows, labs))


@lru_cache(maxsize=1)
def _vocab_lab() -> np.ndarray:
    return np.array([c.lab for c in vocabulary()])


# --------------------------------------------------------------------------- clustering


@dataclass
class _Cluster:
    """A group of sampled pixels: total weight and weighted mean colour in Lab and sRGB."""

    weight: float
    lab: np.ndarray
    rgb: np.ndarray

    def absorb(self, other: _Cluster) -> None:
        total = self.weight + other.weight
        self.lab = (self.lab * self.weight + other.lab * other.weight) / total
        self.rgb = (self.rgb * self.weight + other.rgb * other.weight) / total
        self.weight = total


def _centre_weight(shape: tuple[int, int]) -> np.ndarray:
    """Gaussian weight around the frame centre, ``CENTRE_SIGMA`` of each side wide."""
    height, width = shape
    y = (np.arange(height) + 0.5) / height - 0.5
    x = (np.arange(width) + 0.5) / width - 0.5
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2) / CENTRE_SIGMA ** 2)


def _product_samples(images: list[ProductImage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lab, RGB and centre weight of up to ``SAMPLES_PER_IMAGE`` product pixels per photo."""
    rng = np.random.default_rng(_SEED)
    labs, rgbs, weights = [], [], []
    for image in images:
        rgb, lab, mask = working_view(image)
        index = np.flatnonzero(mask)
        if len(index) > SAMPLES_PER_IMAGE:
            index = rng.choice(index, SAMPLES_PER_IMAGE, replace=False)
        weight = _centre_weight(rgb.shape[:2]).reshape(-1)[index]
        labs.append(lab.reshape(-1, 3)[index])
        rgbs.append(rgb.reshape(-1, 3)[index])
        weights.append(weight / weight.sum())
    return (np.concatenate(labs), np.concatenate(rgbs).astype(np.float64),
            np.concatenate(weights))


def _kmeans_clusters(lab: np.ndarray, rgb: np.ndarray, weight: np.ndarray) -> list[_Cluster]:
    k = min(N_CLUSTERS, len(np.unique(rgb, axis=0)))
    labels = (np.zeros(len(lab), dtype=int) if k == 1 else
              KMeans(n_clusters=k, n_init=1, random_state=_SEED).fit_predict(
                  lab, sample_weight=weight))
    clusters = []
    for i in range(k):
        member = labels == i
        total = weight[member].sum()
        if total > 0:
            clusters.append(_Cluster(float(total),
                                     np.average(lab[member], axis=0, weights=weight[member]),
                                     np.average(rgb[member], axis=0, weights=weight[member])))
    return clusters


def _merge_close(clusters: list[_Cluster]) -> list[_Cluster]:
    """Repeatedly merge the closest pair of clusters while it is under ``MERGE_DELTA_E``."""
    clusters = list(clusters)
    while len(clusters) > 1:
        centres = np.array([c.lab for c in clusters])
        distance = delta_e_2000(centres[:, None], centres[None])
        np.fill_diagonal(distance, np.inf)
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        if distance[i, j] >= MERGE_DELTA_E:
            break
        clusters[i].absorb(clusters[j])
        del clusters[j]
    return clusters


def _nearest_vocab(lab: np.ndarray) -> VocabColour:
    return vocabulary()[int(np.argmin(delta_e_2000(lab[None], _vocab_lab())))]


# --------------------------------------------------------------------------- colour head

FEATURE_VERSION = 2
"""Bumped whenever the head's input changes, so a stale ``colour_head.joblib`` is refused.

Version 2: ``colour_features`` followed by ``product_image_features`` (the mean pooled
EfficientNet-Lite0 feature of the product's photos), which tells the head what kind of
product it is looking at (a navy shirt photographs differently from a navy shoe)."""

HEAD_CLUSTERS = 3
"""Merged clusters (largest first) whose colour and share enter the head's features."""


class ColourHeadError(ModelError):
    """``tagger/weights/colour_head.joblib`` exists but cannot be used."""


def _features(clusters: list[_Cluster], lab: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The colour head's input, from one clustering (call before naming merges clusters).

    Per top cluster: Lab, chroma, share (zero-padded to ``HEAD_CLUSTERS``); the weighted mean
    Lab and chroma of all product pixels, the spread of lightness and chroma, the number of
    clusters, and the top cluster's CIEDE2000 to every vocabulary colour (so a linear model
    starts from what nearest naming sees).
    """
    total = float(weight.sum())
    ranked = sorted(clusters, key=lambda c: c.weight, reverse=True)
    top = np.zeros((HEAD_CLUSTERS, 5))
    for row, cluster in zip(top, ranked):
        row[:] = (*cluster.lab, np.hypot(cluster.lab[1], cluster.lab[2]), cluster.weight / total)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    mean_lab = np.average(lab, axis=0, weights=weight)
    mean_chroma = np.average(chroma, weights=weight)
    spread = [np.sqrt(np.average((lab[:, 0] - mean_lab[0]) ** 2, weights=weight)),
              np.sqrt(np.average((chroma - mean_chroma) ** 2, weights=weight))]
    to_vocab = delta_e_2000(ranked[0].lab[None], _vocab_lab())
    return np.concatenate([top.ravel(), mean_lab, [mean_chroma], spread, [len(clusters)],
                           to_vocab]).astype(np.float32)


def _nearest_swatches(clusters: list[_Cluster], total: float, max_colours: int,
                      min_share: float) -> list[ColorSwatch]:
    """Clusters named by the nearest vocabulary colour; same names merged, largest first."""
    named: dict[str, tuple[VocabColour, _Cluster]] = {}
    for cluster in clusters:
        colour = _nearest_vocab(cluster.lab)
        if colour.name in named:
            named[colour.name][1].absorb(cluster)
        else:
            named[colour.name] = (colour, cluster)
    ranked = sorted(named.values(), key=lambda item: item[1].weight, reverse=True)
    swatches = []
    for colour, cluster in ranked[:max_colours]:
        share = cluster.weight / total
        if share < min_share:
            break
        red, green, blue = (int(v) for v in np.clip(np.round(cluster.rgb), 0, 255))
        swatches.append(ColorSwatch(name=colour.name, family=colour.family,
                                    rgb=(red, green, blue),
                                    hex=f"#{red:02x}{green:02x}{blue:02x}",
                                    share=math.floor(share * 1000 + 1e-9) / 1000))
    return swatches


def measure_colours(images: list[ProductImage], *, max_colours: int = 5,
                    min_share: float = 0.05) -> tuple[np.ndarray, list[ColorSwatch]]:
    """Head features and nearest-named swatches from a single clustering of the photos.

    The training script (``tagger.train.colour_head``) calls this, so the head is trained on
    exactly the features ``dominant_colours`` computes at inference.
    """
    lab, rgb, weight = _product_samples(images)
    clusters = _merge_close(_kmeans_clusters(lab, rgb, weight))
    features = _features(clusters, lab, weight)
    return features, _nearest_swatches(clusters, float(weight.sum()), max_colours, min_share)


def colour_features(images: list[ProductImage]) -> np.ndarray:
    """The colour part of the head's input: a fixed-length vector for one product."""
    return measure_colours(images)[0]


@lru_cache(maxsize=1)
def colour_head() -> dict | None:
    """The trained colour head (``tagger/weights/colour_head.joblib``), loaded once.

    ``None`` when the file is not shipped (naming falls back to nearest colour); a file that
    is there but unreadable or stale raises ``ColourHeadError`` rather than silently
    degrading the colour names.
    """
    resource = resources.files("tagger").joinpath("weights/colour_head.joblib")
    if not resource.is_file():
        return None
    resolve(get_spec("colour-head"))  # refuses a file whose sha256 is not the pinned one
    with resources.as_file(resource) as path:
        try:
            head = joblib.load(path)
        except Exception as error:  # joblib/pickle raise many types for a damaged file
            raise ColourHeadError(f"{path}: cannot load the colour head ({error}); retrain it "
                                  "with python -m tagger.train.colour_head") from error
    missing = {"model", "classes", "feature_version", "threshold"} - set(head)
    if missing or head["feature_version"] != FEATURE_VERSION:
        raise ColourHeadError(f"{path}: colour head is stale or incomplete (missing "
                              f"{sorted(missing)}, feature_version {head.get('feature_version')}"
                              f", expected {FEATURE_VERSION}); retrain it with "
                              "python -m tagger.train.colour_head")
    return prepare_head(head)


def prepare_head(head: dict) -> dict:
    """The head with what inference needs built once: its classifier compiled
    (``tagger.trees``: scikit-learn's per-call overhead would dominate on one product) and
    its tuned image head, if it has one, as a torch module."""
    from tagger.trees import compiled

    prepared = {**head, "fast_model": compiled(head["model"])}
    if head.get("image_head") is None or not head.get("image_head_weight"):
        return prepared
    from tagger.image_head import TunedImageHead

    return {**prepared, "image_head_module": TunedImageHead.from_arrays(head["image_head"])}


def needs_tail_inputs(head: dict | None) -> bool:
    """Whether ``head`` fuses a tuned image head, which reads the backbone's tail inputs."""
    return head is not None and "image_head_module" in head


def name_by_head(features: np.ndarray, swatches: list[ColorSwatch], head: dict,
                 tail_inputs: np.ndarray | None = None) -> list[ColorSwatch]:
    """Rename the top swatch with the head's class when it is confident enough.

    A head with a tuned image head adds its log-probabilities (mean over the product's
    photos, ``tail_inputs`` of shape ``(photos, 192, 7, 7)``), times ``image_head_weight``,
    to the classifier's: the classifier sees the cluster colours, the image head the whole
    photo. Only ``name``/``family`` change; ``rgb``/``hex``/``share`` stay measured. Below the
    head's calibrated ``threshold`` nearest naming is kept. A lower swatch that already had
    the new name is dropped so a name is reported once.
    """
    if not swatches:
        return swatches
    probabilities = head.get("fast_model", head["model"]).predict_proba(features[None])[0]
    if needs_tail_inputs(head):
        if tail_inputs is None or len(tail_inputs) == 0:
            raise ValueError("tail_inputs: expected the backbone's (photos, 192, 7, 7) tail "
                             "inputs for a colour head with a tuned image head, got none")
        image_log = head["image_head_module"].log_probabilities(tail_inputs).mean(axis=0)
        probabilities = fuse(probabilities, image_log, head["image_head_weight"])
    best = int(np.argmax(probabilities))
    if probabilities[best] < head["threshold"]:
        return swatches
    name = head["classes"][best]
    family = {colour.name: colour.family for colour in vocabulary()}[name]
    top = dataclasses.replace(swatches[0], name=name, family=family)
    return [top, *(s for s in swatches[1:] if s.name != name)]


def fuse(probabilities: np.ndarray, image_log_probabilities: np.ndarray,
         weight: float) -> np.ndarray:
    """Classifier probabilities times image-head probabilities to the power ``weight``,
    renormalised (rows or a single vector)."""
    log = np.log(np.clip(probabilities, 1e-6, None)) + weight * image_log_probabilities
    log -= log.max(axis=-1, keepdims=True)
    fused = np.exp(log)
    return fused / fused.sum(axis=-1, keepdims=True)


def dominant_colours(images: list[ProductImage], *, max_colours: int = 5,
                     min_share: float = 0.05, named_by: str = "head",
                     image_features: np.ndarray | None = None,
                     tail_inputs: np.ndarray | None = None) -> list[ColorSwatch]:
    """The product's main colours over all its photos, largest share first.

    ``share`` is the fraction of product pixels with that colour, each photo counting equally
    and pixels near the frame centre counting more (``CENTRE_SIGMA``); it is rounded down to
    3 decimals, so shares never sum past 1. ``rgb``/``hex`` are the mean colour of those
    pixels and ``name``/``family`` the nearest vocabulary colour (CIEDE2000). Same-named
    clusters are reported once; at most ``max_colours``, none under ``min_share``.

    ``named_by="head"`` (default) lets the trained colour head rename the top swatch when it
    is confident (see ``name_by_head``); ``"nearest"`` is pure nearest-colour naming, also
    what "head" does when no head is shipped. ``image_features`` (the mean pooled backbone
    feature) and ``tail_inputs`` (the backbone's per-photo tail inputs) save recomputing the
    backbone when the caller has them.
    """
    if named_by not in ("head", "nearest"):
        raise ValueError(f"named_by must be 'head' or 'nearest', got {named_by!r}")
    if not images:
        return []
    features, swatches = measure_colours(images, max_colours=max_colours, min_share=min_share)
    head = colour_head() if named_by == "head" else None
    if head is None:
        return swatches
    if image_features is None or (tail_inputs is None and needs_tail_inputs(head)):
        outputs = _backbone_outputs(images)
        image_features = np.mean([output.features for output in outputs], axis=0)
        tail_inputs = np.stack([output.tail_input for output in outputs])
    return name_by_head(np.concatenate([features, image_features]).astype(np.float32), swatches,
                        head, tail_inputs)


def product_image_features(images: list[ProductImage]) -> np.ndarray:
    """Mean pooled EfficientNet-Lite0 feature of the photos: the head's second input.

    The pipeline passes the features its tags stage already computed; this computes them
    (loading the bundled backbone once) for callers that have none.
    """
    return np.mean([output.features for output in _backbone_outputs(images)], axis=0)


def _backbone_outputs(images: list[ProductImage]) -> list:
    from tagger.backbone import ImageBackbone

    return ImageBackbone()(images)


def base_colour(swatches: list[ColorSwatch]) -> str | None:
    """One catalogue colour for the product: the top swatch's name, ``"Multi"`` when no
    colour covers ``DOMINANT_SHARE`` of it, ``None`` when there are no swatches."""
    if not swatches:
        return None
    top = max(swatches, key=lambda s: s.share)
    return top.name if top.share >= DOMINANT_SHARE else MULTI
