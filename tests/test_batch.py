"""``listingsmith batch`` and ``similar``: inputs, per-row failures, resume after SIGKILL,
duplicates, output formats. Real bundled vision models, template text, small photos."""

import csv
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from describer.export import FLAT_COLUMNS, write_catalogue
from listingsmith.batch import BatchJob, run_batch
from listingsmith.batch_index import near_duplicates, similar
from listingsmith.batch_input import read_products
from listingsmith.batch_state import side_file
from listingsmith.batch_worker import ListingProcessor
from listingsmith.cli import main
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Listing
from listingsmith.pipeline import Pipeline, PipelineSettings
from tests.conftest import SOLIMO_FRONT, YOGA_BAG

ABO = Path(__file__).resolve().parents[2] / "shared" / "data" / "fixtures" / "abo"
ABO_IDS = ["B074M5HPBD", "B0799CK52K", "B07GTFSCHB"]
TEMPLATE = PipelineSettings(generator="template")


@pytest.fixture(scope="module")
def processor():
    """One processor for the in-process runs: its models load once for the module."""
    return ListingProcessor(TEMPLATE)


@pytest.fixture(scope="module")
def abo_folder(tmp_path_factory) -> Path:
    """The shared ABO folder (3 products, metadata and README beside them) with two photos
    per product, downscaled: OCR takes about 2 s a photo, so the tests use few."""
    folder = tmp_path_factory.mktemp("abo")
    for path in ABO.rglob("*"):
        target = folder / path.relative_to(ABO)
        if path.suffix == ".jpg" and path in sorted(path.parent.glob("*.jpg"))[:2]:
            small_photo(path, target, side=256)
        elif path.is_file() and path.suffix != ".jpg":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return folder


@pytest.fixture(scope="module")
def abo_run(abo_folder, processor):
    """The ABO products through ``run_batch``, once for the module."""
    out = abo_folder.parent / f"{abo_folder.name}-listings.jsonl"
    summary = run_batch(BatchJob(input=abo_folder, out=out, settings=TEMPLATE),
                        processor=processor)
    return out, summary


def small_photo(source: Path, target: Path, side: int = 160) -> Path:
    """A copy at most ``side`` pixels across."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((side, side))
        image.save(target, quality=90)
    return target


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def state_counts(out: Path) -> dict[str, int]:
    with closing(sqlite3.connect(side_file(out, "state"))) as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM rows GROUP BY status"))


# --------------------------------------------------------------------------- input


def test_folder_products_are_sub_folders_and_top_level_photos(tmp_path):
    (tmp_path / "mug" / "side").mkdir(parents=True)
    for name in ("mug/front.jpg", "mug/side/left.png", "tee.jpg", "mug/.hidden.jpg",
                 ".cache.jpg", "notes.txt", "mug/metadata.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    products = {p.id: p for p in read_products(tmp_path)}
    assert sorted(products) == ["empty", "mug", "tee"]
    assert products["mug"].image_paths == ("mug/front.jpg", "mug/side/left.png")
    assert products["tee"].image_paths == ("tee.jpg",) and products["tee"].error is None
    assert products["empty"].error == \
        "empty/: no photos inside; add .jpg or .png files or remove it"
    assert products["mug"].photo_files()[0] == (tmp_path / "mug/front.jpg").resolve()


def test_a_symlink_out_of_the_input_folder_is_refused_unless_allowed(tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"x")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sneaky.jpg").symlink_to(outside)
    [product] = read_products(tmp_path / "in")
    assert "sneaky.jpg: outside the input folder" in product.error
    assert "--allow-outside-root" in product.error
    [allowed] = read_products(tmp_path / "in", allow_outside_root=True)
    assert allowed.error is None


def test_jsonl_records_take_lists_and_separators_and_keep_seller_fields(tmp_path):
    lines = [{"sku": "A1", "images": ["a.jpg", "b.jpg"], "brand": "Acme", "price": 12.5,
              "facts": {"item_weight": "500 g"}},
             {"product_id": "A2", "image_path": "c.jpg; d.jpg|e.jpg", "error": "old reason"},
             "not json", {"images": ["x.jpg"]}, {"id": "A3", "images": 7}]
    path = tmp_path / "products.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line)
                              for line in lines) + "\n", encoding="utf-8")
    first, second, bad_json, no_id, bad_images = read_products(path)
    assert first.image_paths == ("a.jpg", "b.jpg") and first.error is None
    assert first.seller == {"brand": "Acme", "price": "12.5",
                            "facts": '{"item_weight": "500 g"}'}
    assert second.image_paths == ("c.jpg", "d.jpg", "e.jpg") and second.seller == {}
    assert bad_json.error.startswith("line 3: not valid JSON")
    assert no_id.error == "line 4: no product id; fill in the id/product_id/sku column"
    assert bad_images.error.startswith("line 5: 'images': expected a path")


def test_a_csv_without_an_id_or_photo_column_is_a_one_line_error(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("name,image\nmug,mug.jpg\n", encoding="utf-8")
    with pytest.raises(ListingsmithError, match="products.csv: no id column; name one of id"):
        read_products(path)
    path.write_text("id,brand\nmug,Acme\n", encoding="utf-8")
    with pytest.raises(ListingsmithError, match="no photo column"):
        read_products(path)


# --------------------------------------------------------------------------- runs


def test_abo_folder_gives_one_listing_per_product_and_a_rerun_processes_nothing(abo_run,
                                                                                abo_folder):
    out, summary = abo_run
    rows = read_jsonl(out)
    assert [row["id"] for row in rows] == ABO_IDS
    assert (summary.total, summary.done, summary.failed, summary.processed) == (3, 3, 0, 3)
    for row in rows:
        listing = Listing.from_dict({k: v for k, v in row.items() if k != "id"})
        assert listing.title.strip() and listing.generator == "template"
        # photos are named as the input names them, never by where the server keeps them
        assert all(i.source.startswith(row["id"] + "/") for i in listing.attributes.images)
    # every photo of the product's folder, and nothing else (metadata.txt sits beside them)
    assert [i["source"] for i in rows[1]["attributes"]["images"]] == \
        [f"B0799CK52K/{p.name}" for p in sorted((abo_folder / "B0799CK52K").glob("*.jpg"))]

    def must_not_run(products):
        raise AssertionError(f"processed again: {[p.id for p in products]}")

    before = out.read_bytes()
    again = run_batch(BatchJob(input=abo_folder, out=out, settings=TEMPLATE),
                      processor=must_not_run)
    assert (again.processed, again.done_earlier, again.done) == (0, 3, 3)
    assert out.read_bytes() == before


def test_bad_rows_fail_alone_with_reasons_and_a_failures_file_to_fix(tmp_path, capsys):
    photos = tmp_path / "shop" / "photos"
    small_photo(SOLIMO_FRONT, photos / "solimo.jpg")
    small_photo(YOGA_BAG, photos / "bag.jpg")
    (photos / "readme.jpg").write_text("this is text, not a photo", encoding="utf-8")
    table = tmp_path / "shop" / "products.csv"
    rows = [["id", "image", "brand", "price"],
            ["solimo", "photos/solimo.jpg", "Solimo", "12.50"],
            ["missing", "photos/nothere.jpg", "", ""],
            ["folder", "photos", "", ""],
            ["solimo", "photos/bag.jpg", "", ""],
            ["passwd", "../../etc/passwd", "", ""],
            ["remote", "https://cdn.example.com/a.jpg", "", ""],
            ["text", "photos/readme.jpg", "", ""],
            ["half", "photos/bag.jpg|photos/readme.jpg", "Starter", ""],
            ["badprice", "photos/bag.jpg", "", "twelve"],
            ["", "photos/bag.jpg", "", ""],
            ["nophoto", "", "", ""]]
    with open(table, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    out = tmp_path / "out" / "listings.jsonl"
    out.parent.mkdir()

    code = main(["batch", str(table), "--out", str(out), "--generator", "template",
                 "--batch-size", "4"])

    assert code == 1  # EXIT_PARTIAL: some rows failed
    assert "11 in = 2 done + 9 failed → " in capsys.readouterr().err
    done = {row["id"]: row for row in read_jsonl(out)}
    assert sorted(done) == ["half", "solimo"]
    warnings = done["half"]["attributes"]["warnings"]
    assert {"code": "unreadable_photo", "message": "photos/readme.jpg: is not an image Pillow can "
            "read (expected JPEG, PNG, WebP, GIF, BMP or TIFF)", "value": None,
            "threshold": None, "image_index": None} in warnings
    with open(side_file(out, "failures"), newline="", encoding="utf-8") as handle:
        failures = list(csv.DictReader(handle))
    assert list(failures[0]) == ["id", "error", "images", "price"]  # no failed row has a brand
    reasons = {row["id"] or "(none)": row["error"] for row in failures}
    assert reasons == {
        "missing": "photos/nothere.jpg: no such file; check the path",
        "folder": "photos: is a folder, not a photo; pass the image files inside it",
        "solimo": "line 5: duplicate id, first on line 2; give each product its own id",
        "passwd": f"line 6: ../../etc/passwd: outside the input folder "
                  f"{table.parent.resolve()}; move the photo into it or pass --allow-outside-root",
        "remote": "line 7: https://cdn.example.com/a.jpg: remote photos are fetched only with "
                  "--allow-remote; or download them first",
        "text": "photos/readme.jpg: is not an image Pillow can read (expected JPEG, PNG, WebP, "
                "GIF, BMP or TIFF)",
        "badprice": "seller price: expected a number such as 12.50 (the currency goes in "
                    "'currency'), got 'twelve'",
        "(none)": "line 11: no product id; fill in the id/product_id/sku column",
        "nophoto": "line 12: no photos; list them in the image/images/image_path/image_paths "
                   "column"}
    # fed back as INPUT, the failures file names the same photos and the same seller fields
    again = {p.id: p for p in read_products(side_file(out, "failures"),
                                            allow_outside_root=True)}
    assert [path.resolve() for path in again["missing"].photo_files()] == \
        [photos.resolve() / "nothere.jpg"]
    assert again["badprice"].seller == {"price": "twelve"}
    assert again["remote"].image_paths == ("https://cdn.example.com/a.jpg",)


def test_killed_run_resumes_without_losing_or_repeating_a_row(tmp_path):
    """SIGKILL a batch run mid-way, run it again: every product exactly once, and the output
    byte-identical to that of an uninterrupted run."""
    photos = sorted(ABO.glob("*/*.jpg"))[::3]  # 4 products, 2 chunks: the kill lands between
    catalogue = tmp_path / "catalogue"
    for number, photo in enumerate(photos):
        small_photo(photo, catalogue / f"p{number:02d}.jpg")
    ids = [f"p{number:02d}" for number in range(len(photos))]
    command = [sys.executable, "-m", "listingsmith", "batch", str(catalogue), "--generator",
               "template", "--batch-size", "2"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}

    killed = tmp_path / "killed" / "listings.jsonl"
    killed.parent.mkdir()
    log = tmp_path / "killed.log"
    with open(log, "wb") as stderr:
        run = subprocess.Popen(command + ["--out", str(killed)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert run.poll() is None, f"finished before it was killed: {log.read_text()}"
            assert time.monotonic() < deadline, "no chunk was saved in 300 s"
            try:
                counts = state_counts(killed) if side_file(killed, "state").exists() else {}
            except sqlite3.OperationalError:  # the run is still creating its tables
                counts = {}
            if counts.get("done", 0) >= 1 and counts.get("pending", 0) >= 1:
                break
            time.sleep(0.1)
        run.send_signal(signal.SIGKILL)
    finally:
        run.kill()  # a no-op once killed; never leaves it running if the test fails
        run.wait()
    at_kill = state_counts(killed)
    assert not killed.exists()  # outputs are only written at the end
    assert at_kill.get("done", 0) + at_kill.get("pending", 0) == len(ids)

    resumed = subprocess.run(command + ["--out", str(killed)], env=environment,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(ids)} in = {len(ids)} done + 0 failed" in resumed.stderr
    assert f"resumed; {at_kill['done']} products done by an earlier run" in resumed.stderr

    reference = tmp_path / "reference" / "listings.jsonl"
    reference.parent.mkdir()
    uninterrupted = subprocess.run(command + ["--out", str(reference)], env=environment,
                                   capture_output=True, text=True, timeout=600)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert [row["id"] for row in read_jsonl(killed)] == ids
    assert killed.read_bytes() == reference.read_bytes()
    assert state_counts(killed) == {"done": len(ids)}


def test_other_settings_are_refused_until_restart(tmp_path, capsys, processor):
    small_photo(YOGA_BAG, tmp_path / "in" / "bag.jpg")
    out = tmp_path / "listings.jsonl"
    run_batch(BatchJob(input=tmp_path / "in", out=out, settings=TEMPLATE), processor=processor)

    code = main(["batch", str(tmp_path / "in"), "--out", str(out), "--generator", "template",
                 "--tone", "premium"])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error == (f"listingsmith: error: {side_file(out, 'state')}: this output was started "
                     "with tone 'neutral' (now 'premium'); pass --restart to start over or "
                     "choose another --out")

    premium = PipelineSettings(generator="template", tone="premium")
    shared = Pipeline(premium, tagger=processor.pipeline.tagger)
    summary = run_batch(BatchJob(input=tmp_path / "in", out=out, settings=premium, restart=True),
                        processor=ListingProcessor(premium, pipeline=shared))
    assert summary.processed == 1
    assert read_jsonl(out)[0]["tone"] == "premium"


def test_the_same_photo_twice_is_a_duplicate_pair_and_similar_finds_it(tmp_path, capsys,
                                                                       processor):
    catalogue = tmp_path / "catalogue"
    small_photo(SOLIMO_FRONT, catalogue / "solimo.jpg", side=224)
    (catalogue / "solimo-again.jpg").write_bytes((catalogue / "solimo.jpg").read_bytes())
    small_photo(YOGA_BAG, catalogue / "bag.jpg", side=224)
    out = tmp_path / "listings.jsonl"
    summary = run_batch(BatchJob(input=catalogue, out=out, settings=TEMPLATE),
                        processor=processor)

    assert summary.duplicate_pairs == 1
    with open(side_file(out, "duplicates"), newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [["id_a", "id_b", "similarity"],
                                            ["solimo-again", "solimo", "1.0000"]]
    found = similar([catalogue / "solimo.jpg"], out, top_k=3, tagger=processor.pipeline.tagger)
    assert {f.id for f in found[:2]} == {"solimo", "solimo-again"} and found[2].id == "bag"
    assert found[0].similarity == pytest.approx(1.0, abs=1e-3) and found[2].similarity < 0.9

    assert main(["similar", str(catalogue / "bag.jpg"), "--index", str(out), "--top-k", "1",
                 "--json"]) == 0
    [best] = json.loads(capsys.readouterr().out)
    assert best["id"] == "bag" and best["similarity"] == pytest.approx(1.0, abs=1e-3)


def test_near_duplicates_compares_in_blocks_and_ranks_by_similarity():
    vectors = np.array([[1, 0], [0, 1], [1, 0], [0.96, 0.28]], dtype=np.float32)
    pairs = near_duplicates(["a", "b", "c", "d"], vectors, threshold=0.9, block=2)
    assert pairs == [("a", "c", 1.0), ("a", "d", 0.96), ("c", "d", 0.96)]


def test_similar_without_an_index_is_a_one_line_error(tmp_path):
    with pytest.raises(ListingsmithError, match=r"listings.jsonl.index.npz: not a readable "
                                                r"listing index .*run 'listingsmith batch'"):
        similar([SOLIMO_FRONT], tmp_path / "listings.jsonl")


def test_the_product_embedding_reuses_the_backbone_pass_of_the_analysis(processor,
                                                                        monkeypatch):
    from listingsmith.core.io import load_image

    tagger = processor.pipeline.tagger
    calls = []
    forward = type(tagger.backbone).forward
    monkeypatch.setattr(type(tagger.backbone), "forward",
                        lambda self, pixels: calls.append(len(pixels)) or forward(self, pixels))
    images = [load_image(YOGA_BAG)]
    tagger.analyze(images)
    embedding = tagger.image_embeddings(images)
    assert calls == [1] and embedding.shape == (1, tagger.tag_model.dimension)


def test_app_zip_upload_runs_through_the_batch_engine(tmp_path, processor):
    import zipfile

    from listingsmith.batch_upload import run_upload
    from listingsmith.service import ListingService

    upload = tmp_path / "photos.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        archive.write(small_photo(YOGA_BAG, tmp_path / "bag.jpg"), "bag/front.jpg")
        archive.writestr("broken.jpg", b"not a photo")
    service = ListingService(Pipeline(TEMPLATE, tagger=processor.pipeline.tagger))
    progress = []
    out, summary = run_upload(service, upload, lambda done, total: progress.append((done, total)))
    assert summary == "2 products: 1 listings, 1 errors."
    rows = read_jsonl(out)
    assert rows[0]["id"] == "bag" and rows[0]["title"]
    assert rows[1] == {"id": "broken", "error": "broken.jpg: is not an image Pillow can read "
                                                "(expected JPEG, PNG, WebP, GIF, BMP or TIFF)"}
    assert progress[-1] == (2, 2)


# --------------------------------------------------------------------------- outputs


def test_every_output_format_carries_the_product_ids(abo_run, tmp_path):
    import pyarrow.parquet as pq

    out, _ = abo_run
    products = [(row.pop("id"), Listing.from_dict(row)) for row in read_jsonl(out)]
    table = pq.read_table(write_catalogue(products, tmp_path / "l.parquet", "parquet"))
    assert table.column_names == [*FLAT_COLUMNS, "listing"]
    assert table.column("id").to_pylist() == ABO_IDS
    assert [Listing.from_json(text) for text in table.column("listing").to_pylist()] == \
        [listing for _, listing in products]
    assert table.column("bullets").to_pylist()[0] == products[0][1].bullets

    with open(write_catalogue(products, tmp_path / "l.csv", "csv"), newline="",
              encoding="utf-8") as handle:
        flat = list(csv.DictReader(handle))
    assert [row["id"] for row in flat] == ABO_IDS
    assert flat[0]["bullets"].splitlines() == products[0][1].bullets
    with open(write_catalogue(products, tmp_path / "s.csv", "shopify"), newline="",
              encoding="utf-8") as handle:
        assert [row["Variant SKU"] for row in csv.DictReader(handle)] == ABO_IDS
    merchant = write_catalogue(products, tmp_path / "m.tsv", "merchant").read_text("utf-8")
    assert [line.split("\t")[0] for line in merchant.splitlines()[1:]] == ABO_IDS
    array = json.loads(write_catalogue(products, tmp_path / "l.json", "json").read_text("utf-8"))
    assert [row["id"] for row in array] == ABO_IDS


def test_format_flag_and_unknown_suffix(tmp_path, capsys):
    small_photo(YOGA_BAG, tmp_path / "in" / "bag.jpg")
    out = tmp_path / "listings.csv"
    assert main(["batch", str(tmp_path / "in"), "--out", str(out), "--format", "shopify",
                 "--generator", "template"]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["Variant SKU"] == "bag" and row["Status"] == "draft"
    capsys.readouterr()
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "l.xml"),
                 "--generator", "template"]) == 2
    assert "l.xml: cannot tell the format from '.xml'" in capsys.readouterr().err


# --------------------------------------------------------------------------- ray


def test_ray_engine_writes_the_same_listings_as_the_local_engine(abo_run, abo_folder, tmp_path):
    if importlib.util.find_spec("ray") is None:  # not imported: the engine sets Ray up first
        pytest.skip("the ray extra is not installed: pip install 'listingsmith[ray]'")
    local, _ = abo_run
    out = tmp_path / "listings.jsonl"
    summary = run_batch(BatchJob(input=abo_folder, out=out, settings=TEMPLATE, engine="ray",
                                 batch_size=2))
    assert (summary.done, summary.processed) == (3, 3)
    assert out.read_bytes() == local.read_bytes()


def test_memory_settings_are_checked_before_any_photo_is_read(tmp_path):
    memory = tmp_path / "past.jsonl"
    memory.write_text('{"id": "1", "title": "Mug"}\n')
    with pytest.raises(ListingsmithError, match="no description"):
        PipelineSettings(memory=str(memory)).check()
    with pytest.raises(ListingsmithError, match="only nearest and retrieve-edit"):
        PipelineSettings(generator="template", memory=str(memory)).check()
    assert "memory" not in TEMPLATE.fingerprint()  # jobs started before --memory still resume
    assert PipelineSettings(memory=str(memory)).fingerprint()["memory"] == str(memory)
