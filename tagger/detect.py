"""The bundled detector: the product region and the text regions, as labelled ``Detections``.

No open-vocabulary detector weights ship offline, so the default finds what it can
without one: the product as the foreground of a border-seeded mask, and text lines from
OCR. Barcodes come from ``tagger.barcodes``.
"""

from __future__ import annotations

import numpy as np

from listingsmith.core.io import ProductImage
from listingsmith.core.types import Detections, TextSpan
from tagger.segment import product_mask


def product_regions(images: list[ProductImage]) -> list[Detections]:
    """One ``product`` box per image: the bounding box of its foreground mask.

    The score is the share of the box that the mask fills, a rough measure of how
    cleanly the product stands out from its background.
    """
    detections = []
    for index, image in enumerate(images):
        mask = product_mask(image)
        rows, cols = np.nonzero(mask)
        if rows.size == 0:
            detections.append(Detections([], [], [], "builtin:border-seeded-mask", index))
            continue
        scale_x = image.size[0] / mask.shape[1]
        scale_y = image.size[1] / mask.shape[0]
        x0, x1 = cols.min() * scale_x, (cols.max() + 1) * scale_x
        y0, y1 = rows.min() * scale_y, (rows.max() + 1) * scale_y
        filled = rows.size / max(1, (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1))
        detections.append(Detections(boxes=[(x0, y0, x1, y1)], labels=["product"],
                                     scores=[round(float(filled), 4)],
                                     source="builtin:border-seeded-mask", image_index=index))
    return detections


def text_regions(spans_per_image: list[list[TextSpan]]) -> list[Detections]:
    """OCR lines as ``text`` detections, one ``Detections`` per image."""
    return [Detections(boxes=[s.box for s in spans], labels=["text"] * len(spans),
                       scores=[s.score for s in spans], source="ocr", image_index=index)
            for index, spans in enumerate(spans_per_image)]
