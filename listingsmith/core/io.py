"""Reading photos: one place that turns any path into an RGB ``ProductImage`` or a clear error."""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from listingsmith.core.errors import ImageLoadError
from listingsmith.core.types import ImageInfo

MAX_PIXELS = 150_000_000
"""Refuse larger images (Pillow's decompression-bomb guard, made an explicit error);
``$LISTINGSMITH_MAX_PIXELS`` overrides it."""
MAX_BYTES = 50 * 2**20
"""Refuse larger files before decoding; ``$LISTINGSMITH_MAX_BYTES`` overrides it."""
REMOTE_TIMEOUT_S = 10
"""Seconds to wait for a remote photo to connect or send more bytes."""
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
MAX_ASPECT = 20.0
"""Refuse images longer than this many times their width (or the reverse): a banner or a
1-pixel strip is not a product photo, and downstream crops would be empty."""

_NOT_PHOTOS = ((b"%pdf", "a PDF document, not a photo; export the page as PNG or JPEG"),
               (b"<svg", "an SVG drawing, not a photo; export it as PNG or JPEG"),
               (b"<?xml", "an XML/SVG file, not a photo; export it as PNG or JPEG"),
               (b"<!doctype html", "an HTML page, not a photo; save the image itself"),
               (b"<html", "an HTML page, not a photo; save the image itself"))
"""Files that reach us named .jpg but are something else, by their first bytes (lower-cased)."""


def limit(name: str, default: float) -> float:
    """A size limit from ``$LISTINGSMITH_<NAME>``, else the default; a bad value is an error."""
    raw = os.environ.get(f"LISTINGSMITH_{name}")
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ImageLoadError(f"$LISTINGSMITH_{name}", f"expected a positive number, got {raw!r}")
    return value


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


def is_url(path: str | os.PathLike) -> bool:
    """Whether a photo argument is an address rather than a file (``https://…``)."""
    return isinstance(path, str) and _URL.match(path) is not None


def load_image(path: str | os.PathLike, *, max_pixels: int | None = None,
               max_bytes: int | None = None, allow_remote: bool = False) -> ProductImage:
    """Open ``path`` as an RGB image, applying EXIF orientation; animated images give their
    first frame (``info.frames`` says how many there were). An ``http(s)://`` address is
    fetched only with ``allow_remote`` (``REMOTE_TIMEOUT_S``, at most ``max_bytes``).

    Raises ``ImageLoadError`` with a one-line reason for a missing path, a folder, an
    empty or oversized file, a PDF/SVG/HTML file, a file that is not an image, a truncated
    or corrupt image, one over ``max_pixels`` or with an absurd aspect ratio, and for a
    refused or failed download. Nothing else escapes, whatever the bytes (fuzz-tested).
    """
    max_pixels = int(max_pixels or limit("MAX_PIXELS", MAX_PIXELS))
    max_bytes = int(max_bytes or limit("MAX_BYTES", MAX_BYTES))
    source = str(path)
    if is_url(source):
        with _fetched(source, max_bytes, allow_remote) as local:
            photo = load_image(local, max_pixels=max_pixels, max_bytes=max_bytes)
        return replace(photo, source=source, info=replace(photo.info, source=source))
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(source, "no such file; check the path")
    if p.is_dir():
        raise ImageLoadError(source, "is a folder, not a photo; pass the image files inside it")
    size = p.stat().st_size
    if size == 0:
        raise ImageLoadError(source, "is an empty (0-byte) file; re-export or re-upload the photo")
    if size > max_bytes:
        raise ImageLoadError(source, f"is {size / 2**20:.1f} MB, over the limit of "
                                     f"{max_bytes / 2**20:.0f} MB; re-export it smaller")
    with open(p, "rb") as handle:
        head = handle.read(256).lstrip().lower()
    for magic, reason in _NOT_PHOTOS:
        if head.startswith(magic):
            raise ImageLoadError(source, f"is {reason}")
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
                if max(width, height) > MAX_ASPECT * max(1, min(width, height)):
                    raise ImageLoadError(
                        source, f"is {width}x{height} pixels, an aspect ratio beyond "
                                f"{MAX_ASPECT:.0f}:1; crop it to the product")
                original_mode = opened.mode
                frames = int(getattr(opened, "n_frames", 1) or 1)
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
    except Exception as exc:  # Pillow's decoders raise many types on hostile bytes
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise ImageLoadError(source, f"is truncated or corrupt ({reason}); re-export the "
                                     "photo") from exc
    rgb, opaque = _to_rgb(image)
    info = ImageInfo(source=source, width=rgb.width, height=rgb.height,
                     original_mode=original_mode, exif_rotated=bool(exif_rotated),
                     frames=max(1, frames))
    return ProductImage(source=source, image=rgb, info=info, opaque=opaque)


@contextmanager
def _fetched(url: str, max_bytes: int, allow_remote: bool) -> Iterator[Path]:
    """A downloaded copy of ``url`` in a temporary file, removed afterwards."""
    import urllib.error
    import urllib.request

    if not allow_remote:
        raise ImageLoadError(url, "is a web address; remote photos are fetched only with "
                                  "--allow-remote (or download the photo first)")
    if not url.lower().startswith(("http://", "https://")):
        raise ImageLoadError(url, "only http:// and https:// addresses can be fetched")
    with tempfile.TemporaryDirectory(prefix="listingsmith-fetch-") as folder:
        target = Path(folder) / "photo"
        try:
            with urllib.request.urlopen(url, timeout=REMOTE_TIMEOUT_S) as response, \
                    open(target, "wb") as sink:
                while chunk := response.read(2**16):
                    if sink.tell() + len(chunk) > max_bytes:
                        raise ImageLoadError(url, f"is over the limit of "
                                                  f"{max_bytes / 2**20:.0f} MB; download and "
                                                  "shrink it first")
                    sink.write(chunk)
        except ImageLoadError:
            raise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ImageLoadError(url, f"could not be fetched ({reason}); check the address "
                                      "or download the photo first") from exc
        yield target


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
