"""Build ``describer/vocab/branch_types.json``: product-type words and the Google top-level
branches they belong to, so the guard can tell a bulb's listing that names a "t-shirt".

Run ``python -m describer.branch_vocab`` after changing the taxonomy, the mapping tables or
``describer/vocab/branch_types.toml``; the output is committed (the product never needs the
shared data). Sources, all shipped in the repository:

* every node name of the Google Product Taxonomy (``tagger/vocab/google_product_taxonomy.txt``),
  split at "&", "," and "and" ("Shampoo & Conditioner" gives "shampoo" and "conditioner");
* the product nouns of the mapping tables named in ``noun_tables`` (Myntra's "t-shirt",
  the grocery classes' "Apple", the fashion article types' "Backpacks"), at their node;
* the fashion product types of ``describer/vocab/product_types.json``, at the node of the
  article type of the same name, else at every node of their family's article types.

Colour names ("Egg Whites" gives "white") are colour claims, never types. A word named
in ``ambiguous_min_branches`` branches or more ("case", "kit") tells no branch
apart: it is written to ``ambiguous`` (for review) instead of ``types``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from describer import claim_vocab
from listingsmith.core import vocab
from tagger.taxonomy import Taxonomy, taxonomy

OUTPUT = Path(__file__).parent / "vocab" / "branch_types.json"
_CONJUNCTION = re.compile(r"\s*(?:&|,|\band\b|\bor\b)\s*", re.IGNORECASE)
_BRACKETS = re.compile(r"\([^)]*\)")


@dataclass
class _Found:
    """Where one type key was seen: its first spelling, the branches and the nodes."""

    name: str
    branches: set[int] = field(default_factory=set)
    nodes: set[int] = field(default_factory=set)


def phrases(name: str) -> list[list[str]]:
    """The type phrases one node or category name holds, as word lists: each whole part
    between "&", "," or "and"; a lone word before a longer last part shares its head ("White &
    Cream Sauces"). Not the head alone: "Skin Care" names no "care", "Can Openers" no "can"
    (ordinary words of product text). Phrases shorter than ``min_type_letters`` are none.

    >>> [" ".join(p) for p in phrases("Shampoo & Conditioner")]
    ['Shampoo', 'Conditioner']
    >>> [" ".join(p) for p in phrases("White & Cream Sauces")]
    ['White Sauces', 'Cream Sauces']
    """
    parts = [claim_vocab.words_of(p) for p in _CONJUNCTION.split(_BRACKETS.sub(" ", name))]
    parts = [p for p in parts if p]
    head = parts[-1][-1:] if parts and len(parts[-1]) > 1 else []
    found = []
    for words in parts:
        if len(words) == 1 and head and words != head:
            words = words + head  # "White & Cream Sauces": a white sauce, not a "white"
        found.append(words)
    letters = int(claim_vocab.branch_settings()["min_type_letters"])
    return [p for p in found if sum(map(len, p)) >= letters]


def _add(table: dict[str, _Found], words: list[str], node: int, tree: Taxonomy) -> None:
    key = claim_vocab.type_key(words)
    if key and " ".join(words).lower() not in claim_vocab.colour_names():  # "Egg Whites"
        name = " ".join([*(w.lower() for w in words[:-1]), claim_vocab.singular(words[-1])])
        entry = table.setdefault(key, _Found(name))
        entry.branches.add(tree.top_level(node))
        entry.nodes.add(node)


def _taxonomy_types(tree: Taxonomy, table: dict[str, _Found]) -> None:
    for node_id in tree.ids():
        for words in phrases(tree.node(node_id).name):
            _add(table, words, node_id, tree)


def _table_types(tree: Taxonomy, table: dict[str, _Found]) -> dict[str, int]:
    """The noun tables' words at their node; returns article-type key → node (fashion.csv)."""
    article_nodes = {}
    for name in claim_vocab.branch_settings()["noun_tables"]:
        for row in vocab.load("tagger", f"vocab/taxonomy_map/{name}"):
            if not row["google_id"]:
                continue  # unmappable rows ("Free Gifts": mixed items) name no type
            node = int(row["google_id"])
            if node not in tree:
                raise SystemExit(f"tagger/vocab/taxonomy_map/{name}: {node} is not a taxonomy "
                                 "ID; fix the table")
            words = claim_vocab.words_of(row["source_category"])
            _add(table, words, node, tree)
            article_nodes[claim_vocab.type_key(words)] = node
    return article_nodes


def _fashion_types(tree: Taxonomy, table: dict[str, _Found], article_nodes: dict[str, int]) -> None:
    """Each fashion type at its article type's node, else at its family's article types'."""
    types = claim_vocab.product_types()
    family_nodes = defaultdict(set)
    for article, family in types["article_types"].items():
        key = claim_vocab.type_key(claim_vocab.words_of(article))
        if key in article_nodes:
            family_nodes[family].add(article_nodes[key])
    for name, family in types["types"].items():
        words = claim_vocab.words_of(name)
        key = claim_vocab.type_key(words)
        for node in ([article_nodes[key]] if key in article_nodes else family_nodes[family]):
            _add(table, words, node, tree)


def build(tree: Taxonomy | None = None) -> dict:
    """The content of ``branch_types.json``."""
    tree = tree or taxonomy()
    table: dict[str, _Found] = {}
    _taxonomy_types(tree, table)
    _fashion_types(tree, table, _table_types(tree, table))
    limit = int(claim_vocab.branch_settings()["ambiguous_min_branches"])
    types, ambiguous = {}, {}
    for key in sorted(table):
        entry = table[key]
        if len(entry.branches) >= limit:
            ambiguous[key] = sorted(entry.branches)
            continue
        shallowest = min(entry.nodes, key=lambda n: (tree.node(n).depth, n))
        types[key] = {"name": entry.name, "branches": sorted(entry.branches),
                      "node": shallowest}
    return {
        "_doc": "Built by python -m describer.branch_vocab from the Google taxonomy, the noun "
                "tables of tagger/vocab/taxonomy_map and describer/vocab/product_types.json "
                "(settings: describer/vocab/branch_types.toml); do not edit by hand. types: "
                "key (describer.claim_vocab.type_key) -> name, top-level branch IDs, shallowest "
                "node ID; ambiguous: keys named in too many branches, never a claim.",
        "taxonomy_version": tree.version,
        "branches": {str(b): tree.node(b).name for b in tree.children(None)},
        "types": types,
        "ambiguous": ambiguous,
    }


def _dumped(built: dict) -> str:
    """JSON with one type per line: readable in a diff, a tenth of an indented dump."""
    lines = ["{"]
    for index, (name, value) in enumerate(built.items()):
        comma = "," if index < len(built) - 1 else ""
        if isinstance(value, dict) and value:
            rows = [f" {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
                    for k, v in value.items()]
            lines += [f"{json.dumps(name)}: {{", *(r + "," for r in rows[:-1]), rows[-1],
                      "}" + comma]
        else:
            lines.append(f"{json.dumps(name)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    return "\n".join(lines + ["}"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    output = Path(argv[0]) if argv else OUTPUT
    built = build()
    output.write_text(_dumped(built), encoding="utf-8")
    print(f"{output}: {len(built['types'])} types, {len(built['ambiguous'])} ambiguous")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
