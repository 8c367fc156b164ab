"""How long ``listingsmith evaluate`` takes on a catalogue-sized run (issue 24's target: 10,000
rows of one system in at most 60 s on 2 cores without semantic similarity, 3 min with it).

    python -m eval.evaluate_speed [--rows 10000] [--data DIR]

References are BigBasket descriptions (``text/bigbasket.csv``, repeated with new ids when
``--rows`` asks for more rows than it has); the system's outputs are the same descriptions,
perturbed with a fixed seed (words dropped and swapped for another row's), so the scores are
neither 0 nor 100 and ROUGE's LCS does real work. The inputs are each row's title, brand and
category, so the grounding checks run too. Each timing is the whole command, in this process:
reading the files, scoring, the bootstrap and all three report files; the MiniLM model is
loaded before the semantic run is timed, as a warm process would have it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from pathlib import Path

from eval.run import DEFAULT_DATA
from listingsmith.cli import main as cli

DROP, SWAP = 0.15, 0.05
"""Share of words dropped, and of the rest replaced by a word of another description."""


def write_inputs(data: Path, rows: int, folder: Path) -> tuple[Path, Path, Path]:
    """(references, outputs, inputs) JSONL files of ``rows`` rows each."""
    with open(data / "text" / "bigbasket.csv", encoding="utf-8", newline="") as handle:
        source = [r for r in csv.DictReader(handle) if (r.get("description") or "").strip()]
    rng = random.Random(0)
    files = {name: folder / f"{name}.jsonl" for name in ("references", "system", "inputs")}
    handles = {name: open(path, "w", encoding="utf-8") for name, path in files.items()}
    try:
        for index in range(rows):
            row = source[index % len(source)]
            identifier = f"{row['index']}-{index // len(source)}"
            words = [w for w in row["description"].split() if rng.random() >= DROP]
            other = source[rng.randrange(len(source))]["description"].split()
            words = [rng.choice(other) if rng.random() < SWAP else w for w in words]
            handles["references"].write(json.dumps({"id": identifier, "description":
                                                    row["description"], "category":
                                                    row["category"]}) + "\n")
            handles["system"].write(json.dumps({"id": identifier,
                                                "description": " ".join(words)}) + "\n")
            handles["inputs"].write(json.dumps({"id": identifier, "title": row["product"],
                                                "brand": row["brand"],
                                                "category": row["category"]}) + "\n")
    finally:
        for handle in handles.values():
            handle.close()
    return files["references"], files["system"], files["inputs"]


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    cli(["evaluate", *args])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    from tagger.text_embed import TextEmbedder

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        references, system, inputs = write_inputs(args.data, args.rows, folder)
        common = [str(system), "--references", str(references), "--inputs", str(inputs),
                  "--by", "category", "--out", str(folder / "report.json"),
                  "--out", str(folder / "report.html"), "--out", str(folder / "report.md")]
        without = timed([*common, "--no-semantic"])
        print(f"{args.rows} rows, one system, without semantic similarity: {without:.1f} s",
              flush=True)
        TextEmbedder()(["warm up"])
        with_semantic = timed(common)
        scores = json.loads((folder / "report.json").read_text("utf-8"))["systems"]["system"]
    print(f"{args.rows} rows, one system, with semantic similarity: {with_semantic:.1f} s "
          f"(ROUGE-L {scores['rougeL']:.1f}, BLEU {scores['bleu']:.1f}, semantic "
          f"{scores['semantic']:.3f})")

if __name__ == "__main__":
    main()
