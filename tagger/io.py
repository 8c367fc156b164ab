"""Reading photos: one place that turns any path into an RGB ``ProductImage`` or a clear error."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tagger.errors import ImageLoadError
from tagger.types import ImageInfo

MAX_PIXELS = 150_000_000
"""Refuse larger images (Pillow's decompression-bomb guard, made an explicit error)."""


@dataclass(frozen=True)
class ProductImage:
    """An EXIF-corrected RGB photo plus, for transparent images, which pixels are opaque.

    ``derived`` holds values computed from the pixels that several stages need (the
    product mask), so each is computed once per photo.
    """

    source: str
    image: Image.Image
    info: ImageInfo
    opaque: np.ndarray | None = None
    derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def load_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> ProductImage:
    """Open ``path`` as an RGB image, applying EXIF orientation.

    Raises ``ImageLoadError`` with a one-line reason for a missing path, a folder, an
    empty file, a file that is not an image, a truncated image or one over ``max_pixels``.
    """
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(source, "no such file; check the path")
    if p.is_dir():
        raise ImageLoadError(source, "is a folder, not a photo; pass the image files inside it")
    if p.stat().st_size == 0:
        raise ImageLoadError(source, "is an empty (0-byte) file; re-export or re-upload the photo")
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check below is the limit; Pillow's warning threshold
            # (89 MP) would otherwise refuse legitimate 100 MP camera photos.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as opened:
                width, height = opened.size
                if width * height > max_pixels:
                    raise ImageLoadError(
                        source, f"is {width}x{height} pixels, over the limit of {max_pixels:,}; "
                                "downscale it first")
                original_mode = opened.mode
                opened.load()
                exif_rotated = opened.getexif().get(0x0112, 1) != 1
                image = ImageOps.exif_transpose(opened)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(source, "has more pixels than Pillow will decode safely; "
                                     "downscale it") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(source, "is not an image Pillow can read (expected JPEG, PNG, WebP, "
                                     "GIF, BMP or TIFF)") from exc
    except OSError as exc:
        raise ImageLoadError(source, f"is truncated or corrupt ({exc}); re-export the photo") from exc
    rgb, opaque = _to_rgb(image)
    info = ImageInfo(source=source, width=rgb.width, height=rgb.height,
                     original_mode=original_mode, exif_rotated=bool(exif_rotated))
    return ProductImage(source=source, image=rgb, info=info, opaque=opaque)


def _to_rgb(image: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    """RGB pixels, with transparent pixels composited on white and reported as a mask."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() if array.size and array.max() > 0 else 1.0
        image = Image.fromarray((array / top * 255.0).clip(0, 255).astype(np.uint8), "L")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        return image.convert("RGB"), None
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    return rgb, alpha >= 128
