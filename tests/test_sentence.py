"""MiniLM's sentence embedding is the sentence-transformers package's own, to 1e-5."""
from __future__ import annotations

import numpy as np
import pytest

TEXTS = ["I sat on the bank of the river.", "I deposited money at the bank.", "The river bank was muddy 🌊",
         "東京 in spring", "word " * 400]          # the last is cut at 256 tokens, as sentence-transformers cuts


def test_equals_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    from models.registry import minilm_folder

    reference = st.SentenceTransformer(str(minilm_folder()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = np.stack([minilm.sentence_embedding(t) for t in TEXTS])
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-6)


def test_the_two_banks_are_told_apart(minilm):
    river, money, muddy = (minilm.sentence_embedding(t) for t in TEXTS[:3])
    assert river @ muddy > money @ muddy         # the river bank is nearer the muddy river bank


def test_a_decoder_says_it_has_no_sentence_embedding(tmp_path):
    from models import load_model
    from models.saved import save_model
    from training.bpe import train_bpe
    from training.lm import lm_config, new_model

    bpe = train_bpe(["the king rules his kingdom ."] * 20, 40)
    folder = save_model(new_model(lm_config(bpe.vocab_size, context=8, d_model=16, n_heads=2, n_layers=1)),
                        bpe.to_json(), tmp_path, "tiny")
    model = load_model(str(folder))
    assert not model.has_sentence_embedding
    with pytest.raises(ValueError, match="no sentence embedding"):
        model.sentence_embedding("the king")


def test_token_shares_add_up_to_the_cosine(minilm):
    from analysis.sentence import similarity_by_token

    tokens, hidden = minilm.sentence_states(TEXTS[0])
    other = minilm.sentence_embedding(TEXTS[2])
    shares = similarity_by_token(hidden, other)
    assert shares.shape == (len(tokens),)
    assert shares.sum() == pytest.approx(float(minilm.sentence_embedding(TEXTS[0]) @ other), abs=1e-5)
