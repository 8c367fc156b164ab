"""eval.synthetic_packs: deterministic labels, valid answers, AMLC scoring, parser agreement."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from PIL import Image

from eval.synthetic_packs import (DEFAULT_FONTS, SyntheticPack, backgrounds, make_set,
                                  render_pack, run_synthetic)
from tagger.facts import parse_facts, predict_entity
from listingsmith.core.types import TextSpan, entity_units, format_amlc_value
from listingsmith.metrics import amlc_f1

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pack(seed: int) -> SyntheticPack:
    background = Image.new("RGB", (160, 120), (120, 140, 110))
    return render_pack(background, random.Random(seed), fonts=DEFAULT_FONTS)


@pytest.fixture(scope="module")
def packs() -> list[SyntheticPack]:
    return [pack(seed) for seed in range(200)]


def printed_values(lines: list[str]) -> set[float]:
    """Every number on the lines as the parser reads it: ``1,000`` groups, ``1,5`` is decimal."""
    values = set()
    for number in re.findall(r"[0-9]+(?:[.,][0-9]+)?", " ".join(lines)):
        grouped = re.fullmatch(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+", number)
        values.add(float(number.replace(",", "") if grouped else number.replace(",", ".")))
    return values


def test_render_pack_is_deterministic_for_a_seed():
    first, again, other = pack(7), pack(7), pack(8)
    assert first.lines == again.lines and first.truth == again.truth
    assert first.settings == again.settings
    assert first.image.tobytes() == again.image.tobytes()
    assert (other.lines, other.truth) != (first.lines, first.truth)


def test_labels_have_brand_product_facts_and_distractors(packs):
    for label in packs:
        assert 4 <= len(label.lines) <= 7
        assert label.truth, label.lines
        assert label.image.mode == "RGB" and min(label.image.size) >= 160
        assert 14 <= label.settings["glyph_px"] <= 40
        assert abs(label.settings["degrees"]) <= 12
        assert not {"item_weight", "item_volume"} <= set(label.truth)


def test_truth_answers_are_amlc_strings_in_allowed_units(packs):
    units = entity_units()
    for label in packs:
        for entity, answer in label.truth.items():
            number, unit = answer.split(" ", 1)
            assert unit in units[entity], (entity, answer)
            assert format_amlc_value(float(number), unit) == answer


def test_lines_print_the_number_of_each_answer(packs):
    for label in packs:
        printed = printed_values(label.lines)
        for answer in label.truth.values():
            assert float(answer.split(" ")[0]) in printed, (answer, label.lines)


def test_parser_recovers_the_truth_from_the_printed_lines(packs):
    """Generator and parser agree before any OCR noise, so OCR runs measure OCR."""
    agreeing = 0
    for label in packs:
        facts = parse_facts([TextSpan(text=line, box=(0.0, 0.0, 100.0, 20.0), score=0.95)
                             for line in label.lines])
        predicted = {entity: answer for entity in entity_units()
                     if (answer := predict_entity(facts, entity))}
        agreeing += predicted == label.truth
    assert agreeing >= 0.95 * len(packs)


def test_missing_font_falls_back_to_the_builtin_one():
    label = render_pack(Image.new("RGB", (100, 100)), random.Random(3), fonts=["/no/such/font.ttf"])
    assert label.truth and label.image.size[0] >= 100
    assert all("℮" not in line for line in label.lines)


@pytest.mark.parametrize("prediction, truth, counts", [
    ({"item_weight": "500.0 gram"}, {"item_weight": "500.0 gram"}, (1, 0, 0, 0)),
    ({"item_weight": "500.0 gram"}, {}, (0, 1, 0, 0)),
    ({"item_weight": "250.0 gram"}, {"item_weight": "500.0 gram"}, (0, 1, 0, 0)),
    ({}, {"item_weight": "500.0 gram"}, (0, 0, 1, 0)),
    ({"item_weight": ""}, {"item_weight": ""}, (0, 0, 0, 1)),
])
def test_amlc_f1_counts_each_case(prediction, truth, counts):
    scores = amlc_f1([prediction], [truth], ["item_weight"])
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == counts


def test_amlc_f1_scores_every_entity_of_every_sample():
    predictions = [{"voltage": "240.0 volt", "wattage": "60.0 watt"}, {}]
    truths = [{"voltage": "240.0 volt"}, {"voltage": "12.0 volt"}]
    scores = amlc_f1(predictions, truths, ["voltage", "wattage", "item_volume"])
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (1, 1, 1, 3)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["f1"] == 0.5
    assert amlc_f1([{}], [{}], ["voltage"])["f1"] == 0.0
    with pytest.raises(ValueError):
        amlc_f1([{}], [], ["voltage"])


@pytest.mark.skipif(not (DATA / "grocery" / "train.txt").exists(), reason="shared data not present")
def test_make_set_is_deterministic_on_real_photos():
    photos = backgrounds(DATA)
    assert photos == backgrounds(DATA) and all("/Packages/" not in str(p) for p in photos)
    first, again = make_set(DATA, 3, seed=1), make_set(DATA, 3, seed=1)
    assert [p.background for p in first] == [p.background for p in again]
    assert all(p.background and Path(p.background).exists() for p in first)
    assert [p.image.tobytes() for p in first] == [p.image.tobytes() for p in again]
    assert max(first[0].image.size) >= 640


@pytest.mark.skipif(not (DATA / "grocery" / "train.txt").exists(), reason="shared data not present")
def test_run_synthetic_scores_an_analyzer_that_finds_nothing():
    from listingsmith.core.types import Attributes

    metrics, table, failures = run_synthetic(
        DATA, 3, lambda images: Attributes(images=[image.info for image in images]))
    expected = [pack.truth for pack in make_set(DATA, 3)]
    assert metrics["count"] == 3 and metrics["tp"] == metrics["fp"] == 0
    assert metrics["fn"] == sum(len(truth) for truth in expected) and metrics["f1"] == 0.0
    assert len(table.splitlines()) == 2 + len(entity_units()) + 1
    assert table.splitlines()[-1].startswith("| all |")
    assert len(failures) == 3 and failures[0].startswith(f"truth {expected[0]}, predicted {{}}")
