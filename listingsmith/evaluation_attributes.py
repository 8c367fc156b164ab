"""``listingsmith evaluate --task attributes``: what ``batch``/``analyze`` predicted against a
seller's labels.

Predictions are the JSON lines ``listingsmith batch`` writes (``{"id", ..., "attributes":
{...}}``) or ``analyze --json`` objects with an id added; labels are a CSV or JSONL with an id
and any of ``category``, ``taxonomy_id``, ``taxonomy_path``, ``colour`` and AMLC entity
columns (``item_weight`` = ``500 gram``). Each label column is scored only where the seller
filled it in: accuracy and macro-F1 per label and per taxonomy level (a path is right at level
k when its first k nodes are), colour exact and by family, and the Amazon-ML-2024 F1 over the
entity columns (``listingsmith.metrics.amlc_f1``, the benchmark's own scoring).
"""

from __future__ import annotations

from collections import Counter

from listingsmith import metrics
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, format_amlc_value
from listingsmith.core.units import entity_units
from listingsmith.evaluation_io import (TAXONOMY_SEPARATOR, EvaluateOptions, Warn, id_report,
                                        lookup, read_table)
from listingsmith.evaluation_stats import rounded

LABELS = ("category", "taxonomy_id", "taxonomy_path", "colour")
OTHER = "(other)"
NONE = "(none)"


def evaluate_attributes(options: EvaluateOptions, warn: Warn) -> dict:
    labels = read_table(options.references, options.id_field, warn)
    systems = {p.stem: read_table(p, options.id_field, warn) for p in options.outputs}
    ids, id_problems = id_report(labels, systems)
    if not ids:
        raise ListingsmithError(f"{options.references}: no id is shared by the labels and every "
                                "prediction file; check --id-field and the files")
    columns = {key for i in ids for key, v in labels.rows[i].items() if str(v or "").strip()}
    entities = sorted(columns & set(entity_units()))
    if not (columns & set(LABELS)) and not entities:
        raise ListingsmithError(f"{options.references}: no label column; add any of "
                                f"{', '.join(LABELS)} or an entity column such as item_weight")
    truth = {i: _truth(labels.rows[i], entities, f"{options.references}: id {i}", warn)
             for i in ids}
    classes = metrics.settings()["report"]["confusion_classes"]
    report = {"task": "attributes", "settings": {"seed": options.seed}, "ids": id_problems,
              "systems": {}}
    for name, table in systems.items():
        predicted = {i: _predicted(table.rows[i], entities, f"{table.path}: id {i}", warn)
                     for i in ids}
        report["systems"][name] = score_attributes(predicted, truth, entities, classes)
    return rounded(report)


def _truth(row: dict, entities: list[str], where: str, warn: Warn) -> dict:
    """A label row's values, entity answers in the AMLC form ("500 gram" → "500.0 gram")."""
    result = {key: str(row[key]).strip() for key in LABELS if str(row.get(key) or "").strip()}
    for entity in entities:
        text = str(row.get(entity) or "").strip()
        if not text:
            continue
        number, _, unit = text.partition(" ")
        try:
            if unit.strip() not in entity_units()[entity]:
                raise ValueError(unit)
            result[entity] = format_amlc_value(float(number), unit.strip())
        except ValueError:
            warn(f"{where}: {entity} {text!r}: expected '<number> <unit>' with a unit of "
                 f"{', '.join(sorted(entity_units()[entity]))}; cell skipped")
    return result


def _predicted(row: dict, entities: list[str], where: str, warn: Warn) -> dict:
    """The values to compare from one prediction row (a batch line or an Attributes dict)."""
    attributes = row.get("attributes") if isinstance(row.get("attributes"), dict) else row
    colours = attributes.get("colours") or [{}]
    identity_id = lookup(attributes, "identity.taxonomy_id")
    result = {"category": lookup(attributes, "category.label"),
              "taxonomy_id": None if identity_id is None else str(identity_id),
              "taxonomy_path": lookup(attributes, "identity.taxonomy_path"),
              "colour": colours[0].get("name"), "colour_family": colours[0].get("family")}
    try:
        facts = Attributes.from_dict({"facts": attributes.get("facts") or []})
    except ListingsmithError as exc:
        warn(f"{where}: facts unreadable ({exc}); scored as no facts")
        facts = Attributes()
    for entity in entities:
        fact = facts.fact(entity)
        result[entity] = fact.answer if fact else ""
    return result


def score_attributes(predicted: dict[str, dict], truth: dict[str, dict], entities: list[str],
                     classes: int) -> dict:
    """Per-label accuracy and macro-F1 (taxonomy paths per level), colours, facts and the
    confusion matrix of the first categorical label present."""
    labels: dict[str, dict] = {}
    for key in ("category", "taxonomy_id"):
        rows = [i for i in truth if key in truth[i]]
        if rows:
            labels[key] = metrics.accuracy_macro_f1(
                [_norm(predicted[i][key]) for i in rows], [_norm(truth[i][key]) for i in rows])
    path_rows = [i for i in truth if "taxonomy_path" in truth[i]]
    depth = max((len(_levels(truth[i]["taxonomy_path"])) for i in path_rows), default=0)
    for level in range(1, depth + 1):
        rows = [i for i in path_rows if len(_levels(truth[i]["taxonomy_path"])) >= level]
        labels[f"taxonomy level {level}"] = metrics.accuracy_macro_f1(
            [_prefix(predicted[i]["taxonomy_path"], level) for i in rows],
            [_prefix(truth[i]["taxonomy_path"], level) for i in rows])
    colour_rows = [i for i in truth if "colour" in truth[i]]
    if colour_rows:
        labels["colour"] = metrics.accuracy_macro_f1(
            [_norm(predicted[i]["colour"]) for i in colour_rows],
            [_norm(truth[i]["colour"]) for i in colour_rows])
        family = [_norm(truth[i]["colour"]) in (_norm(predicted[i]["colour"]),
                                                _norm(predicted[i]["colour_family"]))
                  for i in colour_rows]
        labels["colour family"] = {"accuracy": sum(family) / len(family), "macro_f1": None,
                                   "n": len(family)}
    result = {"labels": labels}
    if entities:
        result["facts"] = {"entities": entities, **metrics.amlc_f1(
            [{e: predicted[i][e] for e in entities} for i in truth],
            [{e: truth[i].get(e, "") for e in entities} for i in truth], entities)}
    confusion_key = next((k for k in ("category", "taxonomy_path", "colour")
                          if any(k in t for t in truth.values())), None)
    if confusion_key:
        result["confusion"] = confusion(predicted, truth, confusion_key, classes)
    return result


def _norm(value) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip().casefold()


def _levels(path: str) -> list[str]:
    return [p.strip().casefold() for p in path.split(TAXONOMY_SEPARATOR.strip()) if p.strip()]


def _prefix(path: str | None, level: int) -> str | None:
    """The first ``level`` nodes of a taxonomy path, or None when it is shallower.

    >>> _prefix("Food > Snacks > Chips", 2), _prefix("Food", 2)
    ('food > snacks', None)
    """
    levels = _levels(path or "")
    return " > ".join(levels[:level]) if len(levels) >= level else None


def confusion(predicted: dict[str, dict], truth: dict[str, dict], key: str, classes: int) -> dict:
    """Counts of (true, predicted) for the most frequent true labels (a taxonomy path at its
    top level); every other label, predicted or true, is pooled as ``(other)``."""
    def label(value) -> str:
        value = _prefix(value, 1) if key == "taxonomy_path" else _norm(value)
        return value if value is not None else NONE

    rows = [i for i in truth if key in truth[i]]
    pairs = [(label(truth[i][key]), label(predicted[i][key])) for i in rows]
    frequent = [name for name, _ in sorted(Counter(t for t, _ in pairs).items(),
                                           key=lambda item: (-item[1], item[0]))[:classes]]
    names = frequent + [OTHER]
    index = {name: n for n, name in enumerate(frequent)}
    counts = [[0] * len(names) for _ in names]
    for true, guess in pairs:
        counts[index.get(true, len(frequent))][index.get(guess, len(frequent))] += 1
    return {"label": key, "classes": names, "counts": counts}
