"""A quick estimate of every head's knock-out effect, from gradients instead of knock-outs.

The exact map (analysis/ablation.py) reruns the sentence once per head: 42 passes for MiniLM,
seconds to a minute at a few hundred tokens. This estimate takes one forward pass and a few
backward passes, whatever the number of heads (attribution patching, Nanda 2023):

  * knocking head h out changes its output by δ_h = replacement − head_out (−head_out when
    zeroed, its mean over positions minus head_out when "mean");
  * to first order, any number s the model computes then changes by ∂s/∂head_out_h · δ_h, and
    one backward pass gives ∂s/∂head_out for every head of every layer at once.

Both measures the exact map uses are at their minimum on the intact run (1 − cosine = 0, KL = 0),
so their gradient is zero and the first-order change of the measure itself says nothing. Their
second-order Taylor term does: for an output change Δ,
  1 − cos(m, m + Δ)  ≈ ½ ‖Δ⊥‖² / ‖m‖²    (Δ⊥: the part of Δ across the mean-pooled vector m)
  KL(p ‖ softmax(z + Δ)) ≈ ½ Δᵀ (diag p − p pᵀ) Δ   (z: the next-token logits)
Both are ½ E[(r · Δ)²] over random probes r with the right covariance (P⊥/‖m‖², or diag p − p pᵀ).
With PROBES probes, each one backward pass through the kept graph: estimate_h = ½ mean_j (g_jh · δ_h)²
where g_jh = ∂(r_j · output)/∂head_out_h. It is an estimate twice over: first order in the change
(a head whose loss sets off a large nonlinear effect is underrated), and a sample of PROBES
directions (a fixed seed, so the same text gives the same map). The page says so, and once the exact
map exists it reports how well the two rank the heads.

Memory: one forward kept for the gradient (analysis/budget.gradient_bytes: about 385 MB for
MiniLM at 512 tokens, within the default 400 MB job budget) and the heads' outputs.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from core.model import Transformer

PROBES = 16
SEED = 0


class _Probe:
    """Handed to a block where a KnockOut would go: it keeps the heads' output and adds a zero that
    autograd can differentiate against (so ∂s/∂head_out is ∂s/∂zero), changing no number."""

    def __init__(self) -> None:
        self.head_out: Optional[torch.Tensor] = None
        self.zero: Optional[torch.Tensor] = None

    def apply(self, head_out: torch.Tensor) -> torch.Tensor:               # (1, H, T, d_head)
        self.head_out = head_out.detach()
        self.zero = torch.zeros_like(head_out, requires_grad=True)
        return head_out + self.zero


def _probes(output: torch.Tensor, lm: bool, count: int) -> torch.Tensor:
    """(count, n) random directions whose covariance is the measure's second-order term (see above)."""
    gen = torch.Generator().manual_seed(SEED)
    z = torch.randn(count, output.shape[-1], generator=gen, dtype=torch.float64)      # (count, n)
    out = output.detach().double()
    if lm:        # covariance diag p − p pᵀ: r = √p ⊙ z − p (√p · z)
        p = torch.softmax(out, -1)
        root = p.sqrt()
        return root * z - p * (z @ root)[:, None]
    unit = out / out.norm().clamp_min(1e-12)
    across = z - (z @ unit)[:, None] * unit                                # P⊥ z
    return across / out.norm().clamp_min(1e-12)


def estimated_importance(net: Transformer, ids: Sequence[int], mode: str = "zero", probes: int = PROBES,
                         progress: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """(L, H): the estimated effect of knocking each head out alone, in the exact map's units
    (1 − cosine of the sentence vector, or KL of the next-token distribution in nats)."""
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}.")
    config = net.config
    ids_t = torch.tensor([list(ids)], dtype=torch.long)                    # (1, T)
    spies = {layer: _Probe() for layer in range(config.n_layers)}
    with torch.enable_grad():
        _, records, _, logits = net.run(ids_t, knock_outs=spies, last_only=True)   # logits (1, 1, vocab)
        if config.lm_head:
            output = logits[0, -1]                                         # (vocab,)
        else:
            output = records[-1].resid_post[0].mean(0)                     # (d_model,) before unit length
        directions = _probes(output, bool(config.lm_head), probes).to(output.dtype)
        zeros = [spies[layer].zero for layer in range(config.n_layers)]
        # What a knock-out changes in each head's output, the same for every probe: once per layer.
        outs = [spies[layer].head_out for layer in range(config.n_layers)]                 # (1, H, T, d_head)
        deltas = [(-out if mode == "zero" else out.mean(dim=2, keepdim=True) - out).detach() for out in outs]
        changes = np.zeros((probes, config.n_layers, config.n_heads))
        for j, r in enumerate(directions):
            grads = torch.autograd.grad(output @ r, zeros, retain_graph=j < probes - 1)
            for layer, (grad, delta) in enumerate(zip(grads, deltas)):    # (1, H, T, d_head) each
                changes[j, layer] = (grad * delta).sum(dim=(0, 2, 3)).double().numpy()   # (H,)
            if progress is not None:
                progress((j + 1) / probes)
    return (0.5 * (changes ** 2).mean(axis=0)).astype(np.float32)


def rank_agreement(estimate: np.ndarray, exact: np.ndarray) -> float:
    """Spearman's rank correlation of the two maps' cells (1 = the estimate orders the heads exactly
    as the knock-outs do)."""
    def ranks(a: np.ndarray) -> np.ndarray:
        flat = np.asarray(a, dtype=np.float64).ravel()
        order = flat.argsort(kind="stable")
        r = np.empty_like(flat)
        r[order] = np.arange(len(flat))
        for value in np.unique(flat):          # ties share their mean rank
            same = flat == value
            r[same] = r[same].mean()
        return r
    a, b = ranks(estimate), ranks(exact)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
