"""A sentence's meaning as one vector: the mean of its last hidden states, normalised.

This is how all-MiniLM-L6-v2 is used as a sentence encoder (sentence-transformers: mean
pooling over the tokens, then unit length): two sentences mean alike when their vectors
point alike, measured by the cosine.
"""
from __future__ import annotations

import numpy as np
import torch


def similarity_by_token(hidden_a: np.ndarray, unit_b: np.ndarray) -> np.ndarray:
    """(T, d) last hidden states of sentence A and B's unit sentence vector -> (T,) shares that
    add up exactly to cos(A, B): cos = (mean_i a_i) · b / ‖mean a‖ = Σ_i a_i · b / (T ‖mean a‖).
    A token with a large share pulls A's meaning towards B's."""
    hidden_a = np.asarray(hidden_a, dtype=np.float64)
    mean = hidden_a.mean(axis=0)
    return hidden_a @ np.asarray(unit_b, dtype=np.float64) / (len(hidden_a) * max(np.linalg.norm(mean), 1e-12))


def mean_pooled(hidden: torch.Tensor) -> torch.Tensor:
    """(B, T, d) last hidden states -> (B, d) unit vectors: mean over every token, then length 1."""
    pooled = hidden.mean(dim=1)                                              # (B, d)
    return pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)

