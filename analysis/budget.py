"""How much memory an expensive computation needs, and how to cut its batches to a budget.

One click on a class server must not take the machine: knocking out all 12 heads of a layer
at once at 512 tokens kept 12 copies of every block's intermediates (5.4 GB). Each expensive
computation (head importance, integrated gradients, erasure scoring) now estimates the bytes
one sequence of its batch needs, and runs batches of as many sequences as fit the per-job
budget ($ATTENTION_EXPLORER_JOB_MB, 400 MB by default), down to one sequence. The results
do not depend on the batch size beyond float32 rounding: every row of a batch is computed on its own.

The estimates count float32 tensors (4 bytes per number), from the shapes in core/:
  one block, run without a gradient     its record (q, k, v, head_out: H·T·d_head each; scores
                                        and weights: H·T² each; eight (T, d_model) and two
                                        (T, d_ff) arrays) plus one more H·T² the softmax and
                                        the mask make on the way
  a whole forward kept for a gradient   every block's record, the autograd graph holds them all
"""
from __future__ import annotations

import math
import os
from typing import Optional

import torch

from core.config import TransformerConfig
from core.model import in_float32

FLOAT32 = 4
DEFAULT_JOB_MB = 400


def job_budget_bytes() -> int:
    """$ATTENTION_EXPLORER_JOB_MB in megabytes (default DEFAULT_JOB_MB), as bytes."""
    raw = os.environ.get("ATTENTION_EXPLORER_JOB_MB", "").strip()
    megabytes = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_JOB_MB
    return megabytes * 1_000_000


def block_bytes(config: TransformerConfig, t: int) -> int:
    """Peak bytes of one block's forward for one sequence of t tokens, every intermediate alive."""
    h, h_kv, dh, d = config.n_heads, config.kv_heads, config.d_head, config.d_model
    qkv = (2 * h + 2 * h_kv) * t * dh
    if config.positional == "rotary":
        qkv += (h + h_kv) * t * dh                            # q and k before the rotation too
    ffn = (3 if config.mlp == "gated" else 2) * t * config.d_ff
    return (qkv + 3 * h * t * t + 8 * t * d + ffn) * FLOAT32


def forward_bytes(config: TransformerConfig, t: int) -> int:
    """One sequence through the whole stack, keeping nothing but the running hidden state (see
    `last_hidden`): one block at a time, plus the (T, vocab) logits of a language model."""
    logits = t * config.vocab_size * FLOAT32 if config.lm_head else 0
    return block_bytes(config, t) + 2 * t * config.d_model * FLOAT32 + logits


def gradient_bytes(config: TransformerConfig, t: int) -> int:
    """One sequence through the whole stack with its autograd graph (every block's intermediates
    are kept for the backward pass), plus the backward pass's own block and the last position's
    logits (the gradients' targets read no other: Transformer.run(..., last_only=True))."""
    logits = 2 * config.vocab_size * FLOAT32 if config.lm_head else 0
    return (config.n_layers + 1) * block_bytes(config, t) + logits


def batch_size(per_item: int, budget: Optional[int] = None, most: int = 1 << 30) -> int:
    """How many sequences of `per_item` bytes fit the budget at once: at least 1, at most `most`."""
    budget = job_budget_bytes() if budget is None else int(budget)
    return max(1, min(int(most), budget // max(1, int(per_item))))


def chunks(n: int, size: int) -> list[range]:
    """0..n-1 in ceil(n / size) ranges of nearly equal length, none longer than `size`
    (12 heads at 8 a time: 6 + 6, not 8 + 4, so both passes weigh the same)."""
    if n <= 0:
        return []
    count = math.ceil(n / max(1, size))
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def last_hidden(net, x: torch.Tensor, blocks=None, allowed=None, positions=None, knock_out=None) -> torch.Tensor:
    """x (B, T, d_model) through `blocks` (all of net's by default), one at a time, keeping only
    the running hidden state: each block's record is dropped as soon as the next block starts.
    knock_out applies to the first block only (see analysis/ablation.py)."""
    for i, block in enumerate(net.blocks if blocks is None else blocks):
        # [0] at once: binding the record to a name would keep two blocks' worth alive.
        x = in_float32(block, x, allowed, positions, knock_out=knock_out if i == 0 else None)[0]   # (B, T, d_model)
    return x


def block_inputs(net, ids: torch.Tensor) -> tuple[list, torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """ids (1, T) through the stack one block at a time: (each block's input (1, T, d_model), the
    last block's output, the attention mask, the rotary positions). Jobs that rerun the stack from
    one layer on (knock-outs, patches) start there; nothing but the L + 1 hidden states is kept."""
    from core.model import build_allowed

    t = ids.shape[1]
    allowed = build_allowed(net.config, t, None)
    positions = torch.arange(t) if net.config.positional == "rotary" else None
    inputs, x = [], net.embed(ids).embed                                      # (1, T, d_model)
    for block in net.blocks:
        inputs.append(x)
        x = last_hidden(net, x, [block], allowed, positions)
    return inputs, x, allowed, positions


def final_hidden(net, ids: torch.Tensor) -> torch.Tensor:
    """ids (B, T) -> (B, T, d_model) the last block's output, as `net.run` computes it, but
    keeping one block's intermediates at a time instead of every block's (no gradient needed)."""
    from core.model import build_allowed

    t = ids.shape[1]
    positions = torch.arange(t) if net.config.positional == "rotary" else None
    return last_hidden(net, net.embed(ids).embed, None, build_allowed(net.config, t, None), positions)
