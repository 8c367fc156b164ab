"""Text and attribute metrics: the one implementation ``listingsmith evaluate`` and the
benchmarks in ``eval/`` share, so a number in a seller's report and one in ``eval/report.md``
mean the same thing.

Overlap metrics wrap the reference libraries rather than re-deriving them: ROUGE is
``rouge-score`` (Porter stemmer), BLEU-4 and chrF are ``sacrebleu``; tests hold them equal to
the libraries to 1e-6. Per-row and per-segment forms (``rouge_rows``, ``bleu_stats``) exist
because a paired bootstrap resamples rows, and corpus BLEU/chrF must be recomputed from summed
segment statistics, as sacrebleu's own significance tests do. Everything here is pure: no
model, no file but the data files in ``listingsmith/core/vocab``.
"""

from __future__ import annotations

import re
import statistics
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from listingsmith.core.vocab import load

ROUGE_KEYS = (("R-1", "rouge1"), ("R-2", "rouge2"), ("R-L", "rougeL"))
"""(label the eval tables print, rouge-score's name)."""

_WORDS = re.compile(r"\w+")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?")
"""A thousands-grouped number ("1,000", "12,500.5") first, else digits with an optional
decimal part, where a comma not followed by exactly three digits is a decimal comma ("1,5")."""
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def settings() -> dict:
    """``listingsmith/core/vocab/evaluate.toml``: title rules, sample caps, test sizes."""
    return load("listingsmith.core", "vocab/evaluate.toml")


# --- overlap: ROUGE, BLEU, chrF ------------------------------------------------------------

class _CachedTokenizer:
    """rouge-score's own tokenizer (lower-case, alphanumeric, Porter stem for words longer than
    three letters), with the stem of each word cached: stemming is most of ROUGE's cost and a
    catalogue repeats its words. Same tokens, so the same scores as ``RougeScorer`` alone."""

    def __init__(self):
        from rouge_score import tokenize
        from nltk.stem import porter

        self._tokenize = tokenize
        self._stem = lru_cache(maxsize=None)(porter.PorterStemmer().stem)

    def tokenize(self, text: str) -> list[str]:
        return self._tokenize.tokenize(text, self)

    def stem(self, word: str) -> str:
        return self._stem(word)


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([key for _, key in ROUGE_KEYS], use_stemmer=True,
                                    tokenizer=_CachedTokenizer())


def rouge_rows(outputs: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """Per-row ROUGE-1/2/L F-measure x100, keyed ``R-1``, ``R-2``, ``R-L``."""
    scores = [_rouge_scorer().score(ref, out) for out, ref in zip(outputs, references)]
    return {label: [100 * s[key].fmeasure for s in scores] for label, key in ROUGE_KEYS}


def rouge(outputs: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure x100 (rouge-score with its Porter stemmer).

    >>> {k: round(v, 1) for k, v in rouge(["a red cotton shirt"], ["red shirts"]).items()}
    {'R-1': 66.7, 'R-2': 0.0, 'R-L': 66.7}
    """
    return {label: statistics.mean(values)
            for label, values in rouge_rows(outputs, references).items()}


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU()


@lru_cache(maxsize=1)
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def bleu4(outputs: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 x100 (sacrebleu defaults: 13a tokens, exponential smoothing).

    >>> round(bleu4(["the red shirt is soft"], ["the red shirt is soft"]), 1)
    100.0
    """
    import sacrebleu

    return sacrebleu.corpus_bleu(list(outputs), [list(references)]).score


def chrf(outputs: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF x100 (sacrebleu defaults: character 6-grams, beta 2)."""
    import sacrebleu

    return sacrebleu.corpus_chrf(list(outputs), [list(references)]).score


def bleu_stats(outputs: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-row BLEU sufficient statistics (lengths, matches and totals per order): summed over
    any subset of rows they give that subset's corpus BLEU via ``bleu_from_stats``."""
    return np.asarray(_bleu()._extract_corpus_statistics(list(outputs), [list(references)]),
                      dtype=np.int64)


def bleu_from_stats(summed: np.ndarray) -> float:
    return _bleu()._compute_score_from_stats(summed.tolist()).score


def chrf_stats(outputs: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-row chrF statistics, as ``bleu_stats`` for BLEU."""
    return np.asarray(_chrf()._extract_corpus_statistics(list(outputs), [list(references)]),
                      dtype=np.int64)


def chrf_from_stats(summed: np.ndarray) -> float:
    return _chrf()._compute_score_from_stats(summed.tolist()).score


# --- diversity and form ----------------------------------------------------------------------

def distinct(texts: Sequence[str], n: int) -> float:
    """Distinct-n: unique n-grams over all n-grams of all texts (lower-cased words).

    >>> distinct(["a b a b", "a b"], 1), distinct(["a b a b", "a b"], 2)
    (0.3333333333333333, 0.5)
    """
    grams = [tuple(words[i:i + n]) for text in texts
             for words in [_WORDS.findall(text.lower())] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: Sequence[str]) -> float:
    """Mean sentence BLEU x100 of each text against all the others (Zhu et al. 2018); lower is
    more diverse. Equal to sacrebleu's ``BLEU(effective_order=True).sentence_score(text,
    others)`` averaged, computed from each text's n-grams once: a multi-reference count is the
    highest count among the others, so the top two counts of each n-gram suffice (sacrebleu
    re-reads all references for every text, quadratic in time). Callers with many texts
    still pass a sample (``evenly_spaced``).

    >>> round(self_bleu(["a red shirt for men", "a red shirt for men"]), 6)
    100.0
    """
    from sacrebleu.metrics import BLEU
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    texts = list(texts)
    if len(texts) < 2:
        return 0.0
    bleu = BLEU(effective_order=True)
    order = bleu.max_ngram_order
    read = [extract_all_word_ngrams(bleu._preprocess_segment(t), 1, order) for t in texts]
    top: dict[tuple, tuple[tuple[int, int], tuple[int, int]]] = {}
    for index, (grams, _) in enumerate(read):
        for gram, count in grams.items():
            first, second = top.get(gram, ((0, -1), (0, -1)))
            if count > first[0]:
                top[gram] = ((count, index), first)
            elif count > second[0]:
                top[gram] = (first, (count, index))
    lengths = [length for _, length in read]
    scores = []
    for index, (grams, length) in enumerate(read):
        correct, total = [0] * order, [0] * order
        for gram, count in grams.items():
            first, second = top[gram]
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, second[0] if first[1] == index else first[0])
        others = lengths[:index] + lengths[index + 1:]
        reference_length = min(others, key=lambda other: (abs(length - other), other))
        scores.append(bleu._compute_score_from_stats(
            [length, reference_length, *correct, *total]).score)
    return statistics.mean(scores)


def evenly_spaced(total: int, cap: int | None) -> list[int]:
    """Indices of ``cap`` evenly spaced items of ``total`` (all when ``cap`` is None or larger).

    >>> evenly_spaced(10, 3), evenly_spaced(2, 5)
    ([0, 3, 6], [0, 1])
    """
    if cap is None or cap >= total:
        return list(range(total))
    return [i * total // cap for i in range(cap)]


def word_count(text: str) -> int:
    """Words as the eval tables count them (``\\w+`` runs).

    >>> word_count("Cotton-blend shirt, 2 pockets")
    5
    """
    return len(_WORDS.findall(text))


def repeated_sentence_rate(text: str) -> float:
    """Share of a text's sentences that repeat an earlier one (case and spacing ignored): the
    loop a small language model falls into.

    >>> repeated_sentence_rate("Soft cotton. Soft  cotton. Machine wash.")
    0.3333333333333333
    >>> repeated_sentence_rate("")
    0.0
    """
    sentences = [" ".join(s.lower().split()) for s in _SENTENCE_END.split(text.strip())]
    sentences = [s for s in sentences if s]
    return (len(sentences) - len(set(sentences))) / len(sentences) if sentences else 0.0


# --- grounding: numbers ----------------------------------------------------------------------

def numbers(text: str) -> list[str]:
    """The numbers a text states, normalised and in order of first appearance: thousands
    separators dropped, trailing decimal zeros dropped, a decimal comma read as a point; a
    number glued to its unit counts ("500g" states 500).

    >>> numbers("1,000 ml for 2.0 people, 500g, 1,5 L, 0.50 kg and 1000 again")
    ['1000', '2', '500', '1.5', '0.5']
    """
    seen: dict[str, None] = {}
    for match in _NUMBER.findall(text):
        seen.setdefault(normalise_number(match), None)
    return list(seen)


def normalise_number(raw: str) -> str:
    """One spelling per number: "1,000" → "1000", "2.0" → "2", "1,5" → "1.5"."""
    text = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw) \
        else raw.replace(",", ".")
    try:
        value = Decimal(text).normalize()
    except InvalidOperation:  # unreachable for the regex's matches; kept as the raw text
        return raw
    return format(value, "f")


def invented_numbers(output: str, source_text: str) -> list[str]:
    """Numbers ``output`` states that ``source_text`` (the record it was written from) does not.

    >>> invented_numbers("500 g pack of 2, 1,000 ml", "Pack: 2 x 500g, volume 1000 ml")
    []
    >>> invented_numbers("Serves 4, 250 g", "250 gram")
    ['4']
    """
    stated = set(numbers(source_text))
    return [n for n in numbers(output) if n not in stated]


def kept_number_share(output: str, source_text: str) -> float | None:
    """Share of the source's numbers that reach the output; None when the source states none.

    >>> kept_number_share("500 g", "500 g, 2 pack"), kept_number_share("soft", "soft")
    (0.5, None)
    """
    stated = numbers(source_text)
    if not stated:
        return None
    written = set(numbers(output))
    return sum(n in written for n in stated) / len(stated)


# --- titles: marketplace checks --------------------------------------------------------------

@lru_cache(maxsize=1)
def _promotional_pattern() -> re.Pattern:
    phrases = sorted(load("listingsmith.core", "vocab/promotional_words.txt"), key=len,
                     reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in phrases) + r")(?!\w)",
                      re.IGNORECASE)


def promotional_words(text: str) -> list[str]:
    """The promotional words (``vocab/promotional_words.txt``) a text uses, lower-cased.

    >>> promotional_words("Cotton Shirt - Best Seller, FREE shipping")
    ['best seller', 'free shipping']
    """
    return [m.group(0).lower() for m in _promotional_pattern().finditer(text)]


def shouted_words(title: str, brand: str | None = None) -> list[str]:
    """Words in capitals long enough to be shouting (``evaluate.toml [title]``): not units or
    codes (LED, GU10), not listed acronyms, not the brand's own spelling.

    >>> shouted_words("PHILIPS LED Bulb GU10 AMAZING Value", brand="Philips")
    ['AMAZING']
    """
    rules = settings()["title"]
    allowed = {w.upper() for w in rules["allowed_caps"]}
    brand_words = {w.upper() for w in _WORDS.findall(brand or "")}
    shouted = []
    for word in title.split():
        word = word.strip(".,;:!?()[]\"'")
        letters = [c for c in word if c.isalpha()]
        if (len(letters) >= rules["caps_min_letters"] and word.upper() == word
                and not any(c.isdigit() for c in word) and word not in allowed
                and word not in brand_words):
            shouted.append(word)
    return shouted


def title_checks(title: str, brand: str | None = None) -> dict[str, bool]:
    """Marketplace title rules, True where the title passes: ``length`` (at most
    ``max_chars``), ``no_caps``, ``no_promotional`` and, when a brand is known,
    ``brand_present`` (case-insensitive).

    >>> title_checks("Philips 9W LED Bulb, Cool Day Light", brand="PHILIPS")
    {'length': True, 'no_caps': True, 'no_promotional': True, 'brand_present': True}
    >>> title_checks("BEST SELLER bulb", brand=None)
    {'length': True, 'no_caps': False, 'no_promotional': False}
    """
    checks = {"length": len(title) <= settings()["title"]["max_chars"],
              "no_caps": not shouted_words(title, brand),
              "no_promotional": not promotional_words(title)}
    if brand:
        checks["brand_present"] = brand.casefold() in title.casefold()
    return checks


# --- attributes: labels and facts ------------------------------------------------------------

def accuracy_macro_f1(predicted: Sequence[str | None], truth: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro-F1 over the true labels' classes (a missing prediction is wrong).

    >>> accuracy_macro_f1(["a", "b", None, "a"], ["a", "b", "b", "b"])
    {'accuracy': 0.5, 'macro_f1': 0.5833, 'n': 4}
    """
    pairs = list(zip(predicted, truth))
    if not pairs:
        return {"accuracy": 0.0, "macro_f1": 0.0, "n": 0}
    f1s = []
    for label in sorted(set(truth)):
        tp = sum(p == label and t == label for p, t in pairs)
        fp = sum(p == label and t != label for p, t in pairs)
        fn = sum(p != label and t == label for p, t in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(p == t for p, t in pairs) / len(pairs)
    return {"accuracy": round(accuracy, 4), "macro_f1": round(statistics.mean(f1s), 4),
            "n": len(pairs)}


def amlc_f1(predictions: list[dict[str, str]], truths: list[dict[str, str]],
            entities: Iterable[str]) -> dict:
    """Amazon-ML-2024 scoring over every (sample, entity) pair: an exact match is a TP; a
    prediction that is wrong or has no truth is a FP; a missed truth is a FN.

    >>> predictions = [{"item_weight": "500.0 gram", "voltage": "12.0 volt"},
    ...                {"item_weight": "1.0 kilogram"}]
    >>> truths = [{"item_weight": "500.0 gram"},
    ...           {"item_weight": "2.0 kilogram", "wattage": "60.0 watt"}]
    >>> amlc_f1(predictions, truths, ["item_weight", "voltage", "wattage"])
    {'precision': 0.3333, 'recall': 0.5, 'f1': 0.4, 'tp': 1, 'fp': 2, 'fn': 1, 'tn': 2}
    """
    if len(predictions) != len(truths):
        raise ValueError(f"expected as many predictions as truths, got {len(predictions)} and "
                         f"{len(truths)}")
    entities = list(entities)
    tp = fp = fn = tn = 0
    for predicted, truth in zip(predictions, truths):
        for entity in entities:
            guess, answer = predicted.get(entity, "").strip(), truth.get(entity, "").strip()
            if guess and guess == answer:
                tp += 1
            elif guess:
                fp += 1
            elif answer:
                fn += 1
            else:
                tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}
