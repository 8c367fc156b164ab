"""The shipped Google Product Taxonomy and the hand-reviewed tables that map each corpus's own
categories (and ImageNet classes) onto it."""

import csv
from pathlib import Path

import pytest

from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from tagger.taxonomy import Taxonomy, taxonomy

ROOT = Path(__file__).resolve().parents[1]
MAPS = sorted((ROOT / "tagger" / "vocab" / "taxonomy_map").glob("*.csv"))
COLUMNS = ["source_category", "google_id", "google_path", "count", "note"]


def test_shipped_taxonomy_is_whole_and_versioned():
    tax = taxonomy()
    assert len(tax) == 5595
    assert tax.version == "2021-09-21"
    assert len(tax.children(None)) == 21
    assert tax.path_text(2425) == "Home & Garden > Lighting > Light Bulbs"


def test_ancestors_top_level_and_ancestry():
    tax = taxonomy()
    led = tax.by_path("Home & Garden > Lighting > Light Bulbs > LED Light Bulbs")
    assert led.depth == 4 and led.parent == 2425
    assert [tax.node(a).name for a in tax.ancestors(led.id)] == ["Home & Garden", "Lighting",
                                                                 "Light Bulbs"]
    assert tax.ancestors(536) == [] and tax.top_level(led.id) == 536
    assert tax.is_ancestor_or_self(2425, led.id) and tax.is_ancestor_or_self(led.id, led.id)
    assert not tax.is_ancestor_or_self(led.id, 2425)
    assert not tax.is_ancestor_or_self(166, led.id)  # Apparel & Accessories


def test_unknown_ids_and_paths_name_the_input():
    with pytest.raises(KeyError, match="999999999"):
        taxonomy().node(999999999)
    with pytest.raises(KeyError, match="Home & Garden > Lamps"):
        taxonomy().by_path("Home & Garden > Lamps")


def test_a_broken_taxonomy_file_says_which_line():
    with pytest.raises(ListingsmithError, match=r"tax.txt:3.*restore the taxonomy file"):
        Taxonomy("# Google_Product_Taxonomy_Version: x\n1 - A\nnot a line\n", source="tax.txt")
    with pytest.raises(ListingsmithError, match="parent of 'B > C'"):
        Taxonomy("1 - A\n2 - B > C\n")


def test_mapping_tables_exist_for_every_source():
    assert {p.stem for p in MAPS} == {"flipkart", "bigbasket", "fashion", "grocery", "myntra",
                                      "imagenet"}


@pytest.mark.parametrize("path", MAPS, ids=lambda p: p.stem)
def test_every_mapped_id_exists_and_matches_its_path(path):
    tax = taxonomy()
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        rows = list(reader)
    assert rows
    keys = [row["source_category"] for row in rows]
    assert len(keys) == len(set(keys)), "a source category is mapped twice"
    for row in rows:
        if not row["google_id"]:  # deliberately unmapped (the note says why)
            assert row["note"], row
            continue
        node = int(row["google_id"])
        assert node in tax, row
        assert tax.path_text(node) == row["google_path"], row


def test_imagenet_table_names_real_classes():
    labels = set(vocab.load("tagger", "vocab/imagenet_labels.txt"))
    rows = vocab.load("tagger", "vocab/taxonomy_map/imagenet.csv")
    assert len(rows) >= 300
    assert {row["source_category"] for row in rows} <= labels
    by_label = {row["source_category"]: int(row["google_id"]) for row in rows}
    tax = taxonomy()
    assert tax.top_level(by_label["pill bottle"]) == tax.by_path("Health & Beauty").id
    assert by_label["lampshade"] == tax.by_path("Home & Garden > Lighting Accessories > Lamp Shades").id
    assert "tabby" not in by_label and "seashore" not in by_label  # animals and scenes stay unmapped
