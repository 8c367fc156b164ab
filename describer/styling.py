"""Tone and length on every generator: the same settings (``prompts/options.toml``) shape a
model's description and the template's, after the model has written and before the guard.

A small model given "premium" or "short" in its prompt writes much the same text (on three
Myntra records the six settings gave byte-identical descriptions), so the settings also act
on the text itself: a tone may open it with a sentence that names only the brand and the
product type, or close it with the specifications; a length keeps at most its word target
(whole sentences, never the first) and adds, in order, sentences built from the attributes
that the text does not say yet (brand and taxonomy node, facts, pack claims, seller fields). Everything added comes
from the attributes and passes the guard with the rest.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2

from describer.prompting import options

_SENTENCE = re.compile(r"[^.!?]+[.!?]?")
_WORD = re.compile(r"\w+")


def styled(text: str, product: dict[str, Any], claims: list[str], tone: str,
           length: str) -> str:
    """``text`` in ``tone`` at ``length``: opening, body cut to the word target, the extra
    sentences of the length, then the specifications where the tone asks for them.

    >>> product = {"brand": "Solimo", "kind": "Vitamin Supplement", "seller": {},
    ...            "facts": [{"label": "Strength", "value": "268 mg"}]}
    >>> styled("Solimo vitamin supplement.", product, ["No artificial colours"],
    ...        "playful", "long")
    'Say hello to your new favourite vitamin supplement! Solimo vitamin supplement. Strength: 268 mg. No artificial colours.'
    >>> styled("Solimo vitamin supplement.", product, [], "technical", "short")
    'Solimo vitamin supplement. Specifications: Brand: Solimo; Type: Vitamin Supplement; Strength: 268 mg.'
    """
    tone_settings, length_settings = options()["tones"][tone], options()["lengths"][length]
    opening = _opening(tone_settings["opening"], product)
    body = _at_most(text, length_settings["words"] - _words(opening))
    said = f"{opening} {body}"
    for kind in length_settings["extra"]:
        for sentence in _extra(kind, product, claims):
            if not _already_said(sentence, said) and \
                    _words(said) + _words(sentence) <= length_settings["words"]:
                said = f"{said} {sentence}"
    if tone_settings["specifications"]:
        said = f"{said} {_specifications(product)}"
    return " ".join(said.split())


def _specifications(product: dict[str, Any]) -> str:
    """Brand, product type and every fact as "Label: value": what a technical reader scans
    for, and all of it already in the attributes."""
    named = [("Brand", product["brand"]), ("Type", product["kind"])]
    listed = [f"{label}: {value}" for label, value in named if value and value != "product"]
    listed += [f"{f['label']}: {f['value']}" for f in product["facts"]]
    return f"Specifications: {'; '.join(listed)}." if listed else ""


def _opening(template: str, product: dict[str, Any]) -> str:
    if not template:
        return ""
    kind = (product["seller"].get("Type") or product["kind"] or "product").lower()
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(
        product=product, kind=kind).strip()


def _extra(kind: str, product: dict[str, Any], claims: list[str]) -> list[str]:
    if kind == "identity":
        node = " > ".join(product.get("identity_path", "").split(" > ")[-2:])
        named = [("Brand", product["brand"]), ("Category", node)]
        return [f"{label}: {value}." for label, value in named if value]
    if kind == "facts":
        return [f"{f['label']}: {f['value']}." for f in product["facts"]]
    if kind == "claims":
        return [claim.rstrip(".") + "." for claim in claims]
    hidden = options()["seller"]["not_in_description"]
    return [f"{name}: {value}." for name, value in product["seller"].items()
            if name not in hidden]


def _at_most(text: str, words: int) -> str:
    """Whole sentences of ``text`` up to ``words`` words; the first sentence always stays."""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    kept: list[str] = []
    for sentence in sentences:
        if kept and _words(" ".join(kept)) + _words(sentence) > words:
            break
        kept.append(sentence)
    return " ".join(kept)


def _already_said(sentence: str, text: str) -> bool:
    """Whether the value of a "Label: value." sentence (or the whole sentence) is in ``text``."""
    value = sentence.split(": ", 1)[-1].rstrip(".").casefold()
    return value in text.casefold()


def _words(text: str) -> int:
    return len(_WORD.findall(text))
