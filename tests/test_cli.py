"""The CLI on the real bundled models: bad photos are reported and the rest still processed."""

import json

import pytest

from listingsmith.cli import main
from tests.conftest import SOLIMO_FRONT, YOGA_BAG


def test_bad_photos_are_reported_one_line_each_and_the_rest_processed(tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "readme.png"
    text.write_text("not an image")
    missing = tmp_path / "missing.jpg"
    code = main(["analyze", str(missing), str(SOLIMO_FRONT), str(empty), str(tmp_path), str(text),
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 4
    for bad, reason in [(missing, "no such file"), (empty, "0-byte"), (tmp_path, "is a folder"),
                        (text, "not an image")]:
        assert any(str(bad) in line and reason in line for line in lines), (bad, lines)
    attributes = json.loads(out)
    assert [image["source"] for image in attributes["images"]] == [str(SOLIMO_FRONT)]


def test_no_readable_photo_is_a_usage_error(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "a.jpg"), "--json"]) == 2
    assert "no readable photo" in capsys.readouterr().err


def test_analyze_reads_pack_text_and_brand(capsys):
    assert main(["analyze", str(SOLIMO_FRONT), "--json"]) == 0
    attributes = json.loads(capsys.readouterr().out)
    text = " ".join(span["text"] for span in attributes["text_spans"]).lower()
    assert "vitamin" in text and "capsules" in text
    labels = {label for d in attributes["detections"] for label in d["labels"]}
    assert {"product", "text"} <= labels
    assert attributes["provenance"]["ocr"] == "bundled:rapidocr"
    assert attributes["colours"], "expected at least one dominant colour"


def test_two_photos_merge_into_one_attributes(capsys):
    assert main(["analyze", str(SOLIMO_FRONT), str(YOGA_BAG), "--json"]) == 0
    attributes = json.loads(capsys.readouterr().out)
    assert len(attributes["images"]) == 2
    assert {span["image_index"] for span in attributes["text_spans"]} <= {0, 1}


def test_tags_command_prints_scored_tags(capsys):
    assert main(["tags", str(YOGA_BAG), "--top-k", "3", "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert len(tags) == 3
    assert tags == sorted(tags, key=lambda t: -t["score"])


def test_models_command_lists_every_model_installed(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("ocr", "image-backbone", "text-embedder", "generator", "barcode"):
        assert name in out
    assert "missing" not in out and "mismatch" not in out


def test_unknown_generator_is_one_line_error(capsys):
    assert main(["describe", str(SOLIMO_FRONT), "--generator", "./my-model"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "local:./my-model" in err


@pytest.mark.parametrize("args", [["--tone", "angry"], ["--length", "epic"]])
def test_bad_tone_or_length_is_one_line_error(args, capsys):
    assert main(["describe", str(SOLIMO_FRONT), "--generator", "template", *args]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_facts_with_a_brands_file_prefers_a_known_brand(tmp_path, capsys):
    brands = tmp_path / "brands.txt"
    brands.write_text("Solimo\nAmazonBasics\n")
    assert main(["facts", str(SOLIMO_FRONT), "--brands", str(brands), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    (brand,) = [f for f in facts if f["entity"] == "brand"]
    assert brand["value"] == "Solimo" and brand["span"]["text"]
    assert main(["facts", str(SOLIMO_FRONT), "--entity", "item_weight"]) == 0
    assert capsys.readouterr().out == "\n"  # the 268 mg vitamin dose is not the pack weight


def test_text_free_photo_gives_no_facts_and_empty_answer(make_image, capsys):
    blank = make_image("blank.png", size=(320, 240), colour=(255, 255, 255))
    assert main(["facts", str(blank), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["facts", str(blank), "--entity", "item_volume"]) == 0
    assert capsys.readouterr().out == "\n"


def test_analyze_reports_quality_warnings_and_writes_annotated_images(make_image, tmp_path, capsys):
    small = make_image("small.png", size=(300, 200), colour=(180, 40, 40))
    out = tmp_path / "annotated.png"
    assert main(["analyze", str(small), str(YOGA_BAG), "--json", "--annotate", str(out)]) == 0
    attributes = json.loads(capsys.readouterr().out)
    codes = {(w["code"], w["image_index"]) for w in attributes["warnings"]}
    assert ("low_resolution", 0) in codes
    written = sorted(tmp_path.glob("annotated-*.png"))
    assert [p.name for p in written] == ["annotated-1.png", "annotated-2.png"]
    from PIL import Image

    assert Image.open(written[1]).size[0] >= 300
