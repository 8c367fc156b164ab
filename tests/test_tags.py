"""Tag vocabularies and the scorer (``tagger.tags``), on a small deterministic image–text model."""

from __future__ import annotations

import numpy as np
import pytest

from listingsmith.core.errors import ValidationError
from tagger.image_text import normalise
from listingsmith.core.registry import ModelSpec
from tagger.tags import (CUSTOM_GROUP, Calibration, TagGroup, TagScorer, TagVocabulary,
                         load_vocabulary, product_embedding, prompt_templates)

WORDS = ["red", "blue", "shirt", "shoe", "men", "women", "cotton", "leather"]


class WordModel:
    """Text → bag of known words; an "image" is given directly as the words it shows."""

    spec = ModelSpec(name="words", task="image-text", source="test:words", description="test")
    logit_scale = 20.0
    dimension = len(WORDS)

    def __init__(self):
        self.text_calls = 0

    def embed_texts(self, texts):
        self.text_calls += 1
        return normalise(np.array([[float(w in t.split()) + 0.01 for w in WORDS] for t in texts]))

    def embed_images(self, images):
        return self.embed_texts(images)


def vocabulary(**calibration) -> TagVocabulary:
    return TagVocabulary((
        TagGroup("gender", ("men", "women"), exclusive=True, template="default"),
        TagGroup("material", ("cotton", "leather"), template="default"),
    ), Calibration(**calibration))


def test_exclusive_group_scores_are_a_softmax_and_others_independent():
    model = WordModel()
    scorer = TagScorer(model, vocabulary(scale=10.0, bias=-5.0))
    scores = scorer.scores(model.embed_texts(["men cotton", "women leather"]))
    assert scores.shape == (2, 4)
    np.testing.assert_allclose(scores[:, :2].sum(axis=1), 1.0, rtol=1e-5)
    assert scores[0, 0] > 0.9 and scores[1, 1] > 0.9
    assert scores[0, 2] > scores[0, 3] and scores[1, 3] > scores[1, 2]
    assert not np.allclose(scores[:, 2:].sum(axis=1), 1.0)


def test_tags_apply_thresholds_top_k_and_groups():
    model = WordModel()
    scorer = TagScorer(model, vocabulary(scale=10.0, bias=-5.0, default_threshold=0.5))
    image = model.embed_texts(["men cotton"])
    names = [t.name for t in scorer.tags(image)[0]]
    assert names[:1] == ["men"] and "cotton" in names and "women" not in names
    assert [t.name for t in scorer.tags(image, top_k=1)[0]] == ["men"]
    assert [t.group for t in scorer.tags(image, groups=("material",))[0]] == ["material"]
    everything = scorer.tags(image, threshold=0.0)[0]
    assert [t.name for t in everything if t.group == "gender"] == ["men"]  # exclusive: best only
    assert len(everything) == 3
    assert [t.score for t in everything] == sorted((t.score for t in everything), reverse=True)
    assert all(t.source == "test:words" for t in everything)


def test_groups_that_require_a_domain_follow_the_best_product_type():
    model = WordModel()
    vocab = TagVocabulary((
        TagGroup("product_type", ("shirt", "shoe"), exclusive=True),
        TagGroup("gender", ("men", "women"), exclusive=True, requires="clothes"),
    ), Calibration(), domains={"clothes": ("shirt",)})
    scorer = TagScorer(model, vocab)
    shirt = scorer.tags(model.embed_texts(["men shirt"]), threshold=0.0)[0]
    shoe = scorer.tags(model.embed_texts(["men shoe"]), threshold=0.0)[0]
    assert {t.group for t in shirt} == {"product_type", "gender"}
    assert {t.group for t in shoe} == {"product_type"}


def test_per_tag_threshold_overrides_the_group_and_default():
    calibration = Calibration(default_threshold=0.99, groups={"gender": 0.2},
                              tags={"gender/women": 0.999})
    assert calibration.threshold("gender", "men") == 0.2
    assert calibration.threshold("gender", "women") == 0.999
    assert calibration.threshold("material", "cotton") == 0.99


def test_vocabulary_embeddings_are_computed_once_and_ensembled():
    model = WordModel()
    scorer = TagScorer(model, vocabulary())
    first = scorer.text_embeddings
    scorer.scores(model.embed_texts(["red shirt"]))
    scorer.tags(model.embed_texts(["blue shoe"]))
    assert scorer.text_embeddings is first
    assert model.text_calls == 3  # one for the vocabulary, two for the "images"
    templates = prompt_templates()["templates"]["default"]
    expected = normalise(model.embed_texts([t.format(tag="men") for t in templates]).mean(0)[None])
    np.testing.assert_allclose(first[0], expected[0], rtol=1e-5)


def test_batch_in_batch_out_matches_one_by_one():
    model = WordModel()
    scorer = TagScorer(model, vocabulary())
    images = model.embed_texts(["men cotton", "women leather", "red"])
    batch = scorer.tags(images, threshold=0.0)
    for row, image in zip(batch, images):
        assert scorer.tags(image[None], threshold=0.0)[0] == row


def test_bad_arguments_are_refused():
    scorer = TagScorer(WordModel(), vocabulary())
    with pytest.raises(ValidationError, match="top_k: expected a positive integer, got 0"):
        scorer.tags(np.ones((1, len(WORDS))), top_k=0)
    with pytest.raises(ValidationError, match=r"threshold: expected a number in \[0, 1\], got 2"):
        scorer.tags(np.ones((1, len(WORDS))), threshold=2)


def test_bundled_vocabulary_loads_with_its_calibration():
    vocab = load_vocabulary()
    names = {group.name for group in vocab.groups}
    assert {"product_type", "gender", "usage", "season", "colour", "material", "pattern"} <= names
    assert vocab.group("gender").exclusive and not vocab.group("material").exclusive
    assert vocab.group("product_type").labels["t-shirt"] == "Tshirts"
    templates = prompt_templates()["templates"]
    assert all(group.template in templates for group in vocab.groups)
    assert vocab.calibration.tags, "per-tag thresholds from tag_thresholds.json"


def test_user_text_vocabulary(tmp_path):
    path = tmp_path / "my_tags.txt"
    path.write_text("# my shop's words\nvintage\nhandmade  # a comment\n\nvintage\n", "utf-8")
    vocab = load_vocabulary(path)
    assert [g.name for g in vocab.groups] == [CUSTOM_GROUP]
    assert vocab.groups[0].tags == ("vintage", "handmade")
    assert vocab.source == str(path)
    tags = TagScorer(WordModel(), vocab).tags(np.ones((1, len(WORDS))), threshold=0.0)[0]
    assert {t.name for t in tags} == {"vintage", "handmade"}


def test_user_toml_vocabulary(tmp_path):
    path = tmp_path / "tags.toml"
    path.write_text('[groups.fit]\nexclusive = true\ntemplate = "style"\n'
                    'tags = ["slim", "regular"]\n', "utf-8")
    vocab = load_vocabulary(path)
    assert vocab.group("fit").exclusive and vocab.group("fit").tags == ("slim", "regular")


@pytest.mark.parametrize("content, message", [
    ("", "expected one tag per line, got no tags"),
    ("# only a comment\n", "expected one tag per line, got no tags"),
])
def test_empty_text_vocabulary_is_refused(tmp_path, content, message):
    path = tmp_path / "empty.txt"
    path.write_text(content, "utf-8")
    with pytest.raises(ValidationError, match=message):
        load_vocabulary(path)


@pytest.mark.parametrize("content, message", [
    ("not = [valid", "invalid TOML"),
    ("[other]\nx = 1\n", r"expected \[groups.<name>\] tables"),
    ('[groups.a]\ntags = "one"\n', "expected 'tags' as a list of phrases"),
    ('[groups.a]\ntags = ["x"]\ntemplate = "nope"\n', "template 'nope' unknown"),
    ('[groups.a]\ntags = ["x", "x"]\n', "tags listed twice"),
    ('[groups.a]\ntags = ["x"]\nrequires = "food"\n', "requires domain 'food'"),
])
def test_bad_toml_vocabulary_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content, "utf-8")
    with pytest.raises(ValidationError, match=message):
        load_vocabulary(path)


def test_missing_and_binary_vocabulary_files(tmp_path):
    with pytest.raises(ValidationError, match="no such file"):
        load_vocabulary(tmp_path / "absent.txt")
    binary = tmp_path / "tags.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValidationError, match="cannot read it as UTF-8"):
        load_vocabulary(binary)


def test_product_embedding_is_the_normalised_mean():
    rows = normalise(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(product_embedding(rows), [2 ** -0.5, 2 ** -0.5], rtol=1e-6)


def test_vocabulary_embeddings_are_kept_on_disk_for_pinned_models(tmp_path, monkeypatch):
    from tagger.aligner import AlignedImageText

    monkeypatch.setenv("LISTINGSMITH_CACHE", str(tmp_path))
    first = TagScorer(AlignedImageText()).text_embeddings
    stored = list((tmp_path / "arrays").glob("tag-text-*.npy"))
    assert len(stored) == 1
    np.save(stored[0], np.ones_like(first))  # a new scorer must read the file, not recompute
    assert (TagScorer(AlignedImageText()).text_embeddings == 1).all()
    stored[0].write_bytes(b"damaged")  # a damaged file is recomputed, not an error
    assert np.allclose(TagScorer(AlignedImageText()).text_embeddings, first)
