"""``listingsmith evaluate`` and the shared metrics: equal to the reference libraries, the same
numbers as the describe benchmark, deterministic, loud about id problems and bad lines, and
the attribute task on a tiny labelled fixture."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from listingsmith import metrics
from listingsmith.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "evaluate"
REFERENCES = FIXTURES / "references.jsonl"
TEMPLATE, MODEL = FIXTURES / "template.jsonl", FIXTURES / "model.jsonl"
INPUTS = FIXTURES / "inputs.jsonl"
FAST = ["--no-semantic", "--bootstrap", "200"]


def _rows(path: Path) -> dict[str, dict]:
    rows = {}
    for line in path.read_text("utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows.setdefault(row["id"], row)
    return rows


def _pairs(system: Path, field: str = "description") -> tuple[list[str], list[str]]:
    """(outputs, references) on the ids both files share, in reference order."""
    refs, outs = _rows(REFERENCES), _rows(system)
    ids = [i for i in refs if i in outs]
    return [outs[i][field] for i in ids], [refs[i][field] for i in ids]


def _evaluate(tmp_path: Path, *args: str, name: str = "report") -> tuple[int, dict]:
    out = tmp_path / f"{name}.json"
    code = main(["evaluate", *args, "--out", str(out)])
    return code, json.loads(out.read_text("utf-8"))


@pytest.mark.parametrize("system", [TEMPLATE, MODEL])
def test_rouge_bleu_and_chrf_equal_the_reference_libraries(system):
    import sacrebleu
    from rouge_score import rouge_scorer

    outputs, references = _pairs(system)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = [scorer.score(ref, out) for out, ref in zip(outputs, references)]
    rows = metrics.rouge_rows(outputs, references)
    for label, key in metrics.ROUGE_KEYS:
        assert rows[label] == pytest.approx([100 * s[key].fmeasure for s in expected], abs=1e-6)
    bleu = sacrebleu.corpus_bleu(outputs, [references]).score
    assert metrics.bleu4(outputs, references) == pytest.approx(bleu, abs=1e-6)
    assert metrics.bleu_from_stats(metrics.bleu_stats(outputs, references).sum(axis=0)) == \
        pytest.approx(bleu, abs=1e-6)
    chrf = sacrebleu.corpus_chrf(outputs, [references]).score
    assert metrics.chrf(outputs, references) == pytest.approx(chrf, abs=1e-6)
    assert metrics.chrf_from_stats(metrics.chrf_stats(outputs, references).sum(axis=0)) == \
        pytest.approx(chrf, abs=1e-6)


def test_evaluate_reproduces_the_describe_benchmark_numbers(tmp_path):
    """Same module by construction: the benchmark's metric names are listingsmith.metrics',
    and the CLI's report gives the numbers those functions give on the same outputs."""
    from eval.tasks import describe

    for name in ("rouge", "bleu4", "distinct", "self_bleu"):
        assert getattr(describe, name) is getattr(metrics, name)
    _, report = _evaluate(tmp_path, str(TEMPLATE), "--references", str(REFERENCES), *FAST)
    outputs, references = _pairs(TEMPLATE)
    system = report["systems"]["template"]
    expected = describe.rouge(outputs, references)
    assert system["rougeL"] == round(expected["R-L"], 4)
    assert system["rouge1"] == round(expected["R-1"], 4)
    assert system["rouge2"] == round(expected["R-2"], 4)
    assert system["bleu"] == round(describe.bleu4(outputs, references), 4)
    assert system["distinct2"] == round(describe.distinct(outputs, 2), 4)
    assert system["self_bleu"] == round(describe.self_bleu(outputs), 4)
    assert system["n"] == len(outputs) == 8


def test_same_inputs_give_the_same_report_bytes(tmp_path):
    args = [str(TEMPLATE), str(MODEL), "--references", str(REFERENCES), "--inputs", str(INPUTS),
            "--by", "category", *FAST]
    for run in ("first", "second"):
        main(["evaluate", *args, "--out", str(tmp_path / f"{run}.json"),
              "--out", str(tmp_path / f"{run}.html"), "--out", str(tmp_path / f"{run}.md")])
    for suffix in ("json", "html", "md"):
        assert (tmp_path / f"first.{suffix}").read_bytes() == \
            (tmp_path / f"second.{suffix}").read_bytes()
    report = json.loads((tmp_path / "first.json").read_text("utf-8"))
    assert report["settings"]["bootstrap"] == 200
    rouge_l = report["systems"]["model"]
    low, high = rouge_l["ci95"]["rougeL"]
    assert low <= rouge_l["rougeL"] <= high
    another_seed = tmp_path / "seed.json"
    main(["evaluate", *args, "--seed", "7", "--out", str(another_seed)])
    assert json.loads(another_seed.read_text("utf-8"))["systems"]["model"]["ci95"] != \
        rouge_l["ci95"]


def test_missing_extra_and_duplicate_ids_are_listed_and_a_bad_line_is_one_error(tmp_path,
                                                                                capsys):
    code, report = _evaluate(tmp_path, str(TEMPLATE), str(MODEL), "--references",
                             str(REFERENCES), *FAST)
    errors = capsys.readouterr().err.splitlines()
    assert code == 1
    assert [e for e in errors if "error" in e] == [
        f"listingsmith: error: {MODEL}:3: not valid JSON (Expecting value); line skipped"]
    ids = report["ids"]
    assert ids["reference_duplicates"] == ["p8"]
    assert ids["systems"]["model"]["missing"] == ["p8"]
    assert ids["systems"]["model"]["extra"] == ["p9"]
    assert ids["systems"]["model"]["duplicates"] == ["p7"]
    assert ids["systems"]["model"]["bad_lines"] == [f"{MODEL}:3: not valid JSON (Expecting value)"]
    assert ids["systems"]["template"] == {"missing": [], "extra": [], "duplicates": [],
                                          "bad_lines": []}
    assert ids["scored"] == 7 and report["systems"]["model"]["n"] == 7
    markdown = tmp_path / "report.md"
    main(["evaluate", str(TEMPLATE), str(MODEL), "--references", str(REFERENCES), *FAST,
          "--out", str(markdown)])
    text = markdown.read_text("utf-8")
    assert "model: 1 extra ids (not in the references): p9" in text
    assert "model: 1 duplicated ids: p7" in text


def test_paired_comparison_finds_the_real_difference_and_none_between_equals(tmp_path):
    _, report = _evaluate(tmp_path, str(TEMPLATE), str(MODEL), "--references",
                          str(REFERENCES), *FAST)
    by_metric = {c["metric"]: c for c in report["comparisons"]}
    assert by_metric["rougeL"]["difference"] < 0 and by_metric["rougeL"]["significant"]
    assert by_metric["rougeL"]["ci95"][1] < 0
    copy = tmp_path / "copy.jsonl"
    copy.write_text(TEMPLATE.read_text("utf-8"), "utf-8")
    _, same = _evaluate(tmp_path, str(TEMPLATE), str(copy), "--references", str(REFERENCES),
                        *FAST, name="same")
    for comparison in same["comparisons"]:
        assert comparison["difference"] == 0 and comparison["p_value"] == 1.0
        assert not comparison["significant"]


def test_grounding_and_title_checks_with_inputs(tmp_path):
    _, report = _evaluate(tmp_path, str(MODEL), "--references", str(REFERENCES), "--inputs",
                          str(INPUTS), "--field", "title", *FAST)
    model = report["systems"]["model"]
    # titles: p1 shouts "BEST SELLER" (caps and promotional), p4 drops the brand Fortune
    assert model["title_checks"] == {"length": 1.0, "no_caps": round(6 / 7, 4),
                                     "no_promotional": round(6 / 7, 4),
                                     "brand_present": round(6 / 7, 4)}
    assert model["invented_numbers"] == 0.0
    _, described = _evaluate(tmp_path, str(MODEL), "--references", str(REFERENCES), "--inputs",
                             str(INPUTS), *FAST, name="described")
    # "serves 4", "99.9% of germs", "in 1 wash", "ready in 2 minutes": 4 of 7 invent a number
    assert described["systems"]["model"]["invented_numbers"] == round(4 / 7, 4)
    assert described["systems"]["model"]["kept_numbers"] == 1.0


@pytest.mark.parametrize("output, source, invented", [
    ("Pack of 2, 500 g", "2 x 500g", []),
    ("1,000 ml bottle", "volume: 1000 ml", []),
    ("2.0 L", "2 litre", []),
    ("Serves 4, 250 g", "250 gram", ["4"]),
    ("12 V, 60 W", "12 volt", ["60"]),
])
def test_invented_numbers(output, source, invented):
    assert metrics.invented_numbers(output, source) == invented


@pytest.mark.parametrize("title, brand, failed", [
    ("Philips 9W LED Bulb B22, Cool Day Light", "Philips", set()),
    ("PHILIPS 9W LED Bulb", "Philips", set()),
    ("AMAZING 9W LED Bulb by Philips", "Philips", {"no_caps"}),
    ("Philips LED Bulb - Free Shipping", "Philips", {"no_promotional"}),
    ("9W LED Bulb", "Philips", {"brand_present"}),
    ("Philips " + "very long title " * 10, "Philips", {"length"}),
])
def test_title_checks(title, brand, failed):
    checks = metrics.title_checks(title, brand)
    assert {name for name, passed in checks.items() if not passed} == failed


def test_attributes_task_on_a_tiny_labelled_fixture(tmp_path):
    code, report = _evaluate(tmp_path, "--task", "attributes",
                             str(FIXTURES / "predictions.jsonl"), "--references",
                             str(FIXTURES / "labels.csv"))
    assert code == 0
    system = report["systems"]["predictions"]
    labels = system["labels"]
    assert labels["category"] == {"accuracy": 0.6, "macro_f1": 0.5833, "n": 5}
    assert labels["taxonomy level 1"]["accuracy"] == 1.0
    assert labels["taxonomy level 4"]["n"] == 1
    assert labels["colour"]["accuracy"] == 0.6       # Maroon for Red, Off White for White
    assert labels["colour family"]["accuracy"] == 1.0
    # a3 150 g right; a4 read 268 mg where the label says 500 g: one FP (AMLC counts a wrong
    # value as a false positive only)
    assert {k: system["facts"][k] for k in ("tp", "fp", "fn")} == {"tp": 1, "fp": 1, "fn": 0}
    confusion = system["confusion"]
    assert confusion["classes"][-1] == "(other)"
    assert sum(map(sum, confusion["counts"])) == 5
    html = tmp_path / "attributes.html"
    main(["evaluate", "--task", "attributes", str(FIXTURES / "predictions.jsonl"),
          "--references", str(FIXTURES / "labels.csv"), "--out", str(html)])
    assert html.read_text("utf-8").count("<svg") == 2


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["evaluate", str(TEMPLATE), "--references", str(REFERENCES),
                 "--field", "colour"]) == 2
    assert main(["evaluate", str(TEMPLATE), "--references", str(REFERENCES),
                 "--out", str(tmp_path / "report.txt")]) == 2
    assert main(["evaluate", str(TEMPLATE), "--references", str(tmp_path / "none.jsonl")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "listingsmith: error: --field colour: choose one of description, title, bullets",
        f"listingsmith: error: --out {tmp_path / 'report.txt'}: expected a .html, .md or .json "
        "file",
        f"listingsmith: error: {tmp_path / 'none.jsonl'}: no such file; pass a .jsonl or .csv "
        "file"]


def test_semantic_similarity_is_the_minilm_cosine(tmp_path):
    from tagger.text_embed import TextEmbedder

    _, report = _evaluate(tmp_path, str(TEMPLATE), "--references", str(REFERENCES),
                          "--bootstrap", "50")
    outputs, references = _pairs(TEMPLATE)
    embed = TextEmbedder()
    expected = float((embed(outputs) * embed(references)).sum(axis=1).mean())
    assert report["systems"]["template"]["semantic"] == pytest.approx(expected, abs=1e-3)
    assert sum(report["distributions"]["semantic"]["template"]["counts"]) == len(outputs)


def test_csv_references_score_as_the_jsonl_ones(tmp_path):
    import csv

    rows = list(_rows(REFERENCES).values())
    csv_path = tmp_path / "references.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _, from_csv = _evaluate(tmp_path, str(TEMPLATE), "--references", str(csv_path), *FAST,
                            name="csv")
    _, from_jsonl = _evaluate(tmp_path, str(TEMPLATE), "--references", str(REFERENCES), *FAST)
    assert from_csv["systems"] == from_jsonl["systems"]


@pytest.mark.parametrize("texts", [
    ["a red cotton shirt", "a red shirt", "red shirt for men", ""],
    ["the the the", "the cat sat on the mat", "on the mat the cat sat", "a mat", "a mat"],
])
def test_self_bleu_equals_sacrebleus_sentence_scores(texts):
    from sacrebleu.metrics import BLEU

    bleu = BLEU(effective_order=True)
    expected = statistics.mean(bleu.sentence_score(text, texts[:i] + texts[i + 1:]).score
                               for i, text in enumerate(texts))
    assert metrics.self_bleu(texts) == pytest.approx(expected, abs=1e-9)
