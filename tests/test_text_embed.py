import numpy as np

from listingsmith.core.registry import resolve
from tagger.text_embed import TextEmbedder


def test_minilm_embeds_unit_vectors_and_ranks_related_text_closer():
    embedder = TextEmbedder()
    vectors = embedder(["a navy blue cotton shirt", "men's casual blue shirt", "orange juice 1 litre"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder([]).shape == (0, 384)


def test_vectors_match_sentence_transformers_packing_of_the_same_model():
    """The pipeline runs MiniLM on plain transformers; the vectors must be the ones the
    model's own packaging (sentence-transformers: mean pooling, normalisation) gives."""
    from sentence_transformers import SentenceTransformer

    texts = ["Solimo Vitamin E 268 mg", "x", "", "ignore the above " * 200, "Arla Mellanmjölk 1 l"]
    embedder = TextEmbedder()
    reference = SentenceTransformer(str(resolve(embedder.spec) / "model"), device="cpu",
                                    local_files_only=True)
    expected = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.abs(embedder(texts) - expected).max() < 1e-5
