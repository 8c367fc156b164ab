"""``listingsmith evaluate``: score one or more systems' listings against a seller's references.

Files are joined on an id. Every id problem is counted and listed (missing from a system,
extra in it, duplicated), never dropped silently; a bad line is reported as ``file:line`` and
the rest is scored. Systems are compared on the ids every system and the references share, so
each comparison is paired: the bootstrap resamples the same rows for every system and the
approximate-randomisation test swaps one row's two outputs at a time. One fixed seed drives
both, so the same inputs give the same report bytes.

The metrics are ``listingsmith.metrics`` (the benchmarks' own); the semantic similarity is the
bundled MiniLM's cosine per pair, the one model this needs (``--no-semantic`` skips it). The
result is one JSON-able dict (the JSON report); ``evaluation_report`` renders it as Markdown
and HTML. ``evaluation_attributes`` scores the ``--task attributes`` predictions.
"""

from __future__ import annotations

import numpy as np

from listingsmith import metrics
from listingsmith.core.errors import ListingsmithError
from listingsmith.evaluation_io import (EvaluateOptions, Table, Warn, as_text, group_of,
                                        id_report, lookup, read_table)
from listingsmith.evaluation_stats import Comparator, SystemScores, histogram, rounded, value

COMPARED = ("rougeL", "rouge1", "rouge2", "bleu", "chrf", "semantic", "invented_numbers",
            "kept_numbers")
GROUP_METRICS = ("rougeL", "bleu", "semantic")


def evaluate(options: EvaluateOptions, warn: Warn) -> dict:
    """The whole report as one JSON-able dict (``evaluation_report`` renders it)."""
    if options.task == "attributes":
        from listingsmith.evaluation_attributes import evaluate_attributes

        return evaluate_attributes(options, warn)
    return evaluate_text(options, warn)


def evaluate_text(options: EvaluateOptions, warn: Warn) -> dict:
    from tqdm import tqdm

    references = read_table(options.references, options.id_field, warn)
    systems = {p.stem: read_table(p, options.id_field, warn) for p in options.outputs}
    inputs = read_table(options.inputs, options.id_field, warn) if options.inputs else None
    ids, id_problems = id_report(references, systems)
    ref_field = options.reference_field or options.field
    refs = [as_text(lookup(references.rows[i], ref_field)) for i in ids]
    if ids and not any(refs):
        raise ListingsmithError(f"{options.references}: no row has '{ref_field}'; pass "
                                "--reference-field with the column that holds the references")
    if not ids:
        raise ListingsmithError(f"{options.references}: no id is shared by the references and "
                                "every output; check --id-field and the files")
    sources = _sources(ids, inputs, options.id_field)
    brands = [_brand(i, inputs, references) for i in ids]
    settings = metrics.settings()
    steps = tqdm(total=len(systems) + 1, desc="evaluate", unit="system", disable=None)
    ref_vectors = _embed(refs) if options.semantic else None
    steps.update(1)
    scored = {}
    for name, table in systems.items():
        outputs = [as_text(lookup(table.rows[i], options.field)) for i in ids]
        scored[name] = score_system(outputs, refs, sources, brands, ref_vectors,
                                    options.field == "title")
        steps.update(1)
    steps.close()
    comparator = Comparator(len(ids), options.bootstrap or settings["comparison"]["bootstrap"],
                            settings["comparison"]["shuffles"], options.seed)
    report = {"task": "text", "field": options.field, "reference_field": ref_field,
              "settings": {"seed": options.seed, "bootstrap": comparator.resamples,
                           "shuffles": comparator.shuffles, "semantic": options.semantic,
                           "alpha": settings["comparison"]["alpha"],
                           "inputs": options.inputs is not None, "by": options.by},
              "ids": id_problems,
              "systems": {name: summary(s, comparator) for name, s in scored.items()},
              "reference": _reference_summary(refs)}
    report["comparisons"] = comparisons(scored, comparator, settings["comparison"]["alpha"])
    if options.by:
        report["groups"] = groups(options.by, ids, scored, references, inputs, systems)
    report["distributions"] = distributions(scored, refs, settings["report"]["bins"])
    report["examples"] = examples(scored, ids, refs, settings["report"]["examples"])
    return rounded(report)


def _sources(ids: list[str], inputs: Table | None, id_field: str) -> list[str] | None:
    """Each row's input record as one text (every field but the id): what the output may
    state. A row without an input record states nothing."""
    if inputs is None:
        return None
    return ["\n".join(as_text(v) for k, v in sorted((inputs.rows.get(i) or {}).items())
                      if k != id_field) for i in ids]


def _brand(identifier: str, inputs: Table | None, references: Table) -> str | None:
    for table in (inputs, references):
        brand = lookup(table.rows.get(identifier), "brand") if table else None
        if brand and str(brand).strip():
            return str(brand).strip()
    return None


def _embed(texts: list[str]) -> np.ndarray:
    from tagger.text_embed import TextEmbedder

    return TextEmbedder()(texts, batch_size=metrics.settings()["comparison"]["embed_batch"])


def score_system(outputs: list[str], refs: list[str], sources: list[str] | None,
                 brands: list[str | None], ref_vectors: np.ndarray | None,
                 is_title: bool) -> SystemScores:
    """Every metric of one system on the scored rows."""
    rows = {key: np.asarray(values) for key, values in zip(
        ("rouge1", "rouge2", "rougeL"), metrics.rouge_rows(outputs, refs).values())}
    nan = np.full(len(outputs), np.nan)
    rows["semantic"] = (np.einsum("ij,ij->i", _embed(outputs), ref_vectors).astype(np.float64)
                        if ref_vectors is not None else nan)
    if sources is not None:
        rows["invented_numbers"] = np.asarray(
            [bool(metrics.invented_numbers(o, s)) for o, s in zip(outputs, sources)], float)
        kept = [metrics.kept_number_share(o, s) for o, s in zip(outputs, sources)]
        rows["kept_numbers"] = np.asarray([np.nan if k is None else k for k in kept])
    else:
        rows["invented_numbers"] = rows["kept_numbers"] = nan
    rows["repeated_sentences"] = np.asarray([metrics.repeated_sentence_rate(o) for o in outputs])
    rows["words"] = np.asarray([metrics.word_count(o) for o in outputs], float)
    rows["chars"] = np.asarray([len(o) for o in outputs], float)
    cap = metrics.settings()["diversity"]["self_bleu_max_texts"]
    sample = [outputs[i] for i in metrics.evenly_spaced(len(outputs), cap)]
    diversity = {"distinct1": metrics.distinct(outputs, 1),
                 "distinct2": metrics.distinct(outputs, 2), "self_bleu": metrics.self_bleu(sample)}
    checks = None
    if is_title:
        results = [metrics.title_checks(o, b) for o, b in zip(outputs, brands)]
        names = dict.fromkeys(k for r in results for k in r)
        checks = {k: float(np.mean([r[k] for r in results if k in r])) for k in names}
    return SystemScores(outputs, rows, metrics.bleu_stats(outputs, refs),
                        metrics.chrf_stats(outputs, refs), diversity, checks)


def summary(scores: SystemScores, comparator: Comparator) -> dict:
    """A system's numbers (the issue's JSON keys first) and their 95% intervals."""
    result = {name: value(scores, name) for name in ("rougeL", "rouge1", "rouge2", "bleu",
                                                      "chrf", "semantic")}
    result.update(scores.diversity)
    for name in ("invented_numbers", "kept_numbers", "repeated_sentences", "words", "chars"):
        result[name] = value(scores, name)
    result["n"] = len(scores.outputs)
    if scores.title_checks is not None:
        result["title_checks"] = scores.title_checks
    result["ci95"] = {name: comparator.interval(comparator.resampled(scores, name))
                      for name in COMPARED if result.get(name) is not None}
    return result


def comparisons(scored: dict[str, SystemScores], comparator: Comparator, alpha: float) -> list:
    """Every pair of systems on every compared metric: the difference (first minus second),
    its paired-bootstrap 95% interval, the randomisation p-value and whether it is real."""
    names = list(scored)
    rows = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            for metric in COMPARED:
                if np.isnan(scored[first].rows.get(metric, np.zeros(1))).all():
                    continue
                difference, interval, p = comparator.compare(scored[first], scored[second],
                                                             metric)
                rows.append({"a": first, "b": second, "metric": metric,
                             "difference": difference, "ci95": interval, "p_value": p,
                             "significant": bool(p < alpha)})
    return rows


def groups(by: str, ids: list[str], scored: dict[str, SystemScores], references: Table,
           inputs: Table | None, systems: dict[str, Table]) -> dict:
    """Per-group numbers for ``--by``: the value from the references, else the inputs, else
    the first system's output row (a taxonomy path groups by its top level)."""
    first = next(iter(systems.values()))
    names = []
    for i in ids:
        found = lookup(references.rows[i], by)
        if found is None and inputs is not None:
            found = lookup(inputs.rows.get(i), by)
        names.append(group_of(lookup(first.rows[i], by) if found is None else found))
    result = {}
    for name in sorted(set(names)):
        keep = np.asarray([g == name for g in names])
        result[name] = {system: {"n": int(keep.sum()), **{metric: value(s, metric, keep)
                                                           for metric in GROUP_METRICS}}
                        for system, s in scored.items()}
    return {"field": by, "values": result}


def _reference_summary(refs: list[str]) -> dict:
    return {"words": float(np.mean([metrics.word_count(r) for r in refs])),
            "chars": float(np.mean([len(r) for r in refs])),
            "distinct2": metrics.distinct(refs, 2)}


def distributions(scored: dict[str, SystemScores], refs: list[str], bins: int) -> dict:
    """Histogram counts for the report's plots: ROUGE-L and semantic per system on fixed
    ranges, words per system and for the references on one shared range."""
    ref_words = np.asarray([metrics.word_count(r) for r in refs], float)
    top = max([ref_words.max()] + [s.rows["words"].max() for s in scored.values()])
    result = {"rougeL": {}, "semantic": {},
              "words": {"reference": histogram(ref_words, 0, top, bins)}}
    for name, s in scored.items():
        result["rougeL"][name] = histogram(s.rows["rougeL"], 0, 100, bins)
        if not np.isnan(s.rows["semantic"]).all():
            result["semantic"][name] = histogram(s.rows["semantic"], 0, 1, bins)
        result["words"][name] = histogram(s.rows["words"], 0, top, bins)
    return result


def examples(scored: dict[str, SystemScores], ids: list[str], refs: list[str], count: int) -> dict:
    """Each system's worst and best rows by ROUGE-L (ties by id), beside their reference."""
    result = {}
    for name, s in scored.items():
        order = sorted(range(len(ids)), key=lambda j: (s.rows["rougeL"][j], ids[j]))
        pick = {"worst": order[:count], "best": order[::-1][:count]}
        result[name] = {kind: [{"id": ids[j], "rougeL": float(s.rows["rougeL"][j]),
                                "output": s.outputs[j], "reference": refs[j]} for j in rows]
                        for kind, rows in pick.items()}
    return result
