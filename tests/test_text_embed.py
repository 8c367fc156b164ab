import numpy as np

from tagger.text_embed import TextEmbedder


def test_minilm_embeds_unit_vectors_and_ranks_related_text_closer():
    embedder = TextEmbedder()
    vectors = embedder(["a navy blue cotton shirt", "men's casual blue shirt", "orange juice 1 litre"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder([]).shape == (0, 384)


def test_vocabulary_embeddings_are_cached_and_read_only():
    embedder = TextEmbedder()
    first = embedder.cached(("shirt", "bag"))
    assert embedder.cached(("shirt", "bag")) is first
    assert not first.flags.writeable
