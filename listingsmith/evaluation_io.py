"""Reading and joining the files ``listingsmith evaluate`` is given: options, rows by id, id
problems. Shared by the text and attribute evaluations.

A bad line never stops a run: it is reported as ``file:line: reason`` and skipped, so one
broken row in a 10,000-row export costs one row, not the report. Duplicated ids keep their
first row and are listed, as are ids missing from or extra in each system.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from listingsmith.core.errors import ListingsmithError
from listingsmith.core.records import raw_rows

TEXT_FIELDS = ("description", "title", "bullets")
TAXONOMY_SEPARATOR = " > "

Warn = Callable[[str], None]


@dataclass(frozen=True)
class EvaluateOptions:
    """What ``listingsmith evaluate`` was asked; the CLI builds it from its flags."""

    outputs: list[Path]
    references: Path
    id_field: str = "id"
    field: str = "description"
    reference_field: str | None = None
    inputs: Path | None = None
    by: str | None = None
    task: str = "text"
    semantic: bool = True
    seed: int = 0
    bootstrap: int | None = None

    def __post_init__(self):
        if self.task == "text" and self.field not in TEXT_FIELDS:
            raise ListingsmithError(f"--field {self.field}: choose one of "
                                    f"{', '.join(TEXT_FIELDS)}")
        if not self.outputs:
            raise ListingsmithError("evaluate: no outputs; pass one or more OUTPUTS.jsonl files")
        stems = [p.stem for p in self.outputs]
        if len(set(stems)) != len(stems):
            raise ListingsmithError(f"evaluate: two outputs share a file name ({', '.join(stems)});"
                                    " systems are named by file stem, so rename one")


@dataclass
class Table:
    """One file's rows by id, in file order, with the ids seen twice and the bad lines."""

    path: Path
    rows: dict[str, dict] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_table(path: Path, id_field: str, warn: Warn) -> Table:
    """Rows of a ``.jsonl`` or ``.csv`` by ``id_field``; each bad line is warned about as
    ``file:line: reason`` and skipped, the first of a duplicated id is kept."""
    table = Table(path)
    for number, row, problem in raw_rows(path):
        identifier = None if row is None else row.get(id_field)
        if problem is None and (identifier is None or str(identifier).strip() == ""):
            problem = f"no '{id_field}'; every row needs one (or pass --id-field)"
        if problem is not None:
            table.errors.append(f"{path}:{number}: {problem}")
            warn(f"{path}:{number}: {problem}; line skipped")
            continue
        key = str(identifier).strip()
        if key in table.rows:
            table.duplicates.append(key)
        else:
            table.rows[key] = row
    return table


def lookup(row: dict | None, name: str):
    """``row[name]``, or a nested value by dotted path (``identity.taxonomy_path``)."""
    value = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def as_text(value) -> str:
    """A field as scored text: bullets (a list, or a JSON list in a CSV cell) one per line."""
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def group_of(value) -> str:
    """A ``--by`` value as a group name: a taxonomy path groups by its top level.

    >>> group_of("Health & Beauty > Health Care"), group_of(None), group_of(" Snacks ")
    ('Health & Beauty', '(none)', 'Snacks')
    """
    text = as_text(value).strip()
    return text.split(TAXONOMY_SEPARATOR)[0].strip() if text else "(none)"


def id_report(references: Table, systems: dict[str, Table]) -> tuple[list[str], dict]:
    """The ids scored (in reference order: those every system has) and every id problem."""
    ref_ids = list(references.rows)
    per_system = {}
    for name, table in systems.items():
        per_system[name] = {"missing": [i for i in ref_ids if i not in table.rows],
                            "extra": [i for i in table.rows if i not in references.rows],
                            "duplicates": table.duplicates, "bad_lines": table.errors}
    common = [i for i in ref_ids if all(i in t.rows for t in systems.values())]
    return common, {"references": len(ref_ids), "scored": len(common),
                    "reference_duplicates": references.duplicates,
                    "reference_bad_lines": references.errors, "systems": per_system}
