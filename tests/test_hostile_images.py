"""Odd but valid photos go through the vision stages: correct colours or a clear warning, no crash."""

import numpy as np
import pytest
from PIL import Image

from listingsmith.core.io import load_image
from tagger.pipeline import Tagger, TaggerOptions

VISION = TaggerOptions(stages=("detect", "colours", "quality"))


def red_square(mode: str, size=(200, 160)) -> Image.Image:
    """A red product on white, converted to ``mode``."""
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste((200, 20, 30), (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    return image.convert(mode) if mode != "RGB" else image


@pytest.mark.parametrize("mode, suffix", [("RGB", "png"), ("P", "png"), ("CMYK", "jpg"),
                                          ("RGBA", "png")])
def test_colour_modes_keep_the_red_product(tmp_path, mode, suffix):
    path = tmp_path / f"red.{suffix}"
    red_square(mode).save(path)
    attributes = Tagger().analyze([load_image(path)], options=VISION)
    assert attributes.colours[0].family == "red"


def test_transparent_background_is_not_a_colour(tmp_path):
    image = Image.new("RGBA", (200, 160), (0, 0, 0, 0))
    image.paste((20, 140, 40, 255), (50, 40, 150, 120))
    path = tmp_path / "cutout.png"
    image.save(path)
    attributes = Tagger().analyze([load_image(path)], options=VISION)
    assert [c.family for c in attributes.colours] == ["green"]


@pytest.mark.parametrize("mode", ["L", "I;16", "LA"])
def test_grey_and_16_bit_photos_run(tmp_path, mode):
    array = np.linspace(0, 1, 200 * 160).reshape(160, 200)
    if mode == "I;16":
        image = Image.fromarray((array * 65535).astype(np.uint16))  # mode I;16
    else:
        image = Image.fromarray((array * 255).astype(np.uint8), "L").convert(mode)
    path = tmp_path / "grey.png"
    image.save(path)
    attributes = Tagger().analyze([load_image(path)], options=VISION)
    assert attributes.colours and all(c.family in ("black", "grey", "white") for c in attributes.colours)


def test_tiny_photo_warns_instead_of_failing(tmp_path):
    path = tmp_path / "tiny.png"
    red_square("RGB", size=(8, 8)).save(path)
    attributes = Tagger().analyze([load_image(path)], options=VISION)
    assert "low_resolution" in {w.code for w in attributes.warnings}


def test_huge_photo_within_the_pixel_limit(tmp_path):
    path = tmp_path / "huge.jpg"
    red_square("RGB", size=(12000, 12000)).save(path, quality=50)
    attributes = Tagger().analyze([load_image(path)], options=VISION)
    assert attributes.colours[0].family == "red"
    assert attributes.images[0].width == 12000
