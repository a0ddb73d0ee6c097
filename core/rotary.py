"""Rotary position embeddings (RoPE, Su et al. 2021), as Llama, Mistral and Qwen2 use them.

Nothing is added to the token embedding. Instead, inside every attention layer, each
query and key vector is cut into pairs of dimensions and each pair is turned by an angle
that grows with the token's position:

    angle[pos, i] = pos * theta^(-2i / d_head)          i = 0 .. d_head/2 - 1

Turning q at position m and k at position n by their own angles makes q·k depend only on
m - n: the score sees *how far apart* two tokens are. Pair i is (dimension i,
dimension i + d_head/2) — the "rotate half" layout of the Hugging Face checkpoints, not
adjacent dimensions. Only plain RoPE: no scaling schemes (linear, NTK, YaRN, llama3).

Partial rotary (GPT-NeoX/Pythia, config.rotary_dims): only the first d_rot dimensions of a
head are turned, with d_rot in place of d_head above (pair i is then dimension i and
i + d_rot/2); the other d_head - d_rot dimensions pass unturned, so they score by content alone.
"""
from __future__ import annotations

from typing import Optional

import torch


def rotary_angles(positions: torch.Tensor, d_rot: int, theta: float) -> torch.Tensor:
    """(T,) positions -> (T, d_rot/2) angles in radians, computed in float32 like the reference.
    d_rot: the dimensions turned, d_head (or config.rotary_dims with partial rotary)."""
    # One frequency per pair: pair 0 turns by 1 radian per position, the last pair barely moves.
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_rot, 2, dtype=torch.float32) / d_rot))  # (d_rot/2,)
    return positions.to(torch.float32)[:, None] * inv_freq[None, :]                      # (T, d_rot/2)


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """x: (..., T, d_head); angles: (T, d_rot/2). Each pair (x1, x2) of the first d_rot dimensions
    becomes (x1·cos − x2·sin, x2·cos + x1·sin): a 2-D rotation, so lengths are unchanged; the
    dimensions after d_rot (partial rotary) pass as they are."""
    half = angles.shape[-1]
    x1, x2 = x[..., :half], x[..., half:2 * half]        # (..., T, d_rot/2) each
    cos, sin = angles.cos(), angles.sin()                # (T, d_rot/2)
    turned = (x1 * cos - x2 * sin, x2 * cos + x1 * sin)
    if 2 * half == x.shape[-1]:
        return torch.cat(turned, dim=-1)                 # (..., T, d_head)
    return torch.cat((*turned, x[..., 2 * half:]), dim=-1)  # (..., T, d_head): d_rot turned, the rest not


def apply_rotary(x: torch.Tensor, positions: torch.Tensor, theta: float,
                 dims: Optional[int] = None) -> torch.Tensor:
    """Rotate query or key vectors x: (..., T, d_head) by their positions (T,); returns the same shape.
    dims: how many leading dimensions turn (partial rotary); None turns all of them."""
    return rotate(x, rotary_angles(positions, x.shape[-1] if dims is None else dims, theta))
