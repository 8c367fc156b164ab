"""Hostile photo files (issue 10): disguised documents, animations, absurd shapes, size limits,
and a bounded fuzz run over mutated real JPEG/PNG bytes: ``ImageLoadError`` or a photo,
never another exception."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from listingsmith.core.errors import ImageLoadError
from listingsmith.core.io import load_image
from tagger.quality import quality_warnings
from tests.conftest import SOLIMO_FRONT


@pytest.mark.parametrize("name, content, reason", [
    ("invoice.jpg", b"%PDF-1.7\n1 0 obj", "a PDF document"),
    ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "an SVG drawing"),
    ("logo.jpg", b'<?xml version="1.0"?><svg/>', "an XML/SVG file"),
    ("page.webp", b"<!DOCTYPE html><html><body>hi</body></html>", "an HTML page"),
    ("page.jpg", b"  \n<html><script>alert(1)</script></html>", "an HTML page"),
])
def test_disguised_documents_are_named_for_what_they_are(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=f"{name}: is {reason}"):
        load_image(path)


def test_animated_gif_uses_the_first_frame_and_says_so(tmp_path):
    frames = [Image.new("RGB", (300, 300), colour) for colour in ("red", "blue", "green")]
    path = tmp_path / "spin.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo = load_image(path)
    assert photo.info.frames == 3
    assert photo.image.getpixel((150, 150))[0] > 200  # the first (red) frame
    warnings = [w for w in quality_warnings([photo]) if w.code == "animated"]
    assert len(warnings) == 1 and "3 frames" in warnings[0].message


def test_absurd_aspect_ratio_is_refused(tmp_path):
    path = tmp_path / "banner.png"
    Image.new("RGB", (4000, 100), "white").save(path)
    with pytest.raises(ImageLoadError, match="aspect ratio beyond 20:1; crop it"):
        load_image(path)


def test_size_limits_are_configurable(tmp_path, monkeypatch):
    path = tmp_path / "photo.png"
    Image.new("RGB", (400, 300), "white").save(path)
    monkeypatch.setenv("LISTINGSMITH_MAX_PIXELS", "1000")
    with pytest.raises(ImageLoadError, match="400x300 pixels, over the limit of 1,000"):
        load_image(path)
    monkeypatch.delenv("LISTINGSMITH_MAX_PIXELS")
    with pytest.raises(ImageLoadError, match="over the limit of 0 MB"):
        load_image(path, max_bytes=100)
    monkeypatch.setenv("LISTINGSMITH_MAX_BYTES", "lots")
    with pytest.raises(ImageLoadError, match="LISTINGSMITH_MAX_BYTES: expected a positive number"):
        load_image(path)


def _seeds() -> dict[str, bytes]:
    photo = Image.open(SOLIMO_FRONT).convert("RGB").resize((96, 128))
    seeds = {}
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        buffer = io.BytesIO()
        photo.save(buffer, format=fmt)
        seeds[fmt] = buffer.getvalue()
    return seeds


SEEDS = _seeds()


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(sorted(SEEDS)),
       edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0.05, 1.0)))
def test_mutated_photos_load_or_fail_with_the_documented_error(tmp_path, fmt, edits, cut):
    data = bytearray(SEEDS[fmt])
    for where, value in edits:
        data[min(len(data) - 1, int(where * len(data)))] = value
    if cut is not None:
        data = data[:max(1, int(cut * len(data)))]
    path = tmp_path / f"fuzz.{fmt.lower()}"
    path.write_bytes(bytes(data))
    try:
        photo = load_image(path)
    except ImageLoadError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        assert photo.image.mode == "RGB" and photo.image.size[0] > 0


def test_float_image_loads_as_rgb(tmp_path):
    path = tmp_path / "depth.tif"
    Image.new("F", (300, 200), 0.25).save(path)
    photo = load_image(path)
    assert photo.image.mode == "RGB" and photo.info.original_mode == "F"
