import csv
from pathlib import Path

import pytest

from describer.data import (SOURCES, SPLITS, Example, example_attributes, examples, known_brands,
                            product_type, split_of)
from tagger.seller import record_attributes
from listingsmith.core.records import read_records
from listingsmith.core.errors import ListingsmithError

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

MYNTRA_COLUMNS = ["Product_ID", "Product_Name", "Product_Brand", "Gender", "Price", "Num_Images",
                  "Description", "Primary_Color"]
BIGBASKET_COLUMNS = ["index", "product", "category", "sub_category", "brand", "sale_price",
                     "market_price", "type", "rating", "description", "image"]
FASHION_COLUMNS = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour",
                   "season", "year", "usage", "productDisplayName", "image", "split"]


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


@pytest.fixture
def data(tmp_path) -> Path:
    """A shared-data folder with a few rows per source, in the real column layout."""
    myntra = [
        {"Product_ID": "101", "Product_Name": "Parx Men Navy Blue Slim Fit Solid Casual Shirt",
         "Product_Brand": "Parx", "Gender": "Men", "Price": "739", "Num_Images": "5",
         "Description": "Navy blue solid casual shirt, has a spread collar",
         "Primary_Color": "Blue"},
        {"Product_ID": "102", "Product_Name": "Bvlgari Women Omnia Eau De Toilette 40 ml",
         "Product_Brand": "Bvlgari", "Gender": "Women", "Price": "5650",
         "Description": "Notes: lotus\nblossom", "Primary_Color": ""},
        {"Product_ID": "103", "Product_Name": "Empty Men Shirt", "Product_Brand": "Empty",
         "Gender": "Men", "Price": "1", "Description": "  "},
    ]
    bigbasket = [
        {"index": "1", "product": "Basmati Rice 1 kg", "category": "Foodgrains, Oil & Masala",
         "sub_category": "Rice & Rice Products", "brand": "Fresho", "sale_price": "120",
         "type": "Basmati Rice",
         "description": "Long grain rice.For Beauty tips, tricks & more visit "
                        "https://bigbasket.blog/"},
        {"index": "2", "product": "Water Bottle - Orange", "category": "Kitchen, Garden & Pets",
         "sub_category": "Storage", "brand": "Mastercook", "sale_price": "180", "type": "",
         "description": "Microwave safe."},
        {"index": "3", "product": "Only A Link", "brand": "Classic", "sale_price": "5",
         "description": "Visit https://bigbasket.blog/"},
    ]
    fashion = [
        {"id": "15970", "gender": "Men", "masterCategory": "Apparel", "subCategory": "Topwear",
         "articleType": "Shirts", "baseColour": "Navy Blue", "season": "Fall", "year": "2011",
         "usage": "Casual", "productDisplayName": "Turtle Check Men Navy Blue Shirt",
         "image": "images/15970.jpg", "split": "test"},
        {"id": "39386", "gender": "Men", "masterCategory": "Apparel",
         "subCategory": "Bottomwear", "articleType": "Jeans", "baseColour": "NA",
         "season": "Summer", "usage": "Casual", "productDisplayName": "Peter England Men Jeans",
         "image": "", "split": "text-only"},
        {"id": "1", "articleType": "Socks", "productDisplayName": "", "split": "text-only"},
    ]
    write_csv(tmp_path / "text" / "myntra.csv", MYNTRA_COLUMNS, myntra)
    write_csv(tmp_path / "text" / "bigbasket.csv", BIGBASKET_COLUMNS, bigbasket)
    write_csv(tmp_path / "fashion" / "styles.csv", FASHION_COLUMNS, fashion)
    return tmp_path


def everything(data: Path, source: str) -> list[Example]:
    return [e for split in SPLITS for e in examples(data, source, split)]


def test_myntra_seller_fields_and_references(data):
    by_id = {e.id: e for e in everything(data, "myntra")}
    assert set(by_id) == {"101", "102"}  # an empty description is no example
    shirt = by_id["101"]
    assert shirt.seller == {"title": "Parx Men Navy Blue Slim Fit Solid Casual Shirt",
                            "brand": "Parx", "gender": "Men", "colour": "Blue", "price": "739"}
    assert shirt.title == "Parx Men Navy Blue Slim Fit Solid Casual Shirt"
    assert shirt.description == "Navy blue solid casual shirt, has a spread collar"
    perfume = by_id["102"]
    assert "colour" not in perfume.seller  # an empty cell is no field
    assert "item_volume" not in perfume.seller  # the title's "40 ml" becomes a fact on the way
    assert example_attributes(perfume).fact("item_volume").display == "40 ml"
    assert perfume.description == "Notes: lotus blossom"


def test_bigbasket_seller_fields_quantity_and_boilerplate(data):
    by_id = {e.id: e for e in everything(data, "bigbasket")}
    assert set(by_id) == {"1", "2"}  # a description that was only a link is no example
    rice = by_id["1"]
    assert rice.seller == {"title": "Basmati Rice 1 kg", "brand": "Fresho",
                           "category": "Basmati Rice", "price": "120"}
    assert rice.title == "Basmati Rice 1 kg" and rice.description == "Long grain rice."
    assert by_id["2"].seller["category"] == "Storage"  # no type: the sub-category


def test_fashion_rows_include_text_only_and_keep_photo_splits(data):
    by_id = {e.id: e for e in everything(data, "fashion")}
    assert set(by_id) == {"15970", "39386"}  # no title, no example
    photo = by_id["15970"]
    assert photo.split == "test"  # the image tasks' split
    assert photo.seller == {"gender": "Men", "category": "Shirts", "colour": "Navy Blue",
                            "season": "Fall", "usage": "Casual"}
    assert photo.description == ""
    text_only = by_id["39386"]
    assert "colour" not in text_only.seller  # "NA"
    assert text_only.split == split_of("fashion", "39386")


def test_splits_are_stable_and_near_80_10_10():
    first = [split_of("myntra", str(i)) for i in range(5000)]
    assert first == [split_of("myntra", str(i)) for i in range(5000)]
    shares = {s: first.count(s) / len(first) for s in SPLITS}
    assert shares["train"] == pytest.approx(0.8, abs=0.02)
    assert shares["val"] == pytest.approx(0.1, abs=0.015)
    assert shares["test"] == pytest.approx(0.1, abs=0.015)


def test_limit_takes_evenly_spaced_rows(tmp_path):
    rows = [{"index": str(i), "product": f"Item {i}", "brand": "B", "description": "Text."}
            for i in range(400)]
    write_csv(tmp_path / "text" / "bigbasket.csv", BIGBASKET_COLUMNS, rows)
    train = examples(tmp_path, "bigbasket", "train")
    picked = examples(tmp_path, "bigbasket", "train", limit=4)
    assert [e.id for e in picked] == [train[i * len(train) // 4].id for i in range(4)]
    assert examples(tmp_path, "bigbasket", "train", limit=10_000) == train


def test_attributes_take_the_listingsmith_write_path(data, tmp_path):
    rice = next(e for e in everything(data, "bigbasket") if e.id == "1")
    attributes = example_attributes(rice)
    assert attributes.seller == rice.seller
    weight = attributes.fact("item_weight")
    assert (weight.value, weight.unit, weight.source) == (1.0, "kilogram", "seller")
    records = tmp_path / "records.csv"
    write_csv(records, ["id", *rice.seller], [{"id": rice.key, **rice.seller}])
    (record,) = read_records(records)
    assert record_attributes(record.fields) == attributes


def test_product_type_of_a_name():
    assert product_type("SPYKAR Women Pink Super Skinny Cropped Jeans", "SPYKAR") == "Cropped Jeans"
    assert product_type("Soie Women Blue Sleep Shirts NT-98BRITTNEY-BLUE-7", "Soie") == \
        "Sleep Shirts"
    assert product_type("Roadster Men Grey & Black Striped Pullover Sweater", "Roadster") == \
        "Pullover Sweater"


def test_known_brands_drop_short_names_and_ordinary_words(data):
    myntra = [("Puma", "Puma Men Running Shoes", "Running shoes with a snug fit"),
              ("Puma", "Puma Women Tee", "Regular fit tee"),
              ("Fit", "Fit Men Shirt", "A cotton shirt"),
              ("W", "W Women Kurta", "Straight kurta"),
              ("ahilya", "ahilya Ring", "Silver ring by ahilya"),
              ("HRX", "HRX Men Tee", "Slim fit tee")]
    rows = [{"Product_ID": str(i), "Product_Brand": brand, "Product_Name": title,
             "Description": text} for i, (brand, title, text) in enumerate(myntra)]
    write_csv(data / "text" / "myntra.csv", MYNTRA_COLUMNS, rows)
    brands = known_brands(data)
    assert {"Puma", "ahilya", "HRX", "Fresho", "Mastercook"} <= set(brands)
    assert "W" not in brands  # too short
    assert "Fit" not in brands  # named in three rows of other brands, one of its own
    assert "Classic" in brands  # listed even where its row has no usable description


def test_missing_data_and_bad_arguments_are_one_line_errors(tmp_path, data):
    with pytest.raises(ListingsmithError, match=r"myntra.csv not found.*pass --data or set "
                                                r"LISTINGSMITH_DATA"):
        examples(tmp_path / "nowhere", "myntra", "train")
    with pytest.raises(ListingsmithError, match="choose one of myntra, bigbasket, fashion"):
        examples(data, "amazon", "train")
    with pytest.raises(ListingsmithError, match="unknown split 'dev'"):
        examples(data, "myntra", "dev")
    write_csv(data / "text" / "myntra.csv", ["Product_ID", "Product_Name"], [])
    with pytest.raises(ListingsmithError, match="no column.s. Product_Brand, Gender"):
        examples(data, "myntra", "train")


@pytest.mark.skipif(not (REAL_DATA / "text" / "myntra.csv").is_file(),
                    reason="../shared/data is not here")
def test_real_rows_read_into_examples_and_attributes():
    for source in SOURCES:
        sample = examples(REAL_DATA, source, "test", limit=3)
        assert len(sample) == 3
        for example in sample:
            assert example.source == source and example.split == "test" and example.title
            assert example.description or source == "fashion"
            assert example_attributes(example).seller == example.seller
            assert "http" not in example.description
    assert "Puma" in known_brands(REAL_DATA)
