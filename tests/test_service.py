"""The app's library side without a browser: seller corrections, hand edits, zip uploads,
the request time bound."""

import threading
import zipfile
from types import SimpleNamespace

import pytest

from listingsmith.batch_upload import extract_products
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, Fact, Listing
from listingsmith.pipeline import Pipeline
from listingsmith.service import ListingService, clean_seller, edited, with_seller


def test_seller_corrections_replace_seller_facts_and_keep_photo_facts():
    ocr_brand = Fact("brand", "SOLMO", None, "SOLMO", "ocr")
    attrs = Attributes(facts=[ocr_brand, Fact("brand", "Old", None, "Old", "seller")],
                       seller={"brand": "Old"})
    corrected = with_seller(attrs, {"brand": " Solimo ", "item_weight": "500 g", "size": ""})
    assert corrected.seller == {"brand": "Solimo", "item_weight": "500 g"}
    assert ocr_brand in corrected.facts
    assert corrected.fact("brand").value == "Solimo"  # the seller outranks the pack
    weight = corrected.fact("item_weight")
    assert (weight.value, weight.unit, weight.source) == (500.0, "gram", "seller")
    assert attrs.seller == {"brand": "Old"}  # the original is untouched


def test_clean_seller_drops_blanks_and_non_text():
    assert clean_seller({"brand": "  ", "price": " 12 ", "size": None}) == {"price": "12"}
    assert clean_seller(None) == {}


def test_hand_edits_replace_fields_and_split_bullets():
    listing = Listing(title="T", description="D", bullets=["a"])
    result = edited(listing, " New title ", "", "• Soft cotton\n\n- Machine wash\n")
    assert result.title == "New title" and result.description == "D"
    assert result.bullets == ["Soft cotton", "Machine wash"]


def test_zip_products_per_file_and_per_folder_and_no_escape(tmp_path):
    upload = tmp_path / "photos.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("mug.jpg", b"x")
        archive.writestr("shoe/front.jpg", b"x")
        archive.writestr("shoe/side.jpg", b"x")
        archive.writestr("../../evil.jpg", b"x")
        archive.writestr("/etc/passwd", b"x")
        archive.writestr("__MACOSX/._mug.jpg", b"x")
    out = tmp_path / "out"
    products = extract_products(upload, out)
    assert sorted(products) == ["mug", "shoe"]
    assert [p.name for p in products["shoe"]] == ["front.jpg", "side.jpg"]
    assert all(out in p.parents for paths in products.values() for p in paths)
    assert not (tmp_path / "evil.jpg").exists()


def test_bad_zips_are_one_line_errors(tmp_path):
    not_zip = tmp_path / "photos.zip"
    not_zip.write_text("hello")
    with pytest.raises(ListingsmithError, match="photos.zip: not a readable zip file"):
        extract_products(not_zip, tmp_path / "out")
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ListingsmithError, match="holds no photos"):
        extract_products(empty, tmp_path / "out")


def test_analysis_past_the_request_bound_is_one_line_and_the_next_request_works(
        monkeypatch, make_image):
    monkeypatch.setenv("LISTINGSMITH_MAX_REQUEST_SECONDS", "0.5")
    tagger = SimpleNamespace(
        analyze=lambda images, seller, options, timer: Attributes(seller=seller))
    service = ListingService(Pipeline(tagger=tagger, describer=object()))
    photo = make_image("front.png")
    release, stray_done = threading.Event(), threading.Event()

    def stalled_stage(images, seller, options, timer):
        release.wait(30)
        stray_done.set()
        return Attributes(seller={"brand": "from the timed-out request"})

    with monkeypatch.context() as patch:
        patch.setattr(tagger, "analyze", stalled_stage)
        with pytest.raises(ListingsmithError) as refused:
            service.analyze([photo], {"brand": "Solimo"})
    assert str(refused.value) == ("analysing front.png took longer than 0.5 s; "
                                  "try a smaller photo or fewer photos")
    assert str(photo.parent) not in str(refused.value)

    release.set()  # the stray work finishes in the background, unread
    assert stray_done.wait(10)
    analysis = service.analyze([photo], {"brand": "Solimo"})
    assert analysis.attributes.seller == {"brand": "Solimo"}
    assert len(analysis.annotated) == 1 and analysis.errors == []
