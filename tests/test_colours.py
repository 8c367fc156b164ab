"""Dominant-colour stage: synthetic product photos through the real loader."""

from __future__ import annotations

import csv
import re
from importlib import resources

import numpy as np
import pytest
from PIL import Image, ImageDraw

from listingsmith.core.io import load_image
from listingsmith.core.types import ColorSwatch
from tagger.cielab import delta_e_2000, srgb_to_lab
from tagger.colours import MULTI, base_colour, dominant_colours, vocabulary
from tagger.segment import WORK_SIDE, product_mask

RED = (200, 30, 40)
NAVY = (31, 42, 68)
GREEN = (40, 140, 60)
YELLOW = (240, 205, 40)
BLACK = (25, 25, 25)
PURPLE = (95, 50, 120)

FASHION_BASE_COLOURS = [
    "Black", "White", "Blue", "Brown", "Grey", "Red", "Green", "Pink", "Navy Blue", "Purple",
    "Silver", "Yellow", "Beige", "Gold", "Maroon", "Orange", "Olive", "Cream", "Steel",
    "Charcoal", "Peach", "Off White", "Skin", "Lavender", "Grey Melange", "Khaki", "Magenta",
    "Teal", "Tan", "Bronze", "Mustard", "Copper", "Turquoise Blue", "Rust", "Burgundy",
    "Coffee Brown", "Mauve", "Rose", "Nude", "Sea Green", "Mushroom Brown", "Taupe",
    "Fluorescent Green", "Lime Green",
]


def _save(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return load_image(path)


def _product_on_white(tmp_path, name, colour, size=(300, 400), box=(75, 100, 225, 300),
                      fmt="png"):
    image = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(image).rectangle(box, fill=colour)
    return _save(tmp_path, f"{name}.{fmt}", image)


def _names(swatches):
    return [s.name for s in swatches]


def test_red_square_on_white_reports_red_and_excludes_background(tmp_path):
    image = _product_on_white(tmp_path, "red", RED, fmt="jpg")
    mask = product_mask(image)
    assert mask.shape == (WORK_SIDE, 96)    # 300x400 photo, longest side scaled to WORK_SIDE
    truth = np.zeros_like(mask)
    truth[32:96, 24:72] = True              # the square (75..225, 100..300) at scale 0.32
    assert (mask & truth).sum() / (mask | truth).sum() > 0.85
    swatches = dominant_colours([image])
    top = swatches[0]
    assert (top.name, top.family) == ("Red", "red")
    assert top.share > 0.8
    assert "White" not in _names(swatches)
    assert all(isinstance(s, ColorSwatch) for s in swatches)
    assert top.hex == "#{:02x}{:02x}{:02x}".format(*top.rgb)
    assert max(abs(a - b) for a, b in zip(top.rgb, RED)) < 20


def test_navy_product_on_white_is_navy_blue(tmp_path):
    swatches = dominant_colours([_product_on_white(tmp_path, "navy", NAVY)])
    assert swatches[0].name == "Navy Blue"
    assert swatches[0].family == "blue"


def test_two_colour_product_reports_both_shares(tmp_path):
    image = Image.new("RGB", (300, 300), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 60, 239, 167), fill=RED)      # top 60% of the product
    draw.rectangle((60, 168, 239, 239), fill=NAVY)    # bottom 40%
    swatches = dominant_colours([_save(tmp_path, "two.png", image)])
    shares = {s.name: s.share for s in swatches}
    assert set(shares) == {"Red", "Navy Blue"}
    assert shares["Red"] == pytest.approx(0.6, abs=0.1)
    assert shares["Navy Blue"] == pytest.approx(0.4, abs=0.1)
    assert _names(swatches) == ["Red", "Navy Blue"]
    assert sum(shares.values()) <= 1.0


def test_transparent_background_uses_alpha_not_border(tmp_path):
    # The product fills 70% of the frame, borders included, so a border-seeded estimate would
    # call it background; only the alpha channel gets it right.
    rgba = Image.new("RGBA", (200, 200), (230, 40, 40, 0))
    ImageDraw.Draw(rgba).rectangle((0, 0, 139, 199), fill=GREEN + (255,))
    image = _save(tmp_path, "cutout.png", rgba)
    assert image.opaque is not None
    mask = product_mask(image)
    assert mask.shape == (WORK_SIDE, WORK_SIDE) and mask.dtype == bool
    assert mask[:, :80].all() and not mask[:, 100:].any()
    swatches = dominant_colours([image])
    assert _names(swatches) == ["Green"]
    assert swatches[0].share == 1.0


def test_cluttered_background_finds_centre_object(tmp_path):
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    pixels[60:180, 90:230] = YELLOW
    swatches = dominant_colours([_save(tmp_path, "clutter.png", Image.fromarray(pixels))])
    assert swatches[0].name == "Yellow"
    assert swatches[0].family == "yellow"
    assert swatches[0].share > 0.5


def test_photos_of_one_product_give_one_merged_list(tmp_path):
    front = _product_on_white(tmp_path, "front", RED)
    back = _product_on_white(tmp_path, "back", RED, size=(400, 300), box=(120, 60, 280, 240))
    detail = _product_on_white(tmp_path, "detail", BLACK)
    swatches = dominant_colours([front, back, detail])
    shares = {s.name: s.share for s in swatches}
    assert set(shares) == {"Red", "Black"}, shares
    assert shares["Red"] == pytest.approx(2 / 3, abs=0.1)
    assert shares["Black"] == pytest.approx(1 / 3, abs=0.1)
    assert len(_names(swatches)) == len(set(_names(swatches)))
    assert dominant_colours([front, back, detail]) == swatches   # deterministic


def test_limits_and_base_colour(tmp_path):
    # Five colours in a Latin-square tiling: each covers a fifth of the product, centre included.
    palette = [RED, NAVY, GREEN, YELLOW, PURPLE]
    image = Image.new("RGB", (300, 300), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row in range(5):
        for col in range(5):
            x, y = 40 + col * 44, 40 + row * 44
            draw.rectangle((x, y, x + 43, y + 43), fill=palette[(col + 2 * row) % 5])
    tiles = _save(tmp_path, "tiles.png", image)
    assert len(dominant_colours([tiles], max_colours=2)) == 2
    everything = dominant_colours([tiles], min_share=0.0)
    shares = {s.name: s.share for s in everything}
    assert {"Red", "Navy Blue", "Green", "Yellow", "Purple"} <= set(shares)
    assert all(0.1 < shares[n] < 0.3 for n in ("Red", "Navy Blue", "Green", "Yellow", "Purple"))
    assert base_colour(everything) == MULTI
    assert base_colour(dominant_colours([_product_on_white(tmp_path, "r", RED)])) == "Red"
    assert base_colour([]) is None
    assert dominant_colours([]) == []


def test_tiny_and_grayscale_images_do_not_crash(tmp_path):
    tiny = Image.new("RGB", (8, 8), (255, 255, 255))
    tiny.putpixel((4, 4), RED)
    tiny_swatches = dominant_colours([_save(tmp_path, "tiny.png", tiny)])
    assert tiny_swatches and all(0 < s.share <= 1 for s in tiny_swatches)

    gray = Image.new("L", (120, 90), 250)
    ImageDraw.Draw(gray).ellipse((30, 20, 90, 70), fill=90)
    gray_photo = _save(tmp_path, "gray.png", gray)
    assert dominant_colours([gray_photo], named_by="nearest")[0].family == "grey"
    # the trained head may call a dark grey "Black", as the fashion catalogue often does
    assert dominant_colours([gray_photo])[0].family in ("grey", "black")

    flat = dominant_colours([_save(tmp_path, "flat.png", Image.new("RGB", (64, 64), RED))])
    assert flat[0].name == "Red"


def test_vocabulary_csv_is_well_formed():
    text = resources.files("tagger").joinpath("vocab/colours.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and list(rows[0]) == ["name", "family", "hex"]
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))
    families = {r["family"] for r in rows}
    assert families <= {"black", "white", "grey", "blue", "brown", "beige", "red", "orange",
                        "yellow", "green", "pink", "purple"}
    for row in rows:
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", row["hex"]), row
    assert len(vocabulary()) == len(rows)


def test_vocabulary_covers_fashion_base_colours():
    names = {c.name for c in vocabulary()}
    missing = [n for n in FASHION_BASE_COLOURS if n not in names]
    assert not missing
    assert not names & {"Multi", "Metallic", "NA"}


def test_ciede2000_matches_published_pairs():
    # Sharma, Wu & Dalal (2005) test data, pairs 1, 7, 17 and 25.
    first = np.array([[50, 2.6772, -79.7751], [50, 0, 0], [50, 2.5, 0],
                      [60.2574, -34.0099, 36.2677]])
    second = np.array([[50, 0, -82.7485], [50, -1, 2], [73, 25, -18],
                       [60.4626, -34.1751, 39.4387]])
    np.testing.assert_allclose(delta_e_2000(first, second), [2.0425, 2.3669, 27.1492, 1.2644],
                               atol=1e-4)
    np.testing.assert_allclose(srgb_to_lab(np.array([255, 255, 255], np.uint8)), [100, 0, 0],
                               atol=1e-3)
