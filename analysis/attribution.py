"""Which input tokens drove an output: gradient × input and integrated gradients.

What is attributed: the **token embedding rows** E_token[id] (one row of d_model numbers per
token). Positions and segments are added to them unchanged, and BERT's embedding LayerNorm
follows, exactly as in the model's own forward pass (`Transformer.run(..., token_embed=...)`).
A token's score is the sum over its d_model dimensions.

    gradient × input        s_i = Σ_d  ∂f/∂x_id · x_id             (the first-order Taylor term)
    integrated gradients    s_i = Σ_d  x_id · ∫₀¹ ∂f/∂x_id(α·x) dα  (Sundararajan et al. 2017)

Integrated gradients come from captum, the PyTorch attribution library. The baseline is all
token rows zero ("no token at all", positions kept). Completeness: the scores sum to
f(x) − f(baseline); captum's convergence delta is how far the numerical integral (n_steps
Gauss–Legendre points) misses that.

Targets f (one number per sentence), built from the model:
  similarity    cos(sentence embedding of A, fixed embedding of B): mean over every token of
                the last hidden states, then unit length (all-MiniLM-L6-v2's pooling)
  token state   h_p · u: the final hidden state of token p along its own intact direction
                u = h_p / ‖h_p‖ (the last block's output; equals ‖h_p‖ on the intact input)
  next token    log p(token | text): log-softmax of the last position's logits (decoders)

Nothing is stored on the shared model: gradients are taken with torch.autograd.grad with
respect to the token rows only (no parameter's .grad is written, no flag is changed), under
a local torch.enable_grad(); the model stays in eval mode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from core.model import computed, computed_dtype

from .budget import batch_size, gradient_bytes
from .sentence import mean_pooled

TARGETS = ("similarity", "token state", "next token")
METHODS = ("gradient × input", "integrated gradients")
BASELINE = "zero token rows (positions and segments kept)"


@dataclass(frozen=True)
class Target:
    """What f measures. kind: one of TARGETS; position: the token (token state); other: B's unit
    sentence embedding (similarity); token_id: the next token scored (next token)."""
    kind: str
    position: int = -1
    other: Optional[np.ndarray] = None
    token_id: int = -1

    def __post_init__(self) -> None:
        if self.kind not in TARGETS:
            raise ValueError(f"target must be one of {list(TARGETS)}, got {self.kind!r}.")


@dataclass(frozen=True)
class Attribution:
    scores: np.ndarray        # (T,) one number per token; positive = pushes f up
    method: str               # one of METHODS
    target: str               # a sentence saying what f is
    value: float              # f(input)
    baseline_value: float     # f(baseline); nan for gradient × input (it uses no baseline)
    delta: float              # integrated gradients: Σ scores − (f(x) − f(baseline)); nan otherwise
    n_steps: int = 0          # integrated gradients: points on the path from baseline to input
    baseline: str = BASELINE


def _check(net, ids: Sequence[int], target: Target) -> None:
    if not len(ids):
        raise ValueError("there are no tokens to attribute.")
    if target.kind == "next token" and not net.config.lm_head:
        raise ValueError("this model has no unembedding (no next-token logits): next-token "
                         "attribution needs a decoder such as GPT-2 or a model trained in the app.")
    if target.kind == "token state" and not -len(ids) <= target.position < len(ids):
        raise ValueError(f"token position must be in 0..{len(ids) - 1}, got {target.position}.")
    if target.kind == "similarity":
        if target.other is None or np.shape(target.other) != (net.config.d_model,):
            raise ValueError(f"similarity needs the other sentence's embedding ({net.config.d_model} numbers).")
    if target.kind == "next token" and not 0 <= target.token_id < net.config.vocab_size:
        raise ValueError(f"the next token must be an id in 0..{net.config.vocab_size - 1}, got {target.token_id}.")


def target_function(net, ids: Sequence[int], target: Target) -> Callable[[torch.Tensor], torch.Tensor]:
    """f: token rows (B, T, d_model) -> (B,) the target for each row of the batch."""
    _check(net, ids, target)
    ids_1 = torch.tensor([list(ids)], dtype=torch.long)                  # (1, T)
    dtype = computed_dtype(net.token_table)
    other = None if target.other is None else torch.as_tensor(np.asarray(target.other), dtype=dtype)
    direction = None
    if target.kind == "token state":
        with torch.no_grad():   # not inference_mode: the direction is used inside the graph later
            h = _last_hidden(net, ids_1, None)[0, target.position]    # (d_model,) intact state
        direction = h / h.norm().clamp_min(1e-12)

    def f(rows: torch.Tensor) -> torch.Tensor:
        batch_ids = ids_1.expand(rows.shape[0], -1)                      # (B, T)
        if target.kind == "next token":
            logits = net.run(batch_ids, token_embed=rows, last_only=True)[3]   # (B, 1, vocab)
            return torch.log_softmax(logits[:, -1], dim=-1)[:, target.token_id]
        hidden = _last_hidden(net, batch_ids, rows)                      # (B, T, d_model)
        if target.kind == "similarity":
            return mean_pooled(hidden) @ other                          # (B,) cosine: both unit length
        return hidden[:, target.position] @ direction                   # (B,)
    return f


def _last_hidden(net, ids: torch.Tensor, rows: Optional[torch.Tensor]) -> torch.Tensor:
    emb, records, _, _ = net.run(ids, token_embed=rows, last_only=True)   # no (B, T, vocab) logits
    return records[-1].resid_post if records else emb.embed        # (B, T, d_model)


def token_rows(net, ids: Sequence[int]) -> torch.Tensor:
    """(1, T, d_model) the token embedding rows of ids, detached (a copy, never the table)."""
    with torch.no_grad():
        return computed(net.token_table[torch.tensor([list(ids)])]).detach().clone()   # float32 for a bf16 table


def _describe(target: Target) -> str:
    return {"similarity": "cosine similarity of the two sentence embeddings",
            "token state": f"final hidden state of token {target.position} along its own direction",
            "next token": f"log-probability of next token id {target.token_id}"}[target.kind]


def grad_times_input(net, ids: Sequence[int], target: Target) -> Attribution:
    """Σ_d ∂f/∂x · x per token, one forward and one backward pass."""
    f = target_function(net, ids, target)
    x = token_rows(net, ids).requires_grad_(True)                       # (1, T, d_model)
    with torch.enable_grad():
        value = f(x)                                                     # (1,)
        (grad,) = torch.autograd.grad(value.sum(), x)                   # (1, T, d_model)
    scores = (grad * x).sum(dim=-1)[0].detach()                          # (T,)
    return Attribution(scores.to(torch.float64).numpy(), METHODS[0], _describe(target),
                       float(value.detach()[0]), float("nan"), float("nan"))


def integrated_gradients(net, ids: Sequence[int], target: Target, n_steps: int = 32,
                         batch: Optional[int] = None, budget: Optional[int] = None,
                         progress: Optional[Callable[[float], None]] = None) -> Attribution:
    """captum's IntegratedGradients from zero token rows to the real ones (n_steps Gauss–Legendre
    points, `batch` of them per forward pass). By default the batch is as many path points as fit
    the job's memory budget (analysis/budget.py; each point keeps its own autograd graph, about
    385 MB for MiniLM at 512 tokens, so one at a time there and all 32 at 16 tokens): the scores
    do not depend on it. progress(fraction) is called after every forward pass."""
    from captum.attr import IntegratedGradients

    if not 2 <= int(n_steps) <= 1000:
        raise ValueError(f"n_steps must be from 2 to 1000, got {n_steps}.")
    f = target_function(net, ids, target)
    x = token_rows(net, ids)                                             # (1, T, d_model)
    zero = torch.zeros_like(x)
    batch = batch or batch_size(gradient_bytes(net.config, len(ids)), budget, most=int(n_steps))
    passes = math.ceil(int(n_steps) / batch)
    done = [0]

    def counted(rows: torch.Tensor) -> torch.Tensor:
        value = f(rows)
        done[0] += 1
        if progress is not None:
            progress(min(1.0, done[0] / (passes + 1)))     # + 1: the end points for the delta
        return value

    with torch.enable_grad():
        attributions, delta = IntegratedGradients(counted).attribute(
            x, baselines=zero, n_steps=int(n_steps), internal_batch_size=batch,
            return_convergence_delta=True)                               # (1, T, d_model), (1,)
    with torch.no_grad():
        value, base_value = float(f(x)[0]), float(f(zero)[0])
    scores = attributions.detach().sum(dim=-1)[0].to(torch.float64).numpy()   # (T,)
    return Attribution(scores, METHODS[1], _describe(target), value, base_value,
                       float(delta.detach()[0]), int(n_steps))


def attribute(net, ids: Sequence[int], target: Target, method: str, n_steps: int = 32) -> Attribution:
    if method == METHODS[0]:
        return grad_times_input(net, ids, target)
    if method == METHODS[1]:
        return integrated_gradients(net, ids, target, n_steps)
    raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}.")


def rollout_share(rollout_last: np.ndarray, target: Target) -> np.ndarray:
    """(T, T) rollout through the last layer -> (T,) the share of each input token in what the
    target reads: the mean of all rows (mean pooling), row p (token state) or the last row (next token)."""
    rollout_last = np.asarray(rollout_last, dtype=np.float64)
    if target.kind == "similarity":
        return rollout_last.mean(axis=0)
    return rollout_last[target.position if target.kind == "token state" else -1]
