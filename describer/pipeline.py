"""The ``Describer`` facade: attributes of several products in, one ``Listing`` each out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from describer import prompting
from describer.generate import GenerationOptions, TextGenerator, text_generator
from describer.guard import GLUED_SENTENCE, Guard, default_guard, unknown_words
from describer.retrieval import (NEAREST_GENERATOR, RETRIEVAL_GENERATORS,
                                  RETRIEVE_EDIT_GENERATOR, NearestNeighbourGenerator,
                                  RetrieveEditGenerator)
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, Listing

TEMPLATE_GENERATOR = "template"

_LABEL_PREFIX = re.compile(r"^\s*(product\s+)?(title|description)\s*[:\-]\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_LOOP = re.compile(r"(.{2,}?)\1{3,}")
"""A piece of two or more characters repeated four times in a row: "alalalal", "the the the the"."""


class Describer:
    """Writes listings with a language model, with templates alone (``generator="template"``),
    by copying the most similar listing (``"nearest"``, a baseline that invents) or by copying
    and editing it (``"retrieve-edit"``).

    Every generated title and sentence passes the grounding guard. First, unless the
    generator is the copying baseline, the description's colours, brands and quantities the
    attributes can correct are rewritten (``Guard.repair``). Then a title stating a quantity,
    brand or colour the attributes don't is replaced by the template title (repairing titles
    instead cost the T5 17 title ROUGE-L points on Myntra: its own titles are worse than the
    template's), such sentences are dropped, and the template text stands in when nothing
    remains.

    The model is loaded lazily on the first ``describe`` call. Bullets always come from
    the attributes through ``prompts/bullets.j2``, so facts in bullets are never invented.
    """

    def __init__(self, generator: TextGenerator | NearestNeighbourGenerator | str | None = None,
                 *, guard: Guard | None = None):
        if generator is None:
            generator = text_generator()
        elif generator == NEAREST_GENERATOR:
            generator = NearestNeighbourGenerator()
        elif generator == RETRIEVE_EDIT_GENERATOR:
            generator = RetrieveEditGenerator()
        elif isinstance(generator, str) and generator != TEMPLATE_GENERATOR:
            raise ValueError(f"generator: expected {TEMPLATE_GENERATOR!r}, {NEAREST_GENERATOR!r}, "
                             f"{RETRIEVE_EDIT_GENERATOR!r} or a generator object, got "
                             f"{generator!r}")
        self.generator = generator
        self.guard = guard if guard is not None else default_guard()

    @property
    def generator_name(self) -> str:
        if isinstance(self.generator, str):
            return self.generator
        return self.generator.name

    def describe(self, attributes: list[Attributes], *, tone: str = "neutral",
                 length: str = "medium", deterministic: bool = True) -> list[Listing]:
        prompting.check_choice("tones", tone)
        prompting.check_choice("lengths", length)
        products = [prompting.product_context(a) for a in attributes]
        if isinstance(self.generator, TextGenerator):
            titles, texts = self._generate(products, tone, length, deterministic)
        elif isinstance(self.generator, NearestNeighbourGenerator):
            titles, texts = self.generator.write(attributes)
        else:
            titles = [prompting.template_title(p) for p in products]
            texts = [prompting.template_description(p) for p in products]
        return [self._finish(attrs, product, title, text, tone, length)
                for attrs, product, title, text in zip(attributes, products, titles, texts)]

    def stream(self, attributes: Attributes, *, tone: str = "neutral", length: str = "medium",
               deterministic: bool = True) -> Iterator[str | Listing]:
        """One product's description as it is written (growing drafts, not yet guarded), then
        the finished, guarded ``Listing``. Generators that do not stream yield the listing only."""
        if not isinstance(self.generator, TextGenerator):
            yield self.describe([attributes], tone=tone, length=length)[0]
            return
        prompting.check_choice("tones", tone)
        prompting.check_choice("lengths", length)
        product = prompting.product_context(attributes)
        title_options, text_options = _options(length, deterministic)
        title = self.generator([prompting.title_messages(product, tone)], title_options)[0]
        draft = ""
        for piece in self.generator.stream(description_request(product, tone, length),
                                           text_options):
            draft += piece
            yield draft
        yield self._finish(attributes, product, title, draft, tone, length)

    def _finish(self, attributes: Attributes, product: dict, title: str, text: str, tone: str,
                length: str) -> Listing:
        """Clean and guard one generated title and text; templates fill what the guard empties.
        A title that leaves out a known brand gets it in front (sellers search by brand)."""
        fallback_title = prompting.template_title(product)
        title, text = clean_title(title), clean_description(text)
        repaired = []
        if getattr(self.generator, "repairs_claims", True):
            text, repaired = self.guard.repair(text, attributes)
        removed = (self.guard.violations(title, attributes)
                   + self.guard.product_type_violations(title, attributes)
                   + unknown_words(title, attributes))
        if removed or not title:
            title = fallback_title
        brand = product["brand"]
        if brand and brand.casefold() not in title.casefold():
            title = f"{brand} {title}"
        text, dropped = self.guard.ground(text, attributes)
        return Listing(
            title=title or "Product",
            description=text or prompting.template_description(product),
            bullets=prompting.bullets(product), attributes=attributes,
            generator=self.generator_name, template=prompting.template_id(),
            tone=tone, length=length,
            removed_claims=list(dict.fromkeys(c.text for c in removed + dropped)),
            repaired_claims=list(dict.fromkeys(str(r) for r in repaired)))

    def _generate(self, products, tone, length, deterministic) -> tuple[list[str], list[str]]:
        title_options, text_options = _options(length, deterministic)
        titles = self.generator([prompting.title_messages(p, tone) for p in products],
                                title_options)
        texts = self.generator([description_request(p, tone, length) for p in products],
                               text_options)
        return titles, texts


def description_request(product: dict, tone: str, length: str) -> list[dict[str, str]]:
    """The description conversation, ending with its lead (``prompting.description_lead``)
    for the model to continue."""
    return prompting.with_lead(prompting.description_messages(product, tone, length),
                               prompting.description_lead(product))


def describer_for(generator: str | None, *, allow_network: bool = False,
                  guard: Guard | None = None, memory: Path | None = None) -> Describer:
    """The ``Describer`` a user's generator choice names: ``template``, ``nearest``,
    ``retrieve-edit``, a registered name or an ``hf:``/``local:`` source.

    None is the default: ``retrieve-edit`` when a listing ``memory`` (a seller's catalogue
    file or the shared data folder) is given, the bundled T5 otherwise. The retrieval
    generators read ``memory`` (default: the shared data folder).
    """
    if generator is None and memory is not None:
        generator = RETRIEVE_EDIT_GENERATOR
    if generator in RETRIEVAL_GENERATORS:
        kind = RetrieveEditGenerator if generator == RETRIEVE_EDIT_GENERATOR \
            else NearestNeighbourGenerator
        return Describer(kind(memory), guard=guard)
    if memory is not None:
        raise ListingsmithError(f"memory: only {' and '.join(RETRIEVAL_GENERATORS)} read a "
                                f"listing memory, got generator {generator!r}; drop --memory or "
                                "pick one")
    if generator == TEMPLATE_GENERATOR:
        return Describer(generator, guard=guard)
    return Describer(text_generator(generator, allow_network=allow_network), guard=guard)


def _options(length: str, deterministic: bool) -> tuple[GenerationOptions, GenerationOptions]:
    """Decoding options for the title and for a description of ``length``."""
    settings = prompting.options()
    limit = settings["max_generation_seconds"]
    return (GenerationOptions(max_new_tokens=settings["title"]["max_new_tokens"],
                              do_sample=not deterministic, max_time=limit),
            GenerationOptions(max_new_tokens=settings["lengths"][length]["max_new_tokens"],
                              do_sample=not deterministic, max_time=limit))


def clean_title(text: str, max_chars: int = 150) -> str:
    """First line of a model's answer without labels, quotes or markdown.

    >>> clean_title('Title: "Solimo Vitamin E 268 mg, 365 Capsules."\\nMore text')
    'Solimo Vitamin E 268 mg, 365 Capsules'
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    title = _LABEL_PREFIX.sub("", lines[0].replace("**", "")).strip().strip("\"'`*# ")
    title = title.rstrip(".").strip()
    if len(title) > max_chars:
        title = title[:max_chars].rsplit(" ", 1)[0]
    return title


def clean_description(text: str) -> str:
    """One paragraph without labels; a sentence cut off by the token limit is dropped, and so
    is a sentence that loops (a piece of text four times in a row), which small models write.

    >>> clean_description("Description: Soft cotton tee. Machine washable. Comes in")
    'Soft cotton tee. Machine washable.'
    >>> clean_description("Black handbags, alalalalalal. Has two handles.")
    'Has two handles.'

    Sentences that scraped text runs together get their full stop back:

    >>> clean_description("Has a zip closureWarranty: 1 year.")
    'Has a zip closure. Warranty: 1 year.'
    """
    text = _LABEL_PREFIX.sub("", " ".join(text.replace("**", "").split())).strip().strip('"')
    text = GLUED_SENTENCE.sub(r"\1. ", text)
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] < len(text):
        text = text[:ends[-1]]
    sentences = [text[start:end].strip() for start, end in zip([0, *ends], ends)] or [text]
    return " ".join(s for s in sentences if s and not _LOOP.search(s)).strip()
