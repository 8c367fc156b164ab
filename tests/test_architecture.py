"""The architecture contract (``.importlinter``): layers without upward imports, no import
cycles between sibling modules, the stage and generator modules independent of each other;
and the size limits that keep every module and function readable in one sitting."""

import ast
import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tagger", "describer", "listingsmith", "prompts", "eval")
PRODUCT_CODE = ("tagger", "describer", "listingsmith", "prompts", "app.py")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages under ``folder`` (its ``.importlinter``)."""
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True,
                          env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"})


def copy_of_the_packages(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package,
                        ignore=shutil.ignore_patterns("__pycache__", "weights", "*.png", "*.json",
                                                      "*.txt", "*.md"))
    shutil.copy(ROOT / ".importlinter", target / ".importlinter")
    return target


def test_the_import_contract_holds():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("importer, imported, contract", [
    # a cycle between two sibling modules
    ("describer/guard.py", "describer.pipeline", "No import cycles"),
    # an upward import: the core reaching up into the tagger
    ("listingsmith/core/types.py", "tagger.pipeline", "Layers"),
])
def test_a_planted_violation_fails_the_contract(tmp_path, importer, imported, contract):
    folder = copy_of_the_packages(tmp_path)
    module = folder / importer
    module.write_text(module.read_text() + f"\n\ndef _planted():\n    import {imported}\n")
    result = lint_imports(folder)
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout


def independent_modules(contract: str) -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return {line.strip() for line in config[f"importlinter:contract:{contract}"]["modules"]
            .splitlines() if line.strip()}


def test_every_registered_generator_module_is_in_the_independence_contract():
    """A generator added to the registry in a new module must stand alone like the others."""
    import inspect

    from describer.generate import text_generator
    from describer.generators import GENERATORS

    modules = {text_generator.__module__}  # every name the registry lacks is a text model
    for entry in GENERATORS.values():
        module = inspect.getmodule(entry.make).__name__
        if module != "describer.generators":  # the registry's own inline makers
            modules.add(module)
    missing = modules - independent_modules("generators")
    assert not missing, f"add {sorted(missing)} to the generators contract of .importlinter"


def _product_files():
    for name in PRODUCT_CODE:
        path = ROOT / name
        yield from (sorted(path.rglob("*.py")) if path.is_dir() else [path])


def test_no_module_over_600_lines_and_no_function_over_80():
    too_long = []
    for path in _product_files():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{where}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}() {lines} lines")
    assert not too_long, "split these:\n" + "\n".join(too_long)


def test_importing_the_packages_is_cheap():
    code = ("import sys, tagger, describer, listingsmith.cli; "
            "print(','.join(m for m in ('torch', 'transformers', 'rapidocr') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
