"""One loader for every data file the code reads: vocabularies, mapping tables, thresholds,
rules and prompt options (``tagger/vocab``, ``describer/vocab``, ``prompts``,
``listingsmith/core/vocab``).

Each file is read and parsed once per process, by its suffix. Why one loader: data files
change without code changes, so every reader must agree on where they live, how they are
parsed and what a broken one says. Callers get shared objects: treat them as read-only.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any

from listingsmith.core.errors import ListingsmithError


def read_text(package: str, name: str) -> str:
    """The text of ``name`` (a path inside ``package``, e.g. ``"vocab/units.json"``)."""
    return _read_text(package, name)


@lru_cache(maxsize=None)
def _read_text(package: str, name: str) -> str:
    try:
        return resources.files(package).joinpath(name).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ListingsmithError(f"{package}/{name}: cannot read this data file ({exc}); "
                                "reinstall listingsmith") from exc


@lru_cache(maxsize=None)
def load(package: str, name: str) -> Any:
    """The parsed data file ``name`` of ``package``: ``.json`` and ``.toml`` as dicts, ``.csv``
    as a tuple of row dicts, ``.txt`` as a tuple of its non-blank lines without ``#`` comments.

    >>> load("listingsmith.core", "vocab/unit_symbols.json")["gram"]
    'g'
    """
    text = _read_text(package, name)
    suffix = name.rsplit(".", 1)[-1].lower()
    try:
        if suffix == "json":
            return json.loads(text)
        if suffix == "toml":
            return tomllib.loads(text)
        if suffix == "csv":
            return tuple(csv.DictReader(io.StringIO(text)))
        if suffix == "txt":
            return tuple(line.strip() for line in text.splitlines()
                         if line.strip() and not line.lstrip().startswith("#"))
    except (ValueError, csv.Error) as exc:
        raise ListingsmithError(f"{package}/{name}: not valid {suffix.upper()} ({exc}); fix or "
                                "restore the file") from exc
    raise ValueError(f"{package}/{name}: expected a .json, .toml, .csv or .txt data file")
