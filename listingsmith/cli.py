"""The ``listingsmith`` command: parse arguments, call the library, format the result.

Every photo and record command builds one checked ``PipelineSettings`` from its arguments
and runs the one ``listingsmith.pipeline``, as batch and the app do."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from describer.export import CATALOGUE_FORMATS
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.records import read_records
from listingsmith.core.types import Attributes, Fact, Listing

if TYPE_CHECKING:  # the pipeline loads torch: imported when a command runs, not for --help
    from listingsmith.pipeline import Pipeline, PipelineSettings
    from tagger.pipeline import TaggerOptions

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2

TRAINERS = {"aligner": "tagger.train.aligner", "classifier": "tagger.train.classifier",
            "describer": "describer.train", "seq2seq": "describer.train_seq2seq"}
"""``listingsmith train NAME`` → the module whose ``main(argv)`` trains it (one script each)."""

SETTING_ARGS = {"generator": "generator", "tone": "tone", "length": "length",
                "memory": "memory", "taxonomy": "taxonomy", "detector": "detector",
                "tagger": "tag_model", "kind": "part_kind", "allow_network": "allow_network",
                "allow_remote": "allow_remote"}
"""Command-line argument → the ``PipelineSettings`` field it sets (where a command has it)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, passed_on = parser.parse_known_args(argv)
    if args.command == "app":  # the app parses its own options (listingsmith.ui)
        args.args = passed_on
    elif passed_on:
        parser.error(f"unrecognized arguments: {' '.join(passed_on)}")
    try:
        return args.handler(args)
    except ListingsmithError as exc:
        print(f"listingsmith: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="listingsmith", description="Turn product photos into e-commerce listings, offline.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_photo_commands(commands)
    _add_catalogue_commands(commands)
    _add_tool_commands(commands)
    _add_evaluate_command(commands)
    return parser


def _add_photo_commands(commands) -> None:
    """The commands on the photos of one product: describe, analyze, facts, tags."""
    describe = commands.add_parser("describe", help="photos of one product → one listing")
    _add_photo_args(describe)
    _add_text_args(describe)
    describe.add_argument("--annotate", default=None, metavar="OUT.png",
                          help="also draw boxes, colours and warnings on the photos "
                               "(OUT-1.png, OUT-2.png … for several photos)")
    describe.set_defaults(handler=_describe)

    analyze = commands.add_parser("analyze", help="everything but the text, as Attributes")
    _add_photo_args(analyze)
    analyze.add_argument("--annotate", default=None, metavar="OUT.png",
                         help="also draw boxes, colours and warnings on the photos")
    analyze.set_defaults(handler=_analyze)

    facts = commands.add_parser("facts", help="facts read from the pack (weight, volume, …)")
    _add_photo_args(facts)
    facts.add_argument("--entity", default=None,
                       help="print only this entity's Amazon-ML-2024 answer, e.g. item_weight")
    facts.set_defaults(handler=_facts)

    tags = commands.add_parser("tags", help="scored tags for the photos of one product")
    _add_photo_args(tags)
    tags.add_argument("--top-k", type=int, default=10, help="at most this many tags (default 10)")
    tags.add_argument("--vocab", default=None, metavar="FILE",
                      help="your own tags: a .txt file (one tag per line) or a .toml like "
                           "tagger/vocab/tags.toml; no retraining needed")
    tags.add_argument("--threshold", type=float, default=None,
                      help="show tags scoring at least this (0-1) instead of the calibrated "
                           "per-tag thresholds")
    tags.set_defaults(handler=_tags)


def _add_catalogue_commands(commands) -> None:
    """The commands on many products: write, batch, similar."""
    write = commands.add_parser("write", help="listings from catalogue records without photos")
    write.add_argument("records", metavar="RECORDS", help="a .jsonl or .csv of seller records")
    write.add_argument("--out", required=True, metavar="LISTINGS.jsonl", help="output JSONL")
    _add_text_args(write)
    write.add_argument("--batch-size", type=int, default=8, help="records per generation batch")
    write.set_defaults(handler=_write)

    batch = commands.add_parser(
        "batch", help="a catalogue (folder of photos, CSV or JSONL) → listings, resumable",
        description="One listing per product. Job state is kept in OUT.state.sqlite: run the "
                    "same command again to resume; failed rows go to OUT.failures.csv, "
                    "near-duplicate products to OUT.duplicates.csv.")
    _add_batch_args(batch)
    batch.set_defaults(handler=_batch)

    similar = commands.add_parser("similar", help="the batch listings most like a product's photos")
    similar.add_argument("photos", nargs="+", metavar="PHOTO", help="photos of one product")
    similar.add_argument("--index", required=True, metavar="OUT",
                         help="the --out of a batch run (its index OUT.index.npz is used)")
    similar.add_argument("--top-k", type=int, default=5, help="how many listings (default 5)")
    similar.add_argument("--json", action="store_true", help="print JSON")
    similar.set_defaults(handler=_similar)


def _add_batch_args(batch: argparse.ArgumentParser) -> None:
    batch.add_argument("input", metavar="INPUT",
                       help="a folder (each sub-folder or photo is one product) or a .csv/.jsonl "
                            "with an id column and image paths relative to it")
    batch.add_argument("--out", required=True, metavar="OUT",
                       help="listings file; the format follows the suffix (.jsonl, .json, "
                            ".parquet, .csv, .tsv for Merchant Center, .html for JSON-LD)")
    batch.add_argument("--format", default=None, choices=CATALOGUE_FORMATS,
                       help="the output format whatever the suffix (shopify: Shopify import CSV)")
    batch.add_argument("--engine", default="local", choices=("local", "ray"),
                       help="local processes, or a Ray Data pipeline (pip install "
                            "'listingsmith[ray]')")
    batch.add_argument("--workers", type=int, default=1,
                       help="processes (local) or model actors (ray), each with its own models "
                            "(default 1)")
    batch.add_argument("--batch-size", type=int, default=8,
                       help="products per chunk: generated in one batch, saved in one step")
    batch.add_argument("--address", default=None,
                       help="an existing Ray cluster to join (HEAD_IP:6379, or auto on one of its "
                            "nodes); default: a private Ray on this machine, on loopback only")
    batch.add_argument("--restart", action="store_true",
                       help="forget the saved state of OUT and start over")
    batch.add_argument("--allow-outside-root", action="store_true",
                       help="accept photo paths outside the input folder (absolute, ../, symlinks)")
    _add_remote_arg(batch)
    batch.add_argument("--taxonomy", default=None, metavar="NAME|FILE",
                       help="category model: grocery, fashion or a .joblib (default: per product, "
                            "the shipped one the photos look like)")
    _add_text_args(batch)


def _add_tool_commands(commands) -> None:
    """train, app, models."""
    train = commands.add_parser("train", help="retrain a bundled model on your data",
                                description="Retrain a model; arguments after the model name "
                                            "go to its training script (see --help there).")
    train.add_argument("model", choices=sorted(TRAINERS), help="which model")
    train.add_argument("args", nargs=argparse.REMAINDER, help="the training script's arguments")
    train.set_defaults(handler=_train)

    app = commands.add_parser("app", add_help=False,
                              help="the seller app in your browser (Gradio, offline); "
                                   "'listingsmith app --help' lists its options")
    app.set_defaults(handler=_app)

    models = commands.add_parser("models", help="list models and whether they are installed")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(handler=_models)


def _add_evaluate_command(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="score listings (or predicted attributes) against your references",
        description="Score one or more systems' outputs against one reference file, joined on "
                    "an id: ROUGE, BLEU, chrF, semantic similarity, diversity, grounding and "
                    "title checks, with paired bootstrap intervals and significance tests.")
    evaluate.add_argument("outputs", nargs="+", metavar="OUTPUTS.jsonl",
                          help="one file per system (.jsonl or .csv); named by file stem")
    evaluate.add_argument("--references", required=True, metavar="REFS",
                          help="the reference (or, for --task attributes, label) .jsonl or .csv")
    evaluate.add_argument("--id-field", default="id", help="the id column (default id)")
    evaluate.add_argument("--field", default="description",
                          help="what to score: description, title or bullets (default "
                               "description)")
    evaluate.add_argument("--reference-field", default=None,
                          help="the references' column (default: the same as --field)")
    evaluate.add_argument("--inputs", default=None, metavar="RECORDS",
                          help="the records the outputs were written from (invented and kept "
                               "numbers; the brand for title checks)")
    evaluate.add_argument("--by", default=None, metavar="FIELD",
                          help="per-group tables by this field (dotted for nested JSON; a "
                               "taxonomy path groups by its top level)")
    evaluate.add_argument("--out", action="append", default=[], metavar="REPORT",
                          help="write the report: .html, .md or .json (repeatable); without "
                               "it the Markdown summary is printed")
    evaluate.add_argument("--task", choices=("text", "attributes"), default="text",
                          help="text (default) or attributes (batch/analyze predictions "
                               "against a labels CSV)")
    evaluate.add_argument("--no-semantic", action="store_true",
                          help="skip the MiniLM semantic similarity (faster)")
    evaluate.add_argument("--seed", type=int, default=0, help="bootstrap and shuffle seed")
    evaluate.add_argument("--bootstrap", type=int, default=None, metavar="N",
                          help="bootstrap resamples (default 1000)")
    evaluate.set_defaults(handler=_evaluate)


def _add_text_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tone", default="neutral",
                        help="neutral, premium, playful or technical (default neutral)")
    parser.add_argument("--length", default="medium", help="short, medium or long")
    parser.add_argument("--generator", default=None,
                        help="'template' (no model), 'nearest' (copies the most similar "
                             "listing of the memory), 'retrieve-edit' (copies it and rewrites "
                             "its colours, brands and quantities to this product's), a "
                             "registered name (describer-t5, the default without --memory: "
                             "the T5 trained here; generator: SmolLM2-135M-Instruct; "
                             "describer-lora: SmolLM2 + LoRA), or hf:<id>@<rev> / local:<dir>")
    parser.add_argument("--memory", default=None, metavar="LISTINGS",
                        help="listings to retrieve from: your catalogue as .jsonl/.csv (id, "
                             "title, description, any product fields) or the shared data "
                             "folder; makes 'retrieve-edit' the default generator")
    parser.add_argument("--allow-network", action="store_true",
                        help="let hf: models download if not cached (off by default)")


def _add_remote_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-remote", action="store_true",
                        help="fetch photos given as http(s):// addresses (10 s timeout, size "
                             "limit as for files); refused otherwise")


def _add_photo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="photos of one product")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--brand", default=None, help="the brand, if you know it")
    _add_remote_arg(parser)
    parser.add_argument("--detector", default=None, metavar="SOURCE",
                        help="a Grounding DINO part detector: hf:<id>@<revision> (from the local "
                             "Hugging Face cache) or local:<dir>; none by default")
    parser.add_argument("--kind", default=None,
                        help="product kind for the part vocabulary (prompts/parts.json)")
    parser.add_argument("--tagger", default=None, metavar="SOURCE",
                        help="image–text model for tags: a CLIP checkpoint as hf:<id>@<revision> "
                             "(from the local Hugging Face cache) or local:<dir>; default the "
                             "bundled aligner")
    parser.add_argument("--taxonomy", default=None, metavar="NAME|FILE",
                        help="category model: grocery, fashion, or a .joblib from 'listingsmith "
                             "train classifier' (default: the shipped one the photo looks like)")
    parser.add_argument("--brands", default=None, metavar="FILE",
                        help="a text file of your brands, one per line: a brand on the pack that "
                             "matches one (even with an OCR slip) is preferred")


def _settings(args) -> PipelineSettings:
    """The pipeline settings a command's arguments choose; options it lacks keep their default."""
    from listingsmith.pipeline import PipelineSettings, read_brands

    given = {field: getattr(args, arg) for arg, field in SETTING_ARGS.items() if hasattr(args, arg)}
    if getattr(args, "brands", None):
        given["known_brands"] = read_brands(args.brands)
    return PipelineSettings(**given)


def _pipeline(args) -> Pipeline:
    """The one pipeline of a command, its settings checked before any input is read."""
    from listingsmith.pipeline import Pipeline

    settings = _settings(args)
    settings.check()
    return Pipeline(settings)


def _analyze_photos(args, pipeline: Pipeline,
                    options: TaggerOptions | None = None) -> tuple[Attributes, int]:
    """Load every photo (each failure reported on one stderr line, the rest kept) and analyse
    them as one product; ``--annotate`` draws what was found."""
    from listingsmith.pipeline import load_photos

    loaded = load_photos(args.photos, allow_remote=pipeline.settings.allow_remote)
    for error in loaded.errors:
        print(f"listingsmith: error: {error}", file=sys.stderr)
    if not loaded.images:
        raise ListingsmithError("no readable photo among the arguments; nothing to do")
    seller = {"brand": args.brand} if args.brand else {}
    attributes = pipeline.analyze(loaded.images, seller, options)
    if getattr(args, "annotate", None):
        from tagger.annotate import save_annotated

        for path in save_annotated(loaded.images, attributes, args.annotate):
            print(f"listingsmith: wrote {path}", file=sys.stderr)
    return attributes, len(loaded.errors)


def _exit_code(failed: int) -> int:
    return EXIT_PARTIAL if failed else EXIT_OK


def _describe(args) -> int:
    pipeline = _pipeline(args)
    attributes, failed = _analyze_photos(args, pipeline)
    listing = pipeline.describe([attributes])[0]
    print(listing.to_json() if args.json else format_listing(listing))
    return _exit_code(failed)


def _write(args) -> int:
    """One output line per input record, same id; bad records get an ``error`` line."""
    pipeline = _pipeline(args)
    records = list(read_records(Path(args.records)))
    failed = 0
    out_path = Path(args.out)
    staging = out_path.with_name(out_path.name + ".partial")
    with open(staging, "w", encoding="utf-8") as out:
        for start in range(0, len(records), args.batch_size):
            batch = records[start:start + args.batch_size]
            good = [r.fields for r in batch if r.error is None]
            listings = iter(pipeline.record_listings(good) if good else [])
            for record in batch:
                if record.error is not None:
                    failed += 1
                    print(f"listingsmith: error: {args.records}: {record.error}", file=sys.stderr)
                    row = {"id": record.id, "error": record.error}
                else:
                    listing = next(listings)
                    identity = listing.attributes.identity
                    row = {"id": record.id, "title": listing.title,
                           "description": listing.description, "bullets": listing.bullets,
                           "identity": identity.to_dict() if identity else None,
                           "generator": listing.generator, "template": listing.template}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    staging.replace(out_path)
    print(f"{len(records)} records: {len(records) - failed} listings, {failed} errors → {out_path}",
          file=sys.stderr)
    return _exit_code(failed)


def _batch(args) -> int:
    from listingsmith.batch import BatchJob, run_batch

    job = BatchJob(input=Path(args.input), out=Path(args.out), format=args.format,
                   settings=_settings(args), engine=args.engine, workers=args.workers,
                   batch_size=args.batch_size, address=args.address, restart=args.restart,
                   allow_outside_root=args.allow_outside_root)
    with _ProgressBar() as progress:
        summary = run_batch(job, progress=progress)
    print(f"{summary.total} in = {summary.done} done + {summary.failed} failed → {summary.out}",
          file=sys.stderr)
    if summary.done_earlier:
        print(f"listingsmith: resumed; {summary.done_earlier} products done by an earlier run "
              f"were skipped, {summary.processed} processed now", file=sys.stderr)
    if summary.failures_file:
        print(f"listingsmith: failed rows → {summary.failures_file}: fix them and run it as "
              "INPUT, or fix the input and run this command again", file=sys.stderr)
    if summary.duplicates_file:
        print(f"listingsmith: {summary.duplicate_pairs} near-duplicate pairs → "
              f"{summary.duplicates_file}", file=sys.stderr)
    return _exit_code(summary.failed)


class _ProgressBar:
    """A tqdm bar on stderr (rate and ETA) opened on the first progress report, so a run with
    nothing left to do prints none."""

    def __init__(self):
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="product", file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.close()


def _similar(args) -> int:
    from listingsmith.batch_index import similar

    found = similar(args.photos, args.index, top_k=args.top_k)
    if args.json:
        print(json.dumps([{"id": s.id, "title": s.title, "similarity": s.similarity}
                          for s in found], indent=2, ensure_ascii=False))
    else:
        print("\n".join(f"{s.similarity:.3f}  {s.id}  {s.title}" for s in found))
    return EXIT_OK


def _analyze(args) -> int:
    attributes, failed = _analyze_photos(args, _pipeline(args))
    print(attributes.to_json() if args.json else format_attributes(attributes))
    return _exit_code(failed)


def _facts(args) -> int:
    from tagger.facts import predict_entity

    pipeline = _pipeline(args)
    # colours, tags and category feed the brand: a confident grocery class names its brand
    options = pipeline.settings.tagger_options(
        stages=("ocr", "barcodes", "colours", "tags", "category", "facts"))
    attributes, failed = _analyze_photos(args, pipeline, options)
    if args.entity is not None:
        print(predict_entity(attributes.facts, args.entity))
    elif args.json:
        print(json.dumps([f.to_dict() for f in attributes.facts], indent=2, ensure_ascii=False))
    else:
        print(format_facts(attributes.facts) or "(no facts found)")
    return _exit_code(failed)


def _tags(args) -> int:
    pipeline = _pipeline(args)
    options = pipeline.settings.tagger_options(stages=("tags",), top_k_tags=args.top_k,
                                               tag_threshold=args.threshold,
                                               tag_vocabulary=args.vocab)
    attributes, failed = _analyze_photos(args, pipeline, options)
    if args.json:
        print(json.dumps([t.to_dict() for t in attributes.tags], indent=2, ensure_ascii=False))
    else:
        print("\n".join(f"{t.score:.3f}  {t.name:<24} ({t.group})" for t in attributes.tags)
              or "(no tag passed its threshold; try --threshold 0.1)")
    return _exit_code(failed)


def _evaluate(args) -> int:
    """Thin shell over ``listingsmith.evaluation``: bad lines are warned about and skipped."""
    from listingsmith.evaluation import EvaluateOptions, evaluate
    from listingsmith.evaluation_report import check_outputs, to_markdown, write_reports

    outs = [Path(p) for p in args.out]
    check_outputs(outs)
    if args.bootstrap is not None and args.bootstrap < 1:
        raise ListingsmithError(f"--bootstrap {args.bootstrap}: pass a positive number of "
                                "resamples")
    options = EvaluateOptions(
        outputs=[Path(p) for p in args.outputs], references=Path(args.references),
        id_field=args.id_field, field=args.field, reference_field=args.reference_field,
        inputs=Path(args.inputs) if args.inputs else None, by=args.by, task=args.task,
        semantic=not args.no_semantic, seed=args.seed, bootstrap=args.bootstrap)
    warnings = []

    def warn(message: str) -> None:
        warnings.append(message)
        print(f"listingsmith: error: {message}", file=sys.stderr)

    report = evaluate(options, warn)
    if outs:
        write_reports(report, outs)
        print(f"report → {', '.join(str(p) for p in outs)}", file=sys.stderr)
    else:
        print(to_markdown(report), end="")
    return _exit_code(len(warnings))


def _train(args) -> int:
    import importlib

    importlib.import_module(TRAINERS[args.model]).main(args.args)
    return EXIT_OK


def _app(args) -> int:
    from listingsmith.ui import main as app_main  # Gradio loads only when the app runs

    app_main(args.args)
    return EXIT_OK


def _models(args) -> int:
    from listingsmith.core.registry import list_models

    statuses = list_models()
    if args.json:
        print(json.dumps([{"name": s.spec.name, "task": s.spec.task, "source": s.spec.source,
                           "status": s.status, "location": s.location,
                           "files": s.spec.files} for s in statuses], indent=2))
    else:
        width = max(len(s.spec.name) for s in statuses)
        for s in statuses:
            print(f"{s.spec.name:<{width}}  {s.status:<13}  {s.spec.source:<40}  "
                  f"{s.spec.description}")
    return EXIT_OK if all(s.ok for s in statuses) else EXIT_PARTIAL


# ------------------------------------------------------------------ formatting


def format_listing(listing: Listing) -> str:
    lines = [listing.title, "=" * min(len(listing.title), 80), ""]
    lines += [f"  • {bullet}" for bullet in listing.bullets]
    lines += ["", listing.description, "", format_attributes(listing.attributes), ""]
    if listing.printed_claims:
        lines += ["Printed on the pack: " + "; ".join(
            f"{c.text} ← '{c.span.text}' (photo {c.span.image_index + 1})"
            for c in listing.printed_claims), ""]
    if listing.removed_claims:
        lines += ["Removed by the grounding guard (not in the attributes): "
                  + ", ".join(listing.removed_claims), ""]
    if listing.repaired_claims:
        lines += ["Rewritten by the grounding guard (to what the attributes say): "
                  + ", ".join(listing.repaired_claims), ""]
    lines.append(f"generator: {listing.generator} · prompts: {listing.template} · "
                 f"tone: {listing.tone} · length: {listing.length}")
    return "\n".join(lines)


def format_identity(attributes: Attributes) -> str:
    """What the product is, or plainly that the tool is not sure and why."""
    identity = attributes.identity
    if identity is None:
        return ""
    if identity.taxonomy_id is None:
        return f"Identity: not sure ({identity.reason})"
    line = (f"Identity: {identity.taxonomy_path} [{identity.taxonomy_id}] — "
            f"{identity.product_type} ({identity.confidence:.0%})")
    return line + (f"; not sure: {identity.reason}" if identity.uncertain else "")


def format_attributes(attributes: Attributes) -> str:
    lines = [format_identity(attributes)] if attributes.identity is not None else []
    if attributes.category is not None:
        category = attributes.category
        path = " › ".join(category.path) if category.path else category.label
        lines.append(f"Category: {path} ({category.score:.0%}"
                     + (", uncertain: please check)" if category.uncertain else ")"))
    if attributes.colours:
        lines.append("Colours: " + ", ".join(f"{c.name} {c.share:.0%}" for c in attributes.colours))
    if attributes.tags:
        lines.append("Tags:    " + ", ".join(f"{t.name} ({t.score:.2f})" for t in attributes.tags))
    if attributes.facts:
        lines += ["Facts:", format_facts(attributes.facts)]
    if attributes.text_spans:
        shown = [s.text for s in attributes.text_spans[:8]]
        more = len(attributes.text_spans) - len(shown)
        lines.append(f"Text on the pack: {' | '.join(shown)}" + (f" (+{more} lines)" if more else ""))
    for warning in attributes.warnings:
        lines.append(f"Warning: {warning.message}")
    return "\n".join(lines)


def format_facts(facts: list[Fact]) -> str:
    rows = []
    for fact in facts:
        where = f", photo {fact.span.image_index + 1}" if fact.span is not None else ""
        rows.append(f"  {fact.entity:<30} {fact.display:<20} ← {fact.raw_text!r} "
                    f"({fact.source}{where})")
        if fact.explanation:
            rows.append(f"  {'':<30} {'':<20}   {fact.explanation}")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
