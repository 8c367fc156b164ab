"""Synthetic open-world packs with a known identity: the controlled half of the identity benchmark.

Real photos of products outside fashion and Swedish groceries are not in the shared data, so
this draws an EU-style pack label onto a real photo and knows what the product is: a Google
Product Taxonomy node from ``eval/synthetic_identity_nodes.toml`` (68 nodes in 9 branches,
none in Apparel & Accessories or Food, Beverages & Tobacco). A label prints a made-up brand,
the product-type words in English, quantity lines that fit the product (mAh, W, lm, mg, ml, g,
pcs), often the product named again in German, French, Spanish or Italian, and distractor lines
(claims in those languages, prices, lot and date codes).

Two layouts, as sellers photograph packs: the label over a whole fashion or produce photo (the
image then shows something else, as a pack's artwork often does), or a plain colour panel with
a small photo inset. Rotation, blur and JPEG as in ``eval/synthetic_packs.py``, whose drawing
helpers this reuses. Pack ``i`` depends only on the seed and ``i``.

``eval/synthetic_identity_holdout_nodes.toml`` is a second node table in the same format (40
other nodes in 14 branches) that nobody tunes the fusion on: pass it as ``nodes`` (``--nodes``)
to render the held-out set.

``python -m eval.synthetic_identity [--count N] [--seed S] [--nodes FILE] [--out DIR]`` writes
the images and ``truth.csv`` (default: under ``$LISTINGSMITH_CACHE/synthetic_identity``; never
the repo).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image

from eval.synthetic_packs import (DEFAULT_FONTS, MAX_DEGREES, ROTATE_P, SYLLABLES, _distractor,
                                  _draw_label, _fit_background, backgrounds, degrade)

NODES_FILE = Path(__file__).with_name("synthetic_identity_nodes.toml")
"""The tuning set's nodes: the fusion rules are tuned on packs of these."""
HOLDOUT_NODES_FILE = Path(__file__).with_name("synthetic_identity_holdout_nodes.toml")
"""Held-out nodes, never tuned on (none of them in ``NODES_FILE``)."""
EXCLUDED_BRANCHES = ("Apparel & Accessories", "Food, Beverages & Tobacco")
"""The branches the shared photos (fashion, groceries) already cover: no node may lie in them."""
LANGUAGES = ("de", "fr", "es", "it")
DEFAULT_COUNT = 340
"""Five packs per node."""
GLYPH_PX = (16, 40)
"""Printed x-height range in pixels; the product name is what a pack prints large, so the
smallest print is a little larger than the facts set's 14 px."""
PANEL_P = 0.5
"""Share of packs drawn on a plain panel with a photo inset rather than over a whole photo."""
PANEL_SIDE = 640
INSET_SIDE = (150, 260)
PANEL_COLOURS = ((238, 238, 232), (214, 228, 240), (240, 222, 206), (222, 236, 222),
                 (60, 64, 72), (250, 250, 250), (232, 214, 232))
BRAND_SUFFIXES = ("", "", "", " & Co.", " Pro", " Labs")
"""Neutral suffixes only: a "Foods" or "Home" brand would name a branch."""
FOOD_DISTRACTOR = re.compile(r"kcal|\bfat\b|servings", re.IGNORECASE)
"""Nutrition rows of the facts set's distractors: they would say "food" on a battery pack."""
SAVE_QUALITY = 92


@dataclass
class IdentityPack:
    """A photo with a drawn pack label and the Google node of the product it names."""

    image: Image.Image
    google_id: int
    lines: list[str]
    background: str
    layout: str
    """``photo`` (label over a whole photo) or ``panel`` (plain colour, photo inset)."""
    settings: dict[str, float | int | str] = field(default_factory=dict)


# --------------------------------------------------------------------------- the node list


@lru_cache(maxsize=4)
def _parsed(path: str) -> dict:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def load_nodes(path: Path = NODES_FILE) -> list[dict]:
    """The node table: ``id``, English words ``en``, ``de``/``fr``/``es``/``it``, ``units``."""
    return list(_parsed(str(path))["node"])


def load_claims(path: Path = NODES_FILE) -> dict[str, list[str]]:
    """Lines that say nothing about the product, per language (``en`` and ``LANGUAGES``)."""
    return dict(_parsed(str(path))["claims"])


def check_nodes(nodes: list[dict]) -> list[str]:
    """Every problem of the node table as one line: an ID the shipped taxonomy lacks, a node
    in an excluded branch, a repeated ID, a language without words, a node without units."""
    from tagger.taxonomy import taxonomy

    tax = taxonomy()
    problems, seen = [], set()
    for node in nodes:
        node_id = node.get("id")
        if node_id not in tax:
            problems.append(f"{node_id!r} is not a Google Product Taxonomy ID")
            continue
        if node_id in seen:
            problems.append(f"{node_id} is listed twice")
        seen.add(node_id)
        branch = tax.node(tax.top_level(node_id)).name
        if branch in EXCLUDED_BRANCHES:
            problems.append(f"{node_id} ({tax.path_text(node_id)}) lies in {branch}")
        for language in ("en", *LANGUAGES, "units"):
            if not [w for w in node.get(language, []) if str(w).strip()]:
                problems.append(f"{node_id}: no {language} lines")
    return problems


# --------------------------------------------------------------------------- printed lines


def expand(template: str, rng: random.Random) -> str:
    """A quantity line with each ``{a|b|c}`` replaced by one of its alternatives.

    >>> expand("{4|6} W", random.Random(0)) in ("4 W", "6 W")
    True
    """
    return re.sub(r"\{([^{}]*)\}", lambda m: rng.choice(m.group(1).split("|")), template)


def brand(rng: random.Random) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
    word = word.upper() if rng.random() < 0.4 else word.capitalize()
    return word + rng.choice(BRAND_SUFFIXES)


def number_distractor(rng: random.Random) -> str:
    """A price, lot, date, phone or model line of the facts set, never a nutrition row."""
    for _ in range(20):
        line = _distractor(rng)
        if not FOOD_DISTRACTOR.search(line):
            return line
    return f"LOT {rng.randint(10000, 99999)}"


def label_lines(node: dict, claims: dict[str, list[str]], rng: random.Random) -> list[str]:
    """Brand first, then in random order: the English product words, 1-2 quantity lines,
    0-3 translations, 0-2 claims (in English or a printed language) and 0-2 number lines."""
    units = list(node["units"])
    body = [rng.choice(node["en"])]
    body += [expand(t, rng) for t in rng.sample(units, k=min(len(units), rng.randint(1, 2)))]
    languages = rng.sample(LANGUAGES, k=rng.choice((0, 1, 2, 2, 3)))
    body += [rng.choice(node[language]) for language in languages]
    pool = [claim for language in ("en", *languages) for claim in claims[language]]
    body += rng.sample(pool, k=rng.randint(0, 2))
    body += [number_distractor(rng) for _ in range(rng.randint(0, 2))]
    rng.shuffle(body)
    return [brand(rng)] + body


# --------------------------------------------------------------------------- drawing


def _on_panel(photo: Image.Image, label: Image.Image, rng: random.Random) -> Image.Image:
    """A plain colour panel: the photo as a small inset in a top corner, the label below it."""
    margin = 20
    inset = photo.convert("RGB")
    scale = rng.randint(*INSET_SIDE) / max(inset.size)
    inset = inset.resize((max(1, round(inset.width * scale)), max(1, round(inset.height * scale))),
                         Image.Resampling.BICUBIC)
    width = max(PANEL_SIDE, label.width + 2 * margin, inset.width + 2 * margin)
    height = max(PANEL_SIDE, inset.height + label.height + 3 * margin)
    panel = Image.new("RGB", (width, height), rng.choice(PANEL_COLOURS))
    left = rng.random() < 0.5
    panel.paste(inset, (margin if left else width - inset.width - margin, margin))
    top = inset.height + 2 * margin
    x = rng.randint(margin, width - label.width - margin)
    y = rng.randint(top, height - label.height - margin)
    panel.paste(label, (x, y), label)
    return panel


def render_identity_pack(node: dict, claims: dict[str, list[str]], background: Image.Image,
                         rng: random.Random, *, fonts: list[str]) -> IdentityPack:
    """Draw a label naming ``node`` onto ``background`` (whole photo or panel with inset),
    then maybe rotate, blur, JPEG. Deterministic for a given ``rng`` state."""
    lines = label_lines(node, claims, rng)
    font_path = rng.choice(fonts)
    glyph_px = rng.randint(*GLYPH_PX)
    label = _draw_label(lines, font_path, glyph_px, rng)
    degrees = rng.uniform(-MAX_DEGREES, MAX_DEGREES) if rng.random() < ROTATE_P else 0.0
    if degrees:
        label = label.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)
    layout = "panel" if rng.random() < PANEL_P else "photo"
    if layout == "panel":
        photo = _on_panel(background, label, rng)
    else:
        photo = _fit_background(background, label.size)
        x = rng.randint(0, photo.width - label.width)
        y = rng.randint(0, photo.height - label.height)
        photo.paste(label, (x, y), label)
    photo, blur, quality = degrade(photo, rng)
    settings = {"font": Path(font_path).stem, "glyph_px": glyph_px, "degrees": round(degrees, 1),
                "blur": round(blur, 2), "jpeg_quality": quality}
    source = str(getattr(background, "filename", "") or "")
    return IdentityPack(photo, int(node["id"]), lines, source, layout, settings)


# --------------------------------------------------------------------------- sets


def node_order(nodes: list[dict], seed: int) -> list[dict]:
    """The nodes in a seeded order: pack ``i`` names node ``i mod len(nodes)`` of it, so every
    node gets as many packs (plus one) and a short set still spans many branches."""
    order = list(nodes)
    random.Random(f"identity-nodes:{seed}").shuffle(order)
    return order


def iter_identity_packs(data: Path, count: int = DEFAULT_COUNT, seed: int = 0,
                        start: int = 0, nodes: Path = NODES_FILE) -> Iterator[IdentityPack]:
    """Packs ``start`` .. ``count - 1`` naming the nodes of the table ``nodes``; pack ``i``
    depends only on that table, ``seed`` and ``i``."""
    order = node_order(load_nodes(nodes), seed)
    claims = load_claims(nodes)
    photos = backgrounds(data)
    for index in range(start, count):
        rng = random.Random(f"identity:{seed}:{index}")
        node = order[index % len(order)]
        with Image.open(photos[rng.randrange(len(photos))]) as photo:
            yield render_identity_pack(node, claims, photo, rng, fonts=DEFAULT_FONTS)


def set_folder(root: Path, count: int, seed: int, nodes: Path = NODES_FILE) -> Path:
    """``root/seed<S>-n<N>-<hash>``: the hash covers the node table ``nodes`` and this module,
    so another table or a change to either renders a fresh set instead of reusing a stale one."""
    digest = hashlib.sha256(Path(nodes).read_bytes() + Path(__file__).read_bytes()).hexdigest()
    return root / f"seed{seed}-n{count}-{digest[:10]}"


def default_root() -> Path:
    from listingsmith.core.registry import cache_dir

    return cache_dir() / "synthetic_identity"


TRUTH_FIELDS = ("file", "google_id", "google_path", "layout", "lines", "background", "settings")


def write_set(data: Path, folder: Path, count: int = DEFAULT_COUNT, seed: int = 0,
              nodes: Path = NODES_FILE) -> Path:
    """Render ``count`` packs into ``folder`` as JPEGs with ``truth.csv``; a folder that already
    holds a complete ``truth.csv`` is reused. Returns the CSV's path."""
    from tagger.taxonomy import taxonomy

    truth = folder / "truth.csv"
    if truth.exists() and len(read_truth(truth)) == count:
        return truth
    folder.mkdir(parents=True, exist_ok=True)
    tax = taxonomy()
    rows = []
    for index, pack in enumerate(iter_identity_packs(data, count, seed, nodes=nodes)):
        name = f"pack-{index:04d}.jpg"
        pack.image.save(folder / name, quality=SAVE_QUALITY)
        rows.append({"file": name, "google_id": pack.google_id,
                     "google_path": tax.path_text(pack.google_id), "layout": pack.layout,
                     "lines": " | ".join(pack.lines), "background": pack.background,
                     "settings": json.dumps(pack.settings, sort_keys=True)})
    partial = truth.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRUTH_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(truth)  # complete or absent: an interrupted run renders again
    return truth


def cached_set(data: Path, count: int = DEFAULT_COUNT, seed: int = 0,
               root: Path | None = None, nodes: Path = NODES_FILE) -> Path:
    """The truth CSV of the set for ``count``, ``seed`` and the node table ``nodes``, rendered
    once into the cache."""
    folder = set_folder(root or default_root(), count, seed, nodes)
    return write_set(data, folder, count, seed, nodes)


def read_truth(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m eval.synthetic_identity",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "LISTINGSMITH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")))
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nodes", type=Path, default=NODES_FILE,
                        help="node table (default: the tuning set; "
                             f"the held-out set is {HOLDOUT_NODES_FILE.name})")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the images and truth.csv (default: the cache)")
    args = parser.parse_args(argv)
    problems = check_nodes(load_nodes(args.nodes))
    if problems:
        print("synthetic_identity: error: " + "; ".join(problems), file=sys.stderr)
        return 2
    truth = (write_set(args.data, args.out, args.count, args.seed, args.nodes) if args.out
             else cached_set(args.data, args.count, args.seed, nodes=args.nodes))
    print(f"wrote {args.count} packs and {truth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
