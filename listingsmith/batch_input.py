"""The products of a batch input: a folder of photos, or a CSV/JSONL of products with their
photo paths and seller fields. A bad row is kept, with the reason, so it reaches the
failures file instead of stopping the run."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.io import is_url

_INPUT = vocab.load("listingsmith.core", "vocab/batch.toml")["input"]
IMAGE_SUFFIXES = frozenset(_INPUT["image_suffixes"])
"""Files a folder input treats as photos (``core/vocab/batch.toml``)."""

ID_COLUMNS = tuple(_INPUT["id_columns"])
"""The first of these in a CSV/JSONL is the product id; the others stay seller fields."""

IMAGE_COLUMNS = tuple(_INPUT["image_columns"])
"""Columns holding photo paths: one path, several separated by ``|`` or ``;``, or a JSON list."""

ERROR_COLUMN = "error"
"""The failures file's reason column; ignored on input, so the file can be fed back as is."""

_PATH_SEPARATORS = re.compile(r"\s*[|;]\s*")


@dataclass(frozen=True)
class Product:
    """One input row: its id, its photos as the input wrote them (relative to ``root``), the
    seller's fields, and why it cannot be processed (None when it can).

    ``key`` names the row in the job state: the id, or for a row whose id is missing or
    repeated, the id and ``origin`` (``line 7``, or the folder entry) that tell it apart."""

    id: str
    image_paths: tuple[str, ...]
    seller: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    root: str = ""
    origin: str = ""
    key: str = ""

    def photo_files(self) -> list[str | Path]:
        return [path if is_url(path) else Path(self.root, path) for path in self.image_paths]


def read_products(source: str | Path, *, allow_outside_root: bool = False,
                  allow_remote: bool = False) -> list[Product]:
    """The products of a folder (each sub-folder one product with every photo inside it, each
    photo at the top one product; ids are the names) or of a ``.csv``/``.jsonl`` whose photo
    paths are relative to its folder. A bad row becomes a ``Product`` with an ``error``; a
    photo path outside the input folder is one unless ``allow_outside_root``, a web address
    unless ``allow_remote``."""
    source = Path(source)
    if source.is_dir():
        rows = _folder_rows(source)
    elif source.is_file() and source.suffix.lower() in (".csv", ".jsonl"):
        rows = _csv_rows(source) if source.suffix.lower() == ".csv" else _jsonl_rows(source)
    else:
        raise ListingsmithError(f"{source}: expected a folder of photos or a .csv/.jsonl of "
                                "products; check the path")
    root = input_root(source)
    return _checked([replace(row, root=str(root)) for row in rows], root, allow_outside_root,
                    allow_remote)


def input_root(source: str | Path) -> Path:
    """The folder photo paths are relative to, and must stay inside: the input folder, or
    the folder of the CSV/JSONL."""
    source = Path(source).resolve()
    return source if source.is_dir() else source.parent


def _folder_rows(folder: Path) -> list[Product]:
    rows = []
    for entry in sorted(folder.iterdir(), key=lambda path: path.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            photos = sorted(path.relative_to(folder).as_posix() for path in _photos_under(entry))
            error = None if photos else "no photos inside; add .jpg or .png files or remove it"
            rows.append(Product(entry.name, tuple(photos), error=error, origin=f"{entry.name}/"))
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            rows.append(Product(entry.stem, (entry.name,), origin=entry.name))
    return rows


def _photos_under(folder: Path) -> Iterator[Path]:
    """Photo files under ``folder``, hidden ones and symlinked folders left out."""
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(parent, name)


def _csv_rows(path: Path) -> list[Product]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [str(name).strip().lower() for name in reader.fieldnames or []]
        if not any(name in columns for name in ID_COLUMNS):
            raise ListingsmithError(f"{path}: no id column; name one of {', '.join(ID_COLUMNS)}")
        if not any(name in columns for name in IMAGE_COLUMNS):
            raise ListingsmithError(f"{path}: no photo column; name one of "
                                    f"{', '.join(IMAGE_COLUMNS)} (paths relative to the file)")
        return [_record_row(f"line {number}", {str(key).strip().lower(): value
                                                for key, value in row.items() if key is not None})
                for number, row in enumerate(reader, start=2)]


def _jsonl_rows(path: Path) -> list[Product]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            origin = f"line {number}"
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                rows.append(Product("", (), error=f"not valid JSON ({exc.msg}); fix the line",
                                    origin=origin))
                continue
            if not isinstance(data, dict):
                rows.append(Product("", (), error=f"expected a JSON object, got "
                                                  f"{type(data).__name__}", origin=origin))
                continue
            rows.append(_record_row(origin, {str(k).strip().lower(): v for k, v in data.items()}))
    return rows


def _record_row(origin: str, data: dict) -> Product:
    """A product from one record: the id column, the photo columns, the rest seller fields."""
    id_column = next((name for name in ID_COLUMNS if name in data), None)
    identifier = "" if id_column is None or data[id_column] is None else str(data[id_column])
    paths: list[str] = []
    error = None
    for column in IMAGE_COLUMNS:
        value = data.get(column)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            paths += [item.strip() for item in value if item.strip()]
        elif isinstance(value, str):
            paths += [item for item in _PATH_SEPARATORS.split(value.strip()) if item]
        elif value is not None:
            error = f"'{column}': expected a path, paths separated by | or a list of paths"
    seller = {}
    for key, value in data.items():
        if key in (id_column, ERROR_COLUMN, *IMAGE_COLUMNS) or value is None:
            continue
        text = (json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list))
                else str(value))
        if text.strip():
            seller[key] = text.strip()
    return Product(identifier.strip(), tuple(paths), seller, error, origin=origin)


def _checked(rows: list[Product], root: Path, allow_outside_root: bool,
             allow_remote: bool) -> list[Product]:
    """Rows with their ``key`` and the first problem of each in ``error``, prefixed by where
    the row is: a missing or repeated id, no photos, a remote or outside path."""
    first_seen: dict[str, Product] = {}
    checked = []
    for row in rows:
        problem = row.error
        if not row.id and problem is None:
            problem = f"no product id; fill in the {'/'.join(ID_COLUMNS)} column"
        if row.id and row.id in first_seen:
            problem = (f"duplicate id, first on {first_seen[row.id].origin}; give each product "
                       "its own id")
            key = f"{row.id} ({row.origin})"
        elif row.id:
            first_seen[row.id] = row
            key = row.id
        else:
            key = f"({row.origin})"
        if problem is None and not row.image_paths:
            problem = f"no photos; list them in the {'/'.join(IMAGE_COLUMNS)} column"
        problem = problem or next(filter(None, (_path_problem(path, root, allow_outside_root,
                                                              allow_remote)
                                                for path in row.image_paths)), None)
        checked.append(replace(row, key=key, error=problem and f"{row.origin}: {problem}"))
    return checked


def _path_problem(path: str, root: Path, allow_outside_root: bool,
                  allow_remote: bool) -> str | None:
    if is_url(path):
        return None if allow_remote else (f"{path}: remote photos are fetched only with "
                                          "--allow-remote; or download them first")
    if not allow_outside_root and not Path(root, path).resolve().is_relative_to(root):
        return (f"{path}: outside the input folder {root}; move the photo into it or pass "
                "--allow-outside-root")
    return None
