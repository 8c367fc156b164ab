"""Grounding guard: the checkable claims of a listing text, and those its attributes do not support.

A small model, or a retrieval baseline that copies another product's text, writes fluent
sentences that may state a weight, a brand or a colour this product does not have. The guard
finds three kinds of claim (``describer.claims``; the word lists are data, see
``describer.claim_vocab``):

* **quantities**: a number with a unit from ``listingsmith/core/vocab/units.json`` or the
  extra units of ``describer/vocab/guard.toml`` (``500 g``, ``1,5 L``, ``220-240V``,
  ``30 x 20 cm``, ``2 years``, ``100%``, and word-first ``Pack of 2``, ``SPF 50``).
* **bare numbers** ("1 patch pocket", "5-pocket"): a number the attributes' texts do not
  hold anywhere is invented; ``ground`` cuts the list item that holds it ("…, curved hem,
  and 1 patch pocket" keeps "…, curved hem"), or the sentence when the number is in its
  first item.
* **brands**: names of the brand list the guard is given (``describer/vocab/brands.txt``),
  written with a capital or exactly as listed.
* **colours**: names of the retail colour vocabulary (``tagger/vocab/colours.csv``). Names
  that are also ordinary words ("olive", "rose", "gold") count only beside a colour word
  ("gold-toned", "olive colour"); a colour word naming an ingredient ("green tea") is none.

Titles, and the first sentence of a description, which say what the product *is*, are also
checked for **product types**: a fashion type of ``describer/vocab/product_types.json``
("trousers", "t-shirt") whose family (Apparel/Bottomwear, Footwear, Personal Care …) is not
the family of anything the attributes say the product is (category, product-type tags,
seller fields; a grocery category is a family of its own). A small model writing "trousers"
for a vitamin jar is caught; a later "pair it with jeans" is a styling tip, not a claim.
Nothing is checked when the attributes name no known family.

When the identity is sure (``attributes.identity`` not uncertain, with a taxonomy node), every
sentence and the title are also checked against its Google top-level branch: a product type of
``describer/vocab/branch_types.json`` none of whose branches is the identity's ("T-Shirts" for
a vitamin jar, ``branch_type_violations``) and a part of ``describer/vocab/branch_parts.toml``
the branch's products never have ("sleeves" for a bulb, "nutrition facts" for a bag,
``branch_part_violations``) are violations, unless the attributes themselves name them. An
uncertain or absent identity leaves only the family rules.

A claim is supported when the attributes state it:

* a quantity, when every number in it equals (within ``guard.toml``'s ``relative_tolerance``,
  after conversion to one unit per dimension: 500 g == 0.5 kg == 500gm) a fact or a number
  with a unit in the seller fields, OCR text, category or tags;
* a brand, when it is the attributes' brand or those texts contain it;
* a colour, when it is one of the attributes' colours, the family of one (text "blue" for
  "Navy Blue": a true generalisation; text "Navy Blue" for "Blue" is a guess and a
  violation), or those texts contain it ("green" for the type "Green Tea").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from describer import claim_vocab
from describer.claims import (Claim, ClaimFinder, bare_numbers, branch_type_claims,
                              colour_claims, quantity_claims, squash_spaces, type_claims)
from describer.prompting import reads_like_instruction
from listingsmith.core.errors import ListingsmithError
from listingsmith.metrics import numbers
from listingsmith.core.types import TEXT_ENTITIES, Attributes
from tagger.identify import lacks_garment_parts, outside_known_domains
from tagger.taxonomy import taxonomy

_SENTENCE = re.compile(r"(?<=[.!?])\s+")

@dataclass(frozen=True)
class Repair:
    """A claim the guard rewrote to what the attributes state: "Grey" → "Blue"."""

    claim: Claim
    replacement: str

    def __str__(self) -> str:
        return f"{self.claim.text} → {self.replacement}"


@dataclass(frozen=True)
class InventedFacts:
    """How often texts state what their attributes do not: the headline grounding metric."""

    texts: int
    with_violation: int
    claims: int
    violations: int

    @property
    def rate(self) -> float:
        """Share of texts with at least one unsupported claim."""
        return self.with_violation / self.texts if self.texts else 0.0

    @property
    def claims_per_text(self) -> float:
        return self.claims / self.texts if self.texts else 0.0

    @property
    def violations_per_text(self) -> float:
        return self.violations / self.texts if self.texts else 0.0


@dataclass(frozen=True)
class _Evidence:
    """What the attributes state, in the forms claims are compared in."""

    quantities: tuple[tuple[float, str], ...]
    brands: frozenset[str]
    colours: frozenset[str]
    text: str
    numbers: frozenset[str]
    """Every number the texts hold, normalised (``listingsmith.metrics.numbers``)."""


class Guard:
    """Finds and checks claims; built once per brand list (the brand pattern is large)."""

    def __init__(self, brands: Iterable[str] = ()):
        self._finder = ClaimFinder(brands)

    def find_claims(self, text: str) -> list[Claim]:
        """Quantities, brands and colours in ``text``, in reading order
        (``ClaimFinder.find_claims``)."""
        return self._finder.find_claims(text)

    def violations(self, text: str, attributes: Attributes) -> list[Claim]:
        """The claims of ``text`` that ``attributes`` do not support."""
        return _unsupported(self.find_claims(text), _evidence(attributes))

    def ground(self, text: str, attributes: Attributes) -> tuple[str, list[Claim]]:
        """``text`` without the sentences that hold a violation, and those violations.

        The first sentence is also checked for product types (``product_type_violations``),
        every other one for product types of another taxonomy branch than a sure identity's
        (``branch_type_violations``: "pair it with jeans" stays a styling tip for a shirt),
        every sentence for parts the product cannot have (``part_violations``) and for words
        no catalogue text or English vocabulary has (``unknown_words``: a small model's
        babble).
        The caller falls back to the template text when nothing remains.
        """
        evidence = _evidence(attributes)
        kept, dropped = [], []
        for index, sentence in enumerate(_SENTENCE.split(text.strip())):
            sentence, cut = _without_invented_numbers(sentence, evidence)
            dropped.extend(cut)
            found = _unsupported(self.find_claims(sentence), evidence)
            found += (self.product_type_violations(sentence, attributes) if index == 0
                      else branch_type_violations(sentence, attributes))
            found += part_violations(sentence, attributes) + unknown_words(sentence, evidence)
            if found:
                dropped.extend(found)
            elif sentence:
                kept.append(sentence)
        return " ".join(kept), dropped

    def repair(self, text: str, attributes: Attributes) -> tuple[str, list[Repair]]:
        """``text`` with the unsupported claims the attributes can correct rewritten.

        A run of colours ("white, navy and orange") loses its unsupported names, or becomes
        the product's colour when none is supported; a brand becomes the product's brand; a
        one-number quantity becomes the product's only quantity of that dimension ("250 ml"
        → "500 ml"). What cannot be corrected (no colour, brand or single quantity to put
        in) stays for ``ground`` to drop. Repairs only touch what the guard can check: the
        rest of a sentence is the generator's.
        """
        evidence = _evidence(attributes)
        claims = self.find_claims(text)
        edits = _colour_repairs([c for c in claims if c.kind == "colour"], text, evidence,
                                stated_colour(attributes))
        brand = stated_brand(attributes)
        quantities = _stated_quantities(attributes)
        for claim in claims:
            if _supported(claim, evidence):
                continue
            if claim.kind == "brand" and brand:
                edits.append(Repair(claim, brand.upper() if claim.text.isupper() else brand))
            elif claim.kind == "quantity" and len(claim.quantities) == 1:
                dimension = claim.quantities[0][1]
                if len(quantities.get(dimension, ())) == 1:
                    edits.append(Repair(claim, quantities[dimension][0]))
        for edit in sorted(edits, key=lambda e: e.claim.start, reverse=True):
            text = text[:edit.claim.start] + edit.replacement + text[edit.claim.end:]
        return text, sorted(edits, key=lambda e: e.claim.start)

    def product_type_violations(self, text: str, attributes: Attributes) -> list[Claim]:
        """Product types ``text`` names from a family the product is not in (call it on what
        says what the product is: a title, a description's first sentence), and, for a sure
        identity, types of another taxonomy branch (``branch_type_violations``)."""
        families = product_families(attributes)
        types = claim_vocab.product_types()["types"]
        found = [c for c in type_claims(text) if families and types[c.name] not in families]
        return _without_overlaps(found + branch_type_violations(text, attributes))

    def invented_fact_rate(self, texts: Sequence[str],
                           attributes_list: Sequence[Attributes]) -> InventedFacts:
        """Share of ``texts`` with at least one violation, plus claims and violations per text."""
        if len(texts) != len(attributes_list):
            raise ListingsmithError(f"invented_fact_rate: {len(texts)} texts but "
                                    f"{len(attributes_list)} attributes; pass one per text")
        claims = violations = with_violation = 0
        for text, attributes in zip(texts, attributes_list):
            found = self.find_claims(text)
            bad = len(_unsupported(found, _evidence(attributes)))
            claims += len(found)
            violations += bad
            with_violation += bad > 0
        return InventedFacts(len(texts), with_violation, claims, violations)


def find_claims(text: str, brands: Iterable[str] = ()) -> list[Claim]:
    """Quantities, colours and (given a brand list) brands stated in ``text``.

    >>> [c.text for c in find_claims("Net weight 500gm, 2 pockets, navy blue.")]
    ['500gm', 'navy blue']
    """
    return _guard(tuple(brands)).find_claims(text)


def violations(text: str, attributes: Attributes, brands: Iterable[str] = ()) -> list[Claim]:
    """The claims of ``text`` that ``attributes`` do not support."""
    return _guard(tuple(brands)).violations(text, attributes)


def ground(text: str, attributes: Attributes,
           brands: Iterable[str] = ()) -> tuple[str, list[Claim]]:
    """``text`` without its unsupported sentences, and the violations that removed them."""
    return _guard(tuple(brands)).ground(text, attributes)


def invented_fact_rate(texts: Sequence[str], attributes_list: Sequence[Attributes],
                       brands: Iterable[str] = ()) -> InventedFacts:
    """Share of texts with at least one unsupported claim (and claims per text)."""
    return _guard(tuple(brands)).invented_fact_rate(texts, attributes_list)


@lru_cache(maxsize=4)
def _guard(brands: tuple[str, ...]) -> Guard:
    return Guard(brands)


def default_guard(extra_brands: Iterable[str] = ()) -> Guard:
    """The product's guard: the shipped brands plus any the seller lists."""
    return _guard(tuple(sorted(set(claim_vocab.shipped_brands()) | set(extra_brands))))


_COLOUR_JOIN = re.compile(r"\s*(?:,|&|/|\+|and)\s*|[\s-]+", re.IGNORECASE)
"""What may stand between two colours of one run: "white, navy and orange", "black/red"."""


def _colour_repairs(colours: list[Claim], text: str, evidence: _Evidence,
                    colour: str | None) -> list[Repair]:
    """One repair per run of adjacent colours holding an unsupported one (see ``repair``)."""
    runs: list[list[Claim]] = []
    for claim in colours:
        if runs and _COLOUR_JOIN.fullmatch(text[runs[-1][-1].end:claim.start]):
            runs[-1].append(claim)
        else:
            runs.append([claim])
    repairs = []
    for run in runs:
        kept = [c.text for c in run if _supported(c, evidence)]
        if len(kept) == len(run) or not (kept or colour):
            continue
        words = _listed(kept) if kept else _cased_like(run[0].text, colour)
        whole = Claim("colour", text[run[0].start:run[-1].end], run[0].start, run[-1].end,
                      name=run[0].name)
        repairs.append(Repair(whole, words))
    return repairs


def _listed(words: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _cased_like(written: str, name: str) -> str:
    """``name`` cased as the text it replaces: "Grey" → "Blue", "grey" → "blue", "GREY" → "BLUE"."""
    if written.isupper() and len(written) > 1:
        return name.upper()
    return name[:1].upper() + name[1:] if written[:1].isupper() else name.lower()


def stated_colour(attributes: Attributes) -> str | None:
    """The product's main colour: the first one its seller colour field names, else the
    photos' top colour."""
    for key, value in attributes.seller.items():
        if "colour" in key.lower() or "color" in key.lower():
            named = colour_claims(value, strict=False)
            if named:
                return named[0].name
    return attributes.colours[0].name if attributes.colours else None


def stated_brand(attributes: Attributes) -> str | None:
    """The seller's brand field, else a brand fact read on the pack."""
    for key, value in attributes.seller.items():
        if key.lower() == "brand" and value.strip():
            return value.strip()
    return next((str(f.value) for f in attributes.facts if f.entity == "brand"), None)


def _stated_quantities(attributes: Attributes) -> dict[str, list[str]]:
    """Dimension → the distinct quantities the facts state, as listings write them."""
    found: dict[str, dict[float, str]] = {}
    for fact in attributes.facts:
        if fact.entity in TEXT_ENTITIES:
            continue
        unit = claim_vocab.unit_named(str(fact.unit))
        value = round(float(fact.value) * unit.factor, 6)
        found.setdefault(unit.dimension, {}).setdefault(value, fact.display)
    return {dimension: list(values.values()) for dimension, values in found.items()}


# --------------------------------------------------------------------------- evidence


def _evidence(attributes: Attributes) -> _Evidence:
    texts = list(attributes.seller.values()) + [span.text for span in attributes.text_spans
                                                if not reads_like_instruction(span.text)]
    texts += [tag.name for tag in attributes.tags]
    if attributes.category is not None:
        texts += [attributes.category.label, *attributes.category.path]
    quantities = []
    brands = {v.casefold() for k, v in attributes.seller.items() if k.lower() == "brand"}
    for fact in attributes.facts:
        texts.append(fact.raw_text)
        if fact.entity in TEXT_ENTITIES:
            if fact.entity == "brand":
                brands.add(str(fact.value).casefold())
            continue
        unit = claim_vocab.unit_named(str(fact.unit))
        quantities.append((float(fact.value) * unit.factor, unit.dimension))
    for text in texts:
        quantities.extend(q for claim in quantity_claims(text) for q in claim.quantities)
    colours = {swatch.name for swatch in attributes.colours}
    for key, value in attributes.seller.items():
        if "colour" in key.lower() or "color" in key.lower():
            colours.update(c.name for c in colour_claims(value, strict=False))
    text = " | ".join(squash_spaces(t) for t in texts).casefold()
    return _Evidence(tuple(quantities), frozenset(brands), frozenset(colours), text,
                     frozenset(numbers(text)))


_LIST_ITEM = re.compile(r"(?:,\s*(?:and\s+|or\s+)?)?(?:[^,]|,(?=\d))+")


def _without_invented_numbers(sentence: str, evidence: _Evidence) -> tuple[str, list[Claim]]:
    """``sentence`` without the comma-separated items that hold a number the attributes'
    texts do not, and those numbers. A number in the sentence's first item (its subject) is
    returned with the sentence emptied: what is left would not say what the product is."""
    invented = [c for c in bare_numbers(sentence) if c.name not in evidence.numbers]
    if not invented:
        return sentence, []
    items = list(_LIST_ITEM.finditer(sentence))
    bad = [item for item in items if any(item.start() <= c.start < item.end() for c in invented)]
    if bad and bad[0] is items[0]:
        return "", invented
    kept = "".join(item.group(0) for item in items if item not in bad).rstrip(" ,")
    ending = sentence.rstrip()[-1:] if sentence.rstrip()[-1:] in ".!?" else ""
    return (kept if kept.endswith(ending) else kept + ending), invented


def _unsupported(claims: list[Claim], evidence: _Evidence) -> list[Claim]:
    return [c for c in claims if not _supported(c, evidence)]


def _supported(claim: Claim, evidence: _Evidence) -> bool:
    if claim.kind == "quantity":
        return all(any(dimension == d and _close(value, v) for v, d in evidence.quantities)
                   for value, dimension in claim.quantities)
    if claim.kind == "brand" and claim.name.casefold() in evidence.brands:
        return True
    if claim.kind == "colour":
        family = claim.name.lower()  # "Blue" for a "Navy Blue" product: a true generalisation
        if claim.name in evidence.colours or (
                family in claim_vocab.colour_families().values()
                and any(claim_vocab.colour_families().get(c) == family for c in evidence.colours)):
            return True
    return _contains_words(evidence.text, claim.text)


def unknown_words(text: str, evidence: _Evidence | Attributes) -> list[Claim]:
    """Words of ``text`` that are in neither the lexicon (``describer/vocab/words.txt``:
    catalogue words and MiniLM's English vocabulary), as written or with a common ending
    removed, nor the attributes: "fira aloda" from a model that lost its way.

    >>> [c.text for c in unknown_words("A rich aloda for the skin.", Attributes())]
    ['aloda']
    """
    if isinstance(evidence, Attributes):
        evidence = _evidence(evidence)
    attribute_words = set(_WORD.findall(evidence.text))
    return [Claim("word", match.group(0), match.start(), match.end(), name=match.group(0).lower())
            for match in _WORD.finditer(text)
            if not _known(match.group(0).lower(), attribute_words)]


_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")

def _known(word: str, attribute_words: set[str]) -> bool:
    lexicon = claim_vocab.lexicon()
    if word in lexicon or word in attribute_words:
        return True
    if "-" in word:
        return all(_known(part, attribute_words) for part in word.split("-"))
    return any(word.endswith(e) and word[:-len(e)] in lexicon for e in claim_vocab.word_endings())


def part_violations(text: str, attributes: Attributes) -> list[Claim]:
    """Parts ``text`` names that no family of the product has in the training descriptions
    ("has a round neck" for a handbag; every garment, shoe or bag part for a product whose
    identity lies outside those branches, such as a vitamin jar or a bulb, including the
    ``garment_only_parts`` of ``guard.toml`` such as "upper"). Unchecked (none)
    when a family has no part list or the product has no family, and for parts the seller's
    own fields name. For a sure identity, the parts of ``branch_parts.toml`` its branch never
    has are violations too (``branch_part_violations``)."""
    return _without_overlaps(_family_part_violations(text, attributes)
                             + branch_part_violations(text, attributes))


def _family_part_violations(text: str, attributes: Attributes) -> list[Claim]:
    """The fashion-family part rule of ``part_violations``."""
    families = product_families(attributes)
    known = claim_vocab.product_types().get("parts", {})
    patterns = claim_vocab.part_patterns()
    if lacks_garment_parts(attributes.identity):
        allowed = set()
        patterns = {**patterns, **{word: claim_vocab.part_pattern(word)
                                   for word in claim_vocab.word_list("garment_only_parts")}}
    elif not families or not families <= set(known):
        return []
    else:
        allowed = set().union(*(known[family] for family in families))
    seller_text = " ".join(attributes.seller.values())
    return [Claim("part", match.group(0), match.start(), match.end(), name=word)
            for word, pattern in patterns.items() if word not in allowed
            for match in pattern.finditer(text) if not pattern.search(seller_text)]


def branch_part_violations(text: str, attributes: Attributes) -> list[Claim]:
    """Parts ``text`` names (``describer/vocab/branch_parts.toml``) that no product of a sure
    identity's top-level branch has: "sleeves" for a bulb, "nutrition facts" for a bag.
    Parts the seller's own fields name are the seller's words."""
    branch = sure_branch(attributes)
    if branch is None:
        return []
    seller_text = " ".join(attributes.seller.values())
    return [Claim("part", match.group(0), match.start(), match.end(), name=word)
            for word, branches in claim_vocab.branch_parts().items() if branch not in branches
            for match in claim_vocab.part_pattern(word).finditer(text)
            if not claim_vocab.part_pattern(word).search(seller_text)]


def _without_overlaps(claims: list[Claim]) -> list[Claim]:
    """``claims`` in reading order, each span once (two rules may flag one word)."""
    kept: list[Claim] = []
    for claim in sorted(claims, key=lambda c: (c.start, -c.end)):
        if not any(claim.start < k.end and k.start < claim.end for k in kept):
            kept.append(claim)
    return kept


def sure_branch(attributes: Attributes) -> int | None:
    """The Google top-level branch of a sure identity (not uncertain, with a node); None
    when the identity is unsure or absent: then no branch rule applies."""
    identity = attributes.identity
    if identity is None or identity.uncertain or identity.taxonomy_id is None:
        return None
    return taxonomy().top_level(identity.taxonomy_id)


def branch_type_violations(text: str, attributes: Attributes) -> list[Claim]:
    """Product types ``text`` names (``describer/vocab/branch_types.json``) none of whose
    branches is the sure identity's ("T-Shirts" for a vitamin jar, "sofa" for a bulb).
    Types the seller's fields, the pack text, the tags, the category or the identity's own
    product type name are the attributes' words, never a violation."""
    branch = sure_branch(attributes)
    if branch is None:
        return []
    table = claim_vocab.claimable_branch_types()
    claims = [c for c in branch_type_claims(text) if branch not in table[c.name]["branches"]
              and not _in_use_phrase(text, c)]
    if not claims:
        return []
    stated = " | ".join([_evidence(attributes).text, attributes.identity.product_type.casefold()])
    named = {c.name for c in branch_type_claims(stated)}
    return [c for c in claims if c.name not in named and not _contains_words(stated, c.text)]


def _in_use_phrase(text: str, claim: Claim) -> bool:
    """Whether ``claim`` follows a word of ``use_words`` in its clause, a few words back: "ideal
    for your laptop", "made with lemon", "wipes off countertops" say what the product works
    with, not what it is."""
    settings = claim_vocab.branch_settings()
    clause = re.split(r"[,;:()]", text[:claim.start])[-1]
    before = [w.lower() for w in claim_vocab.words_of(clause)][-int(settings["use_window"]):]
    return not set(before).isdisjoint(settings["use_words"])


OUTSIDE_KNOWN_FAMILIES = "(the identity's own branch)"
"""The family of a product whose identity is sure but none of the known product types fits
(a bulb, a vitamin pack): every fashion or grocery type named for it is then a violation."""


def product_families(attributes: Attributes) -> set[str]:
    """The families the attributes put the product in: its category (grocery, or a fashion
    article type) when the identity agrees with it, its product-type tags and the types its
    seller fields name."""
    types, article_types = claim_vocab.product_types()["types"], claim_vocab.product_types()["article_types"]
    families = set()
    category = attributes.category
    identity = attributes.identity
    sure = identity is not None and not identity.uncertain and identity.taxonomy_id is not None
    if sure and not any(e.source == "specialist" for e in identity.evidence):
        category = None  # a specialist's class outside the identity says nothing of the product
    if category is not None:
        if category.taxonomy == "grocery":
            families.add(claim_vocab.grocery_family())
        families.update(article_types[name] for name in (category.label, *category.path)
                        if name in article_types)
    families.update(types[tag.name] for tag in attributes.tags if tag.name in types)
    for value in attributes.seller.values():
        families.update(types[claim.name] for claim in type_claims(value))
    if not families and outside_known_domains(identity):
        families.add(OUTSIDE_KNOWN_FAMILIES)
    return families


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= claim_vocab.relative_tolerance() * max(abs(a), abs(b))


def _contains_words(haystack: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as whole words (case-folded, spaces squashed)."""
    words = squash_spaces(needle).casefold()
    return re.search(r"(?<!\w)" + re.escape(words) + r"(?!\w)", haystack) is not None
