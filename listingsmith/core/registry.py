"""One table of model sources, with pinned revisions and file hashes (after timm / open_clip).

A source is written ``bundled:<python package>`` (weights shipped inside a registry
package), ``hf:<repo id>@<revision>`` (a hub snapshot: only from the local HF cache
unless the caller opts in to the network) or ``local:<dir>`` (a folder on disk).
Weights are never fetched implicitly, and bundled files whose sha256 differs from the
pinned one are refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from listingsmith.core import vocab
from listingsmith.core.errors import ModelError

SOURCE_KINDS = ("bundled", "hf", "local")


def cache_dir() -> Path:
    """Where derived files live (converted models, fixed embeddings); never inside the
    package or the repo. ``$LISTINGSMITH_CACHE`` or ``~/.cache/listingsmith``."""
    root = os.environ.get("LISTINGSMITH_CACHE") or Path.home() / ".cache" / "listingsmith"
    return Path(root)


@dataclass(frozen=True)
class ModelSpec:
    """A named model: where its files come from and what they must hash to."""

    name: str
    task: str
    source: str
    description: str
    files: dict[str, str] = field(default_factory=dict)
    license: str = "unknown"


@dataclass(frozen=True)
class ModelSource:
    kind: str
    ref: str
    revision: str | None = None


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    status: str
    location: str

    @property
    def ok(self) -> bool:
        return self.status == "installed"


@lru_cache(maxsize=1)
def _registry() -> dict[str, ModelSpec]:
    """The table of ``vocab/models.toml``, one ``ModelSpec`` per section."""
    table = vocab.load("listingsmith.core", "vocab/models.toml")
    return {name: ModelSpec(name=name, task=spec["task"], source=spec["source"],
                            description=spec["description"], files=dict(spec.get("files", {})),
                            license=spec["license"])
            for name, spec in table.items()}


def list_models() -> list[ModelStatus]:
    """Every registered model with its install status (``installed``, ``missing`` …)."""
    return [model_status(spec) for spec in _registry().values()]


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name``, or a one-line error listing the valid names."""
    if name in _registry():
        return _registry()[name]
    if "/" in name or name.startswith("."):
        raise ModelError(f"unknown model {name!r}: it looks like a path; write 'local:{name}' "
                         "for a folder or 'hf:<id>@<revision>' for a hub model")
    raise ModelError(f"unknown model {name!r}; registered models: {', '.join(sorted(_registry()))}")


def spec_for(task: str, choice: str | None) -> ModelSpec:
    """A spec from a user's choice: a registered name, a source string, or None for the default."""
    if choice is None:
        matches = [s for s in _registry().values() if s.task == task]
        if not matches:
            raise ModelError(f"no default model registered for task {task!r}")
        return matches[0]
    if ":" in choice:
        parse_source(choice)
        return ModelSpec(name=choice, task=task, source=choice, description="user-selected")
    return get_spec(choice)


def parse_source(source: str) -> ModelSource:
    """Split ``kind:ref[@revision]``; hub sources must pin a revision.

    >>> parse_source("hf:IDEA-Research/grounding-dino-tiny@a2bb814")
    ModelSource(kind='hf', ref='IDEA-Research/grounding-dino-tiny', revision='a2bb814')
    """
    kind, sep, rest = source.partition(":")
    if not sep or kind not in SOURCE_KINDS:
        hint = " (a path? write 'local:<dir>')" if ("/" in source or "\\" in source) else ""
        raise ModelError(f"model source {source!r}: expected one of "
                         f"{', '.join(k + ':' for k in SOURCE_KINDS)}{hint}")
    if not rest:
        raise ModelError(f"model source {source!r}: nothing after '{kind}:'")
    if kind == "hf":
        ref, at, revision = rest.partition("@")
        if not at or not revision:
            raise ModelError(f"model source {source!r}: pin a revision, e.g. 'hf:{ref}@<commit>', "
                             "so results are reproducible")
        return ModelSource(kind, ref, revision)
    return ModelSource(kind, rest)


def quiet_transformers() -> None:
    """No progress bars or info logs while loading: a CLI's stderr carries only its own lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def resolve(spec: ModelSpec, *, allow_network: bool = False) -> Path:
    """The folder holding ``spec``'s files; verifies pinned hashes of bundled files."""
    source = parse_source(spec.source)
    if source.kind == "bundled":
        folder = _package_dir(source.ref)
        if folder is None:
            raise ModelError(f"model {spec.name!r}: package {source.ref!r} is not installed; "
                             "run the README's install command")
        for relative, expected in spec.files.items():
            _verify_file(spec.name, folder / relative, expected)
        return folder
    if source.kind == "local":
        folder = Path(source.ref).expanduser()
        if not folder.is_dir():
            raise ModelError(f"model {spec.name!r}: folder {folder} does not exist")
        return folder
    return _hub_snapshot(spec, source, allow_network)


def model_status(spec: ModelSpec) -> ModelStatus:
    try:
        folder = resolve(spec)
    except ModelError as exc:
        text = str(exc)
        status = "hash mismatch" if "sha256" in text else "missing"
        return ModelStatus(spec, status, text)
    return ModelStatus(spec, "installed", str(folder))


def _package_dir(package: str) -> Path | None:
    """Locate a package without importing it (some bundles import heavy CLIs in __init__)."""
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0])


_VERIFIED: dict[Path, tuple[int, float]] = {}


def _verify_file(model: str, path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelError(f"model {model!r}: file {path} is missing; reinstall its package")
    stat = path.stat()
    if _VERIFIED.get(path) == (stat.st_size, stat.st_mtime):
        return
    if sha256_file(path) != expected:
        raise ModelError(f"model {model!r}: {path} does not match its pinned sha256; "
                         "reinstall its package with 'pip install --force-reinstall'")
    _VERIFIED[path] = (stat.st_size, stat.st_mtime)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hub_snapshot(spec: ModelSpec, source: ModelSource, allow_network: bool) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source.ref, revision=source.revision,
                                      local_files_only=not allow_network))
    except Exception as exc:  # the hub client raises many types for "not cached"
        how = ("it is not in the local Hugging Face cache; download it on a machine with a "
               "network, or pass --allow-network") if not allow_network else str(exc)
        raise ModelError(f"model {spec.name!r} ({spec.source}): {how}") from exc


_LOADED: dict[tuple[str, str], Any] = {}
_LOAD_LOCK = threading.Lock()


def load_once(spec: ModelSpec, key: str, factory: Callable[[], Any]) -> Any:
    """Build a model at most once per process (lazy; thread-safe), keyed by source and role."""
    cache_key = (spec.source, key)
    with _LOAD_LOCK:
        if cache_key not in _LOADED:
            _LOADED[cache_key] = factory()
        return _LOADED[cache_key]


def pinned_key(specs: list[ModelSpec], *parts: str) -> str | None:
    """A cache key for results of these models on these inputs; ``None`` unless every model
    pins its files by sha256 (a ``local:`` folder can change under the same name)."""
    if not all(spec.files for spec in specs):
        return None
    text = "\n".join([*(f"{s.source}|{sorted(s.files.items())}" for s in specs), *parts])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def cached_array(kind: str, key: str | None, compute: Callable[[], Any]) -> Any:
    """``compute()`` (a numpy array), kept as ``cache_dir()/arrays/<kind>-<key>.npy`` so fixed
    work such as a vocabulary's embeddings is done once per machine, not at every start.

    ``key=None`` (inputs not pinned) computes every time; a damaged or unwritable cache is
    recomputed or skipped, never an error."""
    import numpy as np

    if key is None:
        return compute()
    path = cache_dir() / "arrays" / f"{kind}-{key}.npy"
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial.npy")
        np.save(partial, value, allow_pickle=False)
        partial.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
    except OSError:
        pass
    return value
