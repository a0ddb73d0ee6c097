"""Inside one attention score: q, k and q ⊙ k add up to trace.scores; norm-based attention."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core import Transformer, TransformerConfig
from analysis.score_parts import norm_attention, score_parts, value_norms


def small(**switches) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=40, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=16,
                               **switches)
    return Transformer(config).eval()


MODELS = {
    "bert-like": dict(type_vocab_size=2),
    "gqa-rotary-decoder": dict(positional="rotary", norm="pre", causal=True, lm_head=True, n_kv_heads=2,
                               norm_kind="rmsnorm", mlp="gated", activation="silu", bias=False,
                               qkv_bias=False, embed_norm=False),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_product_adds_up_to_the_traced_score(kind):
    net = small(**MODELS[kind])
    trace = net.trace([3, 7, 1, 9, 12, 5, 2])
    for layer in range(trace.n_layers):
        for head in range(trace.n_heads):
            for i in range(len(trace)):
                for j in range(len(trace)):
                    p = score_parts(trace, layer, head, i, j)
                    assert p.kv_head == trace.kv_head_of(head)
                    np.testing.assert_array_equal(p.product, p.q * p.k)
                    assert p.scale == pytest.approx(np.sqrt(trace.layers[layer].q.shape[-1]))
                    if p.masked:   # causal: the key is in the future
                        assert j > i and p.trace_score == -np.inf
                        continue
                    assert p.score == p.trace_score            # core's own arithmetic: bit for bit
                    # the float64 sum of the bars differs only by float32 rounding of core's matmul
                    assert abs(p.dot / p.scale - p.trace_score) <= 1e-5 * np.abs(p.product).sum() / p.scale


def test_minilm_score_parts_are_exact(minilm):
    trace = minilm.trace("Time flies like an arrow.")
    for head in range(trace.n_heads):
        p = score_parts(trace, 3, head, 2, 5)
        assert p.score == p.trace_score
        assert p.dot / p.scale == pytest.approx(p.trace_score, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("kind", list(MODELS))
def test_norm_attention_matches_a_direct_computation(kind):
    net = small(**MODELS[kind])
    trace = net.trace([3, 7, 1, 9, 12])
    d_head = net.config.d_model // net.config.n_heads
    for layer in range(2):
        w_o = net.blocks[layer].attention.output.weight.detach().double()       # (d_model, d_model)
        for head in range(net.config.n_heads):
            got = norm_attention(net, trace, layer, head)
            lt = trace.layers[layer]
            v = lt.v[lt.kv_head_of(head)].astype(np.float64)
            want = np.zeros_like(got)
            for i in range(len(trace)):
                for j in range(len(trace)):
                    written = lt.weights[head, i, j] * v[j] @ w_o[:, head * d_head:(head + 1) * d_head].numpy().T
                    want[i, j] = np.linalg.norm(written)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
            assert (value_norms(net, trace, layer, head) > 0).all()


def test_all_heads_together_rebuild_attn_out():
    """Σ_h Σ_j α_ij v_j W_O[h] + b_O is the traced attn_out: the per-head slices are the right ones."""
    net = small(**MODELS["bert-like"])
    trace = net.trace([3, 7, 1, 9, 12])
    lt, d_head = trace.layers[0], 8
    w_o = net.blocks[0].attention.output.weight.detach().double().numpy()
    total = sum(lt.weights[h].astype(np.float64) @ lt.v[h] @ w_o[:, h * d_head:(h + 1) * d_head].T
                for h in range(4)) + net.blocks[0].attention.output.bias.detach().double().numpy()
    np.testing.assert_allclose(total, lt.attn_out, rtol=1e-4, atol=1e-5)


def test_positions_out_of_range_are_refused():
    trace = small(**MODELS["bert-like"]).trace([1, 2, 3])
    with pytest.raises(ValueError, match="position"):
        score_parts(trace, 0, 0, 0, 3)
    with pytest.raises(ValueError, match="head"):
        score_parts(trace, 0, 4, 0, 0)
