"""Segmentation: which pixels of a photo show the product, at a small working resolution.

Detection (the product box), colours (which pixels to cluster) and quality (exposure of
the product, the background's colour, separate objects) all ask the same question of the
same photo, so the answer is computed once per photo and kept on it (``working_view``).

Tuning values live in ``tagger/vocab/segment.toml`` with the reason for each.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from listingsmith.core import vocab
from listingsmith.core.io import ProductImage
from tagger.cielab import srgb_to_lab

_TUNING = vocab.load("tagger", "vocab/segment.toml")
WORK_SIDE: int = _TUNING["work_side"]
BORDER_FRACTION: float = _TUNING["border_fraction"]
BG_DELTA_E_MIN: float = _TUNING["bg_delta_e_min"]
BG_DELTA_E_MAX: float = _TUNING["bg_delta_e_max"]
BG_SPREAD_GAIN: float = _TUNING["bg_spread_gain"]
BG_SEED_SHARE: float = _TUNING["bg_seed_share"]
UNIFORM_BORDER: float = _TUNING["uniform_border"]
GRABCUT_INSET: float = _TUNING["grabcut_inset"]
MIN_PRODUCT_SHARE: float = _TUNING["min_product_share"]
CENTRE_REGION: float = _TUNING["centre_region"]

_SEED = 0


def working_view(image: ProductImage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photo at the working resolution as (RGB uint8, CIELAB, product mask).

    Computed once per photo and kept on it: detection, colours and quality all need it.
    """
    if "working_view" not in image.derived:
        rgb = _working_rgb(image)
        lab = srgb_to_lab(rgb)
        image.derived["working_view"] = (rgb, lab, _mask_from(rgb, lab, image.opaque))
    return image.derived["working_view"]


def product_mask(image: ProductImage) -> np.ndarray:
    """Which pixels show the product: a bool ``HxW`` array at the working resolution.

    The working resolution has its longest side at most ``WORK_SIDE`` (never upscaled).
    Transparent pixels are background when the photo has alpha; otherwise background is
    grown from the border when the border is mostly one or two colours (studio shots), and
    GrabCut is used when it is not (shop or lifestyle photos). A mask under
    ``MIN_PRODUCT_SHARE`` of the frame falls back to the central region.
    """
    return working_view(image)[2]


def border_ring(shape: tuple[int, int]) -> np.ndarray:
    """The frame's outer ring, ``BORDER_FRACTION`` of the shorter side wide: where the
    background shows when the product is framed in the middle."""
    height, width = shape
    band = max(1, round(min(height, width) * BORDER_FRACTION))
    ring = np.ones(shape, dtype=bool)
    ring[band:height - band, band:width - band] = False
    return ring


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
    ring = border_ring(candidate.shape)
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
        ring = border_ring((height, width))
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
