"""The annotated photo: size, box colours, and one file per photo."""

from __future__ import annotations

from PIL import Image, ImageDraw

from tagger.annotate import KIND_COLOURS, annotate, save_annotated
from listingsmith.core.io import load_image
from listingsmith.core.types import Attributes, ColorSwatch, Detections, QualityWarning


def _photo(tmp_path, name="photo.png", size=(2000, 1500)):
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((500, 400, 1500, 1100), fill=(20, 40, 120))
    image.save(tmp_path / name)
    return load_image(tmp_path / name)


def _attributes(count=1) -> Attributes:
    detections = []
    for index in range(count):
        detections += [
            Detections([(500, 400, 1500, 1100)], ["product"], [0.9], "test", index),
            Detections([(600, 500, 900, 540)], ["text"], [0.8], "ocr", index),
            Detections([(1000, 800, 1300, 900)], ["barcode EAN13"], [1.0], "zxing-cpp", index),
        ]
    return Attributes(
        detections=detections,
        colours=[ColorSwatch("Navy Blue", "blue", (20, 40, 120), "#142878", 0.7),
                 ColorSwatch("White", "white", (250, 250, 250), "#fafafa", 0.3)],
        warnings=[QualityWarning("blurry", "photo 1 looks blurry; refocus", 0.2, 0.5, 0)])


def test_annotated_image_is_downscaled_rgb_with_a_strip(tmp_path):
    out = annotate(_photo(tmp_path), _attributes(), max_side=800)
    assert out.mode == "RGB"
    assert out.width == 800
    assert 600 < out.height < 600 + 200  # the photo is 800x600, the strip sits below it


def test_product_box_edge_has_the_product_colour(tmp_path):
    out = annotate(_photo(tmp_path), _attributes(), max_side=1000)
    # Box (500, 400, 1500, 1100) at scale 0.5; its left edge runs down x = 250.
    assert out.getpixel((250, 450)) == KIND_COLOURS["product"]
    assert out.getpixel((750, 500)) == KIND_COLOURS["product"]  # right edge


def test_tiny_photo_gets_a_readable_strip(tmp_path):
    out = annotate(_photo(tmp_path, size=(8, 8)), Attributes(), max_side=1024)
    assert out.mode == "RGB" and out.width <= 1024


def test_save_annotated_one_photo_writes_exactly_path(tmp_path):
    target = tmp_path / "out" / "annotated.png"
    written = save_annotated([_photo(tmp_path)], _attributes(), target)
    assert written == [target]
    assert sorted(p.name for p in target.parent.iterdir()) == ["annotated.png"]


def test_save_annotated_several_photos_writes_suffixed_files(tmp_path):
    images = [_photo(tmp_path, f"p{i}.png") for i in range(3)]
    target = tmp_path / "out" / "annotated.png"
    written = save_annotated(images, _attributes(3), target)
    assert [p.name for p in written] == ["annotated-1.png", "annotated-2.png", "annotated-3.png"]
    assert all(p.exists() and Image.open(p).format == "PNG" for p in written)
    assert not target.exists()
