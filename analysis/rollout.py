"""Attention aggregated over heads, layers and tokens.

    mean over heads      A_l = mean_h W_{l,h}
    with the residual    Â_l = 0.5·A_l + 0.5·I, rows renormalised
    rollout              R_0 = Â_0,  R_l = Â_l · R_{l-1}       (Abnar & Zuidema, 2020)

Row i of R_l says how much of token i's vector after block l traces back to each
input token, if attention were the only way information moved and the skip
connection carried half of it. Products of row-stochastic matrices are
row-stochastic, so every row of a rollout sums to 1.

All functions take and return numpy arrays and never modify their input.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def mean_over_heads(weights: np.ndarray) -> np.ndarray:
    """(H, T, T) -> (T, T): the layer's heads averaged; rows still sum to 1."""
    return np.asarray(weights, dtype=np.float32).mean(axis=0)


def renormalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum, so it sums to 1 again (an all-zero row stays zero)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    sums = matrix.sum(axis=-1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def add_residual(weights: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """(…, T, T) -> (1 - residual)·W + residual·I, rows renormalised.

    The skip connection around attention keeps part of each token's own vector;
    Abnar & Zuidema model it as the identity with weight 0.5.
    """
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be between 0 and 1, got {residual}")
    weights = np.asarray(weights, dtype=np.float32)
    eye = np.eye(weights.shape[-1], dtype=np.float32)
    return renormalise_rows((1.0 - residual) * weights + residual * eye)


def rollout(attentions: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """(L, H, T, T) -> (L, T, T): the rollout after each layer (index l = through block l).

    Heads are averaged per layer first, as in the paper.
    """
    attentions = np.asarray(attentions, dtype=np.float32)
    if attentions.ndim != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"attentions must be (layers, heads, T, T), got {attentions.shape}")
    mixed = add_residual(attentions.mean(axis=1), residual)   # (L, T, T)
    out = np.empty_like(mixed)
    out[0] = mixed[0]
    for layer in range(1, len(mixed)):
        out[layer] = mixed[layer] @ out[layer - 1]           # (T, T): this layer after all before it
    return out


def summed_rows(matrix: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """(…, T_q, T_k) -> (…, T_k): the attention of several query tokens added up.

    With n rows chosen, the result sums to n (each row sums to 1); divide by n for the mean.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    rows = [int(r) for r in rows]
    if not rows:
        raise ValueError("choose at least one query token")
    if min(rows) < 0 or max(rows) >= matrix.shape[-2]:
        raise ValueError(f"query positions must be in 0..{matrix.shape[-2] - 1}, got {rows}")
    return matrix[..., rows, :].sum(axis=-2)


def hide_tokens(matrix: np.ndarray, hidden: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Drop the hidden tokens' rows and columns, then renormalise the rows.

    Returns (the smaller matrix, the positions kept). Used to hide [CLS]/[SEP], which
    often take most of the weight and wash out the rest of the picture.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    hidden = np.asarray(hidden, dtype=bool)
    if hidden.shape != (matrix.shape[-1],):
        raise ValueError(f"hidden must have one flag per token ({matrix.shape[-1]}), got {hidden.shape}")
    kept = np.flatnonzero(~hidden)
    if kept.size == 0:
        raise ValueError("every token would be hidden")
    smaller = matrix[..., kept, :][..., :, kept]                 # (…, kept, kept)
    return renormalise_rows(smaller), kept
