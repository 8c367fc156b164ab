"""The README and docs/ stay a working front door: every relative link resolves, the README
stays short, and its install and test commands are the ones CI runs."""

import re
import shlex
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 150
MAX_README_BYTES = 12_000

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^(```|~~~)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def code_lines(text: str) -> list[str]:
    """Every line inside a fenced code block."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
        elif fenced:
            lines.append(line.strip())
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading.

    >>> slug("A seller's own taxonomy")
    'a-sellers-own-taxonomy'
    >>> slug("Tags and zero-shot")
    'tags-and-zero-shot'
    """
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = "".join(c for c in text if c in "-_ " or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    found = {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", prose(text), re.M)}
    return found | set(re.findall(r"<a id=\"([^\"]+)\"", text))


def links(page: Path) -> list[str]:
    return [m.group(1) for m in _LINK.finditer(prose(page.read_text(encoding="utf-8")))]


def test_there_are_docs_pages_and_the_readme_links_them():
    readme_links = {link.split("#")[0] for link in links(README)}
    pages = {f"docs/{page.name}" for page in PAGES[1:]}
    assert pages and pages <= readme_links, f"README.md does not link {sorted(pages - readme_links)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for link in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto: …
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link} (no file {target.relative_to(ROOT)})")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link} (no heading #{anchor} in {target.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {', '.join(broken)}"


def test_the_readme_is_short():
    data = README.read_bytes()
    lines = data.decode("utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail to docs/"
    assert len(data) <= MAX_README_BYTES, f"README.md has {len(data)} bytes; move detail to docs/"


def ci_commands() -> tuple[str, str]:
    """(install, test) as .ci/run runs them."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    install = [line.strip() for line in script if line.strip().startswith("python3 -m venv ")]
    tests = set()
    for line in script:
        for match in re.finditer(r"(\.venv/bin/python -m pytest[^'\"\n]*)", line):
            tests.add(" ".join(shlex.split(match.group(1))))
    assert len(install) == 1, f".ci/run: expected one install line, found {install}"
    assert len(tests) == 1, f".ci/run: expected one test command, found {sorted(tests)}"
    return install[0], tests.pop()


def test_the_readme_install_and_test_commands_are_the_ones_ci_runs():
    install, test = ci_commands()
    code = code_lines(README.read_text(encoding="utf-8"))
    assert install in code, f"README.md must show the install command of .ci/run:\n{install}"
    assert test in code, f"README.md must show the test command of .ci/run:\n{test}"
