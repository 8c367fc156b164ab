"""Hand-written SVG plots for the ``evaluate`` HTML report: horizontal bars with interval
whiskers, small-multiple histograms and a confusion heatmap.

Why by hand: the report must open offline as one file and be byte-for-byte reproducible; a
plotting library would add a dependency, fonts and ids that change between runs. Every
coordinate is printed with one decimal, so the same numbers give the same bytes.
"""

from __future__ import annotations

from html import escape

WIDTH = 400
LABEL_WIDTH = 170
ROW = 22
PANEL = 56
CELL = 24
TITLE = 24


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0f}\" "
            f"height=\"{height:.0f}\" viewBox=\"0 0 {width:.0f} {height:.0f}\" role=\"img\" "
            f"aria-label=\"{escape(title)}\"><text x=\"4\" y=\"16\" font-size=\"13\" "
            f"font-weight=\"bold\">{escape(title)}</text>" + "".join(body) + "</svg>")


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def bar_chart(title: str, labels: list[str], values: list[float | None],
              intervals: list[list[float] | None] | None, colours: list[str]) -> str:
    """One horizontal bar per label, with its 95% interval as a whisker when given.

    >>> svg = bar_chart("BLEU", ["a", "b"], [10.0, None], [[8.0, 12.0], None], ["#000"])
    >>> svg.count("<rect"), "n/a" in svg
    (1, True)
    """
    intervals = intervals or [None] * len(labels)
    top = max([v for v in values if v is not None]
              + [i[1] for i in intervals if i] + [1e-9])
    scale = (WIDTH - LABEL_WIDTH - 50) / top
    body = []
    for row, (label, value, interval) in enumerate(zip(labels, values, intervals)):
        y = TITLE + row * ROW
        body.append(f"<text x=\"{LABEL_WIDTH - 6}\" y=\"{y + 15:.1f}\" font-size=\"11\" "
                    f"text-anchor=\"end\">{escape(_short(label, 28))}</text>")
        if value is None:
            body.append(f"<text x=\"{LABEL_WIDTH + 4}\" y=\"{y + 15:.1f}\" font-size=\"11\" "
                        "fill=\"#777\">n/a</text>")
            continue
        body.append(f"<rect x=\"{LABEL_WIDTH}\" y=\"{y + 4:.1f}\" width=\"{value * scale:.1f}\" "
                    f"height=\"{ROW - 8}\" fill=\"{colours[row % len(colours)]}\"/>")
        if interval:
            low, high = (LABEL_WIDTH + interval[0] * scale, LABEL_WIDTH + interval[1] * scale)
            middle = y + ROW / 2
            body.append(f"<path d=\"M{low:.1f} {middle:.1f}H{high:.1f}M{low:.1f} "
                        f"{middle - 5:.1f}v10M{high:.1f} {middle - 5:.1f}v10\" stroke=\"#222\" "
                        "fill=\"none\"/>")
        end = LABEL_WIDTH + max(value, interval[1] if interval else value) * scale
        body.append(f"<text x=\"{end + 4:.1f}\" y=\"{y + 15:.1f}\" font-size=\"11\">"
                    f"{value:.3g}</text>")
    return _svg(WIDTH, TITLE + ROW * len(labels) + 6, title, body)


def histograms(title: str, series: dict[str, dict], palette: list[str]) -> str:
    """One small histogram per series (``evaluation_stats.histogram`` dicts), stacked, on the
    same x range.

    >>> svg = histograms("R-L", {"a": {"low": 0, "high": 1, "counts": [1, 3]}}, ["#000"])
    >>> svg.count("<rect")
    2
    """
    body = []
    for index, (name, hist) in enumerate(series.items()):
        counts = hist["counts"]
        top = max(counts + [1])
        width = (WIDTH - LABEL_WIDTH) / len(counts)
        base = TITLE + (index + 1) * PANEL
        body.append(f"<text x=\"{LABEL_WIDTH - 6}\" y=\"{base - PANEL / 2:.1f}\" font-size=\"11\" "
                    f"text-anchor=\"end\">{escape(_short(name))}</text>")
        systems = index - ("reference" in list(series)[:index])
        colour = palette[-1] if name == "reference" else palette[systems % len(palette)]
        for i, count in enumerate(counts):
            if count:
                height = (PANEL - 10) * count / top
                body.append(f"<rect x=\"{LABEL_WIDTH + i * width:.1f}\" y=\"{base - height:.1f}\" "
                            f"width=\"{max(width - 1, 0.5):.1f}\" height=\"{height:.1f}\" "
                            f"fill=\"{colour}\"/>")
        body.append(f"<path d=\"M{LABEL_WIDTH} {base}H{WIDTH}\" stroke=\"#999\"/>")
    low, high = (next(iter(series.values()))[k] for k in ("low", "high"))
    axis = TITLE + len(series) * PANEL + 14
    body.append(f"<text x=\"{LABEL_WIDTH}\" y=\"{axis}\" font-size=\"10\">{low:g}</text>"
                f"<text x=\"{WIDTH - 2}\" y=\"{axis}\" font-size=\"10\" text-anchor=\"end\">"
                f"{high:.3g}</text>")
    return _svg(WIDTH, axis + 6, title, body)


def heatmap(title: str, classes: list[str], counts: list[list[int]]) -> str:
    """A confusion matrix: rows true, columns predicted, shaded by each row's share.

    >>> heatmap("c", ["a", "b"], [[2, 0], [1, 1]]).count("<rect")
    4
    """
    size = len(classes)
    left, top = LABEL_WIDTH, TITLE + 16
    body = []
    for i, name in enumerate(classes):
        body.append(f"<text x=\"{left - 6}\" y=\"{top + i * CELL + 16}\" font-size=\"11\" "
                    f"text-anchor=\"end\">{escape(_short(name, 22))}</text>"
                    f"<text x=\"{left + i * CELL + CELL / 2:.1f}\" y=\"{top - 4}\" "
                    f"font-size=\"10\" text-anchor=\"middle\">{i + 1}</text>")
        total = max(sum(counts[i]), 1)
        for j, count in enumerate(counts[i]):
            shade = count / total
            body.append(f"<rect x=\"{left + j * CELL}\" y=\"{top + i * CELL}\" "
                        f"width=\"{CELL - 1}\" height=\"{CELL - 1}\" fill=\"#0072B2\" "
                        f"fill-opacity=\"{0.05 + 0.95 * shade:.2f}\"><title>{escape(name)} → "
                        f"{escape(classes[j])}: {count}</title></rect>")
            if count:
                body.append(f"<text x=\"{left + j * CELL + CELL / 2:.1f}\" "
                            f"y=\"{top + i * CELL + 16}\" font-size=\"9\" text-anchor=\"middle\" "
                            f"fill=\"{'#fff' if shade > 0.5 else '#222'}\">{count}</text>")
    return _svg(max(left + size * CELL + 8, 8 * len(title)), top + size * CELL + 8, title, body)
