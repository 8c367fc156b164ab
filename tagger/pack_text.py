"""Which words on a pack the bundled English text model can read.

EU packs print the product's name in several languages, and the pack's other lines are
claims, brands, prices and codes. The English sentence encoder reads a German or Spanish line
as noise, with confidence ("Pasta de dientes" reads as food), so each OCR line is judged
before it votes:

- letters outside ASCII (é, ü, ñ, ß) do not occur in English product names;
- its language, by an offline detector (``py3langid``, a naive Bayes model over byte n-grams
  that ships in its wheel); short lines are hard to place, so a confident verdict of another
  language counts against a line, a likely one only when most of its words are unknown to the
  encoder (its WordPiece vocabulary and the taxonomy's own words, plurals folded);
- a line that is not English may still name the product: the product nouns of
  ``vocab/pack_lexicon.toml`` ("Taschenlampe" → "flashlight") are put into English word by
  word, and the translated line is judged again.

Thresholds live in ``vocab/identity.toml`` ``[pack]``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from listingsmith.core import vocab

WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class ReadLine:
    """One pack line as the English text model will read it."""

    printed: str
    english: str
    """The line itself, or its lexicon translation."""
    language: str
    """The detector's verdict ("en", "de" …), or "lexicon:de" for a translated line."""
    readable: float
    """Share of the words the encoder knows whole (0-1)."""


@lru_cache(maxsize=1)
def _settings() -> dict:
    return vocab.load("tagger", "vocab/identity.toml")["pack"]


@lru_cache(maxsize=1)
def _detector():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    detector = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    detector.set_languages(_settings()["languages"])
    return detector


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, dict[str, str]]:
    tables = vocab.load("tagger", "vocab/pack_lexicon.toml")
    return {language: {_fold(word): english for word, english in words.items()}
            for language, words in tables.items()}


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    """The encoder's whole-word vocabulary, plus the taxonomy's own words (product nouns
    such as "toothpaste" that WordPiece splits but the text model learnt from node names)."""
    from tagger.taxonomy import taxonomy
    from tagger.text_embed import TextEmbedder

    words = {token for token in TextEmbedder().model[0].vocab if token.isalpha()}
    tree = taxonomy()
    for node in tree.ids():
        words.update(WORD.findall(tree.node(node).name.lower()))
    return frozenset(words)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text.lower())


def _singular(word: str) -> str:
    """``word`` in the singular when that form is a known word ("capsules" → "capsule")."""
    for plural, singular in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(plural) and len(word) > len(plural) + 2:
            candidate = word[:-len(plural)] + singular
            if candidate in _known_words():
                return candidate
    return word


def readable_share(text: str) -> float:
    """Share of the words (two letters or more) the encoder knows whole; 0 without words."""
    words = WORD.findall(_fold(text))
    if not words:
        return 0.0
    known = _known_words()
    return sum(word in known or _singular(word) in known for word in words) / len(words)


def detect_language(text: str) -> tuple[str, float]:
    language, probability = _detector().classify(text)
    return language, float(probability)


def translate(text: str, language: str) -> str | None:
    """``text`` with the lexicon's product nouns of ``language`` in English; None when the
    lexicon knows none of its words."""
    table = _lexicon().get(language, {})
    hits = 0

    def swap(match: re.Match) -> str:
        nonlocal hits
        english = table.get(_fold(match.group(0)))
        hits += english is not None
        return english or match.group(0)

    translated = WORD.sub(swap, text)
    return translated if hits else None


def looks_foreign(text: str) -> tuple[bool, str]:
    """Whether ``text`` is not English, and the detector's language: letters outside ASCII
    (é, ü, ñ, ß), a confident verdict of another language, or a likely one when most words
    are unknown to the encoder. Short English product names ("Kettlebell") often get a weak
    verdict of another language, so a weak verdict alone does not count."""
    settings = _settings()
    language, probability = detect_language(text)
    if language == "en":
        return any(c.isalpha() and not c.isascii() for c in text), language
    return (any(c.isalpha() and not c.isascii() for c in text)
            or probability >= settings["foreign_probability"]
            or (probability >= settings["likely_foreign_probability"]
                and readable_share(text) < settings["min_readable_share"])), language


def read_line(text: str) -> ReadLine | None:
    """The line as the English model should read it, or None when it cannot: not English
    (``looks_foreign``) and no product noun of the lexicon in it."""
    foreign, language = looks_foreign(text)
    if not foreign:
        return ReadLine(text, text, "en", round(readable_share(text), 3))
    for candidate in ([language] if language in _lexicon() else []) + [
            name for name in _lexicon() if name != language]:
        translated = translate(text, candidate)
        if translated is not None and not looks_foreign(translated)[0]:
            return ReadLine(text, translated, f"lexicon:{candidate}",
                            round(readable_share(translated), 3))
    return None
