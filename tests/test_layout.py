"""Package boundaries: tagger never imports describer, and nothing loads models at import."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_tagger_never_imports_describer_or_the_cli():
    for path in (ROOT / "tagger").rglob("*.py"):
        bad = {m for m in imported_modules(path) if m.split(".")[0] in ("describer", "listingsmith")
               and not m.startswith("listingsmith.core")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_describer_never_imports_the_cli():
    for path in (ROOT / "describer").rglob("*.py"):
        bad = {m for m in imported_modules(path) if m.split(".")[0] == "listingsmith"
               and not m.startswith("listingsmith.core")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_importing_the_packages_is_cheap():
    code = ("import sys, tagger, describer, listingsmith.cli; "
            "print(','.join(m for m in ('torch', 'transformers', 'rapidocr') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
