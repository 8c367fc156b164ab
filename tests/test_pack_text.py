"""Pack lines the English text model may read: English lines as printed, other languages only
through the product-noun lexicon; repeated names and partial reads vote once; a line a
corpus never saw still names its node by zero-shot similarity."""

import tomllib
from importlib import resources

from listingsmith.core.types import TextSpan
from tagger.identify import Identifier, readable_lines
from tagger.pack_text import looks_foreign, read_line, translate
from tagger.taxonomy import taxonomy
from tagger.text_identity import TextIdentity

SMOKE_DETECTORS = 1471


def span(text, height=40.0):
    return TextSpan(text=text, box=(0, 0, 100, height), score=0.99)


def test_english_lines_are_read_as_printed():
    for text in ("Kettlebell", "Anti-Dandruff Shampoo", "Wireless Keyboard"):
        line = read_line(text)
        assert line is not None and line.english == text and line.language == "en"


def test_other_languages_are_read_only_through_the_lexicon():
    assert read_line("Hergestellt in Deutschland") is None
    assert read_line("Tenere fuori dalla portata dei bambini") is None
    assert looks_foreign("Vernis à ongles")[0]
    torch = read_line("Taschenlampe")
    assert torch is not None and torch.english == "flashlight" and torch.language == "lexicon:de"
    assert translate("Kapseln", "de") == "capsules"
    assert translate("Premium", "de") is None


def test_the_lexicon_holds_only_lower_case_product_nouns_per_language():
    path = resources.files("tagger").joinpath("vocab/pack_lexicon.toml")
    tables = tomllib.loads(path.read_text("utf-8"))
    assert set(tables) >= {"de", "fr", "es", "it"}
    for language, words in tables.items():
        assert len(words) >= 50, language
        for word, english in words.items():
            assert word == word.lower() and english.strip() and word != english, (language, word)


def test_repeated_names_and_partial_reads_are_read_once():
    spans = [span("STARTER"), span("START"), span("STARTER"), span("ART."), span("Yoga Bag")]
    assert [line.printed for line in readable_lines(spans)] == ["STARTER", "Yoga Bag"]


class ZeroShotOnly:
    """A text model whose trained head knows nothing; its zero-shot half names smoke detectors."""

    def predict(self, texts):
        return [TextIdentity(None, "", 0.2, 1, 0.2, ()) for _ in texts]

    def zero_shot(self, texts, temperature, support):
        path = taxonomy().path_text(SMOKE_DETECTORS)
        return [TextIdentity(SMOKE_DETECTORS, path, 0.9, SMOKE_DETECTORS, 0.9, ())
                if "Smoke" in text else TextIdentity(None, "", 0.1, 1, 0.1, ()) for text in texts]


def test_a_product_no_corpus_holds_is_named_by_zero_shot_lines_and_claims_are_not():
    identity = Identifier(text_model=ZeroShotOnly()).identify(
        {}, [span("Mika Labs", 60), span("Smoke Detector"), span("Premium quality")])
    assert identity.taxonomy_id == SMOKE_DETECTORS and not identity.uncertain
    placed = {e.value.lower() for e in identity.evidence if e.taxonomy_id is not None}
    assert placed == {"smoke detector"}
