"""Activation patching: which layer, position or head carries the difference between two runs?

Run a corrupted prompt ("The Eiffel Tower is in the city of" → " Rome" style), and write into it,
at one site, the activation the clean prompt had there. If the output moves back to the clean
answer, that site carries the information. `Transformer.trace(ids, patch_from=clean_trace,
sites=[...])` does one patched run (core.model.patches_for); here whole grids are measured,
batched: a patch at layer l changes nothing below l, so the corrupted run is reused up to l and
every variant of layer l (all positions, or all heads) runs from there, in chunks of as many
variants as fit the per-job memory budget (analysis/budget.py): each chunk keeps only its running
hidden state, one block's intermediates at a time. At 512 MiniLM tokens a variant needs about
55 MB, so the default 400 MB runs the 512 positions of a layer 7 at a time (before, each row kept
every later block's record). The chunks change no value: every row is computed on its own.

The metric, normalised so that the clean run scores 1 and the corrupted run 0:
- a language model: the logit difference answer − other at one position (the last by default);
- an encoder without a language-model head (MiniLM): the cosine of the mean-pooled sentence
  embedding to the clean run's (the clean run's cosine is 1).
TransformerLens's patching.py (get_act_patch_resid_pre, ..._attn_head_out_all_pos) is the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from core.attention import Patch, soft_cap
from core.model import Transformer, in_float32
from core.trace import Trace

from .budget import batch_size, block_inputs, chunks, final_hidden, forward_bytes, last_hidden
from .sentence import mean_pooled

KINDS = {"resid_pre": "residual stream (block input)", "attn_out": "attention output",
         "mlp_out": "MLP output", "head": "head output, all positions",
         "head_position": "head output at one position"}


@dataclass(frozen=True)
class Metric:
    """What one patched run is scored by: a function of the last block's output, and its value on
    the clean and on the corrupted run (the ends of the normalised scale)."""
    name: str
    score: Callable[[torch.Tensor], torch.Tensor]    # (B, T, d_model) -> (B,)
    clean: float
    corrupted: float

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """(values − corrupted) / (clean − corrupted): clean 1, corrupted 0; NaN when the two runs
        score the same (then there is no difference to explain)."""
        gap = self.clean - self.corrupted
        if abs(gap) < 1e-6:
            return np.full(np.shape(values), np.nan, dtype=np.float32)
        return ((np.asarray(values, dtype=np.float64) - self.corrupted) / gap).astype(np.float32)


@dataclass(frozen=True)
class PatchGrid:
    kind: str                   # a key of KINDS
    values: np.ndarray          # raw metric: (L, T) for resid_pre/attn_out/mlp_out, (L, H) head,
                                # (L, H, T) head_position
    metric: Metric

    @property
    def normalised(self) -> np.ndarray:
        return self.metric.normalise(self.values)


def _net(model) -> Transformer:
    return getattr(model, "net", model)         # a LoadedModel or a bare Transformer


@torch.inference_mode()
def make_metric(model, clean_ids: Sequence[int], corrupted_ids: Sequence[int], answer: Optional[int] = None,
                other: Optional[int] = None, position: int = -1) -> Metric:
    """The logit difference answer − other at `position` (a language model; other=None: the answer's
    logit alone), or the sentence-embedding cosine to the clean run (an encoder)."""
    net = _net(model)
    clean_hidden = final_hidden(net, torch.tensor([list(clean_ids)], dtype=torch.long))        # (1, T, d_model)
    if net.config.lm_head:
        if answer is None:
            raise ValueError("a language model needs an answer token: the logit difference is measured on it.")
        vocab = net.config.vocab_size
        for token in (answer, other):
            if token is not None and not 0 <= int(token) < vocab:
                raise ValueError(f"token id {token} is outside the vocabulary (0 to {vocab - 1}).")
        rows = net.unembedding_rows([answer] if other is None else [answer, other])          # (1 or 2, d_model)
        direction = rows[0] - (rows[1] if other is not None else 0)                          # (d_model,)

        def score(hidden: torch.Tensor) -> torch.Tensor:
            final = net.apply_final_norm(hidden[:, position])                                  # (B, d_model)
            cap = net.config.final_softcap
            if cap is None:
                return final @ direction                                                       # (B,)
            # Soft-capped logits (Gemma 2): each logit capped before the difference, as the model does.
            capped = soft_cap(final @ rows[0], cap)
            return capped - (soft_cap(final @ rows[1], cap) if other is not None else 0)
        name = "logit difference" if other is not None else "logit of the answer"
    else:
        target = mean_pooled(clean_hidden)                                                     # (1, d_model)

        def score(hidden: torch.Tensor) -> torch.Tensor:
            return (mean_pooled(hidden) * target).sum(-1)                                      # (B,)
        name = "cosine of the sentence embedding to the clean run's"
    corrupted_hidden = final_hidden(net, torch.tensor([list(corrupted_ids)], dtype=torch.long))
    return Metric(name, score, float(score(clean_hidden)[0]), float(score(corrupted_hidden)[0]))


def _variants(kind: str, n_heads: int, t: int) -> tuple[str, torch.Tensor]:
    """The site a grid patches and its masks, one row per variant: (rows, T) or (rows, H, T)."""
    if kind in ("resid_pre", "attn_out", "mlp_out"):
        return kind, torch.eye(t, dtype=torch.bool)                                   # (T, T): row p patches p
    if kind == "head":
        return "head_out", torch.eye(n_heads, dtype=torch.bool)[:, :, None].expand(n_heads, n_heads, t)  # (H, H, T)
    if kind == "head_position":
        one = torch.eye(n_heads * t, dtype=torch.bool)                                # (H*T, H*T)
        return "head_out", one.view(n_heads * t, n_heads, t)                          # (H*T, H, T): row h*T+p
    raise ValueError(f"unknown kind {kind!r}: one of {list(KINDS)}.")


def patch_chunk(config, t: int, budget: Optional[int] = None) -> int:
    """How many patched variants run in one pass at t tokens: as many as fit the per-job budget
    (each needs one block's intermediates and its hidden state, `forward_bytes`), at least one."""
    return batch_size(forward_bytes(config, t), budget)


@torch.inference_mode()
def patch_grid(model, clean: Trace, corrupted_ids: Sequence[int], kind: str, metric: Metric,
               progress: Optional[Callable[[float], None]] = None, budget: Optional[int] = None) -> PatchGrid:
    """Patch every site of one kind, one at a time, from the clean trace into the corrupted run.

    kind: "resid_pre", "attn_out", "mlp_out" (L × T), "head" (L × H, the head's output at every
    position) or "head_position" (L × H × T). progress(fraction) is called after each batch;
    budget: bytes one batch may take (default $ATTENTION_EXPLORER_JOB_MB)."""
    net = _net(model)
    config = net.config
    t = len(corrupted_ids)
    if len(clean) != t:
        raise ValueError(f"the clean text has {len(clean)} tokens and the corrupted one {t}: patching "
                         "copies activations position by position, so both need the same number of tokens.")
    site, masks = _variants(kind, config.n_heads, t)
    ids = torch.tensor([list(corrupted_ids)], dtype=torch.long)                        # (1, T)
    starts, _, allowed, positions = block_inputs(net, ids)          # each block's input on the corrupted run
    n_layers, rows = config.n_layers, masks.shape[0]
    parts = chunks(rows, patch_chunk(config, t, budget))
    values = np.zeros((n_layers, rows), dtype=np.float32)
    for layer in range(n_layers):
        # (1, T, d) or (1, H, T, d_head)
        clean_value = torch.from_numpy(np.array(getattr(clean.layers[layer], site)))[None]
        for step, part in enumerate(parts):
            chunk = masks[part.start:part.stop]
            start = starts[layer].expand(len(chunk), t, -1)                              # (rows, T, d_model)
            patch = Patch({site: chunk}, {site: clean_value})
            x = in_float32(net.blocks[layer], start, allowed, positions, patch=patch)[0]   # (rows, T, d_model)
            hidden = last_hidden(net, x, net.blocks[layer + 1:], allowed, positions)
            values[layer, part.start:part.stop] = metric.score(hidden).float().numpy()
            if progress is not None:
                progress((layer * len(parts) + step + 1) / (n_layers * len(parts)))
    if kind == "head_position":
        values = values.reshape(n_layers, config.n_heads, t)                           # (L, H, T)
    return PatchGrid(kind, values, metric)
