import pytest
from PIL import Image

from listingsmith.core.errors import ImageLoadError
from listingsmith.core.io import load_image


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file") as caught:
        load_image(tmp_path / "nope.jpg")
    assert str(tmp_path / "nope.jpg") in str(caught.value)


def test_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty \\(0-byte\\)"):
        load_image(empty)


def test_not_an_image(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("shopping list: milk, eggs")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(text)


def test_truncated_jpeg(make_image):
    path = make_image("cut.jpg", size=(400, 300), colour=(10, 120, 200), format="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(path)


def test_pixel_limit_is_enforced(make_image):
    path = make_image("big.png", size=(300, 300))
    with pytest.raises(ImageLoadError, match="over the limit"):
        load_image(path, max_pixels=10_000)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), "red")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    assert loaded.info.exif_rotated is True


def test_rgba_transparency_becomes_mask_and_white(tmp_path):
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.paste((0, 200, 0, 255), (2, 2, 8, 8))
    path = tmp_path / "cutout.png"
    image.save(path)
    loaded = load_image(path)
    assert loaded.image.mode == "RGB"
    assert loaded.opaque is not None and loaded.opaque.sum() == 36
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((5, 5)) == (0, 200, 0)


@pytest.mark.parametrize("mode, colour", [("L", 128), ("P", 3), ("CMYK", (0, 255, 255, 0)),
                                           ("I;16", 40000)])
def test_unusual_modes_become_rgb(make_image, mode, colour):
    suffix = "tif" if mode in ("CMYK", "I;16") else "png"
    path = make_image(f"photo.{suffix}", mode=mode, colour=colour)
    loaded = load_image(path)
    assert loaded.image.mode == "RGB"
    assert loaded.info.original_mode == mode
