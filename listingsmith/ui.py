"""The seller app: photos of one product in, an editable, exportable listing out.

    listingsmith app [--port 7860]        or        python app.py [--port 7860]

A thin Gradio shell over ``listingsmith.service``, so over the one pipeline the command line
runs: models load once at start, requests queue one at a time (two sellers at once on 2
cores would only slow each other), the description streams as it is written, and any
failure becomes a readable line in the page while the server keeps serving. Fully offline:
analytics off, system fonts only. Limits: ``listingsmith/core/vocab/app.toml``.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402  (the analytics switch must be set before the import)

from describer import prompting  # noqa: E402
from describer.export import EXPORT_FORMATS, export_text  # noqa: E402
from listingsmith.batch_upload import run_upload  # noqa: E402
from listingsmith.core import vocab  # noqa: E402
from listingsmith.core.errors import ListingsmithError  # noqa: E402
from listingsmith.core.io import limit  # noqa: E402
from listingsmith.core.types import Attributes, Listing  # noqa: E402
from listingsmith.pipeline import Pipeline, PipelineSettings  # noqa: E402
from listingsmith.service import APP_LIMITS, ListingService, edited, with_seller  # noqa: E402

SYSTEM_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"],
                    font_mono=["ui-monospace", "monospace"])
"""No web fonts: the app must render with no network."""
FACT_COLUMNS = ["fact", "value", "source", "read from"]
SHOWN = ("annotated", "category", "swatches", "tags", "facts", "warnings", "title", "bullets",
         "description", "status", "attributes", "listing")
"""The listing tab's components a request updates (the listing streams in as it is written)."""
SELLER_INPUTS = ("brand", "price", "size", "weight")

log = logging.getLogger("listingsmith.app")


def build_app(service: ListingService) -> gr.Blocks:
    with gr.Blocks(title="listingsmith", analytics_enabled=False) as app:
        gr.Markdown("# listingsmith\nPhotos of one product in, a grounded listing out.")
        with gr.Tab("Listing"):
            view = _listing_tab()
        with gr.Tab("Batch"):
            batch = _batch_tab()
        _wire_listing(service, view)
        _wire_batch(service, batch)
    return app


def _listing_tab() -> dict:
    """The listing tab's components, by name (its handlers' inputs and outputs)."""
    tones = list(prompting.options()["tones"])
    lengths = list(prompting.options()["lengths"])
    view = dict(attributes=gr.State(None), listing=gr.State(None))
    with gr.Row():
        with gr.Column(scale=1):
            view["photos"] = gr.File(label="Photos of one product", file_count="multiple",
                                     elem_id="photos")
            with gr.Accordion("What you already know (optional)", open=False):
                view["brand"] = gr.Textbox(label="Brand", elem_id="seller-brand")
                view["price"] = gr.Textbox(label="Price", elem_id="seller-price")
                view["size"] = gr.Textbox(label="Size", elem_id="seller-size")
                view["weight"] = gr.Textbox(label="Net weight (e.g. 500 g)",
                                            elem_id="seller-weight")
            with gr.Row():
                view["tone"] = gr.Dropdown(tones, value="neutral", label="Tone", elem_id="tone")
                view["length"] = gr.Dropdown(lengths, value="medium", label="Length",
                                             elem_id="length")
            with gr.Row():
                view["generate"] = gr.Button("Create listing", variant="primary",
                                             elem_id="generate")
                view["regenerate"] = gr.Button("Regenerate", elem_id="regenerate")
            view["status"] = gr.Markdown("", elem_id="status")
            view["annotated"] = gr.Gallery(label="What was found", elem_id="annotated",
                                           height=360, columns=2)
        with gr.Column(scale=1):
            _listing_column(view)
    return view


def _listing_column(view: dict) -> None:
    """The listing, what it was written from, and its export, into ``view``."""
    view["title"] = gr.Textbox(label="Title", elem_id="title", interactive=True)
    view["bullets"] = gr.Textbox(label="Bullets (one per line)", lines=5, elem_id="bullets",
                                 interactive=True)
    view["description"] = gr.Textbox(label="Description", lines=6, elem_id="description",
                                     interactive=True)
    view["category"] = gr.Markdown(elem_id="category")
    view["swatches"] = gr.HTML(elem_id="swatches")
    view["tags"] = gr.Label(label="Tags", num_top_classes=8, elem_id="tags")
    view["facts"] = gr.Dataframe(headers=FACT_COLUMNS, label="Facts", elem_id="facts",
                                 interactive=False, wrap=True)
    view["warnings"] = gr.Markdown(elem_id="warnings")
    with gr.Row():
        view["export_format"] = gr.Dropdown(list(EXPORT_FORMATS), value="json",
                                            label="Export as", elem_id="export-format")
        view["export"] = gr.Button("Export", elem_id="export")
    view["export_file"] = gr.File(label="Download", elem_id="export-file")
    view["export_preview"] = gr.Code(label="Preview", elem_id="export-preview")


def _batch_tab() -> dict:
    gr.Markdown("A CSV or JSONL of catalogue records (`id`, title, brand, …), or a zip "
                "of photos (one product per file, or per folder).")
    return dict(input=gr.File(label="CSV, JSONL or zip", elem_id="batch-input"),
                run=gr.Button("Write listings", variant="primary", elem_id="batch-run"),
                status=gr.Markdown(elem_id="batch-status"),
                output=gr.File(label="Listings (JSONL)", elem_id="batch-output"))


def _wire_listing(service: ListingService, view: dict) -> None:
    """The listing tab's handlers: create, regenerate (seller corrections, new tone or
    length, no photo read again) and export."""
    shown = [view[name] for name in SHOWN]
    seller_inputs = [view[name] for name in SELLER_INPUTS]

    def on_generate(files, brand, price, size, weight, tone, length):
        seller = _seller(brand, price, size, weight)
        yield from _guarded(view, lambda: _generate(service, files, seller, tone, length,
                                                    view))

    def on_regenerate(attributes, brand, price, size, weight, tone, length):
        seller = _seller(brand, price, size, weight)
        yield from _guarded(view, lambda: _regenerate(service, attributes, seller, tone,
                                                      length, view))

    view["generate"].click(on_generate, [view["photos"], *seller_inputs, view["tone"],
                                         view["length"]], shown)
    view["regenerate"].click(on_regenerate, [view["attributes"], *seller_inputs, view["tone"],
                                             view["length"]], shown)
    view["export"].click(_on_export, [view["listing"], view["title"], view["description"],
                                      view["bullets"], view["export_format"]],
                         [view["export_file"], view["export_preview"], view["status"]])


def _on_export(listing, title_text, description_text, bullet_text, fmt):
    try:
        if listing is None:
            raise ListingsmithError("create a listing first, then export it")
        final = edited(listing, title_text, description_text, bullet_text)
        text = export_text(final, fmt)
        folder = Path(tempfile.mkdtemp(prefix="listingsmith-export-"))
        target = folder / f"listing{EXPORT_FORMATS[fmt].suffix}"
        target.write_text(text, encoding="utf-8")
        return str(target), text, ""
    except ListingsmithError as exc:
        return None, "", f"**Error:** {html.escape(str(exc))}"
    except Exception:
        log.exception("export failed")
        return None, "", "**Error:** the export failed; please try again."


def _wire_batch(service: ListingService, batch: dict) -> None:
    def on_batch(upload, progress=gr.Progress()):
        return _run_batch(service, upload, progress)

    batch["run"].click(on_batch, [batch["input"]], [batch["output"], batch["status"]])


def _run_batch(service: ListingService, upload, progress):
    """The batch tab's upload to a JSONL of listings; a failure is one line in the tab."""
    try:
        if upload is None:
            raise ListingsmithError("upload a CSV, JSONL or zip first")
        out, summary = run_upload(service, Path(upload),
                                  lambda done, total: progress(done / max(total, 1),
                                                               desc=f"{done}/{total}"))
        return str(out), summary
    except ListingsmithError as exc:
        return None, f"**Error:** {html.escape(str(exc))}"
    except Exception:
        log.exception("batch failed")
        return None, "**Error:** the batch failed; please check the file and retry."


def _seller(brand: str, price: str, size: str, weight: str) -> dict[str, str]:
    return {"brand": brand, "price": price, "size": size, "item_weight": weight}


def _guarded(view: dict, work):
    """Run a streaming handler; a failure becomes a one-line status, never a stack trace."""
    status = view["status"]
    try:
        yield from work()
    except ListingsmithError as exc:
        yield {status: f"**Error:** {html.escape(str(exc))}"}
    except Exception:
        log.exception("request failed")
        yield {status: "**Error:** something went wrong with this request; the app is still "
                       "running, please try again."}


def _generate(service: ListingService, files, seller: dict[str, str], tone: str, length: str,
              view: dict):
    paths = [f if isinstance(f, str) else f.name for f in (files or [])]
    if not paths:
        raise ListingsmithError("upload at least one photo of the product")
    analysis = service.analyze(paths, seller)
    skipped = "".join(f"\n\nSkipped {html.escape(line)}" for line in analysis.errors)
    yield {**_attribute_updates(view, analysis.attributes),
           view["annotated"]: analysis.annotated,
           view["status"]: "Writing the listing…" + skipped}
    yield from _write(service, analysis.attributes, tone, length, view, skipped)


def _regenerate(service: ListingService, attributes: Attributes | None, seller: dict[str, str],
                tone: str, length: str, view: dict):
    if attributes is None:
        raise ListingsmithError("create a listing first; regenerate rewrites it")
    attributes = with_seller(attributes, seller)
    yield {**_attribute_updates(view, attributes), view["status"]: "Rewriting…"}
    yield from _write(service, attributes, tone, length, view, "")


def _write(service, attributes, tone, length, view, note):
    for item in service.listing_stream(attributes, tone, length):
        if isinstance(item, Listing):
            removed = (f"\n\nRemoved unsupported claims: {html.escape(', '.join(item.removed_claims))}"
                       if item.removed_claims else "")
            if item.repaired_claims:
                removed += ("\n\nRewritten to your product's facts: "
                            + html.escape(", ".join(item.repaired_claims)))
            yield {view["title"]: item.title, view["bullets"]: "\n".join(item.bullets),
                   view["description"]: item.description, view["listing"]: item,
                   view["status"]: f"Done ({item.generator}, {item.tone}, {item.length})."
                                   + removed + note}
        else:
            yield {view["description"]: item}


def _attribute_updates(view: dict, attributes: Attributes) -> dict:
    category = attributes.category
    category_text = ""
    if category is not None:
        path = " › ".join(category.path or [category.label])
        flag = " (uncertain)" if category.uncertain else ""
        category_text = f"**Category:** {html.escape(path)} — {category.score:.0%}{flag}"
    identity = attributes.identity
    if identity is not None:
        what = (f"{html.escape(identity.taxonomy_path)} — {identity.confidence:.0%}"
                if identity.taxonomy_id is not None else "not sure")
        unsure = f" (**not sure:** {html.escape(identity.reason)})" if identity.uncertain else ""
        category_text = f"**What it is:** {what}{unsure}\n\n{category_text}"
    swatches = "".join(
        f'<span style="display:inline-block;margin:2px 6px 2px 0">'
        f'<span style="display:inline-block;width:14px;height:14px;background:{c.hex};'
        f'border:1px solid #888;vertical-align:middle"></span> {html.escape(c.name)} '
        f'{c.share:.0%}</span>' for c in attributes.colours)
    facts = [[f.entity, f.display, f.source, f.raw_text] for f in attributes.facts]
    warnings = "\n".join(f"- ⚠ {html.escape(w.message)}" for w in attributes.warnings)
    return {view["category"]: category_text, view["swatches"]: swatches,
            view["tags"]: {t.name: float(t.score) for t in attributes.tags} or None,
            view["facts"]: facts or [["—", "", "", ""]], view["warnings"]: warnings,
            view["attributes"]: attributes}


def launch(port: int = 7860, *, host: str = "127.0.0.1", service: ListingService | None = None,
           warm_up: bool = True, block: bool = True):
    """Start the app; with ``block=False`` returns the running app (tests)."""
    service = service or ListingService()
    if warm_up:
        service.warm_up()
    app = build_app(service)
    limits = vocab.load(*APP_LIMITS)
    app.queue(default_concurrency_limit=1, max_size=limits["queue_size"])
    max_upload = round(limit("MAX_UPLOAD_MB", limits["max_upload_mb"]) * 2**20)
    app.launch(server_name=host, server_port=port, max_file_size=max_upload, show_error=False,
               prevent_thread_lock=not block, quiet=True, footer_links=[], ssr_mode=False,
               theme=gr.themes.Default(**SYSTEM_FONTS))
    return app


def add_app_args(parser: argparse.ArgumentParser) -> None:
    """The app's options (``python app.py`` and ``listingsmith app`` both end up here)."""
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default loopback only)")
    parser.add_argument("--memory", default=None, metavar="LISTINGS",
                        help="write from your own listings (.jsonl/.csv with id, title, "
                             "description): the retrieve-edit generator")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="listingsmith app", description=__doc__.splitlines()[0])
    add_app_args(parser)
    args = parser.parse_args(argv)
    settings = PipelineSettings(memory=args.memory)
    settings.check()
    service = ListingService(Pipeline(settings))
    print(f"listingsmith app: loading models, then serving on http://{args.host}:{args.port}",
          flush=True)
    launch(args.port, host=args.host, service=service)
