"""A sentence's meaning as one vector: the mean of its last hidden states, normalised.

This is how all-MiniLM-L6-v2 is used as a sentence encoder (sentence-transformers: mean
pooling over the tokens, then unit length): two sentences mean alike when their vectors
point alike, measured by the cosine.
"""
from __future__ import annotations

import torch


def mean_pooled(hidden: torch.Tensor) -> torch.Tensor:
    """(B, T, d) last hidden states -> (B, d) unit vectors: mean over every token, then length 1."""
    pooled = hidden.mean(dim=1)                                              # (B, d)
    return pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)

