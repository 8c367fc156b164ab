"""The one pipeline: every entry point (describe, batch, the app's service, write) gives the
same listing for the same input, bad settings fail before any input is read, and the model
choices of the command line reach the models that run."""

import json
import shutil
from types import SimpleNamespace

import pytest

from listingsmith.cli import main
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, Listing
from listingsmith.pipeline import Pipeline, PipelineSettings
from listingsmith.service import ListingService
from tests.conftest import SOLIMO_FRONT, YOGA_BAG

PHOTOS = (SOLIMO_FRONT, YOGA_BAG)


def summary(listing: dict) -> dict:
    """What every entry point must agree on: the title, the category and the facts."""
    attributes = listing["attributes"]
    category = attributes["category"]
    return {"title": listing["title"],
            "category": category and (category["label"], category["path"], category["score"]),
            "facts": sorted((f["entity"], str(f["value"]), str(f["unit"]), f["source"])
                            for f in attributes["facts"])}


def test_describe_batch_and_the_service_give_the_same_listing(tmp_path, capsys):
    described = {}
    for photo in PHOTOS:
        assert main(["describe", str(photo), "--json", "--generator", "template"]) == 0
        described[photo.stem] = summary(json.loads(capsys.readouterr().out))

    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in PHOTOS:
        shutil.copy(photo, folder / photo.name)
    out = tmp_path / "listings.jsonl"
    assert main(["batch", str(folder), "--out", str(out), "--generator", "template"]) == 0
    batched = {row["id"]: summary(row) for row in map(json.loads, out.read_text().splitlines())}

    service = ListingService(Pipeline(PipelineSettings(generator="template")))
    served = {}
    for photo in PHOTOS:
        analysis = service.analyze([photo])
        *_, listing = service.listing_stream(analysis.attributes, "neutral", "medium")
        served[photo.stem] = summary(listing.to_dict())

    assert described == batched == served
    assert any(s["facts"] for s in described.values())  # the comparison compares something


def test_write_keeps_the_facts_and_product_words_of_the_sellers_title(tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_text(
        json.dumps({"id": "bulb", "title": "Philips 9W LED Bulb E27 Cool Day Light, Pack of 2",
                    "brand": "Philips"}) + "\n"
        + json.dumps({"id": "dress", "title": "pinwheel Women Navy Blue A-Line Dress",
                      "brand": "pinwheel"}) + "\n")
    out = tmp_path / "listings.jsonl"
    assert main(["write", str(records), "--out", str(out), "--generator", "template"]) == 0
    bulb, dress = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(bulb) == {"id", "title", "description", "bullets", "identity", "generator",
                         "template"}
    assert "9 W" in bulb["title"] + " ".join(bulb["bullets"])
    assert "Navy Blue" in dress["title"] and "Dress" in dress["title"]
    # what the product is comes from the record's own words, on every line
    assert bulb["identity"]["taxonomy_path"] == "Home & Garden > Lighting > Light Bulbs"
    assert dress["identity"]["taxonomy_path"].startswith("Apparel & Accessories > Clothing")


def test_record_fields_and_title_quantities_become_seller_facts():
    from tagger.seller import record_attributes

    attributes = record_attributes({"title": "Philips 9W LED Bulb", "brand": "Philips",
                                    "notes": "warm"})
    assert attributes.seller == {"title": "Philips 9W LED Bulb", "brand": "Philips",
                                 "notes": "warm"}
    facts = {(f.entity, f.value, f.unit, f.source) for f in attributes.facts}
    assert ("brand", "Philips", None, "seller") in facts
    assert any(entity == "wattage" and value == 9 and source == "seller"
               for entity, value, _, source in facts)


@pytest.mark.parametrize("settings, option", [
    (PipelineSettings(tone="loud"), "tone"),
    (PipelineSettings(generator="nope"), "--generator"),
    (PipelineSettings(generator="template", memory="past.jsonl"), "--memory"),
])
def test_a_bad_setting_is_one_line_naming_the_option(settings, option):
    with pytest.raises(ListingsmithError) as refused:
        settings.check()
    message = str(refused.value)
    assert option in message and len(message.splitlines()) == 1


@pytest.mark.parametrize("args, option", [
    (["--tone", "loud"], "tone"),
    (["--generator", "nope"], "--generator"),
    (["--generator", "template", "--memory", "past.jsonl"], "--memory"),
])
def test_a_bad_setting_fails_before_any_photo_is_read(args, option, monkeypatch, capsys):
    def no_reading(*_args, **_kwargs):
        raise AssertionError("a photo was read before the settings were checked")

    monkeypatch.setattr("listingsmith.pipeline.load_image", no_reading)
    assert main(["describe", str(SOLIMO_FRONT), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err


class FakeTagger:
    """Records the models it was built with; analyses nothing."""

    built: list = []

    def __init__(self, parts_detector=None, tag_model=None):
        self.parts_detector, self.tag_model = parts_detector, tag_model
        FakeTagger.built.append(self)

    def analyze(self, images, *, seller=None, options=None, timer=None):
        return Attributes(images=[image.info for image in images], seller=dict(seller or {}))


@pytest.fixture
def fake_models(monkeypatch, tmp_path):
    """Sources for --detector and --tagger, and the tagger and models they build (fakes)."""
    detector, tag_model = tmp_path / "dino", tmp_path / "clip"
    detector.mkdir()
    tag_model.mkdir()
    FakeTagger.built = []
    monkeypatch.setattr("listingsmith.pipeline.Tagger", FakeTagger)
    monkeypatch.setattr("tagger.grounding.GroundingDinoDetector",
                        lambda spec: SimpleNamespace(kind="detector", spec=spec))
    monkeypatch.setattr("tagger.clip.ClipImageText",
                        lambda spec: SimpleNamespace(kind="tags", spec=spec))
    return f"local:{detector}", f"local:{tag_model}"


def test_detector_and_tagger_sources_reach_the_tagger_for_describe(fake_models, capsys):
    detector, tag_model = fake_models
    assert main(["describe", str(SOLIMO_FRONT), "--json", "--generator", "template",
                 "--detector", detector, "--tagger", tag_model]) == 0
    assert Listing.from_dict(json.loads(capsys.readouterr().out)).title
    (tagger,) = FakeTagger.built
    assert tagger.parts_detector.spec.source == detector
    assert tagger.tag_model.spec.source == tag_model


def test_detector_and_tagger_sources_reach_the_tagger_for_the_service(fake_models):
    detector, tag_model = fake_models
    settings = PipelineSettings(generator="template", detector=detector, tag_model=tag_model)
    settings.check()
    service = ListingService(Pipeline(settings))
    analysis = service.analyze([SOLIMO_FRONT])
    assert len(analysis.attributes.images) == 1
    (tagger,) = FakeTagger.built
    assert tagger.parts_detector.spec.source == detector
    assert tagger.tag_model.spec.source == tag_model
