"""Paired comparison for ``listingsmith evaluate``: bootstrap intervals and approximate
randomisation, plus the small numeric helpers the report needs.

Why paired: every system is scored on the same rows, so row-to-row difficulty (a long
reference, an odd product) cancels out of a difference; resampling or shuffling rows
independently per system would throw that away and call real differences noise. Why weights:
a bootstrap resample is a vector of how often each row was drawn, so a resampled mean, or a
resampled corpus BLEU from summed segment statistics, is one matrix product for all
resamples at once, fast enough for 10,000 rows x 1,000 resamples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from listingsmith import metrics

CORPUS_METRICS = ("bleu", "chrf")
DIGITS = 4
"""Report numbers are rounded to this many decimals: readable, and the same bytes on every
platform (the last bits of a float sum can differ between BLAS builds)."""


@dataclass
class SystemScores:
    """One system's per-row metrics (NaN where a metric does not apply to a row), corpus
    statistics for BLEU and chrF, and the set-level diversity numbers."""

    outputs: list[str]
    rows: dict[str, np.ndarray]
    bleu_stats: np.ndarray
    chrf_stats: np.ndarray
    diversity: dict[str, float]
    title_checks: dict[str, float] | None


def corpus_value(scores: SystemScores, name: str, weights: np.ndarray | None = None):
    """BLEU or chrF of all rows, or of each weighting when ``weights`` (k x rows) is given:
    segment statistics summed with the weights, then scored by sacrebleu."""
    stats = scores.bleu_stats if name == "bleu" else scores.chrf_stats
    score = metrics.bleu_from_stats if name == "bleu" else metrics.chrf_from_stats
    if weights is None:
        return score(stats.sum(axis=0))
    summed = np.rint(weights @ stats.astype(np.float64)).astype(np.int64)
    return np.asarray([score(row) for row in summed])


def value(scores: SystemScores, name: str, keep: np.ndarray | None = None) -> float | None:
    """A metric over all rows (or the rows ``keep`` marks): a corpus score or a mean."""
    if name in CORPUS_METRICS:
        return float(corpus_value(scores, name) if keep is None
                     else corpus_value(scores, name, keep[None, :].astype(float))[0])
    values = scores.rows[name] if keep is None else scores.rows[name][keep]
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None


class Comparator:
    """One seeded set of bootstrap weights and randomisation swaps, shared by every system
    and metric so that all intervals and tests are paired and reproducible."""

    def __init__(self, rows: int, resamples: int, shuffles: int, seed: int):
        rng = np.random.default_rng(seed)
        self.resamples, self.shuffles = resamples, shuffles
        self.weights = rng.multinomial(rows, np.full(rows, 1 / rows), size=resamples) \
            .astype(np.float64)
        self.swaps = rng.integers(0, 2, size=(shuffles, rows)).astype(np.float64)
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    def resampled(self, scores: SystemScores, name: str) -> np.ndarray:
        """The metric on every bootstrap resample (NaN where a resample has no defined row)."""
        key = (id(scores), name)
        if key not in self._cache:
            if name in CORPUS_METRICS:
                self._cache[key] = corpus_value(scores, name, self.weights)
            else:
                values = scores.rows[name]
                defined = ~np.isnan(values)
                with np.errstate(invalid="ignore", divide="ignore"):
                    self._cache[key] = (self.weights @ np.where(defined, values, 0.0)) / \
                        (self.weights @ defined.astype(np.float64))
        return self._cache[key]

    @staticmethod
    def interval(samples: np.ndarray) -> list[float] | None:
        """The percentile 95% interval of bootstrap samples."""
        finite = samples[~np.isnan(samples)]
        if not finite.size:
            return None
        return [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))]

    def compare(self, first: SystemScores, second: SystemScores,
                name: str) -> tuple[float, list[float] | None, float]:
        """(difference first - second, its paired bootstrap 95% interval, the two-sided
        approximate-randomisation p-value with add-one smoothing)."""
        interval = self.interval(self.resampled(first, name) - self.resampled(second, name))
        if name in CORPUS_METRICS:
            observed = value(first, name) - value(second, name)
            kept, swapped = self.swaps, 1.0 - self.swaps
            shuffled = (_mixed_corpus(first, second, name, kept, swapped)
                        - _mixed_corpus(second, first, name, kept, swapped))
        else:
            difference = first.rows[name] - second.rows[name]
            defined = ~np.isnan(difference)
            d = difference[defined]
            observed = float(d.mean()) if d.size else 0.0
            signs = 2.0 * self.swaps[:, defined] - 1.0
            shuffled = signs @ d / max(1, d.size)
        extreme = np.sum(np.abs(shuffled) >= abs(observed) - 1e-12)
        return observed, interval, float((extreme + 1) / (self.shuffles + 1))


def _mixed_corpus(a: SystemScores, b: SystemScores, name: str, kept: np.ndarray,
                  swapped: np.ndarray) -> np.ndarray:
    """The corpus metric of "system a" after each shuffle: a's row where kept, b's where
    swapped."""
    field = "bleu_stats" if name == "bleu" else "chrf_stats"
    score = metrics.bleu_from_stats if name == "bleu" else metrics.chrf_from_stats
    summed = kept @ getattr(a, field).astype(np.float64) + \
        swapped @ getattr(b, field).astype(np.float64)
    return np.asarray([score(row) for row in np.rint(summed).astype(np.int64)])


def histogram(values: np.ndarray, low: float, high: float, bins: int) -> dict:
    """Counts of the finite values in ``bins`` equal bins over [low, high].

    >>> histogram(np.array([0.0, 0.4, 1.0, np.nan]), 0, 1, 2)
    {'low': 0.0, 'high': 1.0, 'counts': [2, 1]}
    """
    high = max(float(high), float(low) + 1.0) if high <= low else float(high)
    finite = values[~np.isnan(values)]
    counts, _ = np.histogram(finite, bins=bins, range=(float(low), high))
    return {"low": float(low), "high": high, "counts": [int(c) for c in counts]}


def rounded(data):
    """The report with every float rounded to ``DIGITS`` (NaN and infinities as None) and
    numpy scalars made plain, so the JSON is stable and valid.

    >>> rounded({"a": [np.float64(1 / 3), float("nan")], "b": np.int64(2)})
    {'a': [0.3333, None], 'b': 2}
    """
    if isinstance(data, dict):
        return {key: rounded(item) for key, item in data.items()}
    if isinstance(data, (list, tuple)):
        return [rounded(item) for item in data]
    if isinstance(data, (bool, np.bool_)):
        return bool(data)
    if isinstance(data, (int, np.integer)):
        return int(data)
    if isinstance(data, (float, np.floating)):
        return round(float(data), DIGITS) if math.isfinite(data) else None
    return data
