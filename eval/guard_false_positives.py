"""How often the guard's identity rules would drop a sentence a human wrote for the product:
the false-positive rate of ``branch_type_violations`` and the branch parts of
``part_violations`` (issue 23, "the guard knows identity"; target < 2% of sentences).

``python -m eval.guard_false_positives [--data ../shared/data] [--rows 500] [--split test]``

Each reference description of ``--rows`` BigBasket and Myntra rows (``describer.data``) is
split into the guard's sentences and checked with the row's seller fields and a sure identity
at the row's true node: BigBasket's category path through
``tagger/vocab/taxonomy_map/bigbasket.csv`` (rows whose category it does not map are left
out), Myntra's title through ``myntra.csv`` (the product noun its title ends with), else
"Apparel & Accessories". A sentence the rules would drop is a false positive: the reference
was written for that very product. The words that fire most are listed, for the
hand-reviewed ``ambiguous`` list of ``describer/vocab/branch_types.toml``.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from describer.data import Example, examples, source_file
from describer.guard import _SENTENCE, branch_part_violations, branch_type_violations
from listingsmith.core import vocab
from listingsmith.core.types import Attributes, Identity
from tagger.taxonomy import taxonomy

DEFAULT_DATA = Path(os.environ.get("LISTINGSMITH_DATA",
                                   Path(__file__).resolve().parents[2] / "shared" / "data"))
SAMPLES = 8
"""Dropped sentences printed per source, for review."""
APPAREL = 166
"""Myntra rows whose title ends with no mapped noun: a fashion catalogue."""


@dataclass
class Tally:
    """Sentences checked and dropped for one source, and the words that dropped them."""

    sentences: int = 0
    dropped: int = 0
    rows: int = 0
    words: Counter = field(default_factory=Counter)
    row_words: Counter = field(default_factory=Counter)
    """Rows each type fired in (``--suggest``)."""
    samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.dropped / self.sentences if self.sentences else 0.0


def _bigbasket_nodes(data: Path) -> dict[str, int]:
    """Row index → the node of its deepest mapped category path (category > sub > type)."""
    table = {row["source_category"]: int(row["google_id"])
             for row in vocab.load("tagger", "vocab/taxonomy_map/bigbasket.csv")}
    nodes = {}
    with open(source_file(data, "bigbasket"), newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            levels = [row["category"].strip(), row["sub_category"].strip(), row["type"].strip()]
            for depth in (3, 2):
                key = " > ".join(levels[:depth])
                if key in table:
                    nodes[row["index"].strip()] = table[key]
                    break
    return nodes


def _myntra_node(title: str) -> int:
    """The node of the longest mapped noun phrase the title ends with, else apparel."""
    table = {row["source_category"].lower(): int(row["google_id"])
             for row in vocab.load("tagger", "vocab/taxonomy_map/myntra.csv")}
    words = title.lower().split()
    for start in range(max(0, len(words) - 3), len(words)):
        if " ".join(words[start:]) in table:
            return table[" ".join(words[start:])]
    return APPAREL


def check(example: Example, node: int, tally: Tally) -> None:
    """Add one reference description's sentences to ``tally``."""
    identity = Identity(node, taxonomy().path_text(node), "", 1.0, False)
    attributes = Attributes(seller=dict(example.seller), identity=identity)
    tally.rows += 1
    fired = set()
    for sentence in _SENTENCE.split(example.description.strip()):
        if not re.search(r"\w", sentence):
            continue
        found = (branch_type_violations(sentence, attributes)
                 + branch_part_violations(sentence, attributes))
        tally.sentences += 1
        tally.dropped += bool(found)
        tally.words.update(c.text.lower() for c in found)
        fired.update(c.name for c in found if c.kind == "product_type")
        if found and len(tally.samples) < SAMPLES:
            tally.samples.append(f"[{taxonomy().node(node).name}] {sentence[:140]}")
    tally.row_words.update(fired)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--split", default="test")
    parser.add_argument("--suggest", type=int, default=0, metavar="K",
                        help="also print the types that fire in K or more rows: candidates "
                             "for the ambiguous list (run it on --split train)")
    args = parser.parse_args(argv)
    tallies = {"bigbasket": Tally(), "myntra": Tally()}
    nodes = _bigbasket_nodes(args.data)
    mapped = [e for e in examples(args.data, "bigbasket", args.split) if e.id in nodes]
    for example in mapped[::max(1, len(mapped) // args.rows)][:args.rows]:
        check(example, nodes[example.id], tallies["bigbasket"])
    for example in examples(args.data, "myntra", args.split, limit=args.rows):
        check(example, _myntra_node(example.title), tallies["myntra"])
    total = Tally()
    for source, tally in tallies.items():
        total.sentences += tally.sentences
        total.dropped += tally.dropped
        print(f"{source}: {tally.rows} rows, {tally.sentences} sentences, {tally.dropped} "
              f"dropped ({tally.rate:.2%}); top words {tally.words.most_common(12)}")
        for sample in tally.samples:
            print(f"    {sample}")
    print(f"all: {total.sentences} sentences, {total.dropped} dropped ({total.rate:.2%})")
    if args.suggest:
        rows = sum((t.row_words for t in tallies.values()), Counter())
        print("suggested ambiguous:", sorted(w for w, n in rows.items() if n >= args.suggest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
