"""The app's batch tab: an uploaded CSV/JSONL of catalogue records, or a zip of photos, to a
JSONL of listings. Every product gets one output line (a listing or an ``error``).

Both go through the service's ``Pipeline`` (its loaded models): records as ``write`` makes
them, photos through the batch engine as ``batch`` makes them."""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.records import read_records

Progress = Callable[[int, int], None]

_UPLOAD = vocab.load("listingsmith.core", "vocab/batch.toml")["upload"]
MAX_ZIP_FILES = _UPLOAD["max_zip_files"]
MAX_ZIP_BYTES = _UPLOAD["max_zip_megabytes"] * 2**20
"""Uncompressed limits for an uploaded zip (a zip bomb is refused before extraction)."""
RECORD_BATCH = _UPLOAD["record_batch"]
"""Records written per generation batch."""


def run_upload(service, upload: Path, on_progress: Progress) -> tuple[Path, str]:
    """Write listings for an uploaded file; returns the JSONL path and a one-line summary."""
    suffix = upload.suffix.lower()
    out = Path(tempfile.mkdtemp(prefix="listingsmith-batch-")) / f"{upload.stem}-listings.jsonl"
    if suffix in (".csv", ".jsonl"):
        rows = _record_rows(service, upload, on_progress)
    elif suffix == ".zip":
        rows = _photo_rows(service, upload, on_progress)
    else:
        raise ListingsmithError(f"{upload.name}: expected a .csv, .jsonl or .zip file, got "
                                f"{suffix or 'no extension'}")
    failed = sum("error" in row for row in rows)
    out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                   encoding="utf-8")
    return out, f"{len(rows)} products: {len(rows) - failed} listings, {failed} errors."


def _record_rows(service, upload: Path, on_progress: Progress) -> list[dict]:
    records = list(read_records(upload))
    rows: list[dict] = []
    for start in range(0, len(records), RECORD_BATCH):
        batch = records[start:start + RECORD_BATCH]
        good = [r for r in batch if r.error is None]
        listings = iter(service.pipeline.record_listings([r.fields for r in good]))
        for record in batch:
            rows.append({"id": record.id, "error": record.error} if record.error is not None
                        else {"id": record.id, **next(listings).to_dict()})
        on_progress(len(rows), len(records))
    return rows


def _photo_rows(service, upload: Path, on_progress: Progress) -> list[dict]:
    """The zip's products through the batch engine on the service's loaded models: listings
    in input order, then one ``error`` row per product that failed."""
    from listingsmith.batch import BatchJob, run_batch

    work = Path(tempfile.mkdtemp(prefix="listingsmith-zip-"))
    extract_products(upload, work / "photos")
    job = BatchJob(input=work / "photos", out=work / "listings.jsonl",
                   settings=service.pipeline.settings)
    summary = run_batch(job, processor=service.batch_processor(job.settings),
                        progress=on_progress)
    if not summary.total:
        raise ListingsmithError(f"{upload.name}: the zip holds no photos (.jpg, .png, .webp …)")
    listings = [json.loads(line) for line in job.out.read_text("utf-8").splitlines()]
    return listings + [{"id": product_id, "error": reason}
                       for product_id, reason in summary.failures]


def extract_products(upload: Path, folder: Path) -> dict[str, list[Path]]:
    """Unpack a zip of photos into ``folder``: each top-level file is one product, each
    top-level folder one product with all the files inside. Entries that would land outside
    ``folder`` and hidden files are skipped; oversized archives are refused."""
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ListingsmithError(f"{upload.name}: not a readable zip file ({exc}); re-create "
                                "it") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise ListingsmithError(f"{upload.name}: over the limit of {MAX_ZIP_FILES} files or "
                                    f"{MAX_ZIP_BYTES // 2**20} MB uncompressed; split it")
        products: dict[str, list[Path]] = {}
        for member in members:
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or any(
                    part.startswith((".", "__MACOSX")) for part in name.parts):
                continue
            target = folder.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(target, "wb") as sink:
                sink.write(source.read())
            product = name.parts[0] if len(name.parts) > 1 else name.stem
            products.setdefault(product, []).append(target)
    if not products:
        raise ListingsmithError(f"{upload.name}: the zip holds no photos")
    return products
