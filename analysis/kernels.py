"""The transformer's mathematics once more, in numpy: the small kernels every recomputation uses.

core/ computes the model in torch; the step pages, the query–key space and the other pages that
redo a stretch of the forward pass by hand use these functions, so each piece of mathematics is
written twice in all (here and in core/), not once per page. tests/test_kernels.py feeds the same
inputs through both and checks they agree.

    scaled_scores  q · kᵀ / √d_head (or ÷ √attn_scale, soft-capped; T5: unscaled,     core/attention.py attend
                   + its relative position bias), hidden keys −∞
    soft_cap       cap · tanh(x / cap)                        core/attention.py soft_cap
    allowed_keys   causal triangle, sliding-window band       core/attention.py causal_mask, window_mask
    softmax        exp(s − max) / Σ exp(s − max)             torch.softmax
    attend         scores, weights, head_out = weights · v    core/attention.py attend
    rope_angles    position · θ^(−2i/d)                       core/rotary.py rotary_angles
    rotate         pairs (i, i + d/2) turned by their angle   core/rotary.py rotate
    layer_norm     (x − mean) / √(var + eps) · γ + β          nn.LayerNorm
    rms_norm       x / √(mean(x²) + eps) · γ                  core/blocks.py RMSNorm
    gelu, gelu_tanh, relu, silu, swiglu                       core/blocks.py ACTIVATIONS, FeedForward

Everything is float64, so our own arithmetic adds no error: what differs from the trace is the
model's float32 rounding. Shapes follow core/: heads on axis −3, tokens on −2, features on −1.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import numpy as np
from scipy.special import erf


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# -- attention ------------------------------------------------------------------------------------
def allowed_keys(causal: bool, t: int, window: Optional[int] = None) -> np.ndarray:
    """(T, T) bool: True where query i may look at key j (everything, or j ≤ i when causal; with a
    sliding window also j > i − window: only the last `window` keys, itself included)."""
    full = np.ones((t, t), dtype=bool)
    allowed = np.tril(full) if causal else full
    return allowed if window is None else allowed & np.triu(full, 1 - window)


def soft_cap(x: np.ndarray, cap: Optional[float]) -> np.ndarray:
    """cap · tanh(x / cap) (Gemma 2's soft-capping): close to x while |x| ≪ cap, never past ±cap."""
    return _f64(x) if cap is None else np.tanh(_f64(x) / cap) * cap


def shared_kv(k: np.ndarray, n_heads: int) -> np.ndarray:
    """k or v (..., H_kv, T, d_head) -> (..., H, T, d_head): grouped-query attention, query head h
    reads key/value head h // (H / H_kv), as core's attend does. Unchanged when H_kv = H."""
    h_kv = k.shape[-3]
    return k if h_kv == n_heads else np.repeat(k, n_heads // h_kv, axis=-3)   # (..., H, T, d_head)


def scaled_scores(q: np.ndarray, k: np.ndarray, allowed: Optional[np.ndarray] = None,
                  scale: Optional[float] = None, softcap: Optional[float] = None, *, scaled: bool = True,
                  bias: Optional[np.ndarray] = None) -> np.ndarray:
    """q (..., [H,] T_q, d_head), k (..., [H_kv,] T_k, d_head) -> (..., [H,] T_q, T_k) q·kᵀ/√d_head
    (÷ √scale when given; not divided at all when scaled is False, as T5), plus `bias` (broadcastable:
    T5's relative positions), soft-capped when softcap is given, −∞ where `allowed` (broadcastable) is
    False. The same order as core's attend: scale, bias, cap, mask."""
    q, k = _f64(q), _f64(k)
    if q.ndim >= 3 and k.ndim >= 3:
        k = shared_kv(k, q.shape[-3])
    scores = q @ np.swapaxes(k, -1, -2)                                                     # (..., T_q, T_k)
    if scaled:
        scores = scores / math.sqrt(q.shape[-1] if scale is None else scale)
    if bias is not None:
        scores = scores + _f64(bias)
    scores = soft_cap(scores, softcap)
    return scores if allowed is None else np.where(allowed, scores, -np.inf)


def softmax(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over the last axis. Returns (exp(s − max), weights): shifting by the max changes nothing
    mathematically and keeps exp from overflowing. −∞ scores get exactly 0; a row that may see
    nothing gets zeros (core's attend turns the NaN into 0 the same way)."""
    scores = _f64(scores)
    finite = np.isfinite(scores)
    top = np.max(np.where(finite, scores, -np.inf), axis=-1, keepdims=True)
    exps = np.where(finite, np.exp(np.where(finite, scores - np.where(np.isfinite(top), top, 0.0), 0.0)), 0.0)
    total = exps.sum(axis=-1, keepdims=True)
    return exps, np.divide(exps, total, out=np.zeros_like(exps), where=total > 0)


class Attention(NamedTuple):
    scores: np.ndarray     # (..., H, T_q, T_k)  q·kᵀ/√d_head, −∞ where hidden
    weights: np.ndarray    # (..., H, T_q, T_k)  each row sums to 1
    head_out: np.ndarray   # (..., H, T_q, d_head)  weights · v


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, allowed: Optional[np.ndarray] = None,
           scale: Optional[float] = None, softcap: Optional[float] = None, *, scaled: bool = True,
           bias: Optional[np.ndarray] = None) -> Attention:
    """Scaled dot-product attention, as core/attention.py `attend`: q (..., H, T_q, d_head);
    k, v (..., H_kv, T_k, d_head) with H_kv dividing H; allowed broadcastable to the scores;
    scale, softcap: Gemma 2's divisor √scale and soft-capping; scaled, bias: T5's undivided scores
    and its relative position bias (see scaled_scores)."""
    scores = scaled_scores(q, k, allowed, scale, softcap, scaled=scaled, bias=bias)
    _, weights = softmax(scores)
    v = _f64(v)
    if v.ndim >= 3 and scores.ndim >= 3:
        v = shared_kv(v, scores.shape[-3])                               # (..., H, T_k, d_head)
    return Attention(scores, weights, weights @ v)


# -- rotary positions -----------------------------------------------------------------------------
def rope_angles(positions: np.ndarray, dims: int, theta: float, factor: float = 1.0) -> np.ndarray:
    """(T,) positions -> (T, dims/2) angles, in float32 like core/rotary.py and the reference
    (the frequencies rounded to float32 from a float64 power: equal to torch's to one float32 step).
    dims is d_head, or the rotated part of it in partial-rotary models; factor: linear scaling, every
    frequency divided by it (Gemma 3's global layers)."""
    exponents = np.arange(0, dims, 2, dtype=np.float32) / np.float32(dims)             # (dims/2,)
    powers = (np.float64(np.float32(theta)) ** exponents.astype(np.float64)).astype(np.float32)
    inv_freq = np.float32(1.0) / powers                                                # (dims/2,)
    if factor != 1.0:
        inv_freq = inv_freq / np.float32(factor)
    return np.asarray(positions, dtype=np.float32)[:, None] * inv_freq[None, :]        # (T, dims/2)


def rotate(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """x (..., T, d_head), angles (T, n): pair (i, i + n) turned by angles[t, i] (the "rotate half"
    layout). With 2n < d_head (partial rotary) the dimensions past 2n pass through unturned."""
    x, angles = _f64(x), _f64(angles)
    half = angles.shape[-1]
    x1, x2, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]   # (..., T, n), (..., T, n), rest
    cos, sin = np.cos(angles), np.sin(angles)                                 # (T, n)
    return np.concatenate((x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest), axis=-1)   # (..., T, d_head)


# -- norms ----------------------------------------------------------------------------------------
def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """(x − mean) / √(var + eps) · γ + β over the last axis (BERT, GPT-2)."""
    x = _f64(x)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * _f64(weight) + _f64(bias)


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """x / √(mean(x²) + eps) · γ: no mean subtracted, no β (Llama, Mistral, Qwen2)."""
    x = _f64(x)
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * _f64(weight)


# -- activations ----------------------------------------------------------------------------------
def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU x·Φ(x), Φ the normal distribution's CDF written with erf (BERT)."""
    x = _f64(x)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GPT-2's GELU ("gelu_new"): Φ approximated by tanh."""
    x = _f64(x)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0) (the original paper)."""
    return np.maximum(_f64(x), 0.0)


def silu(x: np.ndarray) -> np.ndarray:
    """x·σ(x) = x / (1 + e^−x), the gate of Llama's SwiGLU."""
    x = _f64(x)
    return x / (1.0 + np.exp(-x))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu": gelu, "gelu_tanh": gelu_tanh, "relu": relu, "silu": silu}


def swiglu(gate: np.ndarray, up: np.ndarray, activation: str = "silu") -> np.ndarray:
    """act(x·W_gate) · (x·W_up), elementwise: the gate decides how much of each hidden unit passes.
    With SiLU this is SwiGLU (Llama); other activations give the other gated feed-forwards."""
    return ACTIVATIONS[activation](gate) * _f64(up)
