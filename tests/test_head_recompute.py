"""One head recomputed alone (`trace.head(layer, head)`) equals that head in the whole layer.

A page that shows one head of a 4,096-token text pays for one T×T matrix, not H of them. The
numbers are the same as `trace.layers[l]` holds for that head, bit for bit on the CPU: the
projections run whole (same kernels, same shapes) and are sliced, and one head's q·kᵀ and softmax
are the same per-row arithmetic as the batched ones. Every path a head can take is checked:
grouped-query heads with RoPE, BERT-style post-LN, q/k norms per head and over the whole
projection, knocked-out and patched heads, bf16 weights.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from core import HeadTrace, Transformer, TransformerConfig
from core import trace as trace_module

LLAMA_LIKE = dict(vocab_size=60, d_model=32, n_heads=4, n_kv_heads=2, n_layers=2, d_ff=48, max_positions=4096,
                  positional="rotary", norm="pre", activation="silu", eps=1e-6, embed_norm=False, causal=True,
                  lm_head=True, tie_embeddings=False, norm_kind="rmsnorm", mlp="gated", bias=False,
                  qkv_bias=False)
CONFIGS = {
    "llama-like": LLAMA_LIKE,
    "bert-like": dict(vocab_size=60, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=512,
                      type_vocab_size=2),
    "qwen3-like": dict(LLAMA_LIKE, qk_norm="head"),
    "olmo2-like": dict(LLAMA_LIKE, qk_norm="full", norm="post_sublayer"),
}
FIELDS = ("q", "k", "v", "scores", "weights", "head_out", "q_raw", "k_raw")


def model(**config) -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig(**config)).eval()


def ids_of(n: int, seed: int = 1) -> list[int]:
    return torch.randint(0, 60, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.fixture
def fresh_cache(monkeypatch):
    """A cache of its own, so a head is recomputed alone rather than sliced from a cached layer."""
    cache = trace_module.LayerCache(budget_bytes=2**30)
    monkeypatch.setattr(trace_module, "LAYER_CACHE", cache)
    return cache


def alone_then_whole(trace, cache) -> list[tuple[HeadTrace, HeadTrace]]:
    """Every head computed alone (nothing else cached), then sliced from its recomputed layer."""
    pairs = []
    for layer in range(trace.n_layers):
        for head in range(trace.n_heads):
            cache.clear()
            alone = trace.head(layer, head)
            pairs.append((alone, HeadTrace.of_layer(trace.layers[layer], layer, head)))
    return pairs


def assert_same_bits(alone: HeadTrace, whole: HeadTrace) -> None:
    assert (alone.layer, alone.head, alone.kv_head) == (whole.layer, whole.head, whole.kv_head)
    for name in FIELDS:
        got, expected = getattr(alone, name), getattr(whole, name)
        assert (got is None) == (expected is None), name
        if got is not None:
            np.testing.assert_array_equal(got, expected, err_msg=f"layer {alone.layer} head {alone.head} {name}")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_head_alone_equals_the_whole_layer_bit_for_bit(name, fresh_cache):
    trace = model(**CONFIGS[name]).trace(ids_of(200))
    for alone, whole in alone_then_whole(trace, fresh_cache):
        assert_same_bits(alone, whole)
        assert alone.weights.shape == (200, 200) and not alone.weights.flags.writeable


def test_knocked_out_and_patched_heads_recompute_alike(fresh_cache):
    net = model(**LLAMA_LIKE)
    ids = ids_of(40)
    knocked = net.trace(ids, ablate=[(0, 1), (1, 3)], mode="mean")
    clean = net.trace(ids_of(40, seed=2))
    patched = net.trace(ids, patch_from=clean, sites=[("head", 1, 2), ("resid_pre", 0, 5)])
    for trace in (knocked, patched):
        for alone, whole in alone_then_whole(trace, fresh_cache):
            assert_same_bits(alone, whole)
    fresh_cache.clear()
    np.testing.assert_array_equal(patched.head(1, 2).head_out, clean.layers[1].head_out[2])


def test_bf16_weights_give_the_float32_head(fresh_cache):
    net = model(**LLAMA_LIKE)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    half = copy.deepcopy(net).to(torch.bfloat16)
    ids = ids_of(50)
    np.testing.assert_array_equal(half.trace(ids).head(1, 3).weights, net.trace(ids).head(1, 3).weights)


def test_a_head_costs_one_t_by_t_matrix_and_is_cached(fresh_cache):
    trace = model(**LLAMA_LIKE).trace(ids_of(256))
    head = trace.head(1, 2)
    assert trace.head(1, 2) is head                            # a second read is the cached one
    assert trace.head(-1, 2) is head                           # layers count from the end too
    assert trace_module.head_bytes(head) < 2.2 * 256 * 256 * 4   # scores and weights of one head only
    layer = trace.layers[0]
    assert trace.head(0, 1).weights.base is not None and np.shares_memory(trace.head(0, 1).weights, layer.weights)
    with pytest.raises(ValueError, match="head must be in"):
        trace.head(0, 4)
    with pytest.raises(IndexError, match="out of range"):
        trace.head(2, 0)
