"""Image-quality warnings: what a marketplace may reject or what makes a photo sell worse.

``quality_warnings`` measures each photo on downscaled copies (a few milliseconds each) and
returns one ``QualityWarning`` per problem, with a stable ``code``, a one-line message that
names the photo and the fix, the measured value and the threshold it crossed.

Thresholds live in ``tagger/vocab/quality.json`` with a one-line reason each. Blur is not
the plain variance of the Laplacian: on real photos that measures texture as much as focus
(a sharp white bulb on white scores low, blurred fashion photos with busy prints score
high). The edge ratio used instead (|Laplacian| over gradient on edge pixels) is
contrast-free, and falls clearly for blurred photos whatever their content.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

from listingsmith.core import vocab
from listingsmith.core.io import ProductImage
from listingsmith.core.types import Detections, QualityWarning
from tagger.detect import product_regions
from tagger.segment import border_ring, working_view


@lru_cache(maxsize=1)
def thresholds() -> dict[str, float]:
    """The ``value`` of every entry in ``vocab/quality.json``, by name."""
    return {name: entry["value"] for name, entry in vocab.load("tagger", "vocab/quality.json").items()
            if not name.startswith("_")}


def quality_warnings(images: list[ProductImage],
                     product_boxes: list[Detections] | None = None) -> list[QualityWarning]:
    """Every quality warning for a product's photos, in photo order, as one flat list.

    ``product_boxes`` are the ``product`` detections per photo (from
    ``tagger.detect.product_regions``, computed here when not given).
    """
    if product_boxes is None:
        product_boxes = product_regions(images)
    boxes_by_index = {d.image_index: d for d in product_boxes}
    found: list[QualityWarning] = []
    for index, image in enumerate(images):
        found.extend(_image_warnings(image, index, boxes_by_index.get(index)))
    return found


def _image_warnings(image: ProductImage, index: int,
                    detections: Detections | None) -> list[QualityWarning]:
    limits = thresholds()
    photo = f"photo {index + 1}"
    width, height = image.size
    rgb, _, mask = working_view(image)
    found = []

    def warn(code: str, message: str, value: float, threshold: float) -> None:
        found.append(QualityWarning(code=code, message=message, value=round(float(value), 4),
                                    threshold=float(threshold), image_index=index))

    if image.info.frames > 1:
        warn("animated", f"{photo} is animated ({image.info.frames} frames); only the first "
                         "frame was used, upload a still photo", image.info.frames, 1)
    long_side, short_side = max(width, height), min(width, height)
    if long_side < limits["min_long_side_px"]:
        warn("low_resolution", f"{photo} is {width}x{height} px; marketplaces want at least "
             f"{limits['min_long_side_px']} px on the longest side for zoom",
             long_side, limits["min_long_side_px"])
    elif short_side < limits["min_short_side_px"]:
        warn("low_resolution", f"{photo} is {width}x{height} px; its short side is under "
             f"{limits['min_short_side_px']} px, reshoot or pad it to a squarer frame",
             short_side, limits["min_short_side_px"])

    sharpness = edge_sharpness(image.image)
    if sharpness is not None and sharpness < limits["blur_min_edge_ratio"]:
        warn("blurry", f"{photo} looks blurry (edge sharpness {sharpness:.2f}); refocus and "
             "steady the camera", sharpness, limits["blur_min_edge_ratio"])

    product = rgb[mask]
    clipped = (float((product >= limits["overexposed_level"]).all(axis=-1).mean())
               if product.size else 0.0)
    if clipped > limits["overexposed_share"]:
        warn("overexposed", f"{photo} is overexposed ({clipped:.0%} of the product is blown-out "
             "white); reduce exposure or light", clipped, limits["overexposed_share"])

    luminance = float((rgb @ np.array([0.299, 0.587, 0.114])).mean())
    crushed = float((rgb <= limits["underexposed_level"]).all(axis=-1).mean())
    if luminance < limits["underexposed_mean_luminance"]:
        warn("underexposed", f"{photo} is too dark (mean brightness {luminance:.0f} of 255); add "
             "light or raise exposure", luminance, limits["underexposed_mean_luminance"])
    elif crushed > limits["underexposed_share"]:
        warn("underexposed", f"{photo} is too dark ({crushed:.0%} of it is pure black); add "
             "light or raise exposure", crushed, limits["underexposed_share"])

    area_share, span = _product_extent(detections, width, height)
    if area_share < limits["product_min_area_share"] and span < limits["product_min_span"]:
        warn("product_too_small", f"{photo}: the product fills only {area_share:.0%} of the frame; "
             "crop closer so it fills about 85%", area_share, limits["product_min_area_share"])

    background = _background_rgb(rgb, mask)
    distance = float(np.linalg.norm(255.0 - background))
    if distance > limits["white_background_max_distance"]:
        r, g, b = (int(round(c)) for c in background)
        warn("non_white_background", f"{photo} has a non-white background (about "
             f"RGB({r},{g},{b})); main images on most marketplaces need pure white", distance,
             limits["white_background_max_distance"])

    objects = _large_components(mask, limits["multiple_products_min_share"])
    if objects >= limits["multiple_products_min_count"]:
        warn("multiple_products", f"{photo} shows {objects} separate objects; main images should "
             "show only the product for sale", objects, limits["multiple_products_min_count"])
    return found


def _resized(image: Image.Image, width: int, height: int) -> Image.Image:
    if image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)


def edge_sharpness(image: Image.Image) -> float | None:
    """Contrast-free sharpness: 99th-percentile |Laplacian| over 99th-percentile gradient.

    Measured on edge pixels of a grey copy with its longest side at most ``blur_work_side_px``.
    For an edge blurred by a Gaussian of radius s the ratio falls as 1/s whatever the edge's
    contrast, so a sharp low-contrast product is not mistaken for a blurred one. None when
    the photo has too few edges to judge (a blank frame).
    """
    limits = thresholds()
    width, height = image.size
    scale = min(1.0, limits["blur_work_side_px"] / max(width, height))
    grey = _resized(image.convert("L"), max(1, round(width * scale)), max(1, round(height * scale)))
    pixels = np.asarray(grey, dtype=np.float32)
    if min(pixels.shape) < 3:
        return None
    laplacian = np.abs(cv2.Laplacian(pixels, cv2.CV_32F))
    # Sobel's 3x3 kernel has a gain of 4 on a unit ramp: divide to get grey levels per pixel.
    gradient = np.hypot(cv2.Sobel(pixels, cv2.CV_32F, 1, 0),
                        cv2.Sobel(pixels, cv2.CV_32F, 0, 1)) / 4
    edges = gradient >= limits["blur_min_edge_gradient"]
    if edges.sum() < 50:
        return None
    return float(np.percentile(laplacian[edges], 99) / np.percentile(gradient[edges], 99))


def _product_extent(detections: Detections | None, width: int, height: int) -> tuple[float, float]:
    """The largest ``product`` box's share of the frame's area and its longer relative span.

    ``(1.0, 1.0)`` without a product box: nothing to judge, so nothing to warn about.
    """
    boxes = [box for box, label in zip(detections.boxes, detections.labels)
             if label == "product"] if detections else []
    if not boxes:
        return 1.0, 1.0
    x0, y0, x1, y1 = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    return ((x1 - x0) * (y1 - y0) / (width * height),
            max((x1 - x0) / width, (y1 - y0) / height))


def _background_rgb(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median colour of the border ring outside the product (the whole ring if the product
    covers nearly all of it, as with a tightly cropped garment)."""
    ring = border_ring(mask.shape)
    outside = ring & ~mask
    chosen = outside if outside.sum() >= thresholds()["min_background_share"] * ring.sum() else ring
    return np.median(rgb[chosen].astype(np.float64), axis=0)


def _large_components(mask: np.ndarray, min_share: float) -> int:
    """How many 8-connected parts of the mask each cover at least ``min_share`` of it."""
    total = int(mask.sum())
    if total == 0:
        return 0
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int(sum(stats[k, cv2.CC_STAT_AREA] >= min_share * total for k in range(1, count)))
