"""Listing text from seller attributes against human references: template, nearest neighbour,
retrieve-edit, zero-shot SmolLM2, SmolLM2 + LoRA and the from-scratch T5, side by side
(issue 7).

``python -m eval.run --task describe [--limit N]``

For each source's test split (``describer.data``; ``--limit`` caps rows per source, default
``DEFAULT_ROWS``), every generator writes a listing through the product's own path
(``example_attributes`` → ``Describer.describe``). Myntra and BigBasket outputs are scored on
their descriptions against the reference descriptions, fashion on titles against
``productDisplayName`` (it has no descriptions); "title R-L" scores titles everywhere.

Metrics: ROUGE-1/2/L F (rouge-score, stemmed, mean over rows), BLEU-4 (sacrebleu, corpus),
distinct-1/2 and self-BLEU of the outputs (diversity: a template repeats itself), mean words,
and the grounding guard's invented-fact rate (share of scored texts with a claim the
attributes do not support) with claims per text. The ``reference`` row runs the same
diversity and guard measures on the human references: how often the training targets
themselves state what the seller fields do not.

"novel" rows are test rows whose reference title has no training title (same source) with
MiniLM cosine at or above ``NOVELTY_THRESHOLD``: the products a model cannot copy.

The SmolLM2 generators (zero-shot: the bundled model; LoRA: the registered ``describer-lora``
adapter; greedy) write at most ``SMOLLM_MAX_ROWS`` evenly spaced rows of each source to keep
the run bounded on a CPU; their numbers are on that subset. The T5 (``describer-t5``) writes
every row. ``LISTINGSMITH_DESCRIBE_GENERATORS=template,nearest`` picks a subset; it may also
name ``local:<dir>`` or ``hf:<id>@<revision>`` model sources (a checkpoint being trained, a hub
model), which write every row like the T5.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import numpy as np

from eval.tasks import TaskResult, register
from listingsmith.metrics import bleu4, distinct, evenly_spaced, rouge, self_bleu

DEFAULT_ROWS = 300
"""Test rows per source when ``--limit`` is not given."""

SMOLLM_MAX_ROWS = 30
"""Rows per source each SmolLM2 generator writes (~2 generations of up to 152 tokens each)."""

NOVELTY_THRESHOLD = 0.8
"""A test row is "novel" when its title's best MiniLM cosine to a training title is below this."""

LATENCY_TOKENS = 60
LATENCY_RUNS = 5
"""Issue 7's latency target: one 60-token description (forced length), median of these runs."""

BATCH_SIZE = 8
"""Products per ``describe`` call, as ``listingsmith write`` batches them."""

TONE, LENGTH = "neutral", "medium"
"""The product's defaults."""

SCORED_FIELD = {"myntra": "description", "bigbasket": "description", "fashion": "title"}
"""Which reference each source is scored on."""

GENERATORS = ("template", "nearest", "retrieve-edit", "smollm2-zero-shot", "smollm2-lora",
              "t5-scratch")
REGISTERED = {"smollm2-zero-shot": "generator", "smollm2-lora": "describer-lora",
              "t5-scratch": "describer-t5"}
"""Model generators → registry name (``generator``: the bundled SmolLM2, zero-shot)."""
CAPPED = ("smollm2-zero-shot", "smollm2-lora")
"""Generators that write only ``SMOLLM_MAX_ROWS`` rows per source."""

GENERATORS_ENV = "LISTINGSMITH_DESCRIBE_GENERATORS"
"""Comma-separated subset of ``GENERATORS`` to run (default all): ``template,nearest`` skips
the language model when a quick run must stay short. ``local:``/``hf:`` sources are added."""

MODEL_SOURCE_PREFIXES = ("local:", "hf:")

COLUMNS = ("rows", "R-1", "R-2", "R-L", "BLEU-4", "title R-L", "dist-1", "dist-2",
           "self-BLEU", "words", "invented %", "claims/text", "cut %", "s/row")

FORMATS = {"rows": "{:.0f}", "dist-1": "{:.3f}", "dist-2": "{:.3f}", "claims/text": "{:.2f}",
           "s/row": "{:.3f}"}
"""Cell formats; every other column has one decimal."""

_WORDS = re.compile(r"\w+")


@register("describe")
def run(data: Path, limit: int | None) -> TaskResult:
    from describer.data import SOURCES, example_attributes, examples, known_brands
    from describer.guard import Guard
    from tagger.text_embed import TextEmbedder

    guard = Guard(known_brands(data))
    embedder = TextEmbedder()
    rows_per_source = limit or DEFAULT_ROWS
    generators = chosen_generators()
    metrics: dict = {"novelty_threshold": NOVELTY_THRESHOLD, "sources": {}}
    lines = []
    for source in SOURCES:
        test = examples(data, source, "test", limit=rows_per_source)
        attributes = [example_attributes(e) for e in test]
        novel = novelty(data, source, [e.title for e in test], embedder) < NOVELTY_THRESHOLD
        field = SCORED_FIELD[source]
        references = [getattr(e, field) for e in test]
        ref_titles = [e.title for e in test]
        per_generator = {}
        for name in generators:
            cap = min(rows_per_source, SMOLLM_MAX_ROWS) if name in CAPPED else None
            rows = evenly_spaced(len(test), cap)
            listings, seconds = _write(_describer(name, data, source, embedder),
                                       [attributes[j] for j in rows])
            written = dict(zip(rows, listings))
            per_generator[name] = {}
            for subset, keep in _subsets(rows, novel):
                scores = score(guard, [getattr(written[j], field) for j in keep],
                               [references[j] for j in keep], [written[j].title for j in keep],
                               [ref_titles[j] for j in keep], [attributes[j] for j in keep])
                cut = 100 * statistics.mean(bool(written[j].removed_claims) for j in keep) \
                    if keep else 0.0
                per_generator[name][subset] = {**scores, "cut %": cut, "s/row": seconds}
        per_generator["reference"] = {
            subset: score(guard, [references[j] for j in keep], None, None, None,
                          [attributes[j] for j in keep])
            for subset, keep in _subsets(list(range(len(test))), novel)}
        metrics["sources"][source] = {"scored_field": field, "rows": len(test),
                                      "novel_rows": int(novel.sum()), "scores": per_generator}
        lines += [_row(source, name, subset, scores) for name, subsets in per_generator.items()
                  for subset, scores in subsets.items()]
        if source == SOURCES[0]:
            metrics["latency"] = {name: latency(_describer(name, data, source, embedder),
                                                attributes[0])
                                  for name in generators if _is_model(name)}
    header = "| source | generator | subset | " + " | ".join(COLUMNS) + " |"
    table = "\n".join([header, "|" + "---|" * (3 + len(COLUMNS))] + lines)
    if metrics.get("latency"):
        table += ("\n\n| generator | 60-token description p50 s | tokens/s (batch of "
                  f"{BATCH_SIZE}) |\n|---|---|---|\n" + "\n".join(
                      f"| {name} | {t['seconds_p50']:.2f} | {t['batch_tokens_per_second']:.0f} |"
                      for name, t in metrics["latency"].items()))
    counts = ", ".join(f"{s} {m['novel_rows']}/{m['rows']}" for s, m in metrics["sources"].items())
    notes = [
        f"generators: {', '.join(generators)} (${GENERATORS_ENV} picks from "
        f"{', '.join(GENERATORS)})",
        f"rows per source: {rows_per_source} test rows (evenly spaced) for template, nearest, "
        f"retrieve-edit, t5-scratch and the references; the SmolLM2-135M-Instruct generators (greedy, "
        f"{TONE}/{LENGTH}) write at most {SMOLLM_MAX_ROWS} of them to bound the CPU run time",
        f"novel = reference title's best MiniLM cosine to a same-source training title "
        f"< {NOVELTY_THRESHOLD}: {counts}",
        "myntra and bigbasket score descriptions, fashion scores titles (no descriptions); "
        "'title R-L' is the title ROUGE-L F everywhere",
        "nearest: per-source index of the train split (attributes rendered as the listing's "
        "bullets, MiniLM cosine), cached under $LISTINGSMITH_CACHE/describer; it copies, and "
        "the guard only cuts. retrieve-edit: the same neighbour, with the colours, brands and "
        "quantities the guard can correct rewritten to this product's first (every generator "
        "but nearest gets that repair)",
        "invented % = share of scored texts with >= 1 quantity, brand or colour claim the "
        "seller fields do not support (describer.guard, brand list from the myntra and "
        "bigbasket brands); 'reference' rows apply it to the human references; fashion rows "
        "have no brand field, so any listed brand in a fashion title counts as invented",
        "cut % = share of listings where the guard removed something (a title replaced, a "
        "sentence dropped: invented quantities, brands, colours, wrong product types or parts, "
        "words in no lexicon; describer.guard); the other columns score what remains",
        "ROUGE/BLEU x100; self-BLEU is each output's BLEU against the other outputs (lower = "
        "more diverse); s/row is generation time per row on this machine, after loading",
    ]
    return TaskResult(metrics=metrics, table=table, notes=notes)


def chosen_generators() -> tuple[str, ...]:
    """``GENERATORS`` as ``$GENERATORS_ENV`` picks them (default all), then the model sources
    it names."""
    picked = [n.strip() for n in os.environ.get(GENERATORS_ENV, "").split(",") if n.strip()]
    sources = tuple(n for n in picked if n.startswith(MODEL_SOURCE_PREFIXES))
    names = [n for n in picked if n not in sources]
    unknown = sorted(set(names) - set(GENERATORS))
    if unknown:
        raise ValueError(f"{GENERATORS_ENV}: unknown name(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(GENERATORS)} or a local:/hf: model source")
    if not picked:
        return GENERATORS
    return tuple(n for n in GENERATORS if n in names) + sources


def _is_model(name: str) -> bool:
    return name in REGISTERED or name.startswith(MODEL_SOURCE_PREFIXES)


def _subsets(rows: list[int], novel: np.ndarray) -> tuple[tuple[str, list[int]], ...]:
    return (("all", rows), ("novel", [j for j in rows if novel[j]]))


def _write(describer, attributes: list) -> tuple[list, float]:
    """Listings in ``BATCH_SIZE`` batches, and seconds per row after the generator is loaded."""
    _warm_up(describer)
    start = time.perf_counter()
    listings = [listing for i in range(0, len(attributes), BATCH_SIZE)
                for listing in describer.describe(attributes[i:i + BATCH_SIZE], tone=TONE,
                                                  length=LENGTH)]
    return listings, (time.perf_counter() - start) / max(1, len(attributes))


def _describer(name: str, data: Path, source: str, embedder):
    from describer.generate import text_generator
    from describer.generators import ModelGenerator, TemplateGenerator
    from describer.pipeline import Describer
    from describer.retrieval import NearestNeighbourGenerator, RetrieveEditGenerator

    if name == "template":
        return Describer(TemplateGenerator())
    if name == "nearest":
        return Describer(NearestNeighbourGenerator(data, sources=(source,), embedder=embedder))
    if name == "retrieve-edit":
        return Describer(RetrieveEditGenerator(data, sources=(source,), embedder=embedder))
    return Describer(ModelGenerator(text_generator(REGISTERED.get(name, name))))


def latency(describer, attributes) -> dict[str, float]:
    """Seconds for one description of exactly ``LATENCY_TOKENS`` new tokens (median of
    ``LATENCY_RUNS`` after a warm-up), and tokens per second for a batch of ``BATCH_SIZE``."""
    from describer import prompting
    from describer.generate import GenerationOptions

    generator = describer.generator.model
    messages = prompting.description_messages(prompting.product_context(attributes), TONE,
                                              LENGTH)
    options = GenerationOptions(max_new_tokens=LATENCY_TOKENS, min_new_tokens=LATENCY_TOKENS)
    generator([messages], options)
    seconds = []
    for _ in range(LATENCY_RUNS):
        start = time.perf_counter()
        generator([messages], options)
        seconds.append(time.perf_counter() - start)
    start = time.perf_counter()
    generator([messages] * BATCH_SIZE, options)
    batch_seconds = time.perf_counter() - start
    return {"seconds_p50": statistics.median(seconds),
            "batch_tokens_per_second": BATCH_SIZE * LATENCY_TOKENS / batch_seconds}


def _warm_up(describer) -> None:
    """Load a generator's index or model before timing, so s/row is generation alone."""
    from describer.generators import ModelGenerator
    from describer.retrieval import NearestNeighbourGenerator

    if isinstance(describer.generator, NearestNeighbourGenerator):
        describer.generator.index
    elif isinstance(describer.generator, ModelGenerator):
        describer.generator.model.model_and_tokenizer


def novelty(data: Path, source: str, titles: list[str], embedder) -> np.ndarray:
    """Each title's best cosine to a training title of the same source."""
    from describer.data import examples
    from describer.retrieval import cached_embeddings

    train = examples(data, source, "train")
    vectors = cached_embeddings("train-titles", data, (source,), [e.key for e in train],
                                [e.title for e in train], embedder)
    return (embedder(titles) @ vectors.T).max(axis=1)


def score(guard, outputs: list[str], references: list[str] | None, titles: list[str] | None,
          reference_titles: list[str] | None, attributes: list) -> dict[str, float]:
    """One table row's numbers; overlap metrics only when there are references to compare."""
    result: dict[str, float] = {"rows": len(outputs)}
    if not outputs:
        return result
    if references is not None:
        result.update(rouge(outputs, references))
        result["BLEU-4"] = bleu4(outputs, references)
        result["title R-L"] = rouge(titles, reference_titles)["R-L"]
    result["dist-1"] = distinct(outputs, 1)
    result["dist-2"] = distinct(outputs, 2)
    result["self-BLEU"] = self_bleu(outputs)
    result["words"] = statistics.mean(len(_WORDS.findall(t)) for t in outputs)
    invented = guard.invented_fact_rate(outputs, attributes)
    result["invented %"] = 100 * invented.rate
    result["claims/text"] = invented.claims_per_text
    return result


def _row(source: str, name: str, subset: str, scores: dict[str, float]) -> str:
    cells = [FORMATS.get(column, "{:.1f}").format(scores[column]) if column in scores else "—"
             for column in COLUMNS]
    return f"| {source} | {name} | {subset} | " + " | ".join(cells) + " |"
