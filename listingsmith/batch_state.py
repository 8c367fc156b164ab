"""A batch job's state: the SQLite file beside its output (``OUT.state.sqlite``), one row per
input row (pending, done or failed, the reason, the listing, the embedding) and the settings
the job was started with. Each chunk's results are committed in one transaction, so a killed
run loses at most the chunks in flight."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from listingsmith.core.errors import ListingsmithError

if TYPE_CHECKING:  # the state is read without loading the pipeline's modules
    from listingsmith.batch_input import Product
    from listingsmith.batch_worker import ProductResult

SIDE_FILES = {"state": ".state.sqlite", "failures": ".failures.csv",
              "duplicates": ".duplicates.csv", "index": ".index.npz"}
"""What sits beside ``OUT``: ``OUT.state.sqlite`` and so on."""

STATE_VERSION = 1


def side_file(out: str | Path, kind: str) -> Path:
    """The ``kind`` (a ``SIDE_FILES`` key) file of output ``out``."""
    out = Path(out)
    return out.with_name(out.name + SIDE_FILES[kind])


class JobState:
    """The SQLite file beside an output: one row per input row (pending, done or failed, the
    reason, the listing, the embedding) and the settings the job was started with."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a killed process loses nothing committed; only a power cut may
            # lose the last chunks, and then they are simply pending again
            self.db.execute("PRAGMA synchronous=NORMAL")
            with self.db:
                self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
                                "value TEXT NOT NULL)")
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, id TEXT NOT NULL, "
                    "position INTEGER NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL "
                    "CHECK (status IN ('pending', 'done', 'failed')), reason TEXT, result TEXT, "
                    "embedding BLOB)")
        except sqlite3.DatabaseError as exc:
            raise ListingsmithError(f"{path}: cannot keep the job state there ({exc}); make the "
                                    "folder writable, or pass --restart if the file is damaged"
                                    ) from exc

    def __enter__(self) -> JobState:
        return self

    def __exit__(self, *exc_info) -> None:
        self.db.close()

    def claim(self, job: dict) -> None:
        """Remember ``job`` (input and settings), or refuse if the state is another job's."""
        job = {"state_version": STATE_VERSION, **job}
        row = self.db.execute("SELECT value FROM meta WHERE key = 'job'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('job', ?)", (json.dumps(job),))
            return
        started = json.loads(row[0])
        changed = [f"{key} {started.get(key)!r} (now {value!r})" for key, value in job.items()
                   if started.get(key) != value]
        if changed:
            raise ListingsmithError(
                f"{self.path}: this output was started with {', '.join(changed)}; pass "
                "--restart to start over or choose another --out")

    def sync(self, products: list[Product]) -> None:
        """Make the rows those of ``products``, in their order. A done row whose input is
        unchanged stays done; rows with an input problem are failed; all others (new,
        changed, failed before) become pending. Rows no longer in the input are dropped."""
        known = {key: (given, status) for key, given, status in
                 self.db.execute("SELECT key, input, status FROM rows")}
        with self.db:
            self.db.executemany("DELETE FROM rows WHERE key = ?",
                                [(key,) for key in set(known) - {p.key for p in products}])
            for position, product in enumerate(products):
                given = json.dumps({"images": list(product.image_paths), "seller": product.seller},
                                   ensure_ascii=False, sort_keys=True)
                if product.error is None and known.get(product.key) == (given, "done"):
                    self.db.execute("UPDATE rows SET position = ? WHERE key = ?",
                                    (position, product.key))
                    continue
                status = "pending" if product.error is None else "failed"
                self.db.execute("INSERT OR REPLACE INTO rows (key, id, position, input, status, "
                                "reason) VALUES (?, ?, ?, ?, ?, ?)",
                                (product.key, product.id, position, given, status, product.error))

    def pending(self) -> list[tuple[str, int]]:
        """(key, position) of every pending row, in input order."""
        return self.db.execute("SELECT key, position FROM rows WHERE status = 'pending' "
                               "ORDER BY position").fetchall()

    def record(self, results: Iterable[ProductResult]) -> None:
        """Store the results of pending rows (whose key is their id), in one transaction: a
        kill leaves all of them or none."""
        with self.db:
            for result in results:
                if result.error is None:
                    embedding = np.asarray(result.embedding, dtype=np.float32).tobytes()
                    self.db.execute("UPDATE rows SET status = 'done', reason = NULL, result = ?, "
                                    "embedding = ? WHERE key = ?",
                                    (json.dumps(result.listing, ensure_ascii=False), embedding,
                                     result.id))
                else:
                    self.db.execute("UPDATE rows SET status = 'failed', reason = ?, "
                                    "result = NULL, embedding = NULL WHERE key = ?",
                                    (result.error, result.id))

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM rows GROUP BY status"))

    def done(self) -> list[tuple[str, str, bytes]]:
        """(id, listing JSON, embedding) of the done rows, in input order."""
        return self.db.execute("SELECT id, result, embedding FROM rows WHERE status = 'done' "
                               "ORDER BY position").fetchall()

    def failed(self) -> list[tuple[str, str, str]]:
        """(id, reason, input JSON) of the failed rows, in input order."""
        return self.db.execute("SELECT id, reason, input FROM rows WHERE status = 'failed' "
                               "ORDER BY position").fetchall()
