"""Multi-head attention, written out step by step.

    scores  = q · kᵀ / √d_head          (masked positions set to -inf)
    weights = softmax(scores)            each query row sums to 1
    out     = weights · v                per head, then heads concatenated and W_O

Never a fused kernel: the weights are the thing this app exists to show.
Tensors carry a leading batch dimension B; a trace uses B = 1.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from .config import TransformerConfig


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, T, d_model) -> (B, H, T, d_head): each head gets its own slice of dimensions."""
    b, t, d = x.shape
    return x.view(b, t, n_heads, d // n_heads).transpose(1, 2)  # (B, H, T, d_head)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d_head) -> (B, T, d_model): the heads' outputs side by side."""
    b, h, t, dh = x.shape
    return x.transpose(1, 2).reshape(b, t, h * dh)  # (B, T, H*d_head)


def causal_mask(t_q: int, t_k: int, device=None) -> torch.Tensor:
    """(T_q, T_k) bool, True where a query may look: itself and the past."""
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


class AttentionResult(NamedTuple):
    q: torch.Tensor          # (B, H, T_q, d_head)
    k: torch.Tensor          # (B, H, T_k, d_head)
    v: torch.Tensor          # (B, H, T_k, d_head)
    scores: torch.Tensor     # (B, H, T_q, T_k)
    weights: torch.Tensor    # (B, H, T_q, T_k)
    head_out: torch.Tensor   # (B, H, T_q, d_head)
    attn_out: torch.Tensor   # (B, T_q, d_model)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
           allowed: Optional[torch.Tensor] = None):
    """Scaled dot-product attention on (B, H, T, d_head) tensors.

    allowed: bool, broadcastable to (B, H, T_q, T_k); False hides a key from a query.
    Returns (scores, weights, head_out).
    """
    d_head = q.shape[-1]
    # In place on the fresh product: at 512 tokens the scores are 12 × 512 × 512 floats per
    # layer, and a second copy for the division costs more than the softmax.
    scores = torch.matmul(q, k.transpose(-2, -1)).div_(math.sqrt(d_head))  # (B, H, T_q, T_k)
    if allowed is not None:
        scores = scores.masked_fill_(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if allowed is not None:
        # A query that may see nothing (all keys padding) would give NaN; give it zeros.
        weights = torch.nan_to_num(weights, nan=0.0)
    head_out = torch.matmul(weights, v)  # (B, H, T_q, d_head)
    return scores, weights, head_out


class MultiHeadAttention(nn.Module):
    """W_Q, W_K, W_V, the explicit attention above, W_O."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_heads = config.n_heads
        d = config.d_model
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.output = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, source: Optional[torch.Tensor] = None,
                allowed: Optional[torch.Tensor] = None) -> AttentionResult:
        """x: (B, T_q, d_model) queries; source: (B, T_k, d_model) keys/values (x itself if None)."""
        source = x if source is None else source
        q = split_heads(self.query(x), self.n_heads)       # (B, H, T_q, d_head)
        k = split_heads(self.key(source), self.n_heads)    # (B, H, T_k, d_head)
        v = split_heads(self.value(source), self.n_heads)  # (B, H, T_k, d_head)
        scores, weights, head_out = attend(q, k, v, allowed)
        attn_out = self.output(merge_heads(head_out))      # (B, T_q, d_model)
        return AttentionResult(q, k, v, scores, weights, head_out, attn_out)
