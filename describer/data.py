"""(attributes → reference listing) examples from the shared text corpora, with fixed splits.

Groundwork for training and evaluating the describer (issue 7). Each source gives the record
a merchant has, as ``listingsmith write`` reads it (benchmarks run the path users run, never
a field only the dataset has), and the listing text written for that product:

* ``myntra`` (``text/myntra.csv``): title (``Product_Name``), brand, gender, colour, price;
  references: ``Product_Name`` (title) and ``Description``.
* ``bigbasket`` (``text/bigbasket.csv``): title (``product``), brand, category (the most
  specific of ``type`` and ``sub_category``), price (``sale_price``); references: ``product``
  (title) and ``description``.
* ``fashion`` (``fashion/styles.csv``, every row, ``text-only`` included): gender, category
  (``articleType``), colour (``baseColour``), season, usage; reference:
  ``productDisplayName`` (title only, no description, so no title is given).

The title's quantities become facts on the way, as for any record (``tagger.seller``).

Splits are fixed 80/10/10 by a hash of source and row id, so a row never changes split when
rows are added. Fashion rows that have a photo keep the split shipped in ``styles.csv`` so
that a photo held out by the image tasks is never a describer training example.

The data is read from a folder parameter (default ``tagger.train.data.default_data_dir()``);
the product never needs it at run time.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from describer import claim_vocab
from describer.claims import type_claims
from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, TextSpan
from tagger.colours import vocabulary
from tagger.facts import MIN_CONFIDENCE
from tagger.more_facts import parse_product_facts
from tagger.pack_text import looks_foreign
from tagger.seller import record_attributes

SOURCES = ("myntra", "bigbasket", "fashion")
SPLITS = ("train", "val", "test")

SOURCE_FILES = {"myntra": "text/myntra.csv", "bigbasket": "text/bigbasket.csv",
                "fashion": "fashion/styles.csv"}
"""Where each source lives inside the shared data folder."""

SOURCE_COLUMNS = {
    "myntra": ("Product_ID", "Product_Name", "Product_Brand", "Gender", "Price", "Description",
               "Primary_Color"),
    "bigbasket": ("index", "product", "category", "sub_category", "brand", "sale_price", "type",
                  "description"),
    "fashion": ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour",
                "season", "usage", "productDisplayName", "split"),
}
"""The columns each source is read from (see ``../shared/data/README.md``)."""



def settings() -> dict:
    """``describer/vocab/data.toml``: splits, brand-list and part-list thresholds, and what a
    product name's type words are."""
    return vocab.load("describer", "vocab/data.toml")


LINK_CLAUSE = re.compile(r"[^.!?]*https?://\S+")
"""Shop boilerplate ("For Beauty tips, tricks & more visit https://bigbasket.blog/") is no
part of a product's description, so the clause holding a link is cut from references."""

_QUANTITY_TAIL = re.compile(r"(?:\s+(?:pack|set)\s+of)?\s+\d[\d.,]*\s*[^\W\d_]{0,5}\.?\s*$",
                            re.IGNORECASE)
_WITH_CLAUSE = re.compile(r"\s+with\s+.*$", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_CODE = re.compile(r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]*-[\w-]+")
"""A catalogue code: letters and digits joined by hyphens ("NT-98BRITTNEY-BLUE-7")."""
_PACK_WORDS = re.compile(r"[,(]?\s*\b(?:pack|set)\s+of\b\s*[)]?|[,(]\s*[)]", re.IGNORECASE)


@dataclass(frozen=True)
class Example:
    """One product: the seller fields a model may use and the reference texts it should write."""

    id: str
    source: str
    seller: dict[str, str]
    title: str
    description: str
    split: str
    group: str = ""
    """The source's own top category ("Beauty & Hygiene"), for per-branch tables only: no
    model reads it."""

    @property
    def key(self) -> str:
        """Unique over all sources (row ids repeat across files)."""
        return f"{self.source}:{self.id}"


def source_file(data: Path, source: str) -> Path:
    """The CSV of ``source``; a one-line error says how to point at the data."""
    if source not in SOURCE_FILES:
        raise ListingsmithError(f"unknown describer data source {source!r}; choose one of "
                                f"{', '.join(SOURCES)}")
    path = Path(data) / SOURCE_FILES[source]
    if not path.is_file():
        raise ListingsmithError(f"{path} not found: the describer needs ../shared/data/"
                                f"{SOURCE_FILES[source]}; pass --data or set LISTINGSMITH_DATA")
    return path


def split_of(source: str, row_id: str) -> str:
    """The fixed split of a row: a stable hash, never Python's salted ``hash``.

    >>> split_of("myntra", "10017413") == split_of("myntra", "10017413")
    True
    """
    bucket = int.from_bytes(hashlib.sha256(f"{source}:{row_id}".encode()).digest()[:8], "big") % 100
    for split, share in settings()["split_percent"].items():
        if bucket < share:
            return split
        bucket -= share
    return "test"


def examples(data: Path, source: str, split: str, limit: int | None = None) -> list[Example]:
    """The examples of one source and split, in file order; ``limit`` takes evenly spaced rows."""
    if split not in SPLITS:
        raise ListingsmithError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    path = source_file(data, source)
    stat = path.stat()
    chosen = [e for e in _all_examples(path, source, stat.st_size, stat.st_mtime_ns)
              if e.split == split]
    if limit is not None and 0 < limit < len(chosen):
        chosen = [chosen[i * len(chosen) // limit] for i in range(limit)]
    return chosen


def example_attributes(example: Example) -> Attributes:
    """The example's seller fields as ``Attributes``, exactly as ``listingsmith write`` makes
    them of a seller record (facts, title quantities, identity): benchmarks run the path
    users run."""
    return record_attributes(example.seller)


@lru_cache(maxsize=8)
def _all_examples(path: Path, source: str, size: int, mtime_ns: int) -> tuple[Example, ...]:
    """Every example of one file, read once per file version (size and date are the key)."""
    reader = {"myntra": _myntra, "bigbasket": _bigbasket, "fashion": _fashion}[source]
    with open(path, newline="", encoding="utf-8") as handle:
        table = csv.DictReader(handle)
        missing = [c for c in SOURCE_COLUMNS[source] if c not in (table.fieldnames or ())]
        if missing:
            raise ListingsmithError(f"{path}: no column(s) {', '.join(missing)}; expected the "
                                    f"{source} layout of ../shared/data/README.md")
        rows = [reader(row) for row in table]
    return tuple(e for e in rows if e is not None and e.title)


def _myntra(row: dict[str, str]) -> Example | None:
    title = _clean(row["Product_Name"])
    description = _clean(LINK_CLAUSE.sub("", row["Description"]))
    if not description:
        return None
    seller = _fields(title=title, brand=row["Product_Brand"], gender=row["Gender"],
                     colour=row["Primary_Color"], price=row["Price"])
    return _example(row["Product_ID"], "myntra", seller, title, description)


def _bigbasket(row: dict[str, str]) -> Example | None:
    title, description = _clean(row["product"]), _clean(LINK_CLAUSE.sub("", row["description"]))
    if not description:
        return None
    seller = _fields(title=title, brand=row["brand"],
                     category=_clean(row["type"]) or row["sub_category"], price=row["sale_price"])
    return _example(row["index"], "bigbasket", seller, title, description, _clean(row["category"]))


def _fashion(row: dict[str, str]) -> Example:
    seller = _fields(gender=row["gender"], category=row["articleType"], colour=row["baseColour"],
                     season=row["season"], usage=row["usage"])
    row_id = row["id"].strip()
    # a row with a photo keeps the image tasks' split; text-only rows are hashed
    split = row["split"] if row["split"] in SPLITS else split_of("fashion", row_id)
    return Example(row_id, "fashion", seller, _clean(row["productDisplayName"]), "", split)


def _example(row_id: str, source: str, seller: dict[str, str], title: str,
             description: str, group: str = "") -> Example:
    row_id = row_id.strip()
    return Example(row_id, source, seller, title, description, split_of(source, row_id), group)


def _clean(text: str | None) -> str:
    """One line, single spaces (the scrapes hold non-breaking spaces and newlines)."""
    return " ".join((text or "").split())


def _fields(**values: str | None) -> dict[str, str]:
    cleaned = {key: _clean(value) for key, value in values.items()}
    missing = set(settings()["missing_values"])
    return {key: value for key, value in cleaned.items() if value.lower() not in missing}


def product_name(title: str, brand: str = "") -> str:
    """What a seller's title calls the product, for the product-type slot of a formula title:
    the title without its leading brand, the quantities the fact parser reads in it (they
    follow as facts; an unsure reading, such as a bare "500mg" that may be a dose or a weight,
    stays as the seller wrote it), catalogue codes and loose punctuation. Gender and colour words stay where
    the seller put them.

    >>> product_name("Philips 9W LED Bulb E27 Cool Day Light, Pack of 2", "Philips")
    'LED Bulb Cool Day Light'
    >>> product_name("Soie Women Blue Printed Sleep Shirts NT-98BRITTNEY-BLUE-7", "Soie")
    'Women Blue Printed Sleep Shirts'
    >>> product_name("Amul Taaza Toned Milk 1 L", "Amul")
    'Taaza Toned Milk'
    >>> product_name("Jvara Keerti Vati - Fever, 500mg", "Sri Sri Tattva")
    'Jvara Keerti Vati - Fever, 500mg'
    """
    text = title.strip()
    if brand and text.casefold().startswith(brand.casefold() + " "):
        text = text[len(brand):]
    span = TextSpan(text=text, box=(0, 0, 0, 0), score=1.0)
    for fact in sorted(parse_product_facts([span]), key=lambda f: -len(f.raw_text)):
        if fact.entity != "brand" and fact.confidence >= MIN_CONFIDENCE:
            text = text.replace(fact.raw_text, " ")
    words = [w for w in text.split() if not _CODE.fullmatch(w.strip(",;:()"))]
    text = _PACK_WORDS.sub(" ", " ".join(words))
    return " ".join(text.split()).strip(" ,;:-()/")


def pack_name(spans: list[TextSpan], product_type: str, brand: str = "") -> str:
    """What the pack calls the product, for a photo's title: the English line in the largest
    letters that names the identity's product type by one of its words, without its brand
    and facts, when that leaves at most ``pack_name_words`` words ("Vitamin E 268 mg" →
    "Vitamin E" for a "vitamin supplement"). "" when no line does: the type then stands.

    >>> line = lambda text, height: TextSpan(text, (0, 0, 10, height), 0.99, line_height=height)
    >>> pack_name([line("High Strength", 40), line("Vitamin E 268 mg", 60),
    ...            line("Vitamine E 268 mg", 60), line("Vitamin E is an antioxidant that", 20)],
    ...           "vitamin supplement")
    'Vitamin E'
    >>> pack_name([line("MR16 GU10", 30)], "light bulb")
    ''
    """
    cues = {word for word in re.findall(r"[a-z]{3,}", product_type.lower())}
    limit = settings()["pack_name_words"]
    named = []
    for span in spans:
        words = {w.rstrip("s") for w in re.findall(r"[a-z]{3,}", span.text.lower())}
        if not words & {cue.rstrip("s") for cue in cues} or looks_foreign(span.text)[0]:
            continue
        name = product_name(span.text, brand)
        if 0 < len(name.split()) <= limit:
            named.append((span.height, span.score, name))
    return max(named)[2] if named else ""


def product_type(name: str, brand: str = "") -> str:
    """The product type words of a Myntra name: its last words after dropping a trailing
    quantity and a "with …" clause, skipping brand, gender and colour words and codes.

    >>> product_type("Parx Men Navy Blue Slim Fit Solid Casual Shirt", "Parx")
    'Casual Shirt'
    >>> product_type("Bvlgari Women Omnia Eau De Parfum 100 ml", "Bvlgari")
    'De Parfum'
    >>> product_type("Libas Women Kurta with Palazzos & Dupatta", "Libas")
    'Kurta'
    """
    core = _QUANTITY_TAIL.sub("", _WITH_CLAUSE.sub("", name))
    skipped = (_colour_words() | set(settings()["gender_words"])
               | {w.lower() for w in _WORD.findall(brand)})
    words = [w for w in core.split()
             if w.lower() not in skipped and _WORD.search(w) and not any(c.isdigit() for c in w)]
    return " ".join(words[-settings()["product_type_words"]:])


@lru_cache(maxsize=1)
def _colour_words() -> frozenset[str]:
    return frozenset(word.lower() for colour in vocabulary() for word in colour.name.split())


def known_brands(data: Path) -> tuple[str, ...]:
    """Brands of the Myntra and BigBasket corpora that can be told apart from ordinary words.

    Used by the grounding guard to notice a listing naming another brand. All rows are read:
    the list is a vocabulary, not training data. Left out: names shorter than
    ``data.toml``'s ``brand_min_letters`` letters and names the corpora use as ordinary words
    (``brand_other_rows_min``). A row of a sub-brand ("U.S. Polo Assn. Kids") is an own row
    of the brand it contains.
    """
    paths = (source_file(data, "myntra"), source_file(data, "bigbasket"))
    return _known_brands(*paths, tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths))


@lru_cache(maxsize=2)
def _known_brands(myntra: Path, bigbasket: Path, versions: tuple) -> tuple[str, ...]:
    """The brand list of two file versions (``versions`` only keys the cache)."""
    rows: list[tuple[str, str]] = []
    for path, brand_key, text_keys in ((myntra, "Product_Brand", ("Product_Name", "Description")),
                                       (bigbasket, "brand", ("product", "description"))):
        with open(path, newline="", encoding="utf-8") as handle:
            rows.extend((_clean(row[brand_key]), " ".join(row[k] or "" for k in text_keys))
                        for row in csv.DictReader(handle))
    limits = settings()
    brands = {b for b, _ in rows if sum(c.isalpha() for c in b) >= limits["brand_min_letters"]}
    own, other = _brand_mentions(rows, brands)
    return tuple(sorted(b for b in brands
                        if other[b] < limits["brand_other_rows_min"] or other[b] <= own[b]))


def _brand_mentions(rows: list[tuple[str, str]], brands: set[str]) -> tuple[Counter, Counter]:
    """Per brand, how many rows of its own (or a sub-brand) and of other brands name it."""
    wanted = {_words(b): b for b in brands}
    sizes: dict[str, set[int]] = {}
    for words in wanted:
        if words:
            sizes.setdefault(words[0], set()).add(len(words))
    own: Counter = Counter()
    other: Counter = Counter()
    for row_brand, text in rows:
        words = _words(text)
        named = {wanted[words[i:i + size]] for i, word in enumerate(words)
                 for size in sizes.get(word, ()) if words[i:i + size] in wanted}
        row_words = f" {' '.join(_words(row_brand))} "
        for brand in named:
            mine = f" {' '.join(_words(brand))} " in row_words
            (own if mine else other)[brand] += 1
    return own, other


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD.findall(text))


BRAND_LIST = Path(__file__).parent / "vocab" / "brands.txt"
"""The shipped brand vocabulary (``describer.claim_vocab.shipped_brands``), rebuilt by
``python -m describer.data --data ../shared/data``."""


def write_brand_list(data: Path, path: Path = BRAND_LIST) -> int:
    """Write ``known_brands(data)`` one per line; returns how many."""
    brands = known_brands(data)
    path.write_text("".join(f"{b}\n" for b in brands), encoding="utf-8")
    return len(brands)


PRODUCT_TYPES = Path(__file__).parent / "vocab" / "product_types.json"
"""Fashion product types a title may name, each with its family (``describer.guard``)."""


def product_type_families(data: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Each fashion product type of the tag vocabulary, and each article type of the
    fashion taxonomy (the category labels), → its family: the ``masterCategory``
    its article type has in ``fashion/styles.csv``, split by ``subCategory`` for apparel
    (t-shirt → Apparel/Topwear, jeans → Apparel/Bottomwear, sandals → Footwear). Coarse on
    purpose: a title calling flip flops "sandals" is a near miss, calling them "trousers" is
    a wrong product."""
    table = vocab.load("tagger", "vocab/tags.toml")
    labels = table["groups"]["product_type"]["labels"]
    with open(data / "fashion" / "styles.csv", newline="", encoding="utf-8") as handle:
        counts = Counter((row["articleType"], row["masterCategory"] if row["masterCategory"] != "Apparel"
                          else f"Apparel/{row['subCategory']}") for row in csv.DictReader(handle))
    family_of: dict[str, str] = {}
    for (article_type, family), _ in counts.most_common():
        family_of.setdefault(article_type, family)
    types = {tag: family_of[labels[tag]] for tag in table["domains"]["fashion"]
             if labels.get(tag) in family_of}
    return types, family_of


def family_parts(data: Path, types: dict[str, str]) -> dict[str, list[str]]:
    """For each product family, the part words its train-split descriptions use: Myntra rows
    whose title names product types of exactly one family, and every BigBasket row as the
    grocery family."""
    words = claim_vocab.part_words()
    patterns = claim_vocab.part_patterns()
    described: dict[str, list[str]] = {}
    for example in examples(data, "myntra", "train"):
        families = {types[claim.name] for claim in type_claims(example.title)}
        if len(families) == 1:
            described.setdefault(families.pop(), []).append(example.description)
    described[claim_vocab.grocery_family()] = [e.description for e in examples(data, "bigbasket", "train")]
    limits = settings()
    parts = {}
    for family, texts in described.items():
        if len(texts) >= limits["part_min_examples"]:
            parts[family] = [word for word in words
                             if sum(bool(patterns[word].search(t)) for t in texts)
                             >= limits["part_min_share"] * len(texts)]
    return parts


LEXICON = Path(__file__).parent / "vocab" / "words.txt"
"""Words a generated text may use (``describer.guard.unknown_words``)."""


WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def lexicon(data: Path) -> list[str]:
    """Every word of the train-split titles and descriptions of every source (so a copied
    training text always passes) and the whole words of the bundled MiniLM's WordPiece
    vocabulary (general English), lower case, sorted."""
    words = {word for source in SOURCES for e in examples(data, source, "train")
             for word in WORD.findall(f"{e.title} {e.description}".lower())}
    return sorted(words | set(_wordpiece_words()))


def _wordpiece_words() -> list[str]:
    from listingsmith.core.registry import resolve, spec_for

    folder = resolve(spec_for("text-embedding", None))
    wordpiece = next(folder.rglob("vocab.txt"))
    return [w for w in wordpiece.read_text(encoding="utf-8").split() if WORD.fullmatch(w)]


def write_lexicon(data: Path, path: Path = LEXICON) -> int:
    words = lexicon(data)
    path.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    return len(words)


def write_product_types(data: Path, path: Path = PRODUCT_TYPES) -> int:
    types, article_types = product_type_families(data)
    limits = settings()
    path.write_text(json.dumps({"_doc": "Built by python -m describer.data from tagger/vocab/"
                                        "tags.toml (fashion product types), fashion/styles.csv "
                                        "(their categories) and the train-split descriptions "
                                        "(parts: describer/vocab/part_words.txt words used by at "
                                        f"least {limits['part_min_share']:.0%} of a "
                                        "family's descriptions, families with >= "
                                        f"{limits['part_min_examples']}); "
                                        "do not edit by hand.",
                                "types": types, "article_types": article_types,
                                "parts": family_parts(data, types)},
                               indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return len(types)


if __name__ == "__main__":
    import argparse

    from tagger.train.data import default_data_dir

    parser = argparse.ArgumentParser(
        description="rebuild describer/vocab/brands.txt, product_types.json and words.txt")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    data = args.data or default_data_dir()
    print(f"{write_brand_list(data)} brands → {BRAND_LIST}")
    print(f"{write_product_types(data)} product types → {PRODUCT_TYPES}")
    print(f"{write_lexicon(data)} words → {LEXICON}")
