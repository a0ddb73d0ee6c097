"""Our hand-written MiniLM equals transformers' BertModel: same tokens, same numbers (1e-4)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

PARAGRAPH = (
    "The transformer reads a whole sentence at once. Each token asks every other token how much "
    "it should listen, and the answers, the attention weights, decide what flows where. "
) * 12  # about 400 WordPiece tokens

SENTENCES = {
    "plain": "Time flies like an arrow; fruit flies like a banana.",
    "accents": "Naïve café… crème brûlée at the Hôtel de Ville, Zürich.",
    "emoji_cjk": "I love 🍕 and 東京 in the spring 🌸!",
    "numbers_punct": "In 2024, 3.14159 × 42 = 131.95 (approx.) — isn't it?!",
    "single_word": "hello",
    "paragraph": PARAGRAPH,
}


def reference_outputs(reference_bert, text):
    model, tokenizer = reference_bert
    batch = tokenizer(text, return_tensors="pt", truncation=True, max_length=512, padding=False)
    with torch.no_grad():
        out = model(**batch, output_attentions=True, output_hidden_states=True)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    attentions = np.stack([a[0].numpy() for a in out.attentions])
    hidden = np.stack([h[0].numpy() for h in out.hidden_states])
    return tokens, attentions, hidden


@pytest.mark.parametrize("name", list(SENTENCES))
def test_matches_reference(minilm, reference_bert, name):
    text = SENTENCES[name]
    tokens, attentions, hidden = reference_outputs(reference_bert, text)
    trace = minilm.trace(text)
    assert trace.tokens == tokens
    assert "[PAD]" not in trace.tokens
    assert trace.attentions.shape == attentions.shape == (6, 12, len(tokens), len(tokens))
    assert trace.hidden_states.shape == hidden.shape == (7, len(tokens), 384)
    np.testing.assert_allclose(trace.attentions, attentions, atol=1e-4, rtol=0)
    np.testing.assert_allclose(trace.hidden_states, hidden, atol=1e-4, rtol=0)


def test_paragraph_is_long(minilm):
    assert 380 <= len(minilm.trace(PARAGRAPH).tokens) <= 512


def test_truncated_text_matches_reference(minilm, reference_bert):
    text = "word " * 2000 + "end"
    tokens, attentions, hidden = reference_outputs(reference_bert, text)
    trace = minilm.trace(text)
    assert trace.truncated and len(trace.tokens) == 512 and trace.tokens == tokens
    np.testing.assert_allclose(trace.hidden_states, hidden, atol=1e-4, rtol=0)


def test_public_api_example(minilm):
    trace = minilm.trace("Time flies like an arrow.")
    assert trace.tokens == ["[CLS]", "time", "flies", "like", "an", "arrow", ".", "[SEP]"]
    assert all(isinstance(i, int) for i in trace.ids)
    assert trace.attentions.dtype == np.float32 and trace.hidden_states.dtype == np.float32
    assert trace.truncated is False
    layer = trace.layers[3]
    for name in ("q", "k", "v", "scores", "weights", "attn_out", "resid_mid", "mlp_out", "resid_post"):
        assert np.asarray(getattr(layer, name)).dtype == np.float32
    assert layer.q.shape == (12, 8, 32)
    np.testing.assert_array_equal(trace.hidden_states[4], layer.resid_post)
