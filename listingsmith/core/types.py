"""Typed results, one per pipeline stage.

Plain dataclasses of plain values (after supervision's ``Detections``): checked on
creation with "expected X, got Y" messages, and round-tripped through JSON with
``to_dict`` / ``from_dict``. ``Attributes`` and ``Listing`` carry ``schema_version``; a
reader refuses a different major version instead of guessing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Union

from listingsmith.core.errors import ValidationError
from listingsmith.core.units import code_entities, entity_displays, entity_units, unit_symbols

SCHEMA_VERSION = "1.5"

Box = tuple[float, float, float, float]
"""Axis-aligned box ``(x0, y0, x1, y1)`` in pixels of the (EXIF-corrected) source image."""


TEXT_ENTITIES = ("brand", "gtin", *code_entities())
"""Facts whose value is text rather than a number with a unit: names, barcodes and codes
such as a bulb base ("E27"). Schema 1.4 added the code entities and the product facts."""


def _fail(owner: str, name: str, expected: str, got: Any) -> typing.NoReturn:
    shown = repr(got)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise ValidationError(f"{owner}.{name}: expected {expected}, got {shown}")


def _require(ok: bool, owner: str, name: str, expected: str, got: Any) -> None:
    if not ok:
        _fail(owner, name, expected, got)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_score(owner: str, name: str, value: Any) -> float:
    _require(_is_number(value) and 0.0 <= value <= 1.0, owner, name, "a number in [0, 1]", value)
    return float(value)


def _check_text(owner: str, name: str, value: Any, *, empty_ok: bool = False) -> str:
    _require(isinstance(value, str) and (empty_ok or value.strip() != ""), owner, name,
             "a string" if empty_ok else "a non-empty string", value)
    return value


def _check_box(owner: str, name: str, value: Any) -> Box:
    ok = (isinstance(value, (tuple, list)) and len(value) == 4 and all(_is_number(v) for v in value))
    _require(ok, owner, name, "a box (x0, y0, x1, y1) of 4 finite numbers", value)
    x0, y0, x1, y1 = (float(v) for v in value)
    _require(x1 >= x0 and y1 >= y0, owner, name, "x1 >= x0 and y1 >= y0", value)
    return (x0, y0, x1, y1)


def _check_index(owner: str, name: str, value: Any) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, owner, name,
             "a non-negative int", value)
    return value


def format_amlc_value(value: float, unit: str) -> str:
    """The Amazon-ML-2024 answer form: a float with a decimal point, a space, the unit.

    >>> format_amlc_value(500, "gram")
    '500.0 gram'
    >>> format_amlc_value(0.25, "litre")
    '0.25 litre'
    """
    number = f"{float(value):.10g}"
    if "e" in number:
        number = f"{float(value):.10f}".rstrip("0")
    if "." not in number:
        number += ".0"
    elif number.endswith("."):
        number += "0"
    return f"{number} {unit}"


class _Serialisable:
    """JSON round-trip for the dataclasses below, driven by their type hints."""

    def to_dict(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            _fail(cls.__name__, "<root>", "a JSON object", data)
        hints = _hints(cls)
        unknown = sorted(set(data) - set(hints))
        if unknown:
            _fail(cls.__name__, "<fields>", f"only {sorted(hints)}", unknown)
        if "schema_version" in hints and "schema_version" in data:
            _check_schema_version(cls.__name__, data["schema_version"])
        kwargs = {name: _from_json(hints[name], value, f"{cls.__name__}.{name}")
                  for name, value in data.items()}
        return cls(**kwargs)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))


def _check_schema_version(owner: str, version: Any) -> None:
    major = SCHEMA_VERSION.split(".")[0]
    ok = isinstance(version, str) and version.split(".")[0] == major
    _require(ok, owner, "schema_version", f"a {major}.x schema version (this is {SCHEMA_VERSION})",
             version)


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in names}


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _from_json(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        for arg in args:
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return arg.from_dict(value)
        return value
    if dataclasses.is_dataclass(tp):
        return tp.from_dict(value)
    if origin is list:
        _require(isinstance(value, list), where, "", "a JSON array", value)
        return [_from_json(args[0], v, where) for v in value]
    if origin is tuple:
        _require(isinstance(value, list), where, "", "a JSON array", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v, where) for v in value)
        _require(len(value) == len(args), where, "", f"{len(args)} items", value)
        return tuple(_from_json(a, v, where) for a, v in zip(args, value))
    if origin is dict:
        _require(isinstance(value, dict), where, "", "a JSON object", value)
        return {k: _from_json(args[1], v, where) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class ImageInfo(_Serialisable):
    """What a listing records about one input photo (never the pixels)."""

    source: str
    width: int
    height: int
    original_mode: str
    exif_rotated: bool = False
    frames: int = 1
    """Frames in the file; an animated GIF/WebP is read from its first frame only."""

    def __post_init__(self):
        _check_text("ImageInfo", "source", self.source)
        _require(isinstance(self.frames, int) and self.frames >= 1, "ImageInfo", "frames",
                 "an int >= 1", self.frames)
        for name in ("width", "height"):
            value = getattr(self, name)
            _require(isinstance(value, int) and value > 0, "ImageInfo", name, "a positive int", value)


@dataclass(frozen=True)
class Detections(_Serialisable):
    """Labelled boxes found in one image by one detector (parallel lists, as in supervision)."""

    boxes: list[Box]
    labels: list[str]
    scores: list[float]
    source: str
    image_index: int = 0

    def __post_init__(self):
        owner = "Detections"
        for name in ("boxes", "labels", "scores"):
            _require(isinstance(getattr(self, name), list), owner, name, "a list",
                     getattr(self, name))
        _require(len(self.boxes) == len(self.labels) == len(self.scores), owner, "boxes/labels/scores",
                 "lists of equal length", (len(self.boxes), len(self.labels), len(self.scores)))
        object.__setattr__(self, "boxes", [_check_box(owner, "boxes[]", b) for b in self.boxes])
        object.__setattr__(self, "scores", [_check_score(owner, "scores[]", s) for s in self.scores])
        for label in self.labels:
            _check_text(owner, "labels[]", label)
        _check_text(owner, "source", self.source)
        _check_index(owner, "image_index", self.image_index)

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class ColorSwatch(_Serialisable):
    """One dominant colour of the product, named from the retail colour vocabulary."""

    name: str
    family: str
    rgb: tuple[int, int, int]
    hex: str
    share: float

    def __post_init__(self):
        owner = "ColorSwatch"
        _check_text(owner, "name", self.name)
        _check_text(owner, "family", self.family)
        ok = (isinstance(self.rgb, (tuple, list)) and len(self.rgb) == 3
              and all(isinstance(c, int) and 0 <= c <= 255 for c in self.rgb))
        _require(ok, owner, "rgb", "3 ints in [0, 255]", self.rgb)
        object.__setattr__(self, "rgb", tuple(self.rgb))
        expected_hex = "#{:02x}{:02x}{:02x}".format(*self.rgb)
        _require(self.hex == expected_hex, owner, "hex", f"{expected_hex!r} (from rgb)", self.hex)
        _check_score(owner, "share", self.share)


@dataclass(frozen=True)
class Tag(_Serialisable):
    """A scored word or phrase describing the product."""

    name: str
    score: float
    source: str
    group: str = "general"

    def __post_init__(self):
        _check_text("Tag", "name", self.name)
        _check_score("Tag", "score", self.score)
        _check_text("Tag", "source", self.source)
        _check_text("Tag", "group", self.group)


@dataclass(frozen=True)
class TextSpan(_Serialisable):
    """One OCR line: the text, where it was read, and how sure the recogniser was.

    ``line_height`` is the height of the glyphs along the (possibly rotated) line; the
    axis-aligned ``box`` of a vertical line is tall although its letters are small.
    """

    text: str
    box: Box
    score: float
    image_index: int = 0
    line_height: float | None = None

    def __post_init__(self):
        _check_text("TextSpan", "text", self.text)
        object.__setattr__(self, "box", _check_box("TextSpan", "box", self.box))
        object.__setattr__(self, "score", _check_score("TextSpan", "score", self.score))
        _check_index("TextSpan", "image_index", self.image_index)
        _require(self.line_height is None or (_is_number(self.line_height) and self.line_height >= 0),
                 "TextSpan", "line_height", "None or a non-negative number", self.line_height)

    @property
    def height(self) -> float:
        """Glyph height: ``line_height`` when known, else the box height."""
        return self.line_height if self.line_height is not None else self.box[3] - self.box[1]


FACT_SOURCES = ("ocr", "barcode", "seller", "category")
"""``category``: inferred from the predicted category (a grocery class's known brand) when the
pack text did not show it legibly; the explanation names the class and its probability."""


@dataclass(frozen=True)
class Fact(_Serialisable):
    """A product fact with its provenance: the raw text it came from, where that was read,
    and (for choices a seller may question, such as the brand) why it was chosen.

    Numeric entities (``item_weight``, ``voltage`` …) hold a float ``value`` and a unit
    from the Amazon-ML-2024 schema; ``brand`` and ``gtin`` hold text and no unit.
    """

    entity: str
    value: float | str
    unit: str | None
    raw_text: str
    source: str = "ocr"
    span: TextSpan | None = None
    confidence: float = 1.0
    explanation: str = ""

    def __post_init__(self):
        owner = "Fact"
        _check_text(owner, "explanation", self.explanation, empty_ok=True)
        units = entity_units()
        known = sorted(units) + list(TEXT_ENTITIES)
        _require(self.entity in known, owner, "entity", f"one of {known}", self.entity)
        if self.entity in TEXT_ENTITIES:
            _check_text(owner, "value", self.value)
            _require(self.unit is None, owner, "unit", f"None for {self.entity}", self.unit)
        else:
            _require(_is_number(self.value) and self.value >= 0, owner, "value",
                     "a non-negative finite number", self.value)
            object.__setattr__(self, "value", float(self.value))
            allowed = units[self.entity]
            _require(self.unit in allowed, owner, "unit", f"one of {list(allowed)}", self.unit)
        _check_text(owner, "raw_text", self.raw_text)
        _require(self.source in FACT_SOURCES, owner, "source", f"one of {list(FACT_SOURCES)}",
                 self.source)
        _require(self.span is None or isinstance(self.span, TextSpan), owner, "span",
                 "a TextSpan or None", self.span)
        object.__setattr__(self, "confidence", _check_score(owner, "confidence", self.confidence))

    @property
    def answer(self) -> str:
        """The value as the Amazon-ML-2024 challenge writes it (``"500.0 gram"``)."""
        if self.entity in TEXT_ENTITIES:
            return str(self.value)
        return format_amlc_value(float(self.value), str(self.unit))

    @property
    def display(self) -> str:
        """Human form for listings: ``500 g``, ``1.5 L`` (no trailing ``.0``, short symbol),
        or the entity's own form where marketplaces write one ("Pack of 2", "SPF 50",
        ``vocab/entity_display.json``)."""
        if self.entity in TEXT_ENTITIES:
            return str(self.value)
        number = f"{float(self.value):g}"
        symbol = unit_symbols().get(str(self.unit), self.unit)
        form = entity_displays().get(self.entity, "{number} {symbol}")
        return form.format(number=number, symbol=symbol)


@dataclass(frozen=True)
class CategoryPrediction(_Serialisable):
    """The predicted category with the top alternatives and an 'uncertain' flag."""

    label: str
    score: float
    taxonomy: str
    top_k: list[tuple[str, float]] = field(default_factory=list)
    uncertain: bool = False
    path: list[str] = field(default_factory=list)
    """The label's ancestors, coarsest first, ending with the label (e.g. Apparel › Topwear
    › Tshirts); empty for a flat taxonomy."""

    def __post_init__(self):
        _check_text("CategoryPrediction", "label", self.label)
        object.__setattr__(self, "path", [_check_text("CategoryPrediction", "path[]", p)
                                          for p in self.path])
        _check_score("CategoryPrediction", "score", self.score)
        _check_text("CategoryPrediction", "taxonomy", self.taxonomy)
        checked = []
        for item in self.top_k:
            _require(isinstance(item, (tuple, list)) and len(item) == 2, "CategoryPrediction",
                     "top_k[]", "a (label, score) pair", item)
            checked.append((_check_text("CategoryPrediction", "top_k[].label", item[0]),
                            _check_score("CategoryPrediction", "top_k[].score", item[1])))
        object.__setattr__(self, "top_k", checked)


IDENTITY_SOURCES = ("seller", "pack", "image", "specialist")
"""Where a vote for the product's identity came from, strongest first: what the seller typed,
the words on the pack, the image recogniser, a closed-set specialist classifier."""


@dataclass(frozen=True)
class Evidence(_Serialisable):
    """One signal that voted for a taxonomy node: its source, what it saw, and its weight."""

    source: str
    value: str
    taxonomy_id: int | None
    weight: float
    detail: str = ""

    def __post_init__(self):
        _require(self.source in IDENTITY_SOURCES, "Evidence", "source",
                 f"one of {list(IDENTITY_SOURCES)}", self.source)
        _check_text("Evidence", "value", self.value)
        _require(self.taxonomy_id is None or (isinstance(self.taxonomy_id, int)
                                              and not isinstance(self.taxonomy_id, bool)
                                              and self.taxonomy_id > 0),
                 "Evidence", "taxonomy_id", "None or a positive Google taxonomy ID",
                 self.taxonomy_id)
        object.__setattr__(self, "weight", _check_score("Evidence", "weight", self.weight))
        _check_text("Evidence", "detail", self.detail, empty_ok=True)


@dataclass(frozen=True)
class Identity(_Serialisable):
    """What the product is, as a Google Product Taxonomy node, or a plain "not sure".

    ``taxonomy_id`` is None only when no node is supported at all; an uncertain identity
    keeps the deepest node the evidence agrees on ("Health & Beauty" rather than a wrong
    leaf) and says why in ``reason``."""

    taxonomy_id: int | None
    taxonomy_path: str
    product_type: str
    confidence: float
    uncertain: bool
    reason: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def __post_init__(self):
        owner = "Identity"
        _require(self.taxonomy_id is None or (isinstance(self.taxonomy_id, int)
                                              and not isinstance(self.taxonomy_id, bool)
                                              and self.taxonomy_id > 0),
                 owner, "taxonomy_id", "None or a positive Google taxonomy ID", self.taxonomy_id)
        _check_text(owner, "taxonomy_path", self.taxonomy_path, empty_ok=self.taxonomy_id is None)
        _check_text(owner, "product_type", self.product_type, empty_ok=True)
        object.__setattr__(self, "confidence", _check_score(owner, "confidence", self.confidence))
        _require(isinstance(self.uncertain, bool), owner, "uncertain", "a bool", self.uncertain)
        _require(not self.uncertain or bool(self.reason.strip()), owner, "reason",
                 "one line saying why, when uncertain", self.reason)
        for item in self.evidence:
            _require(isinstance(item, Evidence), owner, "evidence[]", "Evidence", item)


@dataclass(frozen=True)
class QualityWarning(_Serialisable):
    """Something a marketplace may reject, with the measured value and the threshold."""

    code: str
    message: str
    value: float | None = None
    threshold: float | None = None
    image_index: int | None = None

    def __post_init__(self):
        _check_text("QualityWarning", "code", self.code)
        _check_text("QualityWarning", "message", self.message)


@dataclass
class Attributes(_Serialisable):
    """Everything known about one product, fused from all its photos.

    ``provenance`` maps each stage to the model (``source@revision``) that produced it,
    so a listing can always say where each part came from.
    """

    images: list[ImageInfo] = field(default_factory=list)
    detections: list[Detections] = field(default_factory=list)
    colours: list[ColorSwatch] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    text_spans: list[TextSpan] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    category: CategoryPrediction | None = None
    identity: Identity | None = None
    """What the product is in the Google Product Taxonomy (schema 1.3; None in older JSON)."""
    warnings: list[QualityWarning] = field(default_factory=list)
    seller: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    def __post_init__(self):
        for name, kind in (("images", ImageInfo), ("detections", Detections),
                           ("colours", ColorSwatch), ("tags", Tag), ("text_spans", TextSpan),
                           ("facts", Fact), ("warnings", QualityWarning)):
            items = getattr(self, name)
            _require(isinstance(items, list), "Attributes", name, f"a list of {kind.__name__}", items)
            for item in items:
                _require(isinstance(item, kind), "Attributes", f"{name}[]", kind.__name__, item)
        _require(self.category is None or isinstance(self.category, CategoryPrediction),
                 "Attributes", "category", "a CategoryPrediction or None", self.category)
        _require(self.identity is None or isinstance(self.identity, Identity),
                 "Attributes", "identity", "an Identity or None", self.identity)
        for name in ("seller", "provenance"):
            mapping = getattr(self, name)
            ok = isinstance(mapping, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
            _require(ok, "Attributes", name, "a dict of str to str", mapping)
        _check_schema_version("Attributes", self.schema_version)

    def fact(self, entity: str) -> Fact | None:
        """The most trusted fact for ``entity``: seller-given first, then by confidence."""
        candidates = [f for f in self.facts if f.entity == entity]
        if not candidates:
            return None
        rank = {"seller": 3, "barcode": 2, "ocr": 1, "category": 0}
        return max(candidates, key=lambda f: (rank[f.source], f.confidence))

    @property
    def ocr_text(self) -> str:
        """All OCR lines, one per line, in reading order per image."""
        return "\n".join(span.text for span in self.text_spans)


@dataclass
class PrintedClaim(_Serialisable):
    """A claim the pack prints in readable English ("No artificial colours"), cleaned of OCR
    noise, with the line (or two joined lines) it was read from: ``span.image_index`` is the
    photo, ``span.box`` where on it. Listings state such claims as bullets; the span is the
    evidence a seller can check."""

    text: str
    span: TextSpan
    kind: str
    """The grammar group that matched (``describer/vocab/pack_claims.toml`` ``[kinds]``)."""

    def __post_init__(self):
        _check_text("PrintedClaim", "text", self.text)
        _require(isinstance(self.span, TextSpan), "PrintedClaim", "span", "a TextSpan",
                 self.span)
        _check_text("PrintedClaim", "kind", self.kind)


@dataclass
class Listing(_Serialisable):
    """A ready-to-publish listing plus the attributes and model versions it came from."""

    title: str
    description: str
    bullets: list[str] = field(default_factory=list)
    attributes: Attributes = field(default_factory=Attributes)
    generator: str = "template"
    template: str = ""
    tone: str = "neutral"
    length: str = "medium"
    removed_claims: list[str] = field(default_factory=list)
    """Claims the grounding guard took out of the generated text (a weight, brand or colour
    the attributes do not state), so a seller sees what the model tried to invent."""
    repaired_claims: list[str] = field(default_factory=list)
    """Claims the guard rewrote to what the attributes state ("Grey → Blue"), kept in the text."""
    printed_claims: list[PrintedClaim] = field(default_factory=list)
    """What the pack prints in readable English, each with its OCR line; the bullets state
    them after the attributes' own."""
    schema_version: str = SCHEMA_VERSION

    def __post_init__(self):
        _check_text("Listing", "title", self.title)
        _require(isinstance(self.removed_claims, list) and all(isinstance(c, str) for c in
                                                                self.removed_claims),
                 "Listing", "removed_claims", "a list of strings", self.removed_claims)
        _require(isinstance(self.repaired_claims, list) and all(isinstance(c, str) for c in
                                                                 self.repaired_claims),
                 "Listing", "repaired_claims", "a list of strings", self.repaired_claims)
        _require(isinstance(self.printed_claims, list) and all(
            isinstance(c, PrintedClaim) for c in self.printed_claims),
            "Listing", "printed_claims", "a list of PrintedClaim", self.printed_claims)
        _check_text("Listing", "description", self.description)
        _require(isinstance(self.bullets, list) and all(isinstance(b, str) and b.strip()
                                                        for b in self.bullets),
                 "Listing", "bullets", "a list of non-empty strings", self.bullets)
        _require(isinstance(self.attributes, Attributes), "Listing", "attributes", "Attributes",
                 self.attributes)
        _check_text("Listing", "generator", self.generator)
        _check_schema_version("Listing", self.schema_version)
