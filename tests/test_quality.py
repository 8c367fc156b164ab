"""Quality warnings on synthetic photos built here, each showing one problem."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from listingsmith.core.io import load_image
from tagger.quality import quality_warnings, thresholds


def _load(tmp_path, image: Image.Image, name: str = "photo.png"):
    path = tmp_path / name
    image.save(path)
    return load_image(path)


def _codes(warnings) -> set[str]:
    return {w.code for w in warnings}


def _product(size=(1200, 1200), box=(200, 200, 1000, 1000), background=(255, 255, 255),
             colour=(40, 90, 160)) -> Image.Image:
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    draw.rectangle(box, fill=colour)
    x0, y0, x1, y1 = box
    for x in range(x0 + 20, x1 - 20, 40):  # texture, so the product has sharp edges to judge
        draw.line((x, y0 + 20, x, y1 - 20), fill=(230, 200, 60), width=6)
    return image


def _checkerboard(side=1200, cell=40) -> Image.Image:
    index = np.indices((side, side)) // cell
    pixels = ((index[0] + index[1]) % 2 * 200 + 30).astype(np.uint8)
    return Image.fromarray(pixels).convert("RGB")


def test_clean_studio_photo_has_no_warnings(tmp_path):
    assert quality_warnings([_load(tmp_path, _product())]) == []


def test_only_the_blurred_checkerboard_is_blurry(tmp_path):
    sharp = _checkerboard()
    blurred = sharp.filter(ImageFilter.GaussianBlur(8))
    warnings = quality_warnings([_load(tmp_path, sharp, "sharp.png"),
                                 _load(tmp_path, blurred, "blurred.png")])
    blurry = [w for w in warnings if w.code == "blurry"]
    assert [w.image_index for w in blurry] == [1]
    assert blurry[0].value < blurry[0].threshold == thresholds()["blur_min_edge_ratio"]


def test_low_resolution_reports_the_long_side(tmp_path):
    image = _product(size=(300, 200), box=(40, 20, 260, 180))
    [warning] = [w for w in quality_warnings([_load(tmp_path, image)])
                 if w.code == "low_resolution"]
    assert warning.value == 300
    assert warning.threshold == 1000
    assert "300x200" in warning.message


def test_blown_out_product_is_overexposed(tmp_path):
    image = Image.new("RGB", (1200, 1200), (150, 150, 150))
    ImageDraw.Draw(image).rectangle((150, 150, 1050, 1050), fill=(254, 254, 254))
    ImageDraw.Draw(image).ellipse((500, 500, 700, 700), fill=(235, 230, 225))
    assert "overexposed" in _codes(quality_warnings([_load(tmp_path, image)]))


def test_dark_photo_is_underexposed(tmp_path):
    image = _product(background=(12, 12, 12), colour=(30, 25, 20))
    image = Image.eval(image, lambda v: v // 6)
    assert "underexposed" in _codes(quality_warnings([_load(tmp_path, image)]))


def test_black_product_on_white_is_not_underexposed(tmp_path):
    image = _product(colour=(20, 20, 20))
    assert "underexposed" not in _codes(quality_warnings([_load(tmp_path, image)]))


def test_small_product_in_a_big_frame(tmp_path):
    image = _product(box=(450, 450, 750, 750))  # 6% of the frame: above the mask's fallback floor
    [warning] = [w for w in quality_warnings([_load(tmp_path, image)])
                 if w.code == "product_too_small"]
    assert warning.value < 0.35


def test_grey_background_warns_and_white_does_not(tmp_path):
    grey = _load(tmp_path, _product(background=(180, 180, 180)), "grey.png")
    white = _load(tmp_path, _product(), "white.png")
    warnings = quality_warnings([grey, white])
    [warning] = [w for w in warnings if w.code == "non_white_background"]
    assert warning.image_index == 0
    assert "RGB(180,180,180)" in warning.message


def test_two_separate_blobs_are_multiple_products(tmp_path):
    image = Image.new("RGB", (1200, 1200), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 300, 550, 900), fill=(200, 30, 30))
    draw.ellipse((650, 300, 1100, 900), fill=(30, 30, 200))
    [warning] = [w for w in quality_warnings([_load(tmp_path, image)])
                 if w.code == "multiple_products"]
    assert warning.value == 2


@pytest.mark.parametrize("image", [
    Image.new("RGB", (8, 8), (120, 60, 30)),
    Image.new("RGB", (1, 1), "white"),
    Image.new("RGB", (600, 600), "white"),
    Image.new("RGB", (600, 600), "black"),
    Image.new("L", (640, 480), 128),
    Image.new("RGB", (2000, 100), (200, 10, 10)),  # the thinnest the loader accepts (20:1)
], ids=["8x8", "1x1", "all-white", "all-black", "grayscale", "thin-strip"])
def test_odd_images_do_not_crash(tmp_path, image):
    warnings = quality_warnings([_load(tmp_path, image)])
    assert all(w.image_index == 0 for w in warnings)


def test_messages_are_one_line_and_name_the_photo(tmp_path):
    images = [_load(tmp_path, _product(size=(300, 200), box=(40, 20, 260, 180)), "a.png"),
              _load(tmp_path, _product(background=(60, 60, 60), box=(550, 550, 650, 650)), "b.png")]
    warnings = quality_warnings(images)
    assert {w.image_index for w in warnings} == {0, 1}
    for warning in warnings:
        assert "\n" not in warning.message
        assert f"photo {warning.image_index + 1}" in warning.message
        assert warning.value is not None and warning.threshold is not None
