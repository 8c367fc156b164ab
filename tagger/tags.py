"""Open-vocabulary tags: score every phrase of a vocabulary against a photo's embedding.

The vocabulary is data (``tagger/vocab/tags.toml`` or a user's file), the prompts are data
(``prompts/tag_prompts.toml``), and per-tag thresholds calibrated on validation photos sit
beside the vocabulary (``tagger/vocab/tag_thresholds.json``). Any ``ImageTextModel`` (the
bundled aligner or CLIP) scores it; a new tag needs no retraining, only a phrase.

Scores: in an *exclusive* group (one gender, one season …) a softmax over the group's
tags with the model's temperature; elsewhere each tag on its own through a sigmoid of its
cosine, calibrated on validation pairs so 0.5 means "as likely as not".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from listingsmith.core import vocab
from listingsmith.core.errors import ValidationError
from listingsmith.core.registry import cached_array, pinned_key
from listingsmith.core.types import Tag
from tagger.aligner import AlignedImageText
from tagger.image_text import ImageTextModel, normalise

CUSTOM_GROUP = "custom"
THRESHOLDS_FILE = "tag_thresholds.json"


@dataclass(frozen=True)
class TagGroup:
    name: str
    tags: tuple[str, ...]
    exclusive: bool = False
    template: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    """tag → the data-set label it stands for (training and evaluation only)."""
    requires: str | None = None
    """A domain (``[domains]`` of the vocabulary): the group is only reported for products
    whose best product type is in it (no gender or season on a milk carton)."""

    def __post_init__(self):
        if not self.tags:
            raise ValidationError(f"tag group {self.name!r}: expected at least one tag, got none")
        if len(set(self.tags)) != len(self.tags):
            twice = sorted({t for t in self.tags if self.tags.count(t) > 1})
            raise ValidationError(f"tag group {self.name!r}: tags listed twice: {twice}")


@dataclass(frozen=True)
class Calibration:
    """Thresholds and the sigmoid of non-exclusive groups, fitted by ``train aligner``."""

    scale: float = 10.0
    bias: float = -2.0
    default_threshold: float = 0.5
    groups: dict[str, float] = field(default_factory=dict)
    tags: dict[str, float] = field(default_factory=dict)
    """``"group/tag"`` → threshold; a tag without one uses its group's, then the default."""

    def threshold(self, group: str, tag: str) -> float:
        return self.tags.get(f"{group}/{tag}", self.groups.get(group, self.default_threshold))


@dataclass(frozen=True)
class TagVocabulary:
    groups: tuple[TagGroup, ...]
    calibration: Calibration = Calibration()
    source: str = "builtin"
    domains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """domain → the product-type tags in it, e.g. ``fashion`` → t-shirt, jeans …"""

    @property
    def entries(self) -> list[tuple[TagGroup, str]]:
        return [(group, tag) for group in self.groups for tag in group.tags]

    def group(self, name: str) -> TagGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(f"no tag group {name!r}; groups: {[g.name for g in self.groups]}")


def prompt_templates() -> dict:
    """``[templates]`` and ``[training]`` of ``prompts/tag_prompts.toml``."""
    return vocab.load("prompts", "tag_prompts.toml")


def load_vocabulary(path: str | Path | None = None) -> TagVocabulary:
    """The bundled vocabulary, or a user's: ``.txt`` (one tag per line, ``#`` comments) or
    ``.toml`` (the bundled schema, optional ``[calibration]`` table)."""
    if path is None:
        return _builtin_vocabulary()
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"tag vocabulary {path}: no such file; pass a .txt file with one "
                              "tag per line or a .toml like tagger/vocab/tags.toml")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"tag vocabulary {path}: cannot read it as UTF-8 text ({exc})") from exc
    if path.suffix.lower() == ".toml":
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"tag vocabulary {path}: invalid TOML ({exc})") from exc
        return _from_table(table, source=str(path), calibration=_builtin_vocabulary().calibration)
    tags = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    tags = list(dict.fromkeys(t for t in tags if t))
    if not tags:
        raise ValidationError(f"tag vocabulary {path}: expected one tag per line, got no tags")
    base = _builtin_vocabulary().calibration
    return TagVocabulary((TagGroup(CUSTOM_GROUP, tuple(tags)),),
                         Calibration(base.scale, base.bias, base.default_threshold), str(path))


@lru_cache(maxsize=1)
def _builtin_vocabulary() -> TagVocabulary:
    table = vocab.load("tagger", "vocab/tags.toml")
    calibration = Calibration(**vocab.load("tagger", f"vocab/{THRESHOLDS_FILE}")["calibration"])
    return _from_table(table, source="builtin:tagger/vocab/tags.toml", calibration=calibration)


def _from_table(table: dict, *, source: str, calibration: Calibration) -> TagVocabulary:
    groups = table.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise ValidationError(f"tag vocabulary {source}: expected [groups.<name>] tables with "
                              f"'tags', got keys {sorted(table)}")
    known_templates = prompt_templates()["templates"]
    built = []
    for name, spec in groups.items():
        tags = spec.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise ValidationError(f"tag vocabulary {source}: group {name!r} expected 'tags' as a "
                                  f"list of phrases, got {tags!r}")
        template = spec.get("template", "default")
        if template not in known_templates:
            raise ValidationError(f"tag vocabulary {source}: group {name!r} template "
                                  f"{template!r} unknown; expected one of {sorted(known_templates)}")
        requires = spec.get("requires")
        if requires is not None and requires not in table.get("domains", {}):
            raise ValidationError(f"tag vocabulary {source}: group {name!r} requires domain "
                                  f"{requires!r}, expected one of {sorted(table.get('domains', {}))}")
        built.append(TagGroup(name, tuple(t.strip() for t in tags), bool(spec.get("exclusive")),
                              template, dict(spec.get("labels", {})), requires))
    if "calibration" in table:
        calibration = Calibration(**table["calibration"])
    domains = {name: tuple(tags) for name, tags in table.get("domains", {}).items()}
    return TagVocabulary(tuple(built), calibration, source, domains)


class TagScorer:
    """Scores a vocabulary with one image–text model; the vocabulary's text embeddings are
    the fixed work: computed once per scorer, and kept on disk when the model's files are
    pinned by hash (so a new process needs no text model until it reads pack text)."""

    def __init__(self, model: ImageTextModel, vocabulary: TagVocabulary | None = None):
        self.model = model
        self.vocabulary = vocabulary or load_vocabulary()
        self._text: np.ndarray | None = None

    @property
    def text_embeddings(self) -> np.ndarray:
        """``(n_tags, dim)``: per tag, the normalised mean of its prompt ensemble."""
        if self._text is None:
            templates = prompt_templates()["templates"]
            prompts, owners = [], []
            for index, (group, tag) in enumerate(self.vocabulary.entries):
                for template in templates[group.template]:
                    prompts.append(template.format(tag=tag))
                    owners.append(index)

            def embed() -> np.ndarray:
                vectors = self.model.embed_texts(prompts)
                index = np.array(owners)
                return normalise(np.stack([vectors[index == i].mean(axis=0)
                                           for i in range(len(self.vocabulary.entries))]))

            specs = [self.model.spec]
            if isinstance(self.model, AlignedImageText):  # its text tower is MiniLM's
                specs.append(self.model.text_embedder.spec)
            self._text = cached_array("tag-text", pinned_key(specs, *prompts), embed)
        return self._text

    def scores(self, image_embeddings: np.ndarray) -> np.ndarray:
        """``(n_images, n_tags)`` scores in [0, 1] (softmax in exclusive groups, else sigmoid)."""
        image_embeddings = np.atleast_2d(np.asarray(image_embeddings, dtype=np.float32))
        cosine = image_embeddings @ self.text_embeddings.T
        calibration = self.vocabulary.calibration
        out = np.empty_like(cosine)
        start = 0
        for group in self.vocabulary.groups:
            columns = slice(start, start + len(group.tags))
            if group.exclusive:
                logits = self.model.logit_scale * cosine[:, columns]
                logits -= logits.max(axis=1, keepdims=True)
                weights = np.exp(logits)
                out[:, columns] = weights / weights.sum(axis=1, keepdims=True)
            else:
                out[:, columns] = 1 / (1 + np.exp(-(calibration.scale * cosine[:, columns]
                                                    + calibration.bias)))
            start += len(group.tags)
        return out

    def tags(self, image_embeddings: np.ndarray, *, top_k: int = 10,
             threshold: float | None = None, groups: tuple[str, ...] | None = None,
             source: str | None = None) -> list[list[Tag]]:
        """Per image, tags at or above their threshold (``threshold`` overrides every
        calibrated one), best first, at most ``top_k``; ``groups`` limits the groups.
        An exclusive group reports only its best tag; a group that ``requires`` a domain
        only when the best product type is in that domain."""
        if top_k < 1:
            raise ValidationError(f"top_k: expected a positive integer, got {top_k}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValidationError(f"threshold: expected a number in [0, 1], got {threshold}")
        entries = self.vocabulary.entries
        calibration = self.vocabulary.calibration
        cutoffs = np.array([calibration.threshold(g.name, t) if threshold is None else threshold
                            for g, t in entries])
        wanted = np.array([groups is None or g.name in groups for g, _ in entries])
        source = source or self.model.spec.source
        results = []
        for row in self.scores(image_embeddings):
            eligible = wanted & (row >= cutoffs) & self._allowed(row)
            keep = np.flatnonzero(eligible)
            keep = keep[np.argsort(-row[keep], kind="stable")][:top_k]
            results.append([Tag(name=entries[i][1], score=round(float(row[i]), 4), source=source,
                                group=entries[i][0].name) for i in keep])
        return results

    def _allowed(self, row: np.ndarray) -> np.ndarray:
        """Per tag: is it its exclusive group's best, and is its group's domain present?"""
        entries = self.vocabulary.entries
        allowed = np.ones(len(entries), dtype=bool)
        domain = self._domain(row)
        start = 0
        for group in self.vocabulary.groups:
            columns = slice(start, start + len(group.tags))
            if group.requires is not None and group.requires != domain:
                allowed[columns] = False
            elif group.exclusive:
                best = start + int(np.argmax(row[columns]))
                allowed[columns] = False
                allowed[best] = True
            start += len(group.tags)
        return allowed

    def _domain(self, row: np.ndarray) -> str | None:
        """The domain of the best-scoring product type (None without such a group)."""
        types = [i for i, (g, _) in enumerate(self.vocabulary.entries) if g.name == "product_type"]
        if not types or not self.vocabulary.domains:
            return None
        best = self.vocabulary.entries[max(types, key=lambda i: row[i])][1]
        return next((d for d, tags in self.vocabulary.domains.items() if best in tags), None)


def product_embedding(image_embeddings: np.ndarray) -> np.ndarray:
    """One embedding for all photos of one product: the normalised mean."""
    return normalise(np.asarray(image_embeddings, dtype=np.float32).mean(axis=0, keepdims=True))[0]
