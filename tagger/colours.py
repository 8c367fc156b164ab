"""Dominant colours of one product, named from a retail colour vocabulary.

Pipeline, per product (all of its photos together):

1. ``product_mask`` keeps the product's pixels at a small working resolution: the alpha
   channel when the photo has one, else the background is grown from the image border.
2. Up to ``SAMPLES_PER_IMAGE`` product pixels per photo are pooled and clustered with
   k-means in CIELAB (perceptually even, so cluster sizes mean "how much of this colour").
3. Clusters closer than ``MERGE_DELTA_E`` (CIEDE2000) are merged: fabric shading splits one
   colour into light and dark clusters.
4. Each cluster takes the name of the nearest vocabulary colour (CIEDE2000); clusters with the
   same name are merged, shares under ``min_share`` dropped, the rest sorted by share.

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

import csv
import dataclasses
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import joblib
import numpy as np
from PIL import Image
from sklearn.cluster import KMeans

from listingsmith.core.errors import ModelError
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import get_spec, resolve
from listingsmith.core.types import ColorSwatch

WORK_SIDE = 128
"""Longest side of the working image: colour statistics need few pixels; keeps masking fast."""

SAMPLES_PER_IMAGE = 4000
"""Product pixels sampled per photo: enough for stable shares, keeps k-means in milliseconds."""

N_CLUSTERS = 8
"""k-means k: a few more than the colours a product shows, so shading does not swallow a trim."""

MERGE_DELTA_E = 10.0
"""CIEDE2000 below which two clusters are one colour (light/dark sides of the same fabric)."""

BORDER_FRACTION = 0.03
"""Width of the border ring (fraction of the side) whose colours seed the background."""

BG_DELTA_E_MIN, BG_DELTA_E_MAX = 3.0, 12.0
"""CIE76 distance from a border colour under which a pixel may be background: tight for a
clean studio white (so a white garment is not eaten), wider for a graded sweep. A background
that would need more than the maximum is clutter, left to GrabCut."""

BG_SPREAD_GAIN = 4.0
"""Threshold growth per unit of median border distance to its seed (the sweep's own noise)."""

BG_SEED_SHARE = 0.08
"""A border colour must cover this share of the ring to count as background, not a product edge."""

UNIFORM_BORDER = 0.6
"""Share of the ring explained by background seeds above which flood fill is trusted;
below it the background is cluttered and GrabCut separates product from scene."""

GRABCUT_INSET = 0.06
"""GrabCut's 'surely background' margin, as a fraction of each side."""

MIN_PRODUCT_SHARE = 0.05
"""A mask smaller than this is a failed segmentation: use the centre region instead."""

CENTRE_REGION = 0.6
"""Side fraction of the central fallback region (products are framed in the middle)."""

CENTRE_SIGMA = 0.25
"""Spread (fraction of each side) of the Gaussian weight that favours central pixels: photos
frame the product in the middle, while a model's face, legs and other garments sit off-centre."""

DOMINANT_SHARE = 0.25
"""``base_colour`` says "Multi" when the top colour covers less than this share of the product
(on the fashion train split: a quarter of the "Multi" items, 2% false alarms)."""

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
    text = resources.files("tagger").joinpath("vocab/colours.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    rgb = np.array([[int(r["hex"][i:i + 2], 16) for i in (1, 3, 5)] for r in rows], np.uint8)
    labs = srgb_to_lab(rgb)
    return tuple(VocabColour(r["name"], r["family"], r["hex"].lower(), tuple(map(float, lab)))
                 for r, lab in zip(rows, labs))


@lru_cache(maxsize=1)
def _vocab_lab() -> np.ndarray:
    return np.array([c.lab for c in vocabulary()])


# --------------------------------------------------------------------------- colour science


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB values, any leading shape (``...x3``)."""
    c = np.asarray(rgb, dtype=np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]], dtype=np.float32)
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def delta_e_2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma et al. 2005), broadcasting over leading axes."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    achromatic = c1p * c2p == 0

    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(achromatic, 0.0, dh)
    d_l, d_c = L2 - L1, c2p - c1p
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))

    l_mean, c_mean = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(np.abs(h1p - h2p) > 180,
                      np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2), h_sum / 2)
    h_mean = np.where(achromatic, h_sum, h_mean)
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    c_mean7 = c_mean ** 7
    r_c = 2 * np.sqrt(c_mean7 / (c_mean7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2
                   + r_t * (d_c / s_c) * (d_h / s_h))


# --------------------------------------------------------------------------- masking


def _working_rgb(image: ProductImage) -> np.ndarray:
    """The photo as an ``HxWx3`` uint8 array, longest side at most ``WORK_SIDE``."""
    width, height = image.size
    scale = min(1.0, WORK_SIDE / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = image.image if size == (width, height) else image.image.resize(
        size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8)


def _centre_region(shape: tuple[int, int]) -> np.ndarray:
    """The central ``CENTRE_REGION`` of the frame: where a product is when masking fails."""
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    margin_y = int(height * (1 - CENTRE_REGION) / 2)
    margin_x = int(width * (1 - CENTRE_REGION) / 2)
    mask[margin_y:height - margin_y, margin_x:width - margin_x] = True
    return mask


def _border_ring(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    band = max(1, round(min(height, width) * BORDER_FRACTION))
    ring = np.ones(shape, dtype=bool)
    ring[band:height - band, band:width - band] = False
    return ring


def _background_seeds(border_lab: np.ndarray) -> np.ndarray:
    """Colours that cover at least ``BG_SEED_SHARE`` of the border ring (``Kx3`` Lab).

    Binning by 2*BG_DELTA_E_MAX-wide Lab cells is a cheap, deterministic stand-in for clustering
    the ring: a studio sweep or a wall falls into one or two cells, clutter into many.
    """
    cells = np.floor(border_lab / (2 * BG_DELTA_E_MAX)).astype(np.int32)
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    big = np.flatnonzero(counts >= BG_SEED_SHARE * len(border_lab))
    return np.array([border_lab[inverse == k].mean(axis=0) for k in big]).reshape(-1, 3)


def _flood_background(distance: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels within ``threshold`` of a background seed that connect to the border.

    The candidates are opened first so the flood cannot leak into a pale product through a
    one-pixel gap in its outline; the background is then grown back within the candidates.
    """
    candidate = (distance < threshold).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    opened = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, kernel)
    _, labels = cv2.connectedComponents(opened, connectivity=4)
    ring = _border_ring(candidate.shape)
    touching = np.unique(labels[ring & (opened == 1)])
    reached = (np.isin(labels, touching) & (opened == 1)).astype(np.uint8)
    return (cv2.dilate(reached, kernel) & candidate).astype(bool)


def _grabcut_product(rgb: np.ndarray) -> np.ndarray:
    """GrabCut from a rectangle inset from the border, for photos with a cluttered scene."""
    height, width = rgb.shape[:2]
    inset_x = max(1, round(width * GRABCUT_INSET))
    inset_y = max(1, round(height * GRABCUT_INSET))
    rect = (inset_x, inset_y, width - 2 * inset_x, height - 2 * inset_y)
    labels = np.zeros((height, width), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(_SEED)  # GrabCut seeds its colour models from OpenCV's RNG: repeatable masks
    cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), labels, rect, bgd, fgd, 3,
                cv2.GC_INIT_WITH_RECT)
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _mask_from(rgb: np.ndarray, lab: np.ndarray, opaque: np.ndarray | None) -> np.ndarray:
    """``product_mask`` on an already downscaled photo (``rgb``, its ``lab``, full-size alpha)."""
    height, width = rgb.shape[:2]
    if opaque is not None:
        mask = np.asarray(Image.fromarray(opaque.astype(np.uint8) * 255).resize(
            (width, height), Image.Resampling.NEAREST)) >= 128
    else:
        ring = _border_ring((height, width))
        seeds = _background_seeds(lab[ring])
        distance = (np.min(np.linalg.norm(lab[:, :, None] - seeds, axis=-1), axis=-1)
                    if len(seeds) else np.full((height, width), np.inf))
        threshold = BG_DELTA_E_MIN + BG_SPREAD_GAIN * float(np.median(distance[ring]))
        if threshold <= BG_DELTA_E_MAX and (distance[ring] < threshold).mean() >= UNIFORM_BORDER:
            mask = ~_flood_background(distance, threshold)
            # Drop the anti-aliased rim, a blend of product and background colour.
            eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            mask = eroded if eroded.mean() >= MIN_PRODUCT_SHARE else mask
        elif min(height, width) >= 16:
            mask = _grabcut_product(rgb)
        else:  # too few pixels for GrabCut's colour models
            mask = _centre_region((height, width))
    if mask.mean() < MIN_PRODUCT_SHARE:
        return _centre_region((height, width))
    return mask


def product_mask(image: ProductImage) -> np.ndarray:
    """Which pixels show the product: a bool ``HxW`` array at the working resolution.

    The working resolution has its longest side at most ``WORK_SIDE`` (never upscaled).
    Transparent pixels are background when the photo has alpha; otherwise background is
    grown from the border when the border is mostly one or two colours (studio shots), and
    GrabCut is used when it is not (shop or lifestyle photos). A mask under
    ``MIN_PRODUCT_SHARE`` of the frame falls back to the central region.
    """
    return working_view(image)[2]


def working_view(image: ProductImage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photo at the working resolution as (RGB uint8, CIELAB, product mask).

    Computed once per photo and kept on it: detection, colours and quality all need it.
    """
    if "working_view" not in image.derived:
        rgb = _working_rgb(image)
        lab = srgb_to_lab(rgb)
        image.derived["working_view"] = (rgb, lab, _mask_from(rgb, lab, image.opaque))
    return image.derived["working_view"]


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
    (``tagger.trees``: ~3 ms instead of ~30 ms a product) and its tuned image head, if it has
    one, as a torch module."""
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
