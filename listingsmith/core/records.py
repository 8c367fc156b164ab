"""Seller catalogue records (CSV or JSONL): one ``Record`` per line, a bad line a ``Record`` with
its error, so every input line gets one output line. ``listingsmith.pipeline.record_attributes``
turns a record's fields into attributes."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from listingsmith.core.errors import ListingsmithError


@dataclass(frozen=True)
class Record:
    """One input line: its id and its fields, or the reason it could not be used."""

    line: int
    id: str
    fields: dict[str, str]
    error: str | None = None


def read_records(path: Path) -> Iterator[Record]:
    """Records from ``.jsonl`` or ``.csv``; a bad line becomes a ``Record`` with an error."""
    for number, row, problem in raw_rows(path, "of records"):
        yield (_record(number, row) if row is not None
               else Record(number, "", {}, f"line {number}: {problem}"))


def raw_rows(path: Path, what: str = "file") -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, row as written, None) per line of a ``.jsonl`` or ``.csv``, or (line
    number, None, why the line is unusable); blank JSONL lines are skipped. A missing file,
    another suffix, text that is not UTF-8 or an unreadable CSV is one ``ListingsmithError``
    naming the file (``what`` says what it should hold)."""
    if not path.is_file():
        raise ListingsmithError(f"{path}: no such file; pass a .jsonl or .csv {what}")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise ListingsmithError(f"{path}: expected a .jsonl or .csv file, got '{suffix or 'none'}'")
    try:
        yield from (_csv_rows(path) if suffix == ".csv" else _jsonl_rows(path))
    except UnicodeDecodeError as exc:
        raise ListingsmithError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as "
                                "UTF-8") from exc
    except csv.Error as exc:
        raise ListingsmithError(f"{path}: unreadable CSV ({exc}); check quotes and "
                                "separators") from exc


def _csv_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            yield number, {k: v for k, v in row.items() if k is not None}, None


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON ({exc.msg})"
                continue
            yield (number, data, None) if isinstance(data, dict) else \
                (number, None, f"expected a JSON object, got {type(data).__name__}")


def _record(number: int, data: dict) -> Record:
    identifier = data.get("id")
    if identifier is None or str(identifier).strip() == "":
        return Record(number, "", {}, f"line {number}: missing 'id'; every record needs one")
    fields = {}
    for key, value in data.items():
        if key == "id" or value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        fields[str(key).strip().lower()] = str(value).strip()
    return Record(number, str(identifier).strip(), fields)
