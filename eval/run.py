"""Run one benchmark task: ``python -m eval.run --task speed [--data DIR] [--limit N]``.

Writes ``eval/results/<task>.json`` and appends a dated section to ``eval/report.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from eval.tasks import tasks

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("LISTINGSMITH_DATA", REPO.parent / "shared" / "data"))


def main(argv: list[str] | None = None) -> int:
    available = tasks()
    parser = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__)
    parser.add_argument("--task", required=True, choices=sorted(available))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"shared data folder (default {DEFAULT_DATA}; or $LISTINGSMITH_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N examples")
    parser.add_argument("--out", type=Path, default=REPO / "eval" / "results",
                        help="folder for <task>.json (the report goes beside it)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"eval: error: data folder {args.data} not found; pass --data DIR", file=sys.stderr)
        return 2
    started = time.time()
    result = available[args.task](args.data, args.limit)
    command = "python -m eval.run " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    record = {
        "task": args.task, "command": command, "limit": args.limit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
        "seconds": round(time.time() - started, 1), "machine": machine(),
        "metrics": result.metrics, "notes": result.notes,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.task}.json").write_text(json.dumps(record, indent=2) + "\n")
    section = [f"## {args.task} — {record['date']} UTC", "",
               f"`{command}` on {record['machine']['summary']}, {record['seconds']} s", "",
               result.table, ""] + [f"- {note}" for note in result.notes]
    with open(args.out.parent / "report.md", "a", encoding="utf-8") as report:
        report.write("\n".join(section) + "\n\n")
    print(result.table)
    for note in result.notes:
        print(f"- {note}")
    print(f"\nwrote {args.out / (args.task + '.json')} and {args.out.parent / 'report.md'}")
    return 0


def machine() -> dict[str, str | int]:
    import torch

    cores = os.cpu_count() or 0
    return {"cpu_count": cores, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "platform": platform.platform(),
            "summary": f"{cores} CPU cores, torch {torch.__version__}, "
                       f"{torch.get_num_threads()} torch threads"}


if __name__ == "__main__":
    sys.exit(main())
