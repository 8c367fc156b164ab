"""What writes a listing's title and description: one ``Generator`` protocol and a registry
of the built-in ones by name.

The ``Describer`` (``describer.pipeline``) only calls ``write`` (and ``stream`` where a
generator has it) and reads ``name`` and ``repairs_claims``; it never asks what kind of
generator it holds. A user's choice (``--generator``) is a name of ``GENERATORS`` or, failing
that, a registered text model or an ``hf:``/``local:`` source (``ModelGenerator``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from describer import prompting
from describer.generate import GenerationOptions, TextGenerator, text_generator
from describer.retrieval import NearestNeighbourGenerator, RetrieveEditGenerator
from listingsmith.core.registry import parse_source
from listingsmith.core.types import Attributes

Product = dict[str, Any]
"""A product as templates see it (``prompting.product_context``)."""


@runtime_checkable
class Generator(Protocol):
    """Writes the (title, description) of each product; the Describer cleans and guards them.
    An empty title asks for the formula title of the product's taxonomy branch
    (``describer.titles``).

    ``repairs_claims``: whether the guard may rewrite the description's colours, brands and
    quantities to the product's before it cuts what is unsupported (a copying baseline is
    shown as it copies). A generator may also have ``stream(attributes, product, tone,
    length, deterministic)`` yielding (title, description so far) as it writes.
    """

    name: str
    repairs_claims: bool

    def write(self, attributes_list: Sequence[Attributes], products: Sequence[Product], *,
              tone: str, length: str, deterministic: bool) -> tuple[list[str], list[str]]: ...


class TemplateGenerator:
    """No model: the formula title (``prompts/titles.toml``) and a description that restates
    the attributes through ``prompts/template_description.j2``."""

    name = "template"
    repairs_claims = True

    def write(self, attributes_list: Sequence[Attributes], products: Sequence[Product], *,
              tone: str, length: str, deterministic: bool) -> tuple[list[str], list[str]]:
        return ([""] * len(products), [prompting.template_description(p) for p in products])


class ModelGenerator:
    """A text model (``describer.generate.TextGenerator``) prompted with the description
    conversation of ``prompts/`` (the description starts with its lead) and, for a model
    chosen by source (``hf:``/``local:``), the title conversation.

    The bundled models write no title: the formula title (``prompts/titles.toml``) scored
    higher than the T5's own titles on Myntra (``eval.run --task describe``, "title R-L"),
    names any product type and states every fact, and asking for it costs nothing."""

    repairs_claims = True

    def __init__(self, model: TextGenerator):
        self.model = model

    @property
    def name(self) -> str:
        return self.model.name

    def _titles(self, products: Sequence[Product], tone: str,
                options: GenerationOptions) -> list[str]:
        if not self.model.writes_titles:
            return [""] * len(products)
        return self.model([prompting.title_messages(p, tone) for p in products], options)

    def write(self, attributes_list: Sequence[Attributes], products: Sequence[Product], *,
              tone: str, length: str, deterministic: bool) -> tuple[list[str], list[str]]:
        title_options, text_options = generation_options(length, deterministic)
        texts = self.model([description_request(p, tone, length) for p in products],
                           text_options)
        return self._titles(products, tone, title_options), texts

    def stream(self, attributes: Attributes, product: Product, *, tone: str, length: str,
               deterministic: bool) -> Iterator[tuple[str, str]]:
        """(title, description so far) as the description is decoded."""
        title_options, text_options = generation_options(length, deterministic)
        title = self._titles([product], tone, title_options)[0]
        draft = ""
        for piece in self.model.stream(description_request(product, tone, length),
                                       text_options):
            draft += piece
            yield title, draft


def description_request(product: Product, tone: str, length: str) -> list[dict[str, str]]:
    """The description conversation, ending with its lead (``prompting.description_lead``)
    for the model to continue."""
    return prompting.with_lead(prompting.description_messages(product, tone, length),
                               prompting.description_lead(product))


def generation_options(length: str,
                       deterministic: bool) -> tuple[GenerationOptions, GenerationOptions]:
    """Decoding options for the title and for a description of ``length``."""
    settings = prompting.options()
    limit = settings["max_generation_seconds"]
    return (GenerationOptions(max_new_tokens=settings["title"]["max_new_tokens"],
                              do_sample=not deterministic, max_time=limit),
            GenerationOptions(max_new_tokens=settings["lengths"][length]["max_new_tokens"],
                              do_sample=not deterministic, max_time=limit))


@dataclass(frozen=True)
class Registered:
    """A built-in generator: how to make it from a listing memory (a seller's catalogue file
    or the shared data folder; None for the default), and whether it reads one."""

    make: Callable[[Path | None], Generator]
    reads_memory: bool = False


GENERATORS: dict[str, Registered] = {
    TemplateGenerator.name: Registered(lambda memory: TemplateGenerator()),
    NearestNeighbourGenerator.name: Registered(NearestNeighbourGenerator, reads_memory=True),
    RetrieveEditGenerator.name: Registered(RetrieveEditGenerator, reads_memory=True),
}
"""The generators chosen by name; any other name is a text model (``ModelGenerator``)."""


def memory_readers() -> list[str]:
    """Names of the generators that read a listing memory."""
    return [name for name, entry in GENERATORS.items() if entry.reads_memory]


def generator_for(choice: str | None, *, memory: Path | None = None,
                  allow_network: bool = False) -> Generator:
    """The generator a user's choice names: a name of ``GENERATORS`` (given ``memory``), a
    registered text model or an ``hf:``/``local:`` source; None is the bundled model."""
    entry = GENERATORS.get(choice) if choice is not None else None
    if entry is not None:
        return entry.make(memory)
    return ModelGenerator(text_generator(choice, allow_network=allow_network))
