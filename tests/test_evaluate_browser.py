"""The ``evaluate`` HTML report in real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright) with every network request refused: it must show its plots from the one file.

A screenshot is saved to ``$LISTINGSMITH_ARTIFACTS`` (default ``test-artifacts/``) as
``evaluate.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from listingsmith.cli import main
from tests.test_app import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.test_evaluate import FAST, INPUTS, MODEL, REFERENCES, TEMPLATE

sync_api = pytest.importorskip("playwright.sync_api")


def test_the_html_report_shows_its_plots_offline(tmp_path):
    report = tmp_path / "report.html"
    main(["evaluate", str(TEMPLATE), str(MODEL), "--references", str(REFERENCES),
          "--inputs", str(INPUTS), "--by", "category", *FAST, "--out", str(report)])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            requested = []

            def refuse(route):
                requested.append(route.request.url)
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", refuse)
            page.goto(report.as_uri())
            plots = page.locator("svg")
            assert plots.count() == 6  # ROUGE-L, BLEU, chrF; two distributions; one by group
            # (no semantic plots: --no-semantic)
            for index in range(plots.count()):
                box = plots.nth(index).bounding_box()
                assert box and box["width"] > 100 and box["height"] > 40
            bars = page.locator("svg rect")
            assert bars.count() > 30
            assert bars.first.is_visible()
            assert page.get_by_text("Worst and best examples").is_visible()
            assert requested == [report.as_uri()]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "evaluate.png"), full_page=True)
        finally:
            browser.close()
