"""The three forms of an ``evaluate`` report: JSON (every number), Markdown (the summary to
paste into a ticket) and one self-contained HTML page.

All three render the one dict ``listingsmith.evaluation`` returns, so they cannot disagree.
The HTML has no script and no external resource: its plots are SVG written here by hand
(no plotting library, which would also stamp dates and random ids), so the page opens offline
and the same report gives the same bytes.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from listingsmith.core.errors import ListingsmithError
from listingsmith.evaluation_svg import bar_chart, heatmap, histograms
from listingsmith.metrics import settings

SUFFIXES = (".html", ".md", ".json")
TEXT_COLUMNS = (("rougeL", "ROUGE-L"), ("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"),
                ("bleu", "BLEU-4"), ("chrf", "chrF"), ("semantic", "semantic"),
                ("distinct1", "dist-1"), ("distinct2", "dist-2"), ("self_bleu", "self-BLEU"),
                ("invented_numbers", "invented numbers"), ("kept_numbers", "kept numbers"),
                ("repeated_sentences", "repeated sentences"), ("words", "words"),
                ("chars", "chars"), ("n", "n"))
PLOTTED = (("rougeL", "ROUGE-L"), ("bleu", "BLEU-4"), ("chrf", "chrF"),
           ("semantic", "semantic similarity"))
ID_PROBLEMS = {"missing": "missing ids (in the references, not in this file)",
               "extra": "extra ids (not in the references)", "duplicates": "duplicated ids",
               "bad_lines": "bad lines"}
REAL = ' class="real"'
LISTED_IDS = 20
"""Ids listed per problem in Markdown and HTML (the JSON lists them all)."""


def check_outputs(paths: list[Path]) -> None:
    """Fail before any scoring if a report path has a suffix no writer knows."""
    for path in paths:
        if path.suffix.lower() not in SUFFIXES:
            raise ListingsmithError(f"--out {path}: expected a .html, .md or .json file")


def write_reports(report: dict, paths: list[Path]) -> None:
    check_outputs(paths)
    writers = {".json": to_json, ".md": to_markdown, ".html": to_html}
    for path in paths:
        path.write_text(writers[path.suffix.lower()](report), encoding="utf-8")


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


def _interval(interval) -> str:
    return "—" if not interval else f"[{_cell(interval[0])}, {_cell(interval[1])}]"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(_cell(c) if not isinstance(c, str) else c for c in row) + " |"
               for row in rows])


# --- Markdown --------------------------------------------------------------------------------

def to_markdown(report: dict) -> str:
    lines = (_markdown_attributes(report) if report["task"] == "attributes"
             else _markdown_text(report))
    return "\n".join(lines + [""] + _markdown_ids(report["ids"])) + "\n"


def _markdown_text(report: dict) -> list[str]:
    systems = report["systems"]
    columns = [(key, label) for key, label in TEXT_COLUMNS
               if any(s.get(key) is not None for s in systems.values())]
    rows = [[name] + [s.get(key) for key, _ in columns] for name, s in systems.items()]
    ref = report["reference"]
    rows.append(["(references)"] + [ref.get(key) if key in ref else None for key, _ in columns])
    lines = [f"# Evaluation: `{report['field']}` against the references' "
             f"`{report['reference_field']}`", "",
             f"{report['ids']['scored']} ids scored (of {report['ids']['references']} "
             f"references). ROUGE, BLEU, chrF and self-BLEU x100; semantic = MiniLM cosine; "
             f"invented numbers = share of outputs stating a number their input does not; "
             f"kept numbers = share of the input's numbers that reach the output.", ""]
    lines += _table(["system"] + [label for _, label in columns], rows)
    lines += ["", "95% paired-bootstrap intervals "
              f"({report['settings']['bootstrap']} resamples, seed {report['settings']['seed']}):",
              ""]
    metrics = [key for key, _ in PLOTTED + (("invented_numbers", ""), ("kept_numbers", ""))
               if any(key in s["ci95"] for s in systems.values())]
    lines += _table(["system"] + metrics,
                    [[name] + [_interval(s["ci95"].get(m)) for m in metrics]
                     for name, s in systems.items()])
    if "title_checks" in next(iter(systems.values())):
        checks = list(next(iter(systems.values()))["title_checks"])
        lines += ["", "Title checks (share of titles that pass):", ""]
        lines += _table(["system"] + checks, [[name] + [s["title_checks"].get(c) for c in checks]
                                               for name, s in systems.items()])
    lines += _markdown_comparisons(report)
    if "groups" in report:
        lines += ["", f"## By {report['groups']['field']}", ""]
        lines += _table(["group", "system", "n", "ROUGE-L", "BLEU-4", "semantic"],
                        [[group, name, g["n"], g["rougeL"], g["bleu"], g["semantic"]]
                         for group, per in report["groups"]["values"].items()
                         for name, g in per.items()])
    return lines


def _markdown_comparisons(report: dict) -> list[str]:
    if not report.get("comparisons"):
        return []
    shuffles = report["settings"]["shuffles"]
    lines = ["", f"## Differences (a − b; approximate randomisation, {shuffles} shuffles; "
                 f"real = p < {report['settings']['alpha']})", ""]
    return lines + _table(["a", "b", "metric", "difference", "95% CI", "p", "real?"],
                          [[c["a"], c["b"], c["metric"], c["difference"], _interval(c["ci95"]),
                            f"{c['p_value']:.4f}", "yes" if c["significant"] else "no"]
                           for c in report["comparisons"]])


def _markdown_attributes(report: dict) -> list[str]:
    lines = ["# Evaluation: predicted attributes against the labels", "",
             f"{report['ids']['scored']} ids scored (of {report['ids']['references']} labels).", ""]
    for name, system in report["systems"].items():
        lines += [f"## {name}", ""]
        lines += _table(["label", "n", "accuracy", "macro-F1"], _label_rows(system["labels"]))
        if system.get("facts"):
            facts = system["facts"]
            lines += ["", f"Facts (AMLC F1 over {', '.join(facts['entities'])}): "
                          f"precision {facts['precision']:.3f}, recall {facts['recall']:.3f}, "
                          f"F1 {facts['f1']:.3f}", ""]
    return lines


def _label_rows(labels: dict) -> list[list]:
    return [[label, s["n"], f"{s['accuracy']:.3f}",
             "—" if s.get("macro_f1") is None else f"{s['macro_f1']:.3f}"]
            for label, s in labels.items()]


def _markdown_ids(ids: dict) -> list[str]:
    lines = ["## Ids", ""]
    problems = [("references", "duplicated ids", ids["reference_duplicates"]),
                ("references", "bad lines", ids["reference_bad_lines"])]
    for name, per in ids["systems"].items():
        problems += [(name, ID_PROBLEMS[kind], found) for kind, found in per.items()]
    listed = [f"- {where}: {len(found)} {what}: " + ", ".join(found[:LISTED_IDS])
              + (" …" if len(found) > LISTED_IDS else "")
              for where, what, found in problems if found]
    return lines + (listed or ["Every id matched: none missing, extra or duplicated."])


# --- HTML ------------------------------------------------------------------------------------

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right;vertical-align:top}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:12px}.pair td{text-align:left;max-width:520px;
white-space:pre-wrap}.real{font-weight:bold;color:#006400}h2{margin-top:28px}svg{background:#fff}"""


def to_html(report: dict) -> str:
    body = (_html_attributes(report) if report["task"] == "attributes"
            else _html_text(report))
    title = "listingsmith evaluate"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body + _html_ids(report["ids"])) + "\n</body></html>\n")


def _markdown_table_html(lines: list[str]) -> str:
    """A Markdown table (as ``_table`` writes it) as an HTML table, escaped."""
    header, _, *rows = lines
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in [header] + rows]
    head = "".join(f"<th>{escape(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in cells[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _html_text(report: dict) -> list[str]:
    systems = report["systems"]
    palette = settings()["report"]["palette"]
    markdown = _markdown_text(report)
    parts = [f"<h1>{escape(markdown[0].lstrip('# '))}</h1>", f"<p>{escape(markdown[2])}</p>"]
    parts.append(_markdown_table_html(_table(
        ["system"] + [label for key, label in TEXT_COLUMNS
                      if any(s.get(key) is not None for s in systems.values())],
        [[name] + [s.get(key) for key, _ in TEXT_COLUMNS
                   if any(t.get(key) is not None for t in systems.values())]
         for name, s in systems.items()])))
    charts = [bar_chart(label, list(systems), [s.get(key) for s in systems.values()],
                        [s["ci95"].get(key) for s in systems.values()], palette)
              for key, label in PLOTTED if any(s.get(key) is not None for s in systems.values())]
    parts += ["<h2>Scores with 95% intervals</h2>", "<div class=\"plots\">" + "".join(charts)
              + "</div>"]
    parts += _html_comparisons(report)
    dist = report["distributions"]
    parts += ["<h2>Distributions</h2>", "<div class=\"plots\">",
              histograms("ROUGE-L per row", dist["rougeL"], palette)]
    if dist["semantic"]:
        parts.append(histograms("semantic similarity per row", dist["semantic"], palette))
    parts += [histograms("words per text", dist["words"], palette), "</div>"]
    if "groups" in report:
        parts += _html_groups(report["groups"], list(systems), palette)
    parts += _html_examples(report["examples"])
    return parts


def _html_comparisons(report: dict) -> list[str]:
    if not report.get("comparisons"):
        return []
    rows = "".join(
        f"<tr{REAL if c['significant'] else ''}><td>{escape(c['a'])} − "
        f"{escape(c['b'])}</td><td>{c['metric']}</td><td>{_cell(c['difference'])}</td>"
        f"<td>{_interval(c['ci95'])}</td><td>{c['p_value']:.4f}</td>"
        f"<td>{'real' if c['significant'] else 'could be chance'}</td></tr>"
        for c in report["comparisons"])
    return [f"<h2>Differences</h2><p>Paired bootstrap intervals and approximate randomisation "
            f"({report['settings']['shuffles']} shuffles); bold = p &lt; "
            f"{report['settings']['alpha']}.</p>",
            "<table><tr><th>a − b</th><th>metric</th><th>difference</th><th>95% CI</th>"
            f"<th>p</th><th>verdict</th></tr>{rows}</table>"]


def _html_groups(groups: dict, systems: list[str], palette: list[str]) -> list[str]:
    values = groups["values"]
    charts = []
    for key, label in (("rougeL", "ROUGE-L"), ("semantic", "semantic similarity")):
        if all(values[g][s][key] is None for g in values for s in systems):
            continue
        labels = [f"{g} · {s}" for g in values for s in systems]
        charts.append(bar_chart(f"{label} by {groups['field']}", labels,
                                [values[g][s][key] for g in values for s in systems], None,
                                [palette[i % len(palette)] for _ in values
                                 for i in range(len(systems))]))
    return [f"<h2>By {escape(groups['field'])}</h2>", "<div class=\"plots\">"
            + "".join(charts) + "</div>"]


def _html_examples(examples: dict) -> list[str]:
    parts = ["<h2>Worst and best examples (by ROUGE-L)</h2>"]
    for name, kinds in examples.items():
        for kind, rows in kinds.items():
            body = "".join(f"<tr><td>{escape(r['id'])}<br>R-L {_cell(r['rougeL'])}</td>"
                           f"<td>{escape(r['output'])}</td><td>{escape(r['reference'])}</td></tr>"
                           for r in rows)
            parts.append(f"<h3>{escape(name)}: {kind}</h3><table class=\"pair\"><tr><th>id</th>"
                         f"<th>output</th><th>reference</th></tr>{body}</table>")
    return parts


def _html_attributes(report: dict) -> list[str]:
    palette = settings()["report"]["palette"]
    markdown = _markdown_attributes(report)
    parts = [f"<h1>{escape(markdown[0].lstrip('# '))}</h1>", f"<p>{escape(markdown[2])}</p>"]
    for name, system in report["systems"].items():
        labels = system["labels"]
        parts += [f"<h2>{escape(name)}</h2>", _markdown_table_html(_table(
            ["label", "n", "accuracy", "macro-F1"],
            _label_rows(labels)))]
        charts = [bar_chart("accuracy", list(labels), [s["accuracy"] for s in labels.values()],
                            None, palette[:1] * len(labels))]
        if system.get("confusion"):
            confusion = system["confusion"]
            charts.append(heatmap(f"confusion: {confusion['label']} (row true, column predicted)",
                                  confusion["classes"], confusion["counts"]))
        parts.append("<div class=\"plots\">" + "".join(charts) + "</div>")
        if system.get("facts"):
            facts = system["facts"]
            parts.append(f"<p>Facts (AMLC F1 over {escape(', '.join(facts['entities']))}): "
                         f"precision {facts['precision']:.3f}, recall {facts['recall']:.3f}, "
                         f"F1 {facts['f1']:.3f}</p>")
    return parts


def _html_ids(ids: dict) -> list[str]:
    items = _markdown_ids(ids)[2:]
    return ["<h2>Ids</h2>", "<ul>" + "".join(f"<li>{escape(i.lstrip('- '))}</li>"
                                             for i in items) + "</ul>"]
