"""Synthetic pack labels with known answers: the controlled half of the pack-facts benchmark.

Real pack photos seldom come with an answer for every Amazon-ML-2024 entity, so this draws a
pack-style label (brand, product, 1-2 fact lines, 1-3 distractor lines) onto a real photo and
knows the exact answer for every entity it printed. Every printed form is one the fact parser
documents (``tagger/facts.py``), so a miss is OCR noise or a parser regression, never an
unreadable convention. A label never states two values for one entity, nor both a weight and a
volume, so each answer is unambiguous. ``amlc_f1`` (``listingsmith.metrics``) is the
challenge's scoring.
"""

from __future__ import annotations

import io
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tagger.facts import predict_entity
from listingsmith.core.io import load_image
from listingsmith.core.types import entity_units, format_amlc_value
from listingsmith.metrics import amlc_f1

if TYPE_CHECKING:
    from listingsmith.core.io import ProductImage
    from listingsmith.core.types import Attributes

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
DEFAULT_FONTS = [str(FONT_DIR / name) for name in (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansCondensed.ttf")]
"""Missing files fall back to Pillow's built-in font, so the generator works anywhere."""

BACKGROUND_LONG_SIDE = 640
"""The shared photos are 224-348 px: upscaled first so a label with large text still fits."""
GLYPH_PX = (14, 40)
"""Height of a printed digit in pixels: small print up to a headline."""
ROTATE_P, MAX_DEGREES = 0.5, 12.0
BLUR_P, BLUR_RADIUS = 0.3, (0.5, 1.2)
JPEG_P, JPEG_QUALITY = 0.5, (35, 80)
DEFAULT_COUNT = 300
MAX_FAILURES = 10

Truth = dict[str, str]
"""Entity -> AMLC answer (``"500.0 gram"``) for every entity a label states."""
Analyze = Callable[[list["ProductImage"]], "Attributes"]
"""One product's photos -> its attributes, e.g. ``Tagger.analyze`` with the OCR stages."""


@dataclass
class SyntheticPack:
    """A photo with a drawn label, the AMLC answer for each entity it states, and how it was drawn.

    ``background`` is the source photo's path ("" when drawn on an in-memory image);
    ``settings`` records the font and augmentations so failures can be grouped by them.
    """

    image: Image.Image
    truth: Truth
    lines: list[str]
    background: str
    settings: dict[str, float | int | str] = field(default_factory=dict)


# --------------------------------------------------------------------------- printed values


def _value(text: str) -> float:
    """The value the parser reads from ``text``: ``,`` before exactly three digits groups
    thousands (``1,000``), any other ``,`` is a decimal comma (``1,5``)."""
    if re.fullmatch(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+", text):
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))


def _number(rng: random.Random, low: float, high: float, places: tuple[int, ...] = (0,)) -> str:
    """A value in [low, high] printed as an integer, a decimal or with a decimal comma.

    At most two decimal places: a comma before three digits would read as a thousands group.
    """
    digits = rng.choice(places)
    value = round(rng.uniform(low, high), digits)
    if digits == 0:
        return str(max(1, int(value)))
    text = f"{max(value, 10 ** -digits):.{digits}f}"
    return text.replace(".", ",") if rng.random() < 0.3 else text


def _unit(rng: random.Random, aliases: tuple[str, ...]) -> str:
    """One spelling of a unit, in the case a pack might print it (``g``, ``G``, ``Grams``)."""
    alias = rng.choice(aliases)
    return rng.choice((alias, alias.lower(), alias.upper()))


def _quantity(rng: random.Random, number: str, unit: str) -> str:
    """``500g`` or ``500 g``; a spelled-out unit always after a space (``500 grams``)."""
    space = rng.choice(("", " "))
    return f"{number}{space if len(unit) <= 3 else ' '}{unit}"


def _answer(number: str, unit_name: str) -> str:
    return format_amlc_value(_value(number), unit_name)


GRAM = ("g", "g", "gm", "gms", "gr", "grams")
KILOGRAM = ("kg", "kg", "kgs", "kilo")
OUNCE = ("oz", "ounces")
POUND = ("lb", "lbs", "pounds")
MILLILITRE = ("ml", "mL", "millilitres")
LITRE = ("L", "l", "ltr", "litre", "liters")
CENTILITRE = ("cl",)
FLUID_OUNCE = ("fl oz", "fl. oz")
VOLT = ("V", "V", "volts")
WATT = ("W", "W", "watts")
LENGTHS = {"centimetre": ("cm", "cm", "cms"), "millimetre": ("mm",), "inch": ("in", "inches")}
"""``in`` counts only at the end of a line (``5 in 1`` is not inches): used only there."""
LENGTH_RANGES = {"centimetre": (5, 120), "millimetre": (40, 900), "inch": (2, 48)}
GRAMS_PER_OUNCE = 28.349523125
GRAMS_PER_POUND = 453.59237
ML_PER_FLUID_OUNCE = 29.5735295625
POUNDS_PER_KG = 2.20462262

WEIGHT_CUES = ("", "", "Net wt ", "NET WT ", "Net Wt: ", "Net weight ", "Weight: ", "Poids net ")
VOLUME_CUES = ("", "", "", "Net vol. ", "Contents: ", "Volume ")
ESTIMATED_SIGNS = ("e ", "℮ ")


def _cue(rng: random.Random, cues: tuple[str, ...], *, metric_first: bool) -> str:
    """A cue, or the EU estimated sign only before a metric value, as EU packs print it.

    The parser reads ``℮`` as a net cue for the number right after it only, so
    ``℮ 16 oz (1 lb) 454g`` would answer the ounces: a form no EU pack prints.
    """
    return rng.choice(cues + ESTIMATED_SIGNS if metric_first else cues)


def _item_weight(rng: random.Random) -> tuple[str, Truth]:
    """Grams, kilograms, ounces or pounds, with or without a net cue, or metric beside imperial."""
    form = rng.randrange(5)
    metric_first = True
    if form == 0:
        number, unit_name = _grams(rng), "gram"
        printed = _quantity(rng, number, _unit(rng, GRAM))
    elif form == 1:
        number, unit_name = _number(rng, 0.25, 25, (0, 1, 2)), "kilogram"
        printed = _quantity(rng, number, _unit(rng, KILOGRAM))
    elif form == 2:
        number, unit_name = str(rng.choice((4, 6, 8, 12, 16, 20, 24, 32))), "ounce"
        printed, metric_first = _quantity(rng, number, _unit(rng, OUNCE)), False
    elif form == 3:  # "Net Wt: 250 g (8.8 oz)": the metric value is the answer
        number, unit_name = _grams(rng), "gram"
        ounces = f"{_value(number) / GRAMS_PER_OUNCE:.1f}"
        metric_first = rng.random() < 0.5
        printed = f"{number} g ({ounces} oz)" if metric_first else f"{ounces} oz ({number} g)"
    else:  # "Net wt. 16 oz (1 lb) 454g"
        pounds = rng.choice((1, 2, 3, 5))
        number, unit_name = str(round(pounds * GRAMS_PER_POUND)), "gram"
        printed, metric_first = f"{16 * pounds} oz ({pounds} lb) {number}g", False
    cue = _cue(rng, WEIGHT_CUES, metric_first=metric_first)
    return cue + printed, {"item_weight": _answer(number, unit_name)}


def _grams(rng: random.Random) -> str:
    """A gram count; never below 10, since an uncued ``5G`` is a network name, not a mass."""
    if rng.random() < 0.5:
        return str(rng.choice((50, 100, 125, 150, 200, 250, 300, 400, 454, 500, 750, 900)))
    return _number(rng, 10, 990, (0, 0, 1))


def _maximum_weight(rng: random.Random) -> tuple[str, Truth]:
    """A max-load cue before a mass (``Max load 150 kg``), optionally with pounds beside it."""
    kilograms = _number(rng, 2, 300, (0, 0, 1))
    entity = "maximum_weight_recommendation"
    form = rng.randrange(6)
    if form == 4:  # "Max 150 kg / 330 lbs": the metric value is the answer
        pounds = round(_value(kilograms) * POUNDS_PER_KG)
        return f"Max {kilograms} kg / {pounds} lbs", {entity: _answer(kilograms, "kilogram")}
    if form == 5:
        pounds = str(rng.randint(5, 500))
        cue = rng.choice(("Holds up to", "Supports up to"))
        line = f"{cue} {_quantity(rng, pounds, _unit(rng, POUND))}"
        return line, {entity: _answer(pounds, "pound")}
    cue = ("Max load", "Max. load:", "Load capacity:", "Maximum weight", "MAX LOAD")[form]
    line = f"{cue} {_quantity(rng, kilograms, _unit(rng, KILOGRAM))}"
    return line, {entity: _answer(kilograms, "kilogram")}


def _item_volume(rng: random.Random) -> tuple[str, Truth]:
    """Millilitres, litres, centilitres, fluid ounces; net, ℮ and contents cues; metric beside
    imperial (``25.4 FL OZ (750 mL)``), thousands grouping (``1,000 ml``)."""
    form = rng.randrange(6)
    metric_first = True
    if form == 0:
        typical = rng.choice(("100", "250", "330", "500", "750", "1,000"))
        number, unit_name = typical if rng.random() < 0.5 else _number(rng, 20, 990), "millilitre"
        printed = _quantity(rng, number, _unit(rng, MILLILITRE))
    elif form == 1:
        number, unit_name = _number(rng, 0.2, 5, (0, 1, 1, 2)), "litre"
        printed = _quantity(rng, number, _unit(rng, LITRE))
    elif form == 2:
        number, unit_name = str(rng.choice((20, 33, 35, 50, 70, 75))), "centilitre"
        printed = _quantity(rng, number, _unit(rng, CENTILITRE))
    elif form == 3:
        number, unit_name = str(rng.choice((8, 12, 16, 20, 32, 64))), "fluid ounce"
        printed, metric_first = f"{number} {_unit(rng, FLUID_OUNCE)}", False
    else:  # "25.4 FL OZ (750 mL)" / "120 ml / 4 fl oz": the metric value is the answer
        number, unit_name = str(rng.choice((120, 250, 355, 473, 500, 750, 946))), "millilitre"
        ounces = f"{_value(number) / ML_PER_FLUID_OUNCE:.1f}"
        metric_first = form == 5
        if metric_first:
            printed = f"{number} {_unit(rng, MILLILITRE)} / {ounces} {_unit(rng, FLUID_OUNCE)}"
        else:
            printed = f"{ounces} {_unit(rng, FLUID_OUNCE)} ({number} {_unit(rng, MILLILITRE)})"
    cue = _cue(rng, VOLUME_CUES, metric_first=metric_first)
    return cue + printed, {"item_volume": _answer(number, unit_name)}


def _length(rng: random.Random, unit_name: str) -> str:
    low, high = LENGTH_RANGES[unit_name]
    return _number(rng, low, high, (0, 0, 1) if unit_name != "millimetre" else (0,))


def _dimensions(rng: random.Random) -> tuple[str, Truth]:
    """``30 x 20 x 10 cm`` (width x depth x height), ``30 x 20 cm`` (width x height), lettered
    boxes, an ``L x W x H`` header, or single lengths with a cue (``W 30 cm``, ``60 cm deep``)."""
    unit_name = rng.choice(tuple(LENGTHS))
    end_unit = _unit(rng, LENGTHS[unit_name])
    mid_aliases = tuple(alias for alias in LENGTHS[unit_name] if alias != "in")
    a, b, c = (_length(rng, unit_name) for _ in range(3))
    form = rng.randrange(8)
    if form == 0:
        cue = rng.choice(("", "Size: ", "Dimensions: "))
        line, entities = f"{cue}{a} x {b} x {c} {end_unit}", ("width", "depth", "height")
    elif form == 1:
        unit = _unit(rng, mid_aliases)
        line, entities = f"{a}{unit} x {b}{unit} x {c}{unit}", ("width", "depth", "height")
    elif form == 2:
        line, entities = f"W {a} x D {b} x H {c} {end_unit}", ("width", "depth", "height")
    elif form == 3:
        line, entities = f"L x W x H: {a} x {b} x {c} {end_unit}", ("depth", "width", "height")
    elif form == 4:
        line, entities = f"{a} x {b} {end_unit}", ("width", "height")
    elif form == 5:
        unit = _unit(rng, mid_aliases)
        line, entities = f"W: {a} {unit} H: {b} {unit} D: {c} {unit}", ("width", "height", "depth")
    elif form == 6:
        entity = rng.choice(("width", "depth", "height"))
        cue = rng.choice({"width": ("W", "W:", "Width", "Width:"),
                          "depth": ("D:", "Depth", "Length:"),
                          "height": ("H", "H:", "Height", "Height:")}[entity])
        line, entities = f"{cue} {_quantity(rng, a, end_unit)}", (entity,)
    else:
        entity, trailing = rng.choice((("width", "wide"), ("depth", "deep"), ("height", "high")))
        line, entities = f"{a} {_unit(rng, mid_aliases)} {trailing}", (entity,)
    return line, {entity: _answer(number, unit_name) for entity, number in zip(entities, (a, b, c))}


def _electric(rng: random.Random) -> tuple[str, Truth]:
    """Voltage (ranges answer their maximum: ``AC 100-240V`` -> 240 volt), wattage, or both."""
    kind = rng.choice(("voltage", "wattage", "both"))
    truth: Truth = {}
    parts = []
    if kind in ("voltage", "both"):
        form = rng.randrange(4)
        if form == 0:
            low, high = rng.choice(((100, 240), (110, 220), (220, 240), (12, 24)))
            separator = "/" if (low, high) == (110, 220) else "-"
            parts.append(f"{rng.choice(('', 'AC ', 'Input: '))}{low}{separator}{high}V")
            volts = str(high)
        else:
            volts = rng.choice(("3.7", "5", "9", "12", "12", "24", "110", "120", "230"))
            cue = ("", "DC ", "Rated voltage: ", "")[form]
            parts.append(f"{cue}{_quantity(rng, volts, _unit(rng, VOLT))}")
        truth["voltage"] = _answer(volts, "volt")
    if kind in ("wattage", "both"):
        form = rng.randrange(4)
        if form == 0 and kind == "wattage":
            kilowatts = _number(rng, 1, 3, (0, 1))
            parts.append(f"{rng.choice(('', 'Power: '))}{kilowatts} kW")
            truth["wattage"] = _answer(kilowatts, "kilowatt")
        else:
            watts = str(rng.choice((4, 6, 9, 10, 18, 40, 60, 65, 100, 850, 1200, 2000)))
            cue = "Power: " if form == 1 and kind == "wattage" else ""
            printed = f"{cue}{_quantity(rng, watts, _unit(rng, WATT))}"
            if form == 2 and kind == "wattage" and int(watts) <= 18:  # LED bulb comparison
                printed += f" ({int(watts) * 7}W equivalent)"
            parts.append(printed)
            truth["wattage"] = _answer(watts, "watt")
    return " ".join(parts), truth


FACT_KINDS: dict[str, Callable[[random.Random], tuple[str, Truth]]] = {
    "weight": _item_weight, "max_load": _maximum_weight, "volume": _item_volume,
    "dimensions": _dimensions, "electric": _electric}

PRODUCTS = {
    "weight": ("Basmati Rice", "Roasted Coffee Beans", "Dark Chocolate", "Rolled Oats",
               "Ground Cinnamon", "Green Tea", "Dog Food"),
    "volume": ("Extra Virgin Olive Oil", "Orange Juice", "Hand Wash", "Shampoo",
               "Sparkling Water", "Dish Soap", "Coconut Milk"),
    "max_load": ("Wall Shelf", "Folding Step Stool", "Storage Rack", "Camping Chair",
                 "Heavy Duty Hooks"),
    "dimensions": ("Storage Box", "Photo Frame", "Cutting Board", "Laundry Basket",
                   "Desk Organizer"),
    "electric": ("LED Desk Lamp", "Power Adapter", "Electric Kettle", "USB Charger",
                 "Hair Dryer", "LED Bulb"),
}

SYLLABLES = ("nor", "vi", "ka", "lo", "tre", "mi", "sa", "ven", "do", "ra", "lux", "zen", "pa",
             "bel", "tor", "ma", "fi", "kor", "el")


def _brand(rng: random.Random) -> str:
    word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
    word = word.upper() if rng.random() < 0.4 else word.capitalize()
    return word + rng.choice(("", "", "", " Foods", " Home", " & Co.", " Living"))


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _distractor(rng: random.Random) -> str:
    """Numbers that are not pack facts: prices, codes, dates, nutrition rows, counts, phones."""
    cents = f"{rng.randint(0, 99):02d}"
    kcal = rng.randint(40, 550)
    choices = (
        f"${rng.randint(1, 49)}.{cents}", f"{rng.randint(1, 49)},{cents} €",
        f"Rs. {rng.randint(20, 999)}", f"MRP Rs {rng.randint(20, 999)}",
        f"LOT {rng.randint(1, 9)}{_digits(rng, 5)}",
        f"Batch No. {rng.randint(1, 9)}{_digits(rng, 4)}",
        f"EXP {rng.randint(1, 12):02d}/{rng.randint(2025, 2030)}",
        f"Best before {rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(2025, 2030)}",
        f"Per 100{rng.choice(('g', ' g', 'ml'))}: {kcal} kcal / {round(kcal * 4.184)} kJ",
        f"Fat {rng.randint(1, 30)}.{rng.randint(0, 9)} g of which saturates {rng.randint(1, 9)} g",
        f"{rng.randint(10, 60)} servings", f"{rng.randint(1, 30)}% fat",
        f"Tel. +{rng.randint(30, 49)} {rng.randint(100, 999)} {_digits(rng, 3)} {_digits(rng, 4)}",
        f"Model ST{rng.randint(100, 9999)}", f"Model {rng.randint(100, 9999)}W",
    )
    return rng.choice(choices)


def _label_text(rng: random.Random) -> tuple[list[str], Truth]:
    """The printed lines and their answers: brand first, the rest in random order."""
    kinds = list(FACT_KINDS)
    first = rng.choice(kinds)
    chosen = [first]
    if rng.random() < 0.5:
        # one value per entity; a weight beside a volume would need both answers
        others = [k for k in kinds if k != first and {k, first} != {"weight", "volume"}]
        chosen.append(rng.choice(others))
    truth: Truth = {}
    body = [rng.choice(PRODUCTS[first])]
    for kind in chosen:
        line, answers = FACT_KINDS[kind](rng)
        body.append(line)
        truth.update(answers)
    body += [_distractor(rng) for _ in range(rng.randint(1, 3))]
    rng.shuffle(body)
    return [_brand(rng)] + body, truth


# --------------------------------------------------------------------------- drawing


@lru_cache(maxsize=None)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default(size=size)


@lru_cache(maxsize=None)
def _draws(path: str, char: str) -> bool:
    """Whether the font has a glyph for ``char`` rather than its missing-glyph box."""
    font = _font(path, 40)
    return bytes(font.getmask(char)) != bytes(font.getmask("\ue000"))


def _font_for_glyph(path: str, glyph_px: int) -> ImageFont.FreeTypeFont:
    """The font size whose digits are ``glyph_px`` tall (digit height differs between fonts)."""
    _, top, _, bottom = _font(path, 100).getbbox("0")
    return _font(path, max(6, round(glyph_px * 100 / (bottom - top))))


LIGHT_PANELS = ((248, 248, 244), (255, 250, 228), (236, 242, 248), (250, 236, 214))
DARK_INKS = ((20, 20, 20), (28, 40, 92), (96, 22, 22))
DARK_PANELS = ((24, 24, 30), (22, 46, 82), (64, 20, 32), (22, 62, 42))
LIGHT_INKS = ((250, 250, 250), (255, 232, 150))


def _draw_label(lines: list[str], font_path: str, glyph_px: int, rng: random.Random) -> Image.Image:
    """A rounded light-on-dark or dark-on-light panel; the brand line 1.3x larger."""
    fonts = [_font_for_glyph(font_path, round(glyph_px * 1.3))]
    fonts += [_font_for_glyph(font_path, glyph_px)] * (len(lines) - 1)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [measure.textbbox((0, 0), line, font=font) for line, font in zip(lines, fonts)]
    widths = [box[2] - box[0] for box in boxes]
    heights = [box[3] - box[1] for box in boxes]
    gap = round(glyph_px * rng.uniform(0.5, 0.9))
    pad = round(glyph_px * rng.uniform(0.8, 1.4))
    size = (max(widths) + 2 * pad, sum(heights) + gap * (len(lines) - 1) + 2 * pad)
    if rng.random() < 0.6:
        panel, ink = rng.choice(LIGHT_PANELS), rng.choice(DARK_INKS)
    else:
        panel, ink = rng.choice(DARK_PANELS), rng.choice(LIGHT_INKS)
    centred = rng.random() < 0.5
    label = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(label)
    draw.rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius=pad, fill=panel + (255,))
    y = pad
    for line, font, box, width, height in zip(lines, fonts, boxes, widths, heights):
        x = pad + ((max(widths) - width) // 2 if centred else 0)
        draw.text((x - box[0], y - box[1]), line, font=font, fill=ink + (255,))
        y += height + gap
    return label


def _fit_background(photo: Image.Image, label_size: tuple[int, int]) -> Image.Image:
    """The photo upscaled to ``BACKGROUND_LONG_SIDE``, or further when the label would not fit."""
    scale = BACKGROUND_LONG_SIDE / max(photo.size)
    scale = max(scale, label_size[0] / (0.95 * photo.width), label_size[1] / (0.95 * photo.height))
    size = (round(photo.width * scale), round(photo.height * scale))
    return photo.convert("RGB").resize(size, Image.Resampling.BICUBIC)


def degrade(photo: Image.Image, rng) -> tuple[Image.Image, float, int]:
    """A phone photo's flaws, drawn from ``rng``: sometimes a blur, sometimes JPEG re-encoding;
    the photo, the blur radius (0: none) and the JPEG quality (0: none)."""
    blur = rng.uniform(*BLUR_RADIUS) if rng.random() < BLUR_P else 0.0
    if blur:
        photo = photo.filter(ImageFilter.GaussianBlur(blur))
    quality = rng.randint(*JPEG_QUALITY) if rng.random() < JPEG_P else 0
    if quality:
        photo = _jpeg(photo, quality)
    return photo, blur, quality


def _jpeg(photo: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def render_pack(background: Image.Image, rng: random.Random, *, fonts: list[str]) -> SyntheticPack:
    """Draw a random label onto ``background``, placed anywhere, then maybe rotate, blur, JPEG.

    Deterministic for a given ``rng`` state; ``background`` is not modified.
    """
    lines, truth = _label_text(rng)
    font_path = rng.choice(fonts)
    if not _draws(font_path, "℮"):
        lines = [line.replace("℮", "e") for line in lines]  # the parser reads both alike
    glyph_px = rng.randint(*GLYPH_PX)
    label = _draw_label(lines, font_path, glyph_px, rng)
    degrees = rng.uniform(-MAX_DEGREES, MAX_DEGREES) if rng.random() < ROTATE_P else 0.0
    if degrees:
        label = label.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)
    photo = _fit_background(background, label.size)
    x, y = rng.randint(0, photo.width - label.width), rng.randint(0, photo.height - label.height)
    photo.paste(label, (x, y), label)
    photo, blur, quality = degrade(photo, rng)
    settings = {"font": Path(font_path).stem, "glyph_px": glyph_px, "degrees": round(degrees, 1),
                "blur": round(blur, 2), "jpeg_quality": quality}
    source = str(getattr(background, "filename", "") or "")
    return SyntheticPack(image=photo, truth=truth, lines=lines, background=source,
                         settings=settings)


# --------------------------------------------------------------------------- sets


def backgrounds(data: Path) -> list[Path]:
    """Real photos to draw on: fashion studio shots and supermarket produce, as many of each.

    Grocery *Packages* photos are left out: a weight or volume printed on the real carton would
    be a fact the truth does not state.
    """
    grocery = [data / "grocery" / "images" / line.split(",")[0].strip().lstrip("/")
               for line in (data / "grocery" / "train.txt").read_text().splitlines()
               if line.strip() and "/Packages/" not in line]
    fashion = sorted((data / "fashion" / "images").glob("*.jpg"))
    step = max(1, len(fashion) // max(1, len(grocery)))
    return fashion[::step] + grocery


def iter_packs(data: Path, count: int, seed: int = 0) -> Iterator[SyntheticPack]:
    """``make_set`` one pack at a time; pack ``i`` depends only on ``seed`` and ``i``."""
    photos = backgrounds(data)
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        with Image.open(photos[rng.randrange(len(photos))]) as photo:
            yield render_pack(photo, rng, fonts=DEFAULT_FONTS)


def make_set(data: Path, count: int, seed: int = 0) -> list[SyntheticPack]:
    """``count`` packs, the same for the same ``seed`` (and a prefix of any larger set)."""
    return list(iter_packs(data, count, seed))


# --------------------------------------------------------------------------- scoring


def run_synthetic(data: Path, limit: int | None, analyze: Analyze) -> tuple[dict, str, list[str]]:
    """Render ``limit or 300`` packs, read each through ``analyze`` and score every entity.

    Each pack goes through a temporary PNG and ``load_image``, as a user's photo would. Returns
    (metrics, markdown table with one row per entity and an ``all`` row, up to ten failures);
    ``seconds_per_image`` is the mean of ``analyze`` after the first call, which loads models.
    """
    entities = list(entity_units())
    predictions: list[Truth] = []
    truths: list[Truth] = []
    seconds: list[float] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="synthetic-packs-") as folder:
        for index, pack in enumerate(iter_packs(data, limit or DEFAULT_COUNT)):
            path = Path(folder) / f"pack-{index:04d}.png"
            pack.image.save(path)
            image = load_image(path)
            start = time.perf_counter()
            attributes = analyze([image])
            seconds.append(time.perf_counter() - start)
            path.unlink()
            predicted = {entity: answer for entity in entities
                         if (answer := predict_entity(attributes.facts, entity))}
            predictions.append(predicted)
            truths.append(pack.truth)
            if predicted != pack.truth and len(failures) < MAX_FAILURES:
                read = [span.text for span in attributes.text_spans]
                failures.append(f"truth {pack.truth}, predicted {predicted}, printed lines "
                                f"{pack.lines}, OCR read {read}, drawn {pack.settings}")
    overall = amlc_f1(predictions, truths, entities)
    per_entity = {entity: amlc_f1(predictions, truths, [entity]) for entity in entities}
    warm = seconds[1:] or seconds  # the first call loads the models
    metrics = {**overall, "count": len(truths), "first_call_s": round(seconds[0], 3),
               "seconds_per_image": round(statistics.fmean(warm), 3),
               "per_entity": {entity: {"f1": s["f1"], "precision": s["precision"],
                                       "recall": s["recall"], "printed": s["tp"] + s["fn"]}
                              for entity, s in per_entity.items()}}
    table = ["| entity | printed | TP | FP | FN | precision | recall | F1 |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in [*per_entity.items(), ("all", overall)]:
        table.append(f"| {name} | {s['tp'] + s['fn']} | {s['tp']} | {s['fp']} | {s['fn']} | "
                     f"{s['precision']} | {s['recall']} | {s['f1']} |")
    return metrics, "\n".join(table), failures
