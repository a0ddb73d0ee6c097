"""The numpy kernels (analysis/kernels.py) compute what the torch core computes: the same inputs go
through core/ and through the kernel, and the results agree. So the step pages, the query–key space
and every other recomputation show the model's own mathematics, written once in torch and once here.

Inputs are float64 on both sides, so the two agree to float64 rounding (1e-12); the rotary angles
are float32 by design on both sides (as the reference computes them) and agree to one float32 step.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from analysis import kernels
from core import blocks
from core.attention import attend, causal_mask, soft_cap, window_mask
from core.config import TransformerConfig
from core.rotary import rotary_angles, rotate

EXACT = dict(rtol=1e-12, atol=1e-12)


def normal(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, shape)


def core_attend(q, k, v, allowed=None):
    """core/attention.py `attend` on numpy inputs (batch of one), back to numpy."""
    t = lambda x: torch.from_numpy(x)[None]                                  # noqa: E731  (1, ...)
    mask = None if allowed is None else torch.from_numpy(allowed)
    return [x[0].numpy() for x in attend(t(q), t(k), t(v), mask)]


@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (4, 2), (6, 1)])
@pytest.mark.parametrize("mask", ["none", "causal", "padding"])
def test_attend_equals_core_attend(heads, kv_heads, mask):
    """Scores, weights and head outputs, with grouped-query heads and every kind of mask."""
    t, d_head = 7, 8
    q = normal(heads, t, d_head, seed=1, scale=2.0)
    k, v = normal(kv_heads, t, d_head, seed=2, scale=2.0), normal(kv_heads, t, d_head, seed=3)
    allowed = {"none": None, "causal": causal_mask(t, t).numpy(),
               # the last two keys are padding; with the first query seeing nothing at all
               "padding": np.array([[False] * t] + [[True] * (t - 2) + [False, False]] * (t - 1))}[mask]
    ours = kernels.attend(q, k, v, allowed)
    theirs = core_attend(q, k, v, allowed)
    for name, a, b in zip(("scores", "weights", "head_out"), ours, theirs):
        assert a.shape == b.shape == ((heads, t, t) if name != "head_out" else (heads, t, d_head)), name
        np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b), err_msg=name)     # the same keys hidden
        np.testing.assert_allclose(np.where(np.isfinite(a), a, 0), np.where(np.isfinite(b), b, 0),
                                   err_msg=name, **EXACT)
    if mask == "padding":                                  # a query that may see nothing writes nothing
        assert not ours.weights[:, 0].any() and not ours.head_out[:, 0].any()


def test_one_query_row_and_a_single_head_need_no_head_axis():
    """head_steps and the query–key space call the kernels on (T, d_head) and (d_head,) arrays."""
    q, k, v = normal(5, 4, seed=4), normal(5, 4, seed=5), normal(5, 4, seed=6)
    whole = kernels.attend(q[None], k[None], v[None])
    np.testing.assert_allclose(kernels.attend(q, k, v).weights, whole.weights[0], **EXACT)
    row = kernels.attend(q[2], k, v)
    np.testing.assert_allclose(row.weights, whole.weights[0, 2], **EXACT)
    np.testing.assert_allclose(row.head_out, whole.head_out[0, 2], **EXACT)


def test_softmax_equals_torch_and_gives_its_shift():
    scores = normal(3, 6, seed=7, scale=30.0)             # large: a naive exp would overflow
    scores[1, 2:] = -np.inf
    exps, weights = kernels.softmax(scores)
    np.testing.assert_allclose(weights, torch.softmax(torch.from_numpy(scores), -1).numpy(), **EXACT)
    np.testing.assert_allclose(exps.max(axis=-1), 1.0)    # exp(s − max): the largest term is e^0
    assert (weights[1, 2:] == 0).all()
    _, hidden = kernels.softmax(np.full((2, 3), -np.inf))
    assert (hidden == 0).all()                             # nothing visible: zeros, never NaN


@pytest.mark.parametrize("d_head", [4, 8, 64, 80, 128])
@pytest.mark.parametrize("theta", [10_000.0, 500_000.0, 1_000_000.0])
def test_rope_angles_equal_core_to_one_float32_step(d_head, theta):
    positions = np.arange(2048)
    ours = kernels.rope_angles(positions, d_head, theta)
    theirs = rotary_angles(torch.from_numpy(positions), d_head, theta).numpy()
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape == (2048, d_head // 2)
    np.testing.assert_allclose(ours, theirs, rtol=2.5e-7, atol=0)


def test_rotate_equals_core_rotate():
    angles = rotary_angles(torch.arange(9), 16, 10_000.0)                     # (9, 8), the model's own
    x = normal(3, 9, 16, seed=8)                                              # (H, T, d_head)
    ours = kernels.rotate(x, angles.numpy())
    np.testing.assert_allclose(ours, rotate(torch.from_numpy(x), angles.double()).numpy(), **EXACT)
    half = 8                                                                  # a turn keeps every pair's length
    np.testing.assert_allclose(np.hypot(ours[..., :half], ours[..., half:]), np.hypot(x[..., :half], x[..., half:]))


def test_partial_rotary_turns_the_first_dimensions_and_passes_the_rest():
    """GPT-NeoX turns only the first rotary_dims of each head: angles for 8 of 16 dimensions."""
    angles = rotary_angles(torch.arange(5), 8, 10_000.0)                      # (5, 4)
    x = normal(2, 5, 16, seed=9)
    ours = kernels.rotate(x, angles.numpy())
    np.testing.assert_allclose(ours[..., :8], rotate(torch.from_numpy(x[..., :8]), angles.double()).numpy(), **EXACT)
    np.testing.assert_array_equal(ours[..., 8:], x[..., 8:])


def test_norms_equal_core_norms():
    d, eps = 12, 1e-5
    x = normal(4, d, seed=10, scale=3.0) + 2.0
    layer_norm = nn.LayerNorm(d, eps=eps).double()
    rms_norm = blocks.RMSNorm(d, eps).double()
    with torch.no_grad():
        for module in (layer_norm, rms_norm):
            for p in module.parameters():
                p.copy_(torch.from_numpy(normal(d, seed=11)))
        want_ln, want_rms = (m(torch.from_numpy(x)).numpy() for m in (layer_norm, rms_norm))
    w, b = layer_norm.weight.detach().numpy(), layer_norm.bias.detach().numpy()
    np.testing.assert_allclose(kernels.layer_norm(x, w, b, eps), want_ln, **EXACT)
    np.testing.assert_allclose(kernels.rms_norm(x, rms_norm.weight.detach().numpy(), eps), want_rms, **EXACT)


def test_every_core_activation_has_its_kernel():
    """A new activation in core/blocks.py fails here until it is written in numpy too."""
    assert set(kernels.ACTIVATIONS) == set(blocks.ACTIVATIONS)
    x = np.linspace(-12.0, 12.0, 2001)
    for name, torch_activation in blocks.ACTIVATIONS.items():
        np.testing.assert_allclose(kernels.ACTIVATIONS[name](x), torch_activation(torch.from_numpy(x)).numpy(),
                                   err_msg=name, **EXACT)


@pytest.mark.parametrize("activation", ["silu", "gelu"])
def test_swiglu_equals_core_gated_feed_forward(activation):
    config = TransformerConfig(vocab_size=10, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_positions=8,
                               mlp="gated", activation=activation, bias=False)
    torch.manual_seed(0)
    mlp = blocks.FeedForward(config).double()
    x = torch.from_numpy(normal(1, 5, 8, seed=12))
    with torch.no_grad():
        gate, hidden, _, up = mlp(x)
    np.testing.assert_allclose(kernels.swiglu(gate.numpy(), up.numpy(), activation), hidden.numpy(), **EXACT)


def test_allowed_keys_is_core_causal_mask():
    np.testing.assert_array_equal(kernels.allowed_keys(True, 6), causal_mask(6, 6).numpy())
    assert kernels.allowed_keys(False, 6).all()


@pytest.mark.parametrize("window", [1, 3, 7, 20])
def test_sliding_window_keys_equal_core(window):
    """The band of a sliding-window layer: the last `window` keys up to the query, as core masks them."""
    t = 9
    core_band = (causal_mask(t, t) & window_mask(t, t, window)).numpy()
    np.testing.assert_array_equal(kernels.allowed_keys(True, t, window), core_band)
    assert (core_band.sum(axis=1) == np.minimum(np.arange(1, t + 1), window)).all()


@pytest.mark.parametrize("scale, softcap", [(None, None), (24.0, None), (None, 2.0), (24.0, 2.0)])
def test_scaled_soft_capped_attention_equals_core(scale, softcap):
    """Gemma 2: scores ÷ √query_pre_attn_scalar, then cap · tanh(scores / cap), then mask and softmax."""
    t, d_head = 7, 8
    q, k, v = normal(4, t, d_head, seed=8, scale=3.0), normal(2, t, d_head, seed=9, scale=3.0), normal(2, t, d_head)
    allowed = (causal_mask(t, t) & window_mask(t, t, 3)).numpy()
    ours = kernels.attend(q, k, v, allowed, scale, softcap)
    mask = torch.from_numpy(allowed)
    theirs = [x[0].numpy() for x in attend(*(torch.from_numpy(x)[None] for x in (q, k, v)), mask,
                                            scale=scale, softcap=softcap)]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.where(np.isfinite(a), a, 0), np.where(np.isfinite(b), b, 0), **EXACT)
    if softcap is not None:
        assert np.abs(ours.scores[np.isfinite(ours.scores)]).max() < softcap
    x = normal(50, seed=10, scale=10.0)
    np.testing.assert_allclose(kernels.soft_cap(x, 5.0), soft_cap(torch.from_numpy(x), 5.0).numpy(), **EXACT)
