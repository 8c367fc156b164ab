"""Readers for the shared training data (``../shared/data``), used by every training script
and by ``eval/``. The product never needs this data at run time."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "LISTINGSMITH_DATA"


def default_data_dir() -> Path:
    """``$LISTINGSMITH_DATA`` or ``../shared/data`` (beside the checkout)."""
    return Path(os.environ.get(DATA_ENV, "../shared/data"))


def fashion_rows(data: Path) -> list[dict[str, str]]:
    """Rows of ``fashion/styles.csv`` that have a photo (``split`` train / val / test)."""
    with open(data / "fashion" / "styles.csv", newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["image"]]


@dataclass(frozen=True)
class GroceryPhoto:
    path: str
    """Relative to ``grocery/images``."""
    fine: str
    coarse: str
    split: str


def grocery_classes(data: Path) -> list[dict[str, str]]:
    """``classes.csv`` rows with readable keys: fine, fine_id, coarse, coarse_id, iconic, description."""
    with open(data / "grocery" / "classes.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    return [{"fine": r[0], "fine_id": r[1], "coarse": r[2], "coarse_id": r[3],
             "iconic": r[4].lstrip("/"), "description": r[5].lstrip("/")} for r in rows if r]


def grocery_photos(data: Path, splits: tuple[str, ...] = ("train", "val", "test")) -> list[GroceryPhoto]:
    """The official split lists with class names resolved."""
    classes = {row["fine_id"]: row for row in grocery_classes(data)}
    photos = []
    for split in splits:
        for line in (data / "grocery" / f"{split}.txt").read_text("utf-8").splitlines():
            if not line.strip():
                continue
            path, fine_id, _ = (part.strip() for part in line.split(","))
            row = classes[fine_id]
            photos.append(GroceryPhoto(path.lstrip("/"), row["fine"], row["coarse"], split))
    return photos


def grocery_description(data: Path, row: dict[str, str]) -> str:
    """The English catalogue description of a grocery class ('' when missing)."""
    path = data / "grocery" / "iconic" / row["description"].removeprefix("iconic-images-and-descriptions/")
    return path.read_text("utf-8").strip() if path.is_file() else ""


def readable(name: str) -> str:
    """``Arla-Standard-Milk`` → ``Arla Standard Milk``."""
    return name.replace("-", " ")
