"""Listings out to where sellers publish them: schema.org JSON-LD, Shopify CSV, Merchant Center
TSV, and for catalogues (``write_catalogue``) JSON lines, a flat CSV and Parquet keyed by id.

The row and object builders are pure functions of a ``Listing``; only the ``write_*`` helpers
touch the disk, and they replace the target in one step so a crash never leaves half a feed.
Values follow the templates' precedence: a seller field wins over what was read from photos.

Spreadsheet apps run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and
listing text comes from OCR and models, so every CSV/TSV cell passes through ``safe_cell``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from describer.prompting import options
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Fact, Listing
from listingsmith.core.units import unit_symbols, units


class ExportError(ListingsmithError, ValueError):
    """A listing cannot be exported as asked (a price that is no number, an unknown format)."""


SHOPIFY_COLUMNS = (
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Variant SKU", "Variant Grams", "Variant Inventory Policy",
    "Variant Fulfillment Service", "Variant Price", "Variant Requires Shipping", "Variant Taxable",
    "Variant Barcode", "Image Src", "Image Position", "Image Alt Text", "Variant Weight Unit",
    "Status",
)
"""Columns of Shopify's product import CSV, one row per single-variant product. ``Product
Category`` stays empty: Shopify accepts only its own taxonomy there, and ours is not it."""

MERCHANT_COLUMNS = (
    "id", "title", "description", "link", "image_link", "availability", "price", "brand", "gtin",
    "condition", "color", "gender", "size", "material", "product_type", "google_product_category",
    "shipping_weight",
)
"""Google Merchant Center product attributes, in the order of Google's feed template."""

MERCHANT_TITLE_MAX = 150
MERCHANT_DESCRIPTION_MAX = 5000
"""Google's limits in characters; longer text is cut at a word boundary."""

FEED_WEIGHT_SYMBOLS = frozenset({"g", "kg", "lb", "oz"})
"""The weight units both Shopify and Merchant Center accept; other masses go out in grams."""

MERCHANT_GENDERS = {"men": "male", "male": "male", "boys": "male", "women": "female",
                    "female": "female", "girls": "female", "unisex": "unisex"}
"""Seller gender words (the fashion data's ``Men``, ``Girls`` …) → Google's three values."""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet app evaluate a cell (OWASP CSV injection)."""

_PRICE = re.compile(r"(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|[0-9]+,[0-9]{1,2}")
"""A price: thousands-grouped or plain with a decimal point, or with a decimal comma (12,50)."""
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{1,2}")
_TSV_BREAKS = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]+")
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
"""JSON string escapes that keep ``</script>`` and ``<!--`` out of a script element."""


# --------------------------------------------------------------------------- JSON-LD


def json_ld(listing: Listing, *, url: str | None = None, image_urls: Iterable[str] = (),
            currency: str = "USD") -> dict[str, Any]:
    """A schema.org ``Product`` for search engines. Values are plain text, not HTML:
    ``json_ld_script`` makes them safe to embed, and entities would reach Google verbatim."""
    seller = listing.attributes.seller
    product: dict[str, Any] = {"@context": "https://schema.org", "@type": "Product",
                               "name": listing.title, "description": listing.description}
    optional = {"url": url, "image": list(image_urls), "sku": _sku(listing),
                "color": _colour(listing), "category": google_category(listing) or _category_path(listing),
                "material": seller.get("material"), "size": seller.get("size")}
    product.update({key: value for key, value in optional.items() if value})
    brand = _brand(listing)
    if brand:
        product["brand"] = {"@type": "Brand", "name": brand}
    gtin = listing.attributes.fact("gtin")
    if gtin is not None:
        product[_gtin_key(str(gtin.value))] = str(gtin.value)
    weight = listing.attributes.fact("item_weight")
    if weight is not None:
        product["weight"] = {"@type": "QuantitativeValue", **_quantity(weight)}
    price = _price(listing)
    if price is not None:
        product["offers"] = {"@type": "Offer", "price": price,
                             "priceCurrency": _currency(listing, currency),
                             "availability": "https://schema.org/InStock",
                             "itemCondition": "https://schema.org/NewCondition"}
    properties = [{"@type": "PropertyValue", "name": label, **_quantity(fact)}
                  for label, fact in _other_facts(listing)]
    if properties:
        product["additionalProperty"] = properties
    return product


def json_ld_script(listing: Listing, *, url: str | None = None, image_urls: Iterable[str] = (),
                   currency: str = "USD") -> str:
    """The ``<script type="application/ld+json">`` tag for a product page. ``<``, ``>`` and
    ``&`` become JSON ``\\u`` escapes, so listing text can never close the tag or open a
    comment, and a JSON parser still reads back the exact text."""
    data = json_ld(listing, url=url, image_urls=image_urls, currency=currency)
    body = json.dumps(data, ensure_ascii=False, indent=2).translate(_SCRIPT_ESCAPES)
    return f'<script type="application/ld+json">\n{body}\n</script>'


# --------------------------------------------------------------------------- rows


def shopify_row(listing: Listing, *, handle: str | None = None,
                image_url: str | None = None) -> dict[str, str]:
    """One Shopify import row (every ``SHOPIFY_COLUMNS`` key). Machine-written text goes in as
    an unpublished draft, so a seller reviews it before it is live."""
    seller = listing.attributes.seller
    weight = listing.attributes.fact("item_weight")
    gtin = listing.attributes.fact("gtin")
    size = seller.get("size", "")
    category = listing.attributes.category
    row = dict.fromkeys(SHOPIFY_COLUMNS, "")
    row.update({
        "Handle": handle or _handle(listing),
        "Title": listing.title,
        "Body (HTML)": _body_html(listing),
        "Vendor": _brand(listing),
        "Product Category": _identity_path(listing),
        "Type": category.label if category else seller.get("category", ""),
        "Tags": ", ".join(_tags(listing)),
        "Published": "FALSE",
        "Option1 Name": "Size" if size else "Title",
        "Option1 Value": size or "Default Title",
        "Variant SKU": _sku(listing),
        "Variant Grams": str(round(_grams(weight))) if weight else "",
        "Variant Inventory Policy": "deny",
        "Variant Fulfillment Service": "manual",
        "Variant Price": _price(listing) or "",
        "Variant Requires Shipping": "TRUE",
        "Variant Taxable": "TRUE",
        "Variant Barcode": str(gtin.value) if gtin else "",
        "Variant Weight Unit": _feed_weight(weight)[1] if weight else "",
        "Status": "draft",
    })
    if image_url:
        row.update({"Image Src": image_url, "Image Position": "1", "Image Alt Text": listing.title})
    return row


def merchant_row(listing: Listing, *, link: str | None = None, image_link: str | None = None,
                 currency: str = "USD") -> dict[str, str]:
    """One Google Merchant Center product (every ``MERCHANT_COLUMNS`` key). Without a seller
    ``sku`` or ``id`` the id is the title's slug, as a Shopify handle is."""
    seller = listing.attributes.seller
    weight = listing.attributes.fact("item_weight")
    gtin = listing.attributes.fact("gtin")
    price = _price(listing)
    row = dict.fromkeys(MERCHANT_COLUMNS, "")
    row.update({
        "id": _sku(listing) or _handle(listing),
        "title": _clip(listing.title, MERCHANT_TITLE_MAX),
        "description": _clip(listing.description, MERCHANT_DESCRIPTION_MAX),
        "link": link or "",
        "image_link": image_link or "",
        "availability": "in_stock",
        "price": f"{price} {_currency(listing, currency)}" if price is not None else "",
        "brand": _brand(listing),
        "gtin": str(gtin.value) if gtin else "",
        "condition": "new",
        "color": _colour(listing),
        "gender": MERCHANT_GENDERS.get(seller.get("gender", "").strip().casefold(), ""),
        "size": seller.get("size", ""),
        "material": seller.get("material", ""),
        "product_type": _category_path(listing),
        "google_product_category": google_category(listing),
        # The net weight stands in for the shipping weight, which the photos cannot show.
        "shipping_weight": " ".join(_feed_weight(weight)) if weight else "",
    })
    return row


def safe_cell(value: str) -> str:
    """``value`` that a spreadsheet shows as text: NULs removed, and a leading ``'`` before a
    formula trigger (OWASP's advice; Excel and Sheets hide the apostrophe)."""
    value = value.replace("\x00", "")
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class ExportFormat:
    """How a format is saved (suffix, media type for downloads) and rendered: ``one`` listing
    as text, or ``many`` as the text of one file."""

    suffix: str
    media_type: str
    many: Callable[[list[Listing]], str]
    one: Callable[[Listing], str]


def _json_lines(listings: list[Listing]) -> str:
    return "".join(listing.to_json(indent=None) + "\n" for listing in listings)


def _json_array(listings: list[Listing]) -> str:
    return json.dumps([listing.to_dict() for listing in listings], indent=2,
                      ensure_ascii=False) + "\n"


def _script_tags(listings: list[Listing]) -> str:
    return "".join(json_ld_script(listing) + "\n" for listing in listings)


def _shopify_csv(listings: list[Listing]) -> str:
    rows = _unique([shopify_row(listing) for listing in listings], "Handle")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(SHOPIFY_COLUMNS)
    writer.writerows([safe_cell(row[column]) for column in SHOPIFY_COLUMNS] for row in rows)
    return buffer.getvalue()


def _merchant_tsv(listings: list[Listing]) -> str:
    """Tab-separated without quoting, as Google reads it: tabs and line breaks become spaces."""
    rows = _unique([merchant_row(listing) for listing in listings], "id")
    lines = ["\t".join(MERCHANT_COLUMNS)]
    lines += ["\t".join(safe_cell(_TSV_BREAKS.sub(" ", row[column]))
                        for column in MERCHANT_COLUMNS) for row in rows]
    return "\n".join(lines) + "\n"


def _per_listing(many: Callable[[list[Listing]], str]) -> Callable[[Listing], str]:
    return lambda listing: many([listing])


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat(".json", "application/json", _json_array,
                         lambda listing: listing.to_json()),
    "jsonl": ExportFormat(".jsonl", "application/x-ndjson", _json_lines, _per_listing(_json_lines)),
    "shopify": ExportFormat(".csv", "text/csv", _shopify_csv, _per_listing(_shopify_csv)),
    "merchant": ExportFormat(".tsv", "text/tab-separated-values", _merchant_tsv,
                             _per_listing(_merchant_tsv)),
    "jsonld": ExportFormat(".html", "text/html", _script_tags, _per_listing(_script_tags)),
}
"""Format name → how to render it; a CLI or app offers these names."""


def export_format(name: str) -> ExportFormat:
    if name not in EXPORT_FORMATS:
        raise ExportError(f"format: expected one of {sorted(EXPORT_FORMATS)}, got {name!r}")
    return EXPORT_FORMATS[name]


def export_text(listing: Listing, fmt: str) -> str:
    """One listing in format ``fmt`` (CSV and TSV with their header), e.g. for a download."""
    return export_format(fmt).one(listing)


def write_export(listings: Iterable[Listing], path: str | Path, fmt: str) -> Path:
    """All ``listings`` in format ``fmt`` as one file, replacing ``path`` in one step."""
    path = Path(path)
    _write_atomic(path, export_format(fmt).many(list(listings)))
    return path


def write_shopify_csv(listings: Iterable[Listing], path: str | Path) -> Path:
    return write_export(listings, path, "shopify")


def write_merchant_tsv(listings: Iterable[Listing], path: str | Path) -> Path:
    return write_export(listings, path, "merchant")


# --------------------------------------------------------------------------- catalogues


CATALOGUE_FORMATS = ("jsonl", "json", "parquet", "csv", "shopify", "merchant", "jsonld")
"""What ``write_catalogue`` writes: the ``EXPORT_FORMATS`` plus a flat CSV and Parquet."""

CATALOGUE_SUFFIXES = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv",
                      ".tsv": "merchant", ".html": "jsonld"}
"""Output suffix → format when none is named; a Shopify CSV has to be asked for by name."""

FLAT_COLUMNS = ("id", "title", "description", "bullets", "brand", "category", "colour", "tags",
                "price", "gtin", "item_weight", "generator")
"""A listing's main fields, one row per product; in the CSV, bullets and tags are one per line."""


def catalogue_format(path: str | Path, name: str | None = None) -> str:
    """The format named, else the one the suffix of ``path`` says."""
    if name is not None:
        if name not in CATALOGUE_FORMATS:
            raise ExportError(f"format: expected one of {', '.join(CATALOGUE_FORMATS)}, "
                              f"got {name!r}")
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in CATALOGUE_SUFFIXES:
        raise ExportError(f"{path}: cannot tell the format from '{suffix or 'no suffix'}'; end "
                          f"the name in {', '.join(CATALOGUE_SUFFIXES)} or name the format")
    return CATALOGUE_SUFFIXES[suffix]


def flat_row(product_id: str, listing: Listing) -> dict[str, Any]:
    """The ``FLAT_COLUMNS`` of one listing as plain values (bullets and tags as lists)."""
    gtin = listing.attributes.fact("gtin")
    weight = listing.attributes.fact("item_weight")
    return {"id": product_id, "title": listing.title, "description": listing.description,
            "bullets": list(listing.bullets), "brand": _brand(listing),
            "category": _category_path(listing), "colour": _colour(listing),
            "tags": [tag.name for tag in listing.attributes.tags], "price": _price(listing) or "",
            "gtin": str(gtin.value) if gtin else "",
            "item_weight": weight.display if weight else "", "generator": listing.generator}


def check_catalogue_values(listing: Listing) -> None:
    """Raise ``ExportError`` for a value some format cannot write (a price that is no number, a
    bad currency code, a title without letters), so that product fails on its own instead of
    the export of the whole catalogue."""
    _price(listing)
    _currency(listing, "USD")
    _handle(listing)


def write_catalogue(products: Iterable[tuple[str, Listing]], path: str | Path, fmt: str) -> Path:
    """``(product id, listing)`` pairs as one file in ``fmt`` (one of ``CATALOGUE_FORMATS``),
    replacing ``path`` in one step. The id is a top-level ``id`` in JSON, the first column of
    the CSV and Parquet, and the SKU (Merchant Center: the id) where the seller gave none."""
    products = list(products)
    if fmt == "parquet":
        return replace_atomically(path, lambda staging: _write_parquet(products, staging))
    if fmt in ("json", "jsonl"):
        rows = [{"id": product_id, **listing.to_dict()} for product_id, listing in products]
        text = ("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                if fmt == "jsonl" else json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        text = _flat_csv(products)
    else:
        text = export_format(fmt).many([_with_sku(product_id, listing)
                                        for product_id, listing in products])
    path = Path(path)
    _write_atomic(path, text)
    return path


def _with_sku(product_id: str, listing: Listing) -> Listing:
    seller = listing.attributes.seller
    if seller.get("sku") or seller.get("id"):
        return listing
    return replace(listing, attributes=replace(listing.attributes,
                                               seller={**seller, "sku": product_id}))


def _flat_csv(products: list[tuple[str, Listing]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FLAT_COLUMNS)
    for product_id, listing in products:
        row = flat_row(product_id, listing)
        writer.writerow([safe_cell("\n".join(value) if isinstance(value, list) else value)
                         for value in row.values()])
    return buffer.getvalue()


def _write_parquet(products: list[tuple[str, Listing]], path: Path) -> None:
    """The flat columns plus ``listing``, the whole listing as JSON, so a reader loses nothing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lists = ("bullets", "tags")
    schema = pa.schema([(name, pa.list_(pa.string()) if name in lists else pa.string())
                        for name in FLAT_COLUMNS] + [("listing", pa.string())])
    rows = [{**flat_row(product_id, listing), "listing": listing.to_json(indent=None)}
            for product_id, listing in products]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _write_atomic(path: Path, text: str) -> None:
    def write(staging: Path) -> None:
        with open(staging, "x", encoding="utf-8", newline="") as out:
            out.write(text)

    replace_atomically(path, write)


def replace_atomically(path: str | Path, write: Callable[[Path], None]) -> Path:
    """``write`` a file beside ``path``, then rename it over ``path``: readers see the old file
    or the new, never half of one."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportError(f"{path}: no folder {path.parent}; create it first")
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        write(staging)
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
    return path


def _unique(rows: list[dict[str, str]], column: str) -> list[dict[str, str]]:
    """Repeated keys get ``-2``, ``-3`` …: Shopify would merge rows sharing a handle into one
    product, and Merchant Center keeps one item per id."""
    taken: set[str] = set()
    for row in rows:
        key, number = row[column], 1
        while row[column] in taken:
            number += 1
            row[column] = f"{key}-{number}"
        taken.add(row[column])
    return rows


# --------------------------------------------------------------------------- values


def _brand(listing: Listing) -> str:
    fact = listing.attributes.fact("brand")
    return listing.attributes.seller.get("brand") or (fact.display if fact else "")


def _colour(listing: Listing) -> str:
    """The seller's colour, else the dominant colour seen in the photos."""
    seller = listing.attributes.seller
    swatches = listing.attributes.colours
    return (seller.get("colour") or seller.get("color")
            or (swatches[0].name if swatches else ""))


def google_category(listing: Listing) -> str:
    """The Google Product Taxonomy ID feeds accept: the seller's own, else the identity's
    node when it is sure; empty rather than a guess."""
    given = listing.attributes.seller.get("google_product_category", "")
    identity = listing.attributes.identity
    if given or identity is None or identity.uncertain or identity.taxonomy_id is None:
        return given
    return str(identity.taxonomy_id)


def _identity_path(listing: Listing) -> str:
    """The identity's taxonomy path (Shopify reads Google's paths) when it is sure."""
    identity = listing.attributes.identity
    sure = identity is not None and not identity.uncertain and identity.taxonomy_id is not None
    return identity.taxonomy_path if sure else ""


def _category_path(listing: Listing) -> str:
    category = listing.attributes.category
    if category is None:
        return listing.attributes.seller.get("category", "")
    return " > ".join(category.path or [category.label])


def _sku(listing: Listing) -> str:
    seller = listing.attributes.seller
    return seller.get("sku") or seller.get("id", "")


def _tags(listing: Listing) -> list[str]:
    """Tag and colour names without duplicates or commas (Shopify splits tags on commas)."""
    unique: dict[str, str] = {}
    for name in [tag.name for tag in listing.attributes.tags] + [_colour(listing)]:
        clean = " ".join(name.replace(",", " ").split())
        if clean:
            unique.setdefault(clean.casefold(), clean)
    return list(unique.values())


def _handle(listing: Listing) -> str:
    """The title's slug, as Shopify builds handles ("Acme Tee, Blue" → "acme-tee-blue")."""
    slug = re.sub(r"[\W_]+", "-", unicodedata.normalize("NFKC", listing.title).casefold())
    slug = slug.strip("-")
    if not slug:
        raise ExportError(f"handle: expected a title with letters or digits, got "
                          f"{listing.title!r}; pass handle=")
    return slug


def _body_html(listing: Listing) -> str:
    body = f"<p>{escape(listing.description)}</p>"
    if listing.bullets:
        items = "".join(f"<li>{escape(bullet)}</li>" for bullet in listing.bullets)
        body += f"\n<ul>{items}</ul>"
    return body


def _price(listing: Listing) -> str | None:
    """The seller's price with two decimals (``"1,299"`` → ``"1299.00"``), or None."""
    text = listing.attributes.seller.get("price", "").strip()
    if not text:
        return None
    if not _PRICE.fullmatch(text):
        raise ExportError(f"seller price: expected a number such as 12.50 (the currency goes in "
                          f"'currency'), got {text!r}")
    number = text.replace(",", ".") if _DECIMAL_COMMA.fullmatch(text) else text.replace(",", "")
    return str(Decimal(number).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _currency(listing: Listing, default: str) -> str:
    code = (listing.attributes.seller.get("currency") or default).strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ExportError(f"currency: expected an ISO 4217 code such as USD, got {code!r}")
    return code


def _gtin_key(gtin: str) -> str:
    """schema.org names GTINs by length (``gtin13`` for an EAN-13); others are plain ``gtin``."""
    return f"gtin{len(gtin)}" if len(gtin) in (8, 12, 13, 14) else "gtin"


def _quantity(fact: Fact) -> dict[str, Any]:
    return {"value": fact.value, "unitText": unit_symbols().get(str(fact.unit), str(fact.unit))}


def _other_facts(listing: Listing) -> list[tuple[str, Fact]]:
    """(label, fact) for the numeric facts that have no property of their own in JSON-LD."""
    labels = options()["entity_labels"]
    found = [(label, listing.attributes.fact(entity)) for entity, label in labels.items()
             if entity not in ("gtin", "item_weight")]
    return [(label, fact) for label, fact in found if fact is not None]


@lru_cache(maxsize=1)
def _grams_per_unit() -> dict[str, float]:
    """Mass units → grams, from the unit table the fact parser uses (``vocab/units.json``)."""
    return {unit.name: unit.factor for unit in units().values() if unit.dimension == "mass"}


def _grams(fact: Fact) -> float:
    return float(fact.value) * _grams_per_unit()[str(fact.unit)]


def _feed_weight(fact: Fact) -> tuple[str, str]:
    """(number, unit) in a unit feeds accept: the fact's own, else grams."""
    symbol = unit_symbols()[str(fact.unit)]
    value = float(fact.value) if symbol in FEED_WEIGHT_SYMBOLS else _grams(fact)
    number = f"{value:.3f}".rstrip("0").rstrip(".")
    return number, symbol if symbol in FEED_WEIGHT_SYMBOLS else "g"


def _clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at the last space before it, if any."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut.rsplit(" ", 1)[0].rstrip(" ,;:-") if " " in cut else cut
