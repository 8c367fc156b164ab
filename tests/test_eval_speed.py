"""The speed benchmark's own measuring tools (the benchmark itself is ``eval.run --task speed``)."""

import subprocess
import sys

from PIL import Image

from eval.tasks.speed import CHILD, draw_stage_chart, summary


def test_the_cold_start_child_reports_its_own_peak_rss_not_its_parents():
    done = subprocess.run([sys.executable, "-c", CHILD, "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "describe" in done.stdout  # it ran the real CLI
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines()
             if line.startswith("PEAK_RSS_KB")]
    assert len(peaks) == 1 and 10_000 < peaks[0] < 2_000_000  # kB: a Python process, not 0


def test_summary_reports_median_nearest_rank_p95_and_mean():
    assert summary([1.0, 2.0, 3.0, 4.0, 100.0]) == {"p50_s": 3.0, "p95_s": 100.0, "mean_s": 22.0}


def test_stage_chart_draws_one_bar_per_profile(tmp_path):
    path = tmp_path / "stages.png"
    draw_stage_chart({"naive": {"ocr": 0.4, "generate": 0.1}, "fast": {"ocr": 0.3}}, path)
    image = Image.open(path).convert("RGB")
    assert image.size[1] == 40 * (2 + 3)
    ocr_red = (0xd1, 0x49, 0x5b)
    rows_with_ocr = {y for y in range(image.size[1]) if image.getpixel((100, y)) == ocr_red}
    assert rows_with_ocr and min(rows_with_ocr) < 80 < max(rows_with_ocr)  # both bars start with OCR
