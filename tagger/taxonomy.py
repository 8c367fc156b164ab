"""The Google Product Taxonomy: the open-world label space for what a product is.

The shipped copy (``tagger/vocab/google_product_taxonomy.txt``, with Google's version line) is
parsed once per process. Every node has Google's numeric ID and its path from a top-level
branch; IDs are what exports write to ``google_product_category`` and what the mapping
tables in ``tagger/vocab/taxonomy_map`` point at.

>>> t = taxonomy()
>>> t.path_text(2425)
'Home & Garden > Lighting > Light Bulbs'
>>> t.by_path("Home & Garden > Lighting > Light Bulbs").depth
3
>>> [t.node(a).name for a in t.ancestors(t.by_path("Home & Garden > Lighting > Light Bulbs").id)]
['Home & Garden', 'Lighting']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError

SOURCE = "vocab/google_product_taxonomy.txt"
SEPARATOR = " > "


@dataclass(frozen=True)
class Node:
    id: int
    path: tuple[str, ...]
    parent: int | None
    """The parent's ID; ``None`` for a top-level branch."""
    depth: int
    """1 for a top-level branch."""

    @property
    def name(self) -> str:
        """The node's own (leaf) name, e.g. ``'Light Bulbs'``."""
        return self.path[-1]


class Taxonomy:
    """The parsed tree: look-ups by ID and by exact path, ancestry tests."""

    def __init__(self, text: str, source: str = SOURCE):
        self.version = ""
        self._nodes: dict[int, Node] = {}
        self._by_path: dict[tuple[str, ...], int] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line.startswith("#"):
                self.version = line.split(":", 1)[-1].strip() or self.version
                continue
            if line:
                self._add(line, f"{source}:{number}")

    def _add(self, line: str, where: str) -> None:
        number, _, path_text = line.partition(" - ")
        if not number.strip().isdigit() or not path_text:
            raise ListingsmithError(f"{where}: expected 'ID - Top > Sub > Leaf', got {line!r}; "
                                    "restore the taxonomy file")
        path = tuple(part.strip() for part in path_text.split(SEPARATOR.strip()))
        parent = self._by_path.get(path[:-1]) if len(path) > 1 else None
        if len(path) > 1 and parent is None:
            raise ListingsmithError(f"{where}: parent of {path_text!r} is not listed before it; "
                                    "restore the taxonomy file")
        node = Node(int(number), path, parent, len(path))
        self._nodes[node.id] = node
        self._by_path[path] = node.id

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def ids(self) -> list[int]:
        """Every node ID, in file order (parents before children)."""
        return list(self._nodes)

    def node(self, node_id: int) -> Node:
        try:
            return self._nodes[int(node_id)]
        except (KeyError, ValueError):
            raise KeyError(f"{node_id!r} is not a Google Product Taxonomy ID (version "
                           f"{self.version})") from None

    def by_path(self, path: str | tuple[str, ...]) -> Node:
        """The node whose path is exactly ``path`` (text with ' > ' or a tuple).

        >>> taxonomy().by_path("Luggage & Bags > Duffel Bags").id
        103
        """
        key = tuple(p.strip() for p in path.split(">")) if isinstance(path, str) else tuple(path)
        if key not in self._by_path:
            raise KeyError(f"{SEPARATOR.join(key)!r} is not a path in the Google Product Taxonomy")
        return self._nodes[self._by_path[key]]

    def ancestors(self, node_id: int) -> list[int]:
        """The IDs above ``node_id``, top-level branch first (empty for a branch)."""
        chain = []
        parent = self.node(node_id).parent
        while parent is not None:
            chain.append(parent)
            parent = self._nodes[parent].parent
        return chain[::-1]

    def top_level(self, node_id: int) -> int:
        """The ID of the top-level branch that holds ``node_id``.

        >>> taxonomy().node(taxonomy().top_level(103)).name
        'Luggage & Bags'
        """
        return ([*self.ancestors(node_id), int(node_id)])[0]

    def is_ancestor_or_self(self, ancestor: int, node_id: int) -> bool:
        """True when ``ancestor`` is ``node_id`` or lies on its path.

        >>> light_bulbs = taxonomy().by_path("Home & Garden > Lighting > Light Bulbs").id
        >>> taxonomy().is_ancestor_or_self(536, light_bulbs), taxonomy().is_ancestor_or_self(light_bulbs, 536)
        (True, False)
        """
        return int(ancestor) == int(node_id) or int(ancestor) in self.ancestors(node_id)

    def path_text(self, node_id: int) -> str:
        return SEPARATOR.join(self.node(node_id).path)

    def children(self, node_id: int | None) -> list[int]:
        """The IDs directly below ``node_id`` (``None``: the top-level branches)."""
        return [n.id for n in self._nodes.values() if n.parent == node_id]


@lru_cache(maxsize=1)
def taxonomy() -> Taxonomy:
    """The shipped taxonomy, parsed once per process."""
    return Taxonomy(vocab.read_text("tagger", SOURCE))
