"""What a seller typed, as evidence: a record's fields (or a photo's seller fields) become
facts and, for records, the product's identity.

The seller's title is the best evidence there is, so every quantity it states becomes a
seller fact, and what its words say the product is becomes the identity. ``listingsmith
write``, batch and the describe benchmark all build a record's attributes here.
"""

from __future__ import annotations

from dataclasses import replace

from listingsmith.core.types import Attributes, Fact, TextSpan
from tagger.facts import MIN_CONFIDENCE, distinct_facts, seller_facts
from tagger.identify import default_identifier
from tagger.more_facts import parse_product_facts

TITLE_FIELDS = ("title", "product_name", "name")
"""Seller fields holding the product's title; the quantities it states become seller facts."""


def title_facts(seller: dict[str, str]) -> list[Fact]:
    """The facts a seller's title states ("Philips 9W LED Bulb E27, Pack of 2" → 9 W, E27,
    pack of 2; "365 Capsules", "SPF 50", "8+ years" …), as seller facts: the title is the
    best evidence there is, and every fact it states must reach the listing."""
    found = []
    for name in TITLE_FIELDS:
        title = seller.get(name, "").strip()
        if not title:
            continue
        span = TextSpan(text=title, box=(0, 0, 0, 0), score=1.0)
        found += [Fact(entity=fact.entity, value=fact.value, unit=fact.unit, raw_text=title,
                       source="seller", confidence=fact.confidence)
                  for fact in parse_product_facts([span])]
    return found


def with_seller_facts(attributes: Attributes) -> Attributes:
    """The attributes with the facts of the seller's fields and title, each once."""
    facts = attributes.facts + seller_facts(attributes.seller) + title_facts(attributes.seller)
    return replace(attributes, facts=distinct_facts(facts, MIN_CONFIDENCE))


def record_attributes(fields: dict[str, str]) -> Attributes:
    """A seller record (no photos) as attributes: every field kept as the seller gave it,
    entity fields (``item_weight: "500 g"``) and the title's quantities as facts, and the
    product's identity from what the record's text says it is."""
    attributes = Attributes(seller=dict(fields), provenance={"facts": "seller",
                                                             "identify": "seller"})
    attributes.identity = default_identifier().identify(attributes.seller)
    return with_seller_facts(attributes)
