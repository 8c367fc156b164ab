"""The ``Describer`` facade: attributes of several products in, one ``Listing`` each out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from describer import prompting
from describer.claims import GLUED_SENTENCE
from describer.generators import GENERATORS, Generator, generator_for, memory_readers
from describer.guard import Guard, default_guard, unknown_words
from describer.retrieval import memory_examples
from describer.pack_claims import pack_claims
from describer.styling import styled
from listingsmith.core.errors import ListingsmithError, ModelError
from listingsmith.core.registry import spec_for
from listingsmith.core.types import Attributes, Listing

_LABEL_PREFIX = re.compile(r"^\s*(product\s+)?(title|description)\s*[:\-]\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_LOOP = re.compile(r"(.{2,}?)\1{3,}")
"""A piece of two or more characters repeated four times in a row: "alalalal", "the the the the"."""


class Describer:
    """Writes listings with a ``Generator`` (``describer.generators``): a language model,
    templates alone (``TemplateGenerator``), by copying the most similar listing
    (``"nearest"``, a baseline that invents) or by copying and editing it
    (``"retrieve-edit"``).

    Every generated title and sentence passes the grounding guard. First, unless the
    generator is the copying baseline, the description's colours, brands and quantities the
    attributes can correct are rewritten (``Guard.repair``). Then a title stating a quantity,
    brand or colour the attributes don't is replaced by the template title (repairing titles
    instead cost the T5 title quality on Myntra: its own titles are worse than the
    template's), such sentences are dropped, and the template text stands in when nothing
    remains.

    Tone and length then act on the text, whatever wrote it (``describer.styling``), and the
    guard checks the result again.

    The model is loaded lazily on the first ``describe`` call. Bullets always come from
    the attributes through ``prompts/bullets.j2``, so facts in bullets are never invented,
    followed by the claims the pack prints in readable English (``describer.pack_claims``),
    each kept with its OCR line in ``Listing.printed_claims``.
    """

    def __init__(self, generator: Generator | None = None, *, guard: Guard | None = None):
        self.generator = generator if generator is not None else generator_for(None)
        self.guard = guard if guard is not None else default_guard()

    @property
    def generator_name(self) -> str:
        return self.generator.name

    def describe(self, attributes: list[Attributes], *, tone: str = "neutral",
                 length: str = "medium", deterministic: bool = True) -> list[Listing]:
        check_text_options(tone, length)
        products = [prompting.product_context(a) for a in attributes]
        titles, texts = self.generator.write(attributes, products, tone=tone, length=length,
                                             deterministic=deterministic)
        return [self._finish(attrs, product, title, text, tone, length)
                for attrs, product, title, text in zip(attributes, products, titles, texts)]

    def stream(self, attributes: Attributes, *, tone: str = "neutral", length: str = "medium",
               deterministic: bool = True) -> Iterator[str | Listing]:
        """One product's description as it is written (growing drafts, not yet guarded), then
        the finished, guarded ``Listing``. Generators that do not stream yield the listing only."""
        stream = getattr(self.generator, "stream", None)
        if stream is None:
            yield self.describe([attributes], tone=tone, length=length,
                                deterministic=deterministic)[0]
            return
        check_text_options(tone, length)
        product = prompting.product_context(attributes)
        title = draft = ""
        for title, draft in stream(attributes, product, tone=tone, length=length,
                                   deterministic=deterministic):
            yield draft
        yield self._finish(attributes, product, title, draft, tone, length)

    def _finish(self, attributes: Attributes, product: dict, title: str, text: str, tone: str,
                length: str) -> Listing:
        """Clean and guard one generated title and text; templates fill what the guard empties.
        A title that leaves out a known brand gets it in front (sellers search by brand)."""
        fallback_title = prompting.template_title(product)
        title, text = clean_title(title), clean_description(text)
        repaired = []
        if self.generator.repairs_claims:
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
        printed = pack_claims(attributes, prompting.options()["bullets"]["printed_claims"])
        text = styled(text or prompting.template_description(product), product,
                      [claim.text for claim in printed], tone, length)
        text, dropped_styled = self.guard.ground(text, attributes)
        dropped += dropped_styled
        return Listing(
            title=title or "Product",
            description=text or prompting.template_description(product),
            bullets=prompting.bullets(product) + [claim.text for claim in printed],
            printed_claims=printed, attributes=attributes,
            generator=self.generator_name, template=prompting.template_id(),
            tone=tone, length=length,
            removed_claims=list(dict.fromkeys(c.text for c in removed + dropped)),
            repaired_claims=list(dict.fromkeys(str(r) for r in repaired)))


def describer_for(generator: str | None, *, allow_network: bool = False,
                  guard: Guard | None = None, memory: Path | None = None) -> Describer:
    """The ``Describer`` a user's generator choice names: ``template``, ``nearest``,
    ``retrieve-edit``, a registered name or an ``hf:``/``local:`` source.

    None is the default: ``retrieve-edit`` when a listing ``memory`` (a seller's catalogue
    file or the shared data folder) is given, the bundled T5 otherwise. The retrieval
    generators read ``memory`` (default: the shared data folder).
    """
    check_generator_choice(generator, memory)
    if generator is None and memory is not None:
        generator = "retrieve-edit"
    return Describer(generator_for(generator, memory=memory, allow_network=allow_network),
                     guard=guard)


def check_generator_choice(generator: str | None, memory: Path | str | None) -> None:
    """Refuse, in one line and before any product is read, a generator name that is neither
    built in nor a registered model or source, a ``memory`` given to a generator that does
    not read one, and a listing-memory file with a bad line."""
    readers = memory_readers()
    if memory is not None:
        if generator is not None and generator not in readers:
            raise ListingsmithError(f"--memory: only {' and '.join(readers)} read a listing "
                                    f"memory, got --generator {generator}; drop one of them")
        if Path(memory).is_file():
            memory_examples(Path(memory))
    elif generator not in GENERATORS:
        try:
            spec_for("text-generation", generator)
        except ModelError as exc:
            if generator is None or ":" in generator:
                raise
            raise ModelError(f"--generator: expected {', '.join(map(repr, GENERATORS))}, a "
                             f"registered text model or an hf:/local: source, got "
                             f"{generator!r} ({exc})") from exc


def check_text_options(tone: str, length: str) -> None:
    """Refuse an unknown tone or length with the valid choices."""
    prompting.check_choice("tones", tone)
    prompting.check_choice("lengths", length)


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
