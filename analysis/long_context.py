"""Statistics of a whole long text, per head: attention sinks, how far a head looks as the text goes on,
and the stretches of the text a head's attention lands on.

For one head with weights W (T×T, rows = queries, each row sums to 1):

    first-token share   mean_i W_i0                 the share of its attention on the first token (a sink)
    distance at i       Σ_k W_ik |i - k|            how many positions away query i's attention lands
    received[k]         mean_i W_ik                 the share of the head's attention key k gets

The first-token share and `received` come from the summary streamed during the forward pass
(core.trace.AttentionSummary), so no layer is recomputed for them; the distance at each position
needs one head's T×T weights (trace.head), read here in bands of rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

ROWS_AT_ONCE = 256   # query rows read per step: the |i - k| table of one band stays small


def first_token_share(received: np.ndarray) -> np.ndarray:
    """(L, H, T) each key's share of every head's attention -> (L, H) the share on the first token."""
    return np.asarray(received)[..., 0]


def even_first_share(t: int, causal: bool) -> float:
    """The first-token share of a head that spreads its attention evenly over the keys it can see:
    1/T for an encoder; for a causal model query i sees i + 1 keys, so the mean of 1/(i + 1)."""
    if causal:
        return float(np.mean(1.0 / np.arange(1, t + 1)))
    return 1.0 / t


def distance_by_query(weights: np.ndarray) -> np.ndarray:
    """(T, T) one head's weights -> (T,) Σ_k W_ik |i - k| for each query i, in positions."""
    weights = np.asarray(weights, dtype=np.float32)
    t = weights.shape[-1]
    keys = np.arange(t, dtype=np.float32)
    out = np.empty(t, dtype=np.float64)
    for start in range(0, t, ROWS_AT_ONCE):
        stop = min(t, start + ROWS_AT_ONCE)
        gap = np.abs(keys[start:stop, None] - keys[None, :])                    # (rows, T)
        out[start:stop] = (weights[start:stop] * gap).sum(axis=-1, dtype=np.float64)
    return out


def even_distance(t: int, causal: bool) -> np.ndarray:
    """(T,) the distance at each query of a head spreading its attention evenly over the keys it can see:
    i/2 for a causal model; for an encoder the mean of |i - k| over all k, (i(i+1) + (T-1-i)(T-i)) / 2T."""
    i = np.arange(t, dtype=np.float64)
    if causal:
        return i / 2
    return (i * (i + 1) + (t - 1 - i) * (t - i)) / (2 * t)


@dataclass(frozen=True)
class Stretch:
    """A run of consecutive key positions [start, stop) and the share of one head's attention it gets."""
    start: int
    stop: int
    share: float       # Σ of received over the stretch: the share of all the head's attention
    even: float        # the share the same stretch would get if every query spread its attention evenly


def stretch_width(t: int) -> int:
    """How many tokens a named stretch spans: about a sentence or two, fewer on a short text."""
    return int(min(32, max(1, t // 64)))


def even_received(t: int, causal: bool) -> np.ndarray:
    """(T,) each key's share under even attention: 1/T for an encoder; causal: mean over queries i ≥ k of
    1/(i + 1), so the first keys get more (every query sees them)."""
    if not causal:
        return np.full(t, 1.0 / t)
    tail = np.cumsum((1.0 / np.arange(1, t + 1))[::-1])[::-1]                 # (T,) Σ_{i ≥ k} 1/(i+1)
    return tail / t


def busiest_stretches(received: np.ndarray, width: int, top: int = 5, causal: bool = False,
                      skip: Sequence[int] = ()) -> list[Stretch]:
    """The `top` non-overlapping runs of `width` consecutive keys that get the largest share of one head's
    attention (received: (T,) mean over queries), best first. Positions in `skip` (the first token, the
    special tokens: sinks that would win every time) count as zero, so the stretches name the text itself."""
    received = np.asarray(received, dtype=np.float64).copy()
    t = received.shape[-1]
    width = max(1, min(width, t))
    even = even_received(t, causal)
    received[list(skip)] = 0.0
    sums = np.convolve(received, np.ones(width), mode="valid")                 # (T - width + 1,)
    even_sums = np.convolve(even, np.ones(width), mode="valid")
    free = np.ones(t, dtype=bool)                                             # keys no chosen stretch holds
    chosen: list[Stretch] = []
    for start in np.argsort(-sums, kind="stable"):
        if len(chosen) == top or sums[start] <= 0:
            break
        if free[start:start + width].all():
            free[start:start + width] = False
            chosen.append(Stretch(int(start), int(start + width), float(sums[start]), float(even_sums[start])))
    return chosen
