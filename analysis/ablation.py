"""Knock heads out and measure what changes: is this head important for this sentence?

`Transformer.trace(ids, ablate=[(layer, head)], mode=...)` runs a sentence with heads
knocked out (core.attention.KnockOut). Here, `head_importance` knocks out every head one
at a time and measures how far the output moves, as a layers × heads map. It is batched:
knocking out a head in layer l changes nothing below l, so the intact run is reused up
to l and the H variants of layer l run together from there — for MiniLM's 72 heads that
is 42 sentence-passes instead of 72, in a few large matrix products.

Together, but within the job's memory budget (analysis/budget.py): the variants of a layer run
in chunks of as many as fit, and each pass keeps only its running hidden state, never every
block's record. At 512 MiniLM tokens one variant needs about 55 MB, so the default 400 MB budget
runs the 12 heads of a layer as 6 + 6 (the process grew by 0.3 GB, where all 12 at once with
every record took 5.4 GB); at 128 tokens all 12 go at once, as before. The chunks change the
map by float32 rounding only: each batch row is computed on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from core.attention import KnockOut
from core.model import Transformer

from .budget import batch_size, block_inputs, chunks, forward_bytes, last_hidden
from .sentence import mean_pooled


@dataclass(frozen=True)
class Outputs:
    hidden: torch.Tensor                  # (B, T, d_model)  the last block's output
    next_logits: Optional[torch.Tensor]   # (B, vocab)  scores for the token after the last one (LMs)


def sentence_shift(intact: Outputs, ablated: Outputs) -> torch.Tensor:
    """1 − cosine of the mean-pooled sentence vectors (a sentence encoder's output)."""
    return 1 - (mean_pooled(intact.hidden) * mean_pooled(ablated.hidden)).sum(-1)     # (B,)


def next_token_shift(intact: Outputs, ablated: Outputs) -> torch.Tensor:
    """KL(intact ‖ ablated) of the next-token distribution, in nats (a language model's output)."""
    p = torch.log_softmax(intact.next_logits.double(), -1)
    q = torch.log_softmax(ablated.next_logits.double(), -1)
    return (p.exp() * (p - q)).sum(-1).float()                                       # (B,)


def _outputs(net: Transformer, hidden: torch.Tensor) -> Outputs:
    if not net.config.lm_head:
        return Outputs(hidden, None)
    return Outputs(hidden, net.next_logits(hidden[:, -1]))                               # (B, vocab)


def importance_chunk(config, t: int, budget: Optional[int] = None) -> int:
    """How many heads of one layer `head_importance` knocks out in one pass at t tokens."""
    return batch_size(forward_bytes(config, t), budget, most=config.n_heads)


@torch.inference_mode()
def head_importance(net: Transformer, ids: Sequence[int], mode: str = "zero",
                    distance: Optional[Callable[[Outputs, Outputs], torch.Tensor]] = None,
                    budget: Optional[int] = None,
                    progress: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """(L, H): how far the output moves when each head alone is knocked out.

    distance defaults to next_token_shift for a language model and sentence_shift otherwise.
    budget: bytes one pass may take (default $ATTENTION_EXPLORER_JOB_MB); progress(fraction)
    is called after every pass (a page's progress bar; raising there cancels the job).
    """
    config = net.config
    distance = distance or (next_token_shift if config.lm_head else sentence_shift)
    ids_t = torch.tensor([list(ids)], dtype=torch.long)                              # (1, T)
    t, h = ids_t.shape[1], config.n_heads
    starts, x, allowed, positions = block_inputs(net, ids_t)     # each block's input on the intact run
    intact = _outputs(net, x)
    parts = chunks(h, importance_chunk(config, t, budget))
    effects = np.zeros((config.n_layers, h), dtype=np.float32)
    for layer in range(config.n_layers):
        for step, part in enumerate(parts):
            one_each = KnockOut(torch.eye(h, dtype=torch.bool)[part.start:part.stop], mode)   # row i: head i out
            start = starts[layer].expand(len(part), t, -1)                          # (chunk, T, d_model)
            hidden = last_hidden(net, start, net.blocks[layer:], allowed, positions, one_each)
            effects[layer, part.start:part.stop] = distance(intact, _outputs(net, hidden)).numpy()
            if progress is not None:
                progress((layer * len(parts) + step + 1) / (config.n_layers * len(parts)))
    return effects
