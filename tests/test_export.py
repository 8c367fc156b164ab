import csv
import json

import pytest

from describer.export import (EXPORT_FORMATS, MERCHANT_COLUMNS, SHOPIFY_COLUMNS, ExportError,
                              export_text, json_ld, json_ld_script, merchant_row, safe_cell,
                              shopify_row, write_export, write_merchant_tsv, write_shopify_csv)
from listingsmith.core.types import (Attributes, CategoryPrediction, ColorSwatch, Fact, Listing, Tag,
                          TextSpan)

EAN = "4006381333931"


def kettle(title: str = "Acme Electric Kettle 1.7 L", description: str = "Boils fast.",
           weight: tuple[float, str] = (1.5, "kilogram"), **seller: str) -> Listing:
    span = TextSpan("1.7 L 1500 W 230 V", (0, 0, 100, 20), 0.97)
    attributes = Attributes(
        text_spans=[span],
        facts=[Fact("brand", "Acme", None, "ACME", "ocr", span, 0.8),
               Fact("item_weight", weight[0], weight[1], "weight", "ocr", span, 0.9),
               Fact("item_volume", 1.7, "litre", "1.7 L", "ocr", span, 0.9),
               Fact("wattage", 1500, "watt", "1500 W", "ocr", span, 0.9),
               Fact("gtin", EAN, None, EAN, "barcode")],
        colours=[ColorSwatch("Black", "black", (10, 10, 10), "#0a0a0a", 0.6)],
        tags=[Tag("electric kettle", 0.7, "aligner"), Tag("kitchen, home", 0.4, "aligner")],
        category=CategoryPrediction("Kettles", 0.8, "home",
                                    path=["Home", "Kitchen", "Kettles"]),
        seller={"price": "12.5", "sku": "AC-K17", **seller})
    return Listing(title, description, ["Net weight: 1.5 kg", "Power: 1500 W"], attributes)


def test_json_ld_describes_the_product():
    data = json_ld(kettle(), url="https://shop.example/k", image_urls=["https://cdn.example/k.jpg"])
    assert data["@context"] == "https://schema.org" and data["@type"] == "Product"
    assert data["name"] == "Acme Electric Kettle 1.7 L" and data["sku"] == "AC-K17"
    assert data["brand"] == {"@type": "Brand", "name": "Acme"}
    assert data["color"] == "Black" and data["category"] == "Home > Kitchen > Kettles"
    assert data["gtin13"] == EAN
    assert data["weight"] == {"@type": "QuantitativeValue", "value": 1.5, "unitText": "kg"}
    assert data["offers"]["price"] == "12.50" and data["offers"]["priceCurrency"] == "USD"
    assert data["image"] == ["https://cdn.example/k.jpg"]
    assert data["url"] == "https://shop.example/k"
    properties = {p["name"]: (p["value"], p["unitText"]) for p in data["additionalProperty"]}
    assert properties == {"Volume": (1.7, "L"), "Power": (1500.0, "W")}
    assert json_ld(kettle(currency="eur"))["offers"]["priceCurrency"] == "EUR"


def test_json_ld_leaves_out_what_is_unknown():
    data = json_ld(Listing("Plain mug", "A mug."))
    assert set(data) == {"@context", "@type", "name", "description"}


def test_json_ld_script_cannot_be_closed_by_listing_text():
    title = "<script>alert(1)</script>"
    description = "Tom & Jerry </script><script>alert(2)</script> <!-- x"
    tag = json_ld_script(kettle(title=title, description=description))
    opening = '<script type="application/ld+json">'
    assert tag.startswith(opening) and tag.endswith("</script>")
    body = tag[len(opening):-len("</script>")]
    assert "<" not in body and ">" not in body and "&" not in body
    assert tag.count("</") == 1
    data = json.loads(body)  # JSON parsers read back the exact text, not HTML entities
    assert data["name"] == title and data["description"] == description


def test_shopify_row_columns_and_values():
    listing = kettle(description="Steel <b>body</b> & lid.")
    row = shopify_row(listing, image_url="https://cdn.example/k.jpg")
    assert tuple(row) == SHOPIFY_COLUMNS
    assert row["Handle"] == "acme-electric-kettle-1-7-l"
    assert row["Vendor"] == "Acme" and row["Type"] == "Kettles"
    assert row["Body (HTML)"] == ("<p>Steel &lt;b&gt;body&lt;/b&gt; &amp; lid.</p>\n"
                                  "<ul><li>Net weight: 1.5 kg</li><li>Power: 1500 W</li></ul>")
    assert row["Variant Grams"] == "1500" and row["Variant Weight Unit"] == "kg"
    assert row["Variant Price"] == "12.50" and row["Variant SKU"] == "AC-K17"
    assert row["Variant Barcode"] == EAN
    assert row["Tags"] == "electric kettle, kitchen home, Black"
    assert (row["Option1 Name"], row["Option1 Value"]) == ("Title", "Default Title")
    assert (row["Published"], row["Status"]) == ("FALSE", "draft")
    assert row["Image Src"] == "https://cdn.example/k.jpg" and row["Image Position"] == "1"
    assert row["Product Category"] == ""
    sized = shopify_row(kettle(size="M"), handle="my-kettle")
    assert (sized["Handle"], sized["Option1 Name"], sized["Option1 Value"]) == (
        "my-kettle", "Size", "M")
    assert sized["Image Src"] == ""


@pytest.mark.parametrize("weight, grams, unit, shipping", [
    ((1.5, "kilogram"), "1500", "kg", "1.5 kg"),
    ((2, "pound"), "907", "lb", "2 lb"),
    ((500, "gram"), "500", "g", "500 g"),
    ((0.5, "ton"), "500000", "g", "500000 g"),
])
def test_weights_convert_to_units_feeds_accept(weight, grams, unit, shipping):
    listing = kettle(weight=weight)
    row = shopify_row(listing)
    assert (row["Variant Grams"], row["Variant Weight Unit"]) == (grams, unit)
    assert merchant_row(listing)["shipping_weight"] == shipping


def test_merchant_row_formats_and_limits():
    row = merchant_row(kettle(gender="Men", currency="INR"), link="https://shop.example/k",
                       image_link="https://cdn.example/k.jpg")
    assert tuple(row) == MERCHANT_COLUMNS
    assert row["id"] == "AC-K17" and row["price"] == "12.50 INR"
    assert row["shipping_weight"] == "1.5 kg" and row["gtin"] == EAN
    assert (row["availability"], row["condition"], row["gender"]) == ("in_stock", "new", "male")
    assert row["product_type"] == "Home > Kitchen > Kettles" and row["color"] == "Black"
    assert row["google_product_category"] == ""
    assert merchant_row(kettle(google_product_category="594"))["google_product_category"] == "594"

    long = merchant_row(kettle(title="Kettle " * 40, description="word " * 2000))
    assert len(long["title"]) <= 150 and long["title"].endswith("Kettle")
    assert len(long["description"]) <= 5000 and long["description"].endswith("word")
    unsold = merchant_row(Listing("Plain mug", "A mug."))
    assert unsold["id"] == "plain-mug" and unsold["price"] == "" and unsold["shipping_weight"] == ""


@pytest.mark.parametrize("price, expected", [
    ("12.5", "12.50"), ("1,299", "1299.00"), ("12,5", "12.50"), ("1,299.99", "1299.99"),
    ("0.125", "0.13"),
])
def test_prices_get_two_decimals(price, expected):
    assert shopify_row(kettle(price=price))["Variant Price"] == expected


def test_unreadable_price_or_currency_is_an_error():
    with pytest.raises(ExportError, match=r"seller price: expected a number such as 12.50"):
        merchant_row(kettle(price="$12"))
    with pytest.raises(ExportError, match=r"currency: expected an ISO 4217 code"):
        json_ld(kettle(currency="dollars"))


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("\x00=1", "'=1"),
    ("a\x00b", "ab"), ("Kettle = fast", "Kettle = fast"), ("", ""),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def hostile() -> Listing:
    return kettle(title='=HYPERLINK("http://evil.example","click")',
                  description="-2 litres\tof\nfun", sku="+1", brand="@SUM(A1:A9)")


def test_written_csv_and_tsv_neutralise_formulas(tmp_path):
    csv_path = write_shopify_csv([hostile(), kettle()], tmp_path / "shopify.csv")
    with open(csv_path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    assert rows[0]["Title"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert rows[0]["Variant SKU"] == "'+1" and rows[0]["Vendor"] == "'@SUM(A1:A9)"
    assert rows[0]["Body (HTML)"].startswith("<p>-2 litres")  # not at the cell start: harmless

    tsv_path = write_merchant_tsv([hostile(), kettle()], tmp_path / "merchant.tsv")
    with open(tsv_path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) == 2 and list(rows[0]) == list(MERCHANT_COLUMNS)
    assert rows[0]["title"].startswith("'=HYPERLINK")
    assert rows[0]["description"] == "'-2 litres of fun"
    assert rows[0]["id"] == "'+1" and rows[0]["brand"] == "'@SUM(A1:A9)"
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_unicode_survives_both_files(tmp_path):
    title = "Bouilloire Crème brûlée 日本 — ₹ édition"
    listing = kettle(title=title, description="Café ☕ über alles", brand="Ünïcødé")
    write_shopify_csv([listing], tmp_path / "s.csv")
    write_merchant_tsv([listing], tmp_path / "m.tsv")
    with open(tmp_path / "s.csv", encoding="utf-8", newline="") as handle:
        shopify = next(csv.DictReader(handle))
    with open(tmp_path / "m.tsv", encoding="utf-8", newline="") as handle:
        merchant = next(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert shopify["Title"] == merchant["title"] == title
    assert shopify["Handle"] == "bouilloire-crème-brûlée-日本-édition"
    assert shopify["Vendor"] == merchant["brand"] == "Ünïcødé"
    assert merchant["description"] == "Café ☕ über alles"


def test_writers_replace_files_whole_and_keep_keys_unique(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("old feed", encoding="utf-8")
    with pytest.raises(ExportError, match="seller price"):
        write_shopify_csv([kettle(), kettle(price="twelve")], path)
    assert path.read_text(encoding="utf-8") == "old feed"

    write_shopify_csv([kettle(), kettle(), kettle()], path)
    with open(path, encoding="utf-8", newline="") as handle:
        handles = [row["Handle"] for row in csv.DictReader(handle)]
    assert handles == ["acme-electric-kettle-1-7-l", "acme-electric-kettle-1-7-l-2",
                       "acme-electric-kettle-1-7-l-3"]
    assert [p.name for p in tmp_path.iterdir()] == ["feed.csv"]  # no staging file left
    with pytest.raises(ExportError, match="no folder"):
        write_merchant_tsv([kettle()], tmp_path / "missing" / "feed.tsv")


def test_export_text_json_round_trips():
    listing = kettle()
    assert Listing.from_json(export_text(listing, "json")) == listing
    assert Listing.from_json(export_text(listing, "jsonl")) == listing
    assert export_text(listing, "jsonl").count("\n") == 1


def test_export_text_formats():
    listing = kettle()
    shopify = list(csv.reader(export_text(listing, "shopify").splitlines()))
    assert shopify[0] == list(SHOPIFY_COLUMNS) and len(shopify) == 2
    merchant = export_text(listing, "merchant").splitlines()
    assert merchant[0].split("\t") == list(MERCHANT_COLUMNS) and len(merchant) == 2
    assert export_text(listing, "jsonld").startswith('<script type="application/ld+json">')
    assert set(EXPORT_FORMATS) == {"json", "jsonl", "shopify", "merchant", "jsonld"}
    with pytest.raises(ExportError, match=r"format: expected one of \['json', .*got 'xml'"):
        export_text(listing, "xml")


def test_write_export_many_listings(tmp_path):
    listings = [kettle(), kettle(title="Acme Toaster")]
    data = json.loads(write_export(listings, tmp_path / "all.json", "json").read_text("utf-8"))
    assert [item["title"] for item in data] == ["Acme Electric Kettle 1.7 L", "Acme Toaster"]
    lines = write_export(listings, tmp_path / "all.jsonl", "jsonl").read_text("utf-8").splitlines()
    assert [Listing.from_json(line).title for line in lines] == ["Acme Electric Kettle 1.7 L",
                                                                "Acme Toaster"]
    page = write_export(listings, tmp_path / "all.html", "jsonld").read_text("utf-8")
    assert page.count('<script type="application/ld+json">') == 2
