"""``listingsmith write`` on held-out seller records that hold only a title, a brand and a
category (issue 23): what a seller's catalogue gives, not what a dataset does.

``python -m eval.run --task write [--limit N]``

For the BigBasket and Myntra test rows (``describer.data``; Myntra has no category), each
record goes through the product's own path (``tagger.seller.record_attributes`` →
``Describer``) with the default generator and the template. Per source and generator:

* kept quantities: rows where every fact the seller's title states (``tagger.seller.
  title_facts``: weights, volumes, counts, packs, wattage, bulb bases …) reappears in the
  output title or bullets, as the listing writes it or as the same number;
* bare titles: titles that say nothing but "Product" beside the brand;
* off-branch types: descriptions that name a product type of another Google branch than the
  listing's identity (the guard's own finder, ``Guard.product_type_violations``);
* title guide: titles within 150 characters, with no word in capitals and no promotional
  word, that name the brand (``listingsmith.metrics.title_checks``).

Then tone and length on ``TONE_ROWS`` rows per source of the default generator: mean words
per length
(neutral), and per tone the share of descriptions holding one of the eval's own tone markers
(``eval/tone_words.toml``).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from eval.tasks import TaskResult, register

DEFAULT_ROWS = 300
TONE_ROWS = 100
RECORD_FIELDS = ("title", "brand", "category")
"""What a record holds here: a seller's catalogue may have no more."""
GENERATORS = (None, "template")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_FIELD = re.compile(r"\b\w[\w ]*:\s|\d+(?:\.\d+)?\s?[a-zA-Z%]{1,4}\b")


@register("write")
def run(data: Path, limit: int | None) -> TaskResult:
    from describer.data import examples
    from describer.pipeline import describer_for
    from tagger.seller import record_attributes

    rows = limit or DEFAULT_ROWS
    metrics: dict = {"sources": {}}
    lines = []
    for source in ("bigbasket", "myntra"):
        test = examples(data, source, "test", limit=rows)
        records = [{k: e.seller[k] for k in RECORD_FIELDS if e.seller.get(k)} for e in test]
        attributes = [record_attributes(record) for record in records]
        metrics["sources"][source] = {}
        for choice in GENERATORS:
            describer = describer_for(choice)
            listings = [listing for i in range(0, len(attributes), 8)
                        for listing in describer.describe(attributes[i:i + 8])]
            scores = record_scores(describer.guard, records, listings)
            name = choice or "default"
            metrics["sources"][source][name] = scores
            lines.append(f"| {source} | {name} | {scores['rows']} | {scores['kept %']:.1f} | "
                         f"{scores['lost facts']} | {scores['bare titles']} | "
                         f"{scores['off-branch %']:.1f} | {scores['title guide %']:.1f} |")
        metrics["sources"][source]["tone_length"] = tone_and_length(describer_for(None),
                                                                    attributes[:TONE_ROWS])
    tables = [f"{source}:\n\n{tone_table(metrics['sources'][source]['tone_length'])}"
              for source in metrics["sources"]]
    table = "\n".join(["| source | generator | rows | kept % | lost facts | bare titles | "
                       "off-branch % | title guide % |", "|---|---|---|---|---|---|---|---|",
                       *lines, "", "Tone and length, default generator, " + "\n\n".join(tables)])
    notes = [f"records: {', '.join(RECORD_FIELDS)} of {rows} evenly spaced test rows per "
             f"source (Myntra has no category); default = the bundled generator without a "
             f"memory", f"tone and length: the first {TONE_ROWS} of those rows per source, default "
             f"generator; words = mean words per description (neutral tone); 'reads X' = share "
             f"of descriptions with one of eval/tone_words.toml's markers of tone X"]
    return TaskResult(metrics=metrics, table=table, notes=notes)


def record_scores(guard, records: list[dict], listings: list) -> dict:
    """The four checks over one generator's listings of ``records``."""
    from listingsmith.metrics import title_checks
    from tagger.seller import title_facts

    kept, lost = [], 0
    for record, listing in zip(records, listings):
        shown = " ".join([listing.title, *listing.bullets])
        # one quantity may be read as two entities ("500mg": a dose or a weight)
        missing = {f.display for f in title_facts(record) if f.entity != "brand"
                   and not _states(shown, f.display)}
        kept.append(not missing)
        lost += len(missing)
    bare = sum(_bare(listing.title, record.get("brand", ""))
               for record, listing in zip(records, listings))
    off_branch = [bool(guard.product_type_violations(listing.description, listing.attributes))
                  for listing in listings]
    guide = [all(title_checks(listing.title, record.get("brand", "")).values())
             for record, listing in zip(records, listings)]
    return {"rows": len(listings), "kept %": 100 * statistics.mean(kept), "lost facts": lost,
            "bare titles": bare, "off-branch %": 100 * statistics.mean(off_branch),
            "title guide %": 100 * statistics.mean(guide)}


def _states(text: str, display: str) -> bool:
    """Whether ``text`` states a fact written ``display`` ("500 g"): the same words, or the
    same number next to the unit's first letters ("500g", "500 gm")."""
    if display.casefold() in text.casefold():
        return True
    number = _NUMBER.search(display)
    return number is not None and re.search(
        r"(?<![\d.])" + re.escape(number.group(0)) + r"(?![\d.])", text) is not None


def _bare(title: str, brand: str) -> bool:
    words = [w for w in title.split() if w.casefold() not in brand.casefold().split()]
    return not words or [w.casefold() for w in words] == ["product"]


def tone_and_length(describer, attributes: list) -> dict:
    """Mean words per length (neutral tone) and tone-marker shares per tone."""
    from describer.prompting import options
    from listingsmith.core import vocab

    markers = vocab.load("eval", "tone_words.toml")
    result: dict = {"words": {}, "markers": {}}
    for length in options()["lengths"]:
        texts = [l.description for l in describer.describe(attributes, length=length)]
        result["words"][length] = statistics.mean(len(t.split()) for t in texts)
    for tone in options()["tones"]:
        texts = [l.description for l in describer.describe(attributes, tone=tone)]
        result["markers"][tone] = {name: 100 * statistics.mean(_reads(t, name, markers)
                                                               for t in texts)
                                   for name in ("premium", "playful", "technical")}
    return result


def _reads(text: str, tone: str, markers: dict) -> bool:
    folded = text.casefold()
    if any(w in folded if not w.isalpha() else re.search(rf"\b{w}\b", folded)
           for w in markers[tone]["words"]):
        return True
    if tone == "technical":
        words = max(1, len(text.split()))
        return len(_FIELD.findall(text)) / words >= markers["technical"]["field_share"]
    return False


def tone_table(result: dict) -> str:
    words = " | ".join(f"{result['words'][n]:.1f}" for n in result["words"])
    header = "| length → mean words | " + " | ".join(result["words"]) + " |"
    tones = ["| tone | reads premium % | reads playful % | reads technical % |",
             "|---|---|---|---|"] + [
        f"| {tone} | " + " | ".join(f"{v:.0f}" for v in shares.values()) + " |"
        for tone, shares in result["markers"].items()]
    return "\n".join([header, "|---|" + "---|" * len(result["words"]), f"| words | {words} |",
                      "", *tones])
