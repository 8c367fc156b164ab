"""Titles by formula: brand + what the branch's buyers search for + product type (the
seller's own name for the product where a title was given), then the facts, in the order ``prompts/titles.toml`` gives for the product's Google taxonomy branch.

Marketplace title guides (Amazon, Google Merchant, Flipkart) agree on the shape: brand first,
the product type a buyer types, the attributes that tell variants apart (colour for apparel,
strength and count for supplements, wattage and base for bulbs), then size or pack count;
at most 150 characters, no promotional words, no words in capitals. A formula only orders
what the attributes hold, so a title never states what no photo or seller field does.
"""

from __future__ import annotations

import re
from typing import Any

from listingsmith.core import vocab

_CAPS_WORD = re.compile(r"\b[A-Z][A-Z0-9.\-]*[A-Z]\b")


def settings() -> dict[str, Any]:
    return vocab.load("prompts", "titles.toml")


def formula(identity_path: str) -> dict[str, list[str]]:
    """The head and fact slots of the deepest branch of ``titles.toml`` that is a prefix of
    ``identity_path`` ("Home & Garden > Lighting > Light Bulbs" → "Home & Garden >
    Lighting"); "default" when none is.

    >>> formula("Home & Garden > Lighting > Light Bulbs")["facts"][:2]
    ['wattage', 'bulb_base']
    >>> formula("")["head"]
    ['brand', 'gender', 'colour', 'product_type']
    """
    branches = settings()["branches"]
    matching = [name for name in branches
                if identity_path == name or identity_path.startswith(name + " > ")]
    return branches[max(matching, key=len)] if matching else branches["default"]


def formula_title(product: dict[str, Any]) -> str:
    """The title of a product as templates see it (``prompting.product_context``): head words
    joined by spaces, facts after commas, trimmed from the end to ``max_chars``.

    >>> formula_title({"brand": "SOLMO", "kind": "vitamin supplement", "colours": ["Black"],
    ...                "identity_path": "Health & Beauty > Health Care > Fitness & Nutrition",
    ...                "seller": {}, "fact_values": {"strength": "268 mg",
    ...                                              "unit_count": "365 capsules"}})
    'Solmo Vitamin Supplement, 268 mg, 365 capsules'
    """
    slots = formula(product.get("identity_path", ""))
    head = _dedupe_words([_head_value(slot, product) for slot in slots["head"]])
    facts = [product["fact_values"][entity] for entity in slots["facts"]
             if entity in product.get("fact_values", {})]
    limit = settings()["max_chars"]
    title = ", ".join([" ".join(head), *facts]).strip(", ")
    while len(title) > limit and facts:
        facts.pop()
        title = ", ".join([" ".join(head), *facts]).strip(", ")
    return _no_shouting(title[:limit].rsplit(" ", 1)[0] if len(title) > limit else title)


def _head_value(slot: str, product: dict[str, Any]) -> str:
    if slot == "brand":
        return product.get("brand", "")
    if slot == "product_type":
        kind = product.get("name") or product["seller"].get("Type") or product.get("kind", "")
        return " ".join(word[:1].upper() + word[1:] if word.islower() else word
                        for word in kind.split())
    if slot == "colour" and product.get("colours"):
        return product["colours"][0]
    fields = {name.casefold(): value for name, value in product["seller"].items()}
    return next((fields[name] for name in settings()["seller_slots"].get(slot, ())
                 if fields.get(name)), "")


def _dedupe_words(values: list[str]) -> list[str]:
    """Head values without one that repeats words already said ("Women" twice, a colour
    the product type already names: "Navy Blue" before "Navy Blue Dress")."""
    kept: list[str] = []
    for value in (v.strip() for v in values):
        if value and not _says(" ".join(kept), value):
            kept.append(value)
    return [value for index, value in enumerate(kept)
            if not any(_says(later, value) for later in kept[index + 1:])]


def _says(text: str, words: str) -> bool:
    """Whether ``text`` contains ``words`` as whole words, ignoring case."""
    return re.search(r"(?<!\w)" + re.escape(words) + r"(?!\w)", text, re.IGNORECASE) is not None


def _no_shouting(title: str) -> str:
    """ALL-CAPS words in title case, except units, codes and short initials
    (``keep_caps``, ``short_caps_letters``).

    >>> _no_shouting("SOLIMO LED Bulb E27 by HP")
    'Solimo LED Bulb E27 by HP'
    """
    keep = {word.upper() for word in settings()["keep_caps"]}
    short = settings()["short_caps_letters"]

    def soften(match: re.Match) -> str:
        word = match.group(0)
        letters = sum(c.isalpha() for c in word)
        return word if word.upper() in keep or letters <= short else word.capitalize()

    return _CAPS_WORD.sub(soften, title)
