"""Speed profiles of the bundled pipeline (``listingsmith/core/vocab/runtime.toml``).

``fast`` is what every command runs; ``naive`` is the baseline ``python -m eval.run --task
speed`` measures it against in the same process, so each speed-up is shown, not assumed.
``$LISTINGSMITH_PROFILE`` picks one for a whole process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from listingsmith.core import vocab

DEFAULT_PROFILE = "fast"
DET_LIMIT_TYPES = ("min", "max")


@dataclass(frozen=True)
class RuntimeProfile:
    """One ``[section]`` of ``runtime.toml``; the comments there say why each value is set."""

    name: str
    ocr_det_limit_type: str
    ocr_det_limit_side: int
    ocr_angle_classifier: bool
    ocr_threads: int
    reuse_per_photo: bool

    def __post_init__(self):
        if self.ocr_det_limit_type not in DET_LIMIT_TYPES:
            raise ValueError(f"runtime profile {self.name!r}: ocr_det_limit_type expected one of "
                             f"{DET_LIMIT_TYPES}, got {self.ocr_det_limit_type!r}")
        if self.ocr_det_limit_side < 32 or self.ocr_threads < 0:
            raise ValueError(f"runtime profile {self.name!r}: expected ocr_det_limit_side >= 32 "
                             f"and ocr_threads >= 0, got {self.ocr_det_limit_side} and "
                             f"{self.ocr_threads}")


def _table() -> dict[str, dict]:
    return vocab.load("listingsmith.core", "vocab/runtime.toml")


def profile_names() -> tuple[str, ...]:
    return tuple(_table())


def runtime_profile(name: str | None = None) -> RuntimeProfile:
    """The named profile; ``None``: ``$LISTINGSMITH_PROFILE`` or ``fast``."""
    name = name or os.environ.get("LISTINGSMITH_PROFILE") or DEFAULT_PROFILE
    table = _table()
    if name not in table:
        raise ValueError(f"unknown runtime profile {name!r}; expected one of "
                         f"{', '.join(table)} (listingsmith/core/vocab/runtime.toml)")
    expected = {field.name for field in fields(RuntimeProfile)} - {"name"}
    if set(table[name]) != expected:
        raise ValueError(f"runtime profile {name!r}: expected keys {sorted(expected)}, got "
                         f"{sorted(table[name])}")
    return RuntimeProfile(name=name, **table[name])
