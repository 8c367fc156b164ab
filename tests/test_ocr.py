"""Bundled OCR on a real pack photo, upright and turned: the same lines come back."""

import pytest

from listingsmith.core.io import ProductImage, load_image
from tagger.ocr import OcrEngine
from tests.conftest import SOLIMO_FRONT


@pytest.fixture(scope="module")
def engine():
    return OcrEngine()


@pytest.mark.parametrize("degrees", [0, 90, 180])
def test_pack_text_is_read_whatever_the_rotation(engine, degrees):
    photo = load_image(SOLIMO_FRONT)
    turned = ProductImage(photo.source, photo.image.rotate(degrees, expand=True), photo.info)
    spans = engine([turned])[0]
    texts = [span.text for span in spans]
    assert any("Vitamin E 268 mg" in text for text in texts), texts
    vitamin = next(s for s in spans if s.text.endswith("Vitamin E 268 mg"))
    assert 20 < vitamin.line_height < 80  # glyph height, not the box's height when vertical
    if degrees == 90:
        assert vitamin.box[3] - vitamin.box[1] > 3 * vitamin.line_height
