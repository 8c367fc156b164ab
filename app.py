"""The seller app: photos of one product in, an editable, exportable listing out.

    listingsmith app [--port 7860]        or        python app.py [--port 7860]

A thin Gradio shell over ``listingsmith.service``: models load once at start, requests
queue one at a time (two sellers at once on 2 cores would only slow each other), the
description streams as it is written, and any failure becomes a readable line in the
page while the server keeps serving. Fully offline: analytics off, system fonts only.
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
from listingsmith.service import ListingService, edited, with_seller  # noqa: E402
from listingsmith.core.errors import ListingsmithError  # noqa: E402
from listingsmith.core.io import limit  # noqa: E402
from listingsmith.core.types import Attributes, Listing  # noqa: E402

MAX_UPLOAD_MB = 25
"""Per-file upload cap; larger files are refused by the server before they are read
(the page says so before sending them). ``$LISTINGSMITH_MAX_UPLOAD_MB`` overrides it."""
QUEUE_SIZE = 16
"""Requests waiting beyond this many are turned away with a 'busy' message."""
SYSTEM_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"],
                    font_mono=["ui-monospace", "monospace"])
"""No web fonts: the app must render with no network."""
FACT_COLUMNS = ["fact", "value", "source", "read from"]

log = logging.getLogger("listingsmith.app")


def build_app(service: ListingService) -> gr.Blocks:
    tones = list(prompting.options()["tones"])
    lengths = list(prompting.options()["lengths"])
    with gr.Blocks(title="listingsmith", analytics_enabled=False) as app:
        attributes_state = gr.State(None)
        listing_state = gr.State(None)
        gr.Markdown("# listingsmith\nPhotos of one product in, a grounded listing out.")
        with gr.Tab("Listing"):
            with gr.Row():
                with gr.Column(scale=1):
                    photos = gr.File(label="Photos of one product", file_count="multiple",
                                     elem_id="photos")
                    with gr.Accordion("What you already know (optional)", open=False):
                        brand = gr.Textbox(label="Brand", elem_id="seller-brand")
                        price = gr.Textbox(label="Price", elem_id="seller-price")
                        size = gr.Textbox(label="Size", elem_id="seller-size")
                        weight = gr.Textbox(label="Net weight (e.g. 500 g)",
                                            elem_id="seller-weight")
                    with gr.Row():
                        tone = gr.Dropdown(tones, value="neutral", label="Tone", elem_id="tone")
                        length = gr.Dropdown(lengths, value="medium", label="Length",
                                             elem_id="length")
                    with gr.Row():
                        generate = gr.Button("Create listing", variant="primary",
                                             elem_id="generate")
                        regenerate = gr.Button("Regenerate", elem_id="regenerate")
                    status = gr.Markdown("", elem_id="status")
                    annotated = gr.Gallery(label="What was found", elem_id="annotated",
                                           height=360, columns=2)
                with gr.Column(scale=1):
                    title = gr.Textbox(label="Title", elem_id="title", interactive=True)
                    bullets = gr.Textbox(label="Bullets (one per line)", lines=5,
                                         elem_id="bullets", interactive=True)
                    description = gr.Textbox(label="Description", lines=6,
                                             elem_id="description", interactive=True)
                    category = gr.Markdown(elem_id="category")
                    swatches = gr.HTML(elem_id="swatches")
                    tags = gr.Label(label="Tags", num_top_classes=8, elem_id="tags")
                    facts = gr.Dataframe(headers=FACT_COLUMNS, label="Facts",
                                         elem_id="facts", interactive=False, wrap=True)
                    warnings = gr.Markdown(elem_id="warnings")
                    with gr.Row():
                        export_format = gr.Dropdown(list(EXPORT_FORMATS), value="json",
                                                    label="Export as", elem_id="export-format")
                        export = gr.Button("Export", elem_id="export")
                    export_file = gr.File(label="Download", elem_id="export-file")
                    export_preview = gr.Code(label="Preview", elem_id="export-preview")
        with gr.Tab("Batch"):
            gr.Markdown("A CSV or JSONL of catalogue records (`id`, title, brand, …), or a zip "
                        "of photos (one product per file, or per folder).")
            batch_input = gr.File(label="CSV, JSONL or zip", elem_id="batch-input")
            batch_run = gr.Button("Write listings", variant="primary", elem_id="batch-run")
            batch_status = gr.Markdown(elem_id="batch-status")
            batch_output = gr.File(label="Listings (JSONL)", elem_id="batch-output")

        seller_inputs = [brand, price, size, weight]
        view = dict(annotated=annotated, category=category, swatches=swatches, tags=tags,
                    facts=facts, warnings=warnings, title=title, bullets=bullets,
                    description=description, status=status, attributes=attributes_state,
                    listing=listing_state)
        shown = list(view.values())

        def on_generate(files, brand, price, size, weight, tone, length):
            seller = _seller(brand, price, size, weight)
            yield from _guarded(view, lambda: _generate(service, files, seller, tone, length,
                                                        view))

        def on_regenerate(attributes, brand, price, size, weight, tone, length):
            seller = _seller(brand, price, size, weight)
            yield from _guarded(view, lambda: _regenerate(service, attributes, seller, tone,
                                                          length, view))

        def on_export(listing, title_text, description_text, bullet_text, fmt):
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

        def on_batch(upload, progress=gr.Progress()):
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

        generate.click(on_generate, [photos, *seller_inputs, tone, length], shown)
        regenerate.click(on_regenerate, [attributes_state, *seller_inputs, tone, length], shown)
        export.click(on_export, [listing_state, title, description, bullets, export_format],
                     [export_file, export_preview, status])
        batch_run.click(on_batch, [batch_input], [batch_output, batch_status])
    return app


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
    app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    max_upload = round(limit("MAX_UPLOAD_MB", MAX_UPLOAD_MB) * 2**20)
    app.launch(server_name=host, server_port=port, max_file_size=max_upload, show_error=False,
               prevent_thread_lock=not block, quiet=True, footer_links=[], ssr_mode=False,
               theme=gr.themes.Default(**SYSTEM_FONTS))
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="listingsmith app", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default loopback only)")
    parser.add_argument("--memory", default=None, metavar="LISTINGS",
                        help="write from your own listings (.jsonl/.csv with id, title, "
                             "description): the retrieve-edit generator")
    args = parser.parse_args(argv)
    service = None
    if args.memory:
        from describer.pipeline import describer_for

        service = ListingService(describer=describer_for(None, memory=Path(args.memory)))
    print(f"listingsmith app: loading models, then serving on http://{args.host}:{args.port}",
          flush=True)
    launch(args.port, host=args.host, service=service)


if __name__ == "__main__":
    main()
