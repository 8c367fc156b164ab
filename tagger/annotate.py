"""The annotated photo: what the tagger saw, drawn on the photo, so a seller can check it.

Boxes are coloured by kind (product, text, barcode, parts); a strip under the photo shows
the product's colour swatches and this photo's quality warnings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from listingsmith.core.io import ProductImage
from listingsmith.core.types import Attributes

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

KIND_COLOURS = {
    "product": (0, 200, 83),
    "text": (41, 121, 255),
    "barcode": (255, 145, 0),
    "parts": (213, 0, 249),
}
"""Box colour per label kind: distinct hues that stay visible on white and on photos."""

MIN_STRIP_WIDTH = 480
"""The strip (and canvas) is at least this wide, so swatch names and warnings stay legible
under a narrow or tiny photo."""

STRIP_BACKGROUND = (255, 255, 255)
STRIP_TEXT = (30, 30, 30)
WARNING_TEXT = (190, 40, 20)


def label_kind(label: str) -> str:
    """``product``, ``text`` or ``barcode`` for the bundled detectors' labels; else ``parts``."""
    if label in ("product", "text"):
        return label
    return "barcode" if label.startswith("barcode") else "parts"


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(FONT_PATH, size)
    except OSError:
        return ImageFont.load_default(size=size)


def annotate(image: ProductImage, attributes: Attributes, image_index: int = 0, *,
             max_side: int = 1024) -> Image.Image:
    """A copy of the photo (longest side at most ``max_side``) with this photo's detections
    drawn on it and a strip below with the colour swatches and its quality warnings."""
    photo = image.image.copy()
    photo.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    scale = photo.width / image.size[0]
    width = max(photo.width, min(max_side, MIN_STRIP_WIDTH))
    font = _font(max(11, round(width / 60)))
    line_height = round(font.size * 1.35)

    draw = ImageDraw.Draw(photo)
    line = max(2, round(max(photo.size) / 300))
    for detections in attributes.detections:
        if detections.image_index != image_index:
            continue
        for box, label, score in zip(detections.boxes, detections.labels, detections.scores):
            kind = label_kind(label)
            x0, y0, x1, y1 = (round(v * scale) for v in box)
            draw.rectangle((x0, y0, x1, y1), outline=KIND_COLOURS[kind], width=line)
            if kind == "text":
                continue  # OCR lines are many: boxes only, or the photo becomes unreadable
            tag = label if kind == "barcode" else f"{label} {score:.2f}"
            _draw_tag(draw, tag, (x0, y0), KIND_COLOURS[kind], font)

    warnings = [w.message for w in attributes.warnings if w.image_index == image_index]
    legend = _legend_rows(attributes, width, font)
    bar_height = line_height if attributes.colours else 0
    strip_height = bar_height + line_height * (len(legend) + len(warnings)) + line_height // 2
    canvas = Image.new("RGB", (width, photo.height + strip_height), STRIP_BACKGROUND)
    canvas.paste(photo, (0, 0))
    draw = ImageDraw.Draw(canvas)
    y = photo.height + line_height // 4
    x = 0.0
    for swatch in attributes.colours:
        step = swatch.share * width
        draw.rectangle((round(x), y, round(x + step), y + bar_height - 4), fill=swatch.rgb,
                       outline=STRIP_TEXT)
        x += step
    y += bar_height
    for row in legend:
        x = 4
        for swatch, text in row:
            draw.rectangle((x, y + 2, x + font.size, y + 2 + font.size), fill=swatch.rgb,
                           outline=STRIP_TEXT)
            draw.text((x + font.size + 4, y), text, fill=STRIP_TEXT, font=font)
            x += font.size + 4 + round(font.getlength(text)) + font.size
        y += line_height
    for message in warnings:
        draw.text((4, y), _fit(message, width - 8, font), fill=WARNING_TEXT, font=font)
        y += line_height
    return canvas


def _draw_tag(draw: ImageDraw.ImageDraw, text: str, corner: tuple[int, int],
              colour: tuple[int, int, int], font) -> None:
    """A filled label just above the box's top-left corner (inside it at the photo's top)."""
    x0, y0 = corner
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    height = bottom - top + 4
    y = y0 - height if y0 - height >= 0 else y0
    draw.rectangle((x0, y, x0 + right - left + 6, y + height), fill=colour)
    draw.text((x0 + 3, y + 2 - top), text, fill=(255, 255, 255), font=font)


def _legend_rows(attributes: Attributes, width: int, font) -> list[list[tuple]]:
    """Swatch legend entries ("Navy Blue 62%") flowed into rows that fit ``width``."""
    rows: list[list[tuple]] = []
    x = width  # forces a first row
    for swatch in attributes.colours:
        text = f"{swatch.name} {swatch.share:.0%}"
        needed = font.size + 4 + round(font.getlength(text)) + font.size
        if x + needed > width:
            rows.append([])
            x = 4
        rows[-1].append((swatch, text))
        x += needed
    return rows


def _fit(text: str, width: int, font) -> str:
    """``text`` cut with an ellipsis so it fits on one line of ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def save_annotated(images: list[ProductImage], attributes: Attributes,
                   path: str | Path) -> list[Path]:
    """One annotated PNG per photo: exactly ``path`` for one photo, else ``stem-1.png``,
    ``stem-2.png`` … next to it. Returns the paths written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(images) == 1:
        targets = [path]
    else:
        targets = [path.with_name(f"{path.stem}-{i}.png") for i in range(1, len(images) + 1)]
    for index, (image, target) in enumerate(zip(images, targets)):
        annotate(image, attributes, index).save(target, format="PNG")
    return targets
