"""`listingsmith write`: catalogue records without photos → one listing line per record."""

import json

from listingsmith.cli import main


def test_jsonl_records_give_one_line_each_with_errors_kept_in_place(tmp_path, capsys):
    records = tmp_path / "records.jsonl"
    records.write_text("\n".join([
        json.dumps({"id": "A1", "brand": "Northwind", "category": "T-shirt", "colour": "Navy Blue",
                    "material": "100% cotton", "price": "19.99", "item_weight": "180 g"}),
        "{broken",
        json.dumps({"title": "no id"}),
        json.dumps({"id": 7, "brand": "Acme", "category": "Kettle", "wattage": "2200W",
                    "item_volume": "1,7 L"}),
    ]) + "\n")
    out = tmp_path / "listings.jsonl"
    code = main(["write", str(records), "--out", str(out), "--generator", "template"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 1
    assert [row["id"] for row in rows] == ["A1", "", "", "7"]
    assert "Navy Blue" in " ".join(rows[0]["bullets"]) and "Net weight: 180 g" in rows[0]["bullets"]
    assert "Material: 100% cotton" in rows[0]["bullets"]
    assert not any("19.99" in bullet for bullet in rows[0]["bullets"])
    assert rows[3]["title"] == "Acme Kettle, 1.7 L"
    assert "Power: 2200 W" in rows[3]["bullets"]
    assert "not valid JSON" in rows[1]["error"] and "missing 'id'" in rows[2]["error"]
    assert len(capsys.readouterr().err.strip().splitlines()) == 3  # two errors + the summary


def test_csv_records(tmp_path):
    records = tmp_path / "records.csv"
    records.write_text("id,brand,category,item_weight,notes\nB1,Oatly,Oat drink,1 L,barista\n")
    out = tmp_path / "out.jsonl"
    assert main(["write", str(records), "--out", str(out), "--generator", "template"]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["id"] == "B1" and row["title"].startswith("Oatly Oat Drink")
    assert "Notes: barista" in row["bullets"]


def test_unsupported_file_type_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "records.xlsx"
    path.write_bytes(b"x")
    assert main(["write", str(path), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "expected a .jsonl or .csv" in capsys.readouterr().err


def test_memory_writes_new_records_from_the_sellers_own_listings(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LISTINGSMITH_CACHE", str(tmp_path / "cache"))
    memory = tmp_path / "past.csv"
    memory.write_text("id,title,description,brand,colour,category\n"
                      "P1,Northwind Grey Hoodie,\"Grey fleece hoodie, has a kangaroo pocket.\","
                      "Northwind,Grey,Hoodie\n")
    records = tmp_path / "new.jsonl"
    records.write_text(json.dumps({"id": "N1", "brand": "Northwind", "colour": "Green",
                                   "category": "Hoodie"}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["write", str(records), "--out", str(out), "--memory", str(memory)]) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["generator"] == "retrieve-edit"
    assert row["description"] == "Green fleece hoodie, has a kangaroo pocket."
    assert row["title"] == "Northwind Green Hoodie"  # the template title
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title\nP1,Mug\n")
    assert main(["write", str(records), "--out", str(out), "--memory", str(bad)]) == 2
    assert "no description" in capsys.readouterr().err


def test_app_and_describe_output_name_the_memory_generator_and_its_rewrites(tmp_path, monkeypatch):
    from listingsmith import ui
    from listingsmith.cli import format_listing
    from tagger.seller import record_attributes

    monkeypatch.setenv("LISTINGSMITH_CACHE", str(tmp_path / "cache"))
    memory = tmp_path / "past.jsonl"
    memory.write_text(json.dumps({"id": "P1", "title": "Northwind Hoodie", "colour": "Grey",
                                  "description": "Grey fleece hoodie.", "category": "Hoodie"})
                      + "\n")
    launched = {}
    monkeypatch.setattr(ui, "launch", lambda port, host, service: launched.update(s=service))
    ui.main(["--memory", str(memory)])
    describer = launched["s"].pipeline.describer
    assert describer.generator_name == "retrieve-edit"
    (listing,) = describer.describe([record_attributes({"colour": "Green",
                                                        "category": "Hoodie"})])
    assert listing.description == "Green fleece hoodie."
    assert "Rewritten by the grounding guard (to what the attributes say): Grey → Green" in \
        format_listing(listing)
