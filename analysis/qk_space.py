"""One head's queries and keys drawn in one space, as AttentionViz does (Yeh et al., 2023).

A head scores query i against key j with  score(i, j) = q_i · k_j / √d_head.  Queries and keys
are vectors of the same size, so they can share one picture, but as they come out of W_Q and W_K
the two clouds sit apart and at different scales. Two changes move them together and leave every
attention weight exactly as it was:

    translate the keys   k_j → k_j + c     adds q_i · c to every score in row i: the same number
                                            for every key of that row, and softmax ignores it
    rescale both         q → s·q, k → k/s   leaves every product q_i · k_j unchanged

AttentionViz moves the keys so the two clouds share a centre and rescales so they have the same
average length (here both hold exactly: see normalise), then projects queries and keys together.
Here the projection is PCA (analysis.pca), so near in the picture means near in the head's space.

The q and k are the ones the scores use: rotated by position in RoPE models, and for grouped-query
attention the key/value head that the query head reads.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import scaled_scores, softmax
from .pca import fit_pca
from core.trace import Trace


@dataclass(frozen=True)
class QKSpace:
    queries: np.ndarray      # (T, d_head)  s·q
    keys: np.ndarray         # (T, d_head)  (k + c)/s
    shift: np.ndarray        # (d_head,)  c, added to every key
    scale: float             # s: queries multiplied, keys divided
    query_xy: np.ndarray     # (T, 2)  queries in the joint projection
    key_xy: np.ndarray       # (T, 2)  keys in the same projection
    explained: np.ndarray    # (2,)  share of the joint cloud's variance on each axis


def head_qk(trace: Trace, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    """The (T, d_head) queries and keys that make this head's scores."""
    block = trace.layers[layer]
    return block.q[head], block.k[block.kv_head_of(head)]


def _length_balance(q: np.ndarray, centred_keys: np.ndarray) -> float:
    """u = s² > 0 with  u·mean‖q‖ = mean‖k − mean(k) + u·mean(q)‖  (equal average lengths once the
    keys sit on the queries' centre). The left side grows faster than the right (the mean of the
    lengths is at least the length of the mean), so there is one crossing: found by halving."""
    q_length = np.linalg.norm(q, axis=1).mean()
    q_mean = q.mean(axis=0)

    def gap(u: float) -> float:
        return u * q_length - np.linalg.norm(centred_keys + u * q_mean, axis=1).mean()

    if q_length == 0 or np.linalg.norm(centred_keys, axis=1).mean() == 0:
        return 1.0                                       # all queries zero, or all keys equal: nothing to balance
    high = 1.0
    while gap(high) < 0:
        high *= 4.0
        if high > 1e30:                                  # every query points the same way: no balance exists
            return 1.0
    low = 0.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if gap(middle) < 0 else (low, middle)
        if high - low <= 1e-15 * high:
            break
    return (low + high) / 2


def normalise(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """AttentionViz's normalisation: (s·q, (k + c)/s, c, s). Every softmax weight stays the same.

    Afterwards the queries' and keys' means are equal and so are their average lengths. Moving
    the keys first and scaling after would pull the centres apart again (s·mean(q) against
    mean(q)/s), so c and s are found together: c = s²·mean(q) − mean(k), s from _length_balance.
    """
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    u = _length_balance(q, k - k.mean(axis=0))           # s²
    shift = u * q.mean(axis=0) - k.mean(axis=0)          # (d_head,)  c
    scale = float(np.sqrt(u))
    return q * scale, (k + shift) / scale, shift, scale


def qk_space(q: np.ndarray, k: np.ndarray) -> QKSpace:
    """Normalise, then one PCA of queries and keys together: both are drawn in the same axes."""
    queries, keys, shift, scale = normalise(q, k)
    both = np.concatenate([queries, keys])               # (2T, d_head)  queries first, then keys
    pca = fit_pca(both, 2)
    xy = pca.project(both)                               # (2T, ≤2)
    if xy.shape[1] < 2:                                  # d_head of 1: a flat second axis
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    explained = np.pad(pca.explained_variance_ratio, (0, 2 - len(pca.explained_variance_ratio)))
    t = len(queries)
    return QKSpace(queries, keys, shift, scale, xy[:t], xy[t:], explained)


def weights_from(q: np.ndarray, k: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """softmax(q·kᵀ/√d_head) (T_q, T_k) with keys hidden where `allowed` is False (the causal
    mask: np.isfinite(trace scores)): what the head computes, redone from q and k by the kernels."""
    _, weights = softmax(scaled_scores(q, k, allowed))
    return weights


def strongest_links(weights: np.ndarray, count: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query, key, weight) arrays of the lines to draw, strongest first.

    count=None: each query's strongest key (one line per query). count=n: the n largest weights
    of the whole matrix, wherever they are.
    """
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"weights must be (T_q, T_k), got {weights.shape}")
    if weights.size == 0:
        empty = np.zeros(0, dtype=int)
        return empty, empty, np.zeros(0)
    if count is None:
        queries = np.arange(weights.shape[0])
        keys = weights.argmax(axis=1)
    else:
        flat = np.argsort(weights, axis=None, kind="stable")[::-1][:max(0, int(count))]
        queries, keys = np.unravel_index(flat, weights.shape)
    values = weights[queries, keys]
    order = np.argsort(-values, kind="stable")
    return queries[order], keys[order], values[order]


def query_links(weights: np.ndarray, query: int, count: int = 5,
                least: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query, key, weight) arrays of one query's `count` strongest keys, strongest first: those with more
    than `least` weight, and always the strongest (keys the causal mask hides have none)."""
    weights = np.asarray(weights)
    if weights.ndim != 2 or not 0 <= query < weights.shape[0]:
        raise ValueError(f"query must index a row of the (T_q, T_k) weights, got {query} for {weights.shape}")
    keys = np.argsort(-weights[query], kind="stable")[:max(0, int(count))]
    keys = keys[(weights[query, keys] > least) | (np.arange(len(keys)) == 0)]
    return np.full(len(keys), query), keys, weights[query, keys]
