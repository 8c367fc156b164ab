"""Benchmark tasks. Each module registers a function with ``@register("name")``."""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

TaskFn = Callable[[Path, "int | None"], "TaskResult"]
_TASKS: dict[str, TaskFn] = {}


@dataclass
class TaskResult:
    """What a task measured: numbers for the JSON file and a markdown table for the report."""

    metrics: dict[str, Any]
    table: str
    notes: list[str] = field(default_factory=list)


def register(name: str) -> Callable[[TaskFn], TaskFn]:
    def decorate(fn: TaskFn) -> TaskFn:
        _TASKS[name] = fn
        return fn
    return decorate


def tasks() -> dict[str, TaskFn]:
    """All tasks, importing every module in this package once so they can register."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(_TASKS)


def chart_font(size: int):
    """DejaVu Sans at ``size`` for the PIL charts, Pillow's own font where it is missing."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def chosen(variable: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """The ``names`` that ``$variable`` lists (comma-separated), in table order (default all)."""
    picked = [n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()]
    unknown = sorted(set(picked) - set(names))
    if unknown:
        raise ValueError(f"{variable}: unknown name(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(names)}")
    return tuple(n for n in names if n in picked) if picked else names
