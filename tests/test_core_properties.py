"""Properties of attention a learner relies on, checked on random weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core import (DecoderBlock, Transformer, TransformerConfig, attend, causal_mask, merge_heads, sinusoidal_encoding,
                  split_heads)


def tiny(**overrides) -> TransformerConfig:
    base = dict(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=40)
    base.update(overrides)
    return TransformerConfig(**base)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def test_rows_of_attention_sum_to_one(minilm):
    trace = minilm.trace("Rows of every attention matrix are probability distributions.")
    np.testing.assert_allclose(trace.attentions.sum(-1), 1.0, atol=1e-5)
    assert (trace.attentions >= 0).all()


def test_causal_mask_puts_zero_weight_on_the_future():
    net = Transformer(tiny(causal=True, norm="pre", lm_head=True, embed_norm=False)).eval()
    trace = net.trace(list(range(1, 13)))
    for layer in trace.layers:
        upper = np.triu(np.ones((12, 12), dtype=bool), k=1)
        assert (layer.weights[:, upper] == 0.0).all()
        assert np.isneginf(layer.scores[:, upper]).all()
        np.testing.assert_allclose(layer.weights.sum(-1), 1.0, atol=1e-6)


def test_causal_model_never_reads_the_future():
    net = Transformer(tiny(causal=True, norm="pre", lm_head=True, embed_norm=False)).eval()
    a = net.trace([3, 4, 5, 6, 7, 8])
    b = net.trace([3, 4, 5, 6, 9, 9])  # only positions 4 and 5 change
    np.testing.assert_allclose(a.logits[:4], b.logits[:4], atol=1e-6)
    assert not np.allclose(a.logits[4:], b.logits[4:])


def test_padded_keys_get_zero_weight():
    net = Transformer(tiny()).eval()
    trace = net.trace([5, 6, 7, 0, 0], key_mask=[True, True, True, False, False])
    for layer in trace.layers:
        assert (layer.weights[:, :, 3:] == 0.0).all()
        np.testing.assert_allclose(layer.weights.sum(-1), 1.0, atol=1e-6)


def test_split_then_merge_heads_is_identity():
    x = torch.randn(2, 7, 32)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 7, 8)
    torch.testing.assert_close(merge_heads(heads), x)
    # head h sees dimensions h*8 .. h*8+7
    torch.testing.assert_close(heads[:, 1], x[..., 8:16])


def test_attend_is_softmax_of_scaled_dot_products():
    q, k, v = torch.randn(1, 2, 4, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    scores, weights, out = attend(q, k, v)
    torch.testing.assert_close(scores, q @ k.transpose(-2, -1) / 8 ** 0.5)
    torch.testing.assert_close(weights, torch.softmax(scores, -1))
    torch.testing.assert_close(out, weights @ v)


def test_causal_mask_shape_and_triangle():
    m = causal_mask(4, 4)
    assert m.tolist() == [[True, False, False, False], [True, True, False, False],
                          [True, True, True, False], [True, True, True, True]]


def test_decoder_cross_attention_has_target_by_source_shape():
    config = tiny(norm="pre")
    block = DecoderBlock(config).eval()
    target, source = torch.randn(1, 6, 32), torch.randn(1, 9, 32)
    with torch.no_grad():
        out, record = block(target, source, self_allowed=causal_mask(6, 6)[None, None])
    assert out.shape == (1, 6, 32)
    assert record.cross.weights.shape == (1, 4, 6, 9)
    torch.testing.assert_close(record.cross.weights.sum(-1), torch.ones(1, 4, 6))
    assert (record.attention.weights[0][:, np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0).all()


def test_heads_must_divide_d_model_with_a_reason():
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        tiny(d_model=30, n_heads=4)


def test_pre_and_post_ln_differ_and_both_run():
    for norm in ("pre", "post"):
        trace = Transformer(tiny(norm=norm)).eval().trace([1, 2, 3])
        assert trace.hidden_states.shape == (3, 3, 32)


def test_sinusoidal_encoding_matches_the_paper():
    pe = sinusoidal_encoding(50, 16)
    pos, i = 7, 3
    assert pe[pos, 2 * i] == pytest.approx(np.sin(pos / 10000 ** (2 * i / 16)), abs=1e-6)
    assert pe[pos, 2 * i + 1] == pytest.approx(np.cos(pos / 10000 ** (2 * i / 16)), abs=1e-6)
    net = Transformer(tiny(positional="sinusoidal", embed_norm=False)).eval()
    trace = net.trace([1, 2, 3])
    np.testing.assert_allclose(trace.pos_embed, sinusoidal_encoding(40, 32)[:3], atol=1e-7)


def test_trace_is_frozen_and_read_only(minilm):
    trace = minilm.trace("Nothing on the page can change the model's numbers.")
    with pytest.raises(AttributeError):
        trace.tokens = []  # type: ignore[misc]
    with pytest.raises(ValueError):
        trace.layers[0].weights[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        trace.attentions[0, 0, 0, 0] = 1.0


def test_tracing_stores_nothing_on_the_model(minilm):
    before = {name: set(vars(m)) for name, m in minilm.net.named_modules()}
    minilm.trace("A forward pass must leave the shared model untouched.")
    after = {name: set(vars(m)) for name, m in minilm.net.named_modules()}
    assert before == after
