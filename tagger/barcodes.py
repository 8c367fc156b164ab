"""Barcodes with zxing-cpp: boxes for the detections and a ``gtin`` fact for EAN/UPC codes."""

from __future__ import annotations

import re

from listingsmith.core.io import ProductImage
from listingsmith.core.types import Detections, Fact

GTIN_FORMATS = {"EAN13", "EAN8", "UPCA", "UPCE"}
"""Retail symbologies whose digits are a GTIN (format names without punctuation)."""


def read_barcodes(images: list[ProductImage]) -> tuple[list[Detections], list[Fact]]:
    """One ``Detections`` per image (possibly empty) and the GTIN facts decoded from them."""
    import zxingcpp

    detections, facts = [], []
    for index, image in enumerate(images):
        boxes, labels = [], []
        for code in zxingcpp.read_barcodes(image.image):
            corners = [code.position.top_left, code.position.top_right,
                       code.position.bottom_right, code.position.bottom_left]
            xs, ys = [p.x for p in corners], [p.y for p in corners]
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
            fmt = str(code.format).split(".")[-1]
            labels.append(f"barcode {fmt}")
            if re.sub(r"[^A-Z0-9]", "", fmt.upper()) in GTIN_FORMATS and code.text.isdigit():
                facts.append(Fact(entity="gtin", value=code.text, unit=None, raw_text=code.text,
                                  source="barcode"))
        detections.append(Detections(boxes=boxes, labels=labels, scores=[1.0] * len(boxes),
                                     source="zxing-cpp", image_index=index))
    return detections, facts
