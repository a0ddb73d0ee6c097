"""What each head looks at, in numbers (after Clark et al., 2019, *What does BERT look at?*).

For one head with weights W (T×T, rows = queries, each row sums to 1), averaged over
the query tokens:

    entropy    -Σ_k W_ik log₂ W_ik         bits; 0 = looks at one token, log₂ T = looks everywhere
    distance   Σ_k W_ik |i - k|            how many positions away the attention lands
    cls, sep   Σ_{k is [CLS]/[SEP]} W_ik   share on the special tokens ("no-op" sinks)
    previous   W_i,i-1                     share on the token just before (queries 1..T-1)
    next       W_i,i+1                     share on the token just after (queries 0..T-2)
    self       W_ii                        share on itself

Every query row counts, the special tokens' rows too, as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

# name -> (short label, what it means), in the order tables show them.
STATISTICS: dict[str, tuple[str, str]] = {
    "entropy": ("entropy (bits)", "how spread out the attention is: 0 = one token, log₂ T = all equally"),
    "distance": ("mean distance", "average number of positions between a query and where it looks"),
    "cls": ("on [CLS]", "share of attention on the [CLS] token"),
    "sep": ("on [SEP]", "share of attention on [SEP] tokens (often a 'no-op' sink)"),
    "previous": ("on previous", "share of attention on the token just before"),
    "next": ("on next", "share of attention on the token just after"),
    "self": ("on itself", "share of attention on the query token itself"),
}


@dataclass(frozen=True)
class HeadStats:
    """Each field is (layers, heads): one number per head."""
    entropy: np.ndarray
    distance: np.ndarray
    cls: np.ndarray
    sep: np.ndarray
    previous: np.ndarray
    next: np.ndarray
    self: np.ndarray

    def get(self, name: str) -> np.ndarray:
        if name not in STATISTICS:
            raise KeyError(f"unknown statistic {name!r}; choose from {list(STATISTICS)}")
        return getattr(self, name)

    def rows(self) -> list[dict]:
        """One record per head (layer, head, then every statistic), for a table."""
        n_layers, n_heads = self.entropy.shape
        names = [f.name for f in fields(self)]
        return [{"layer": layer, "head": head, **{n: float(getattr(self, n)[layer, head]) for n in names}}
                for layer in range(n_layers) for head in range(n_heads)]


def _diagonal_mean(weights: np.ndarray, offset: int) -> np.ndarray:
    """(…, T, T) -> (…,): mean of the diagonal `offset` places right of the main one (0 where empty)."""
    diag = np.diagonal(weights, offset=offset, axis1=-2, axis2=-1)  # (…, T - |offset|)
    if diag.shape[-1] == 0:
        return np.zeros(weights.shape[:-2], dtype=np.float32)
    return diag.mean(axis=-1)


def head_statistics(attentions: np.ndarray, cls_mask: Sequence[bool],
                    sep_mask: Sequence[bool]) -> HeadStats:
    """attentions (L, H, T, T); cls_mask / sep_mask: which key positions are [CLS] / [SEP]."""
    w = np.asarray(attentions, dtype=np.float32)
    if w.ndim != 4 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"attentions must be (layers, heads, T, T), got {w.shape}")
    t = w.shape[-1]
    cls_mask = np.asarray(cls_mask, dtype=bool)
    sep_mask = np.asarray(sep_mask, dtype=bool)
    if cls_mask.shape != (t,) or sep_mask.shape != (t,):
        raise ValueError(f"cls_mask and sep_mask need one flag per token ({t})")
    # 0·log 0 counts as 0: the weights are clipped only inside the log.
    entropy = -(w * np.log2(np.clip(w, 1e-12, None))).sum(axis=-1).mean(axis=-1)
    position = np.arange(t, dtype=np.float32)
    gap = np.abs(position[:, None] - position[None, :])                       # (T, T)
    distance = (w * gap).sum(axis=-1).mean(axis=-1)
    by_query = w.mean(axis=-2)                                                # (L, H, T_k)
    return HeadStats(
        entropy=entropy.astype(np.float32),
        distance=distance.astype(np.float32),
        cls=by_query[..., cls_mask].sum(axis=-1),
        sep=by_query[..., sep_mask].sum(axis=-1),
        previous=_diagonal_mean(w, -1),
        next=_diagonal_mean(w, 1),
        self=_diagonal_mean(w, 0),
    )


def summary_statistics(summary, cls_mask: Sequence[bool], sep_mask: Sequence[bool]) -> HeadStats:
    """The same HeadStats from a trace's streamed summary (core.trace.AttentionSummary, measured during
    the forward pass), without the (L, H, T, T) attentions: what long inputs use."""
    received = summary.received                                               # (L, H, T_k)
    cls_mask = np.asarray(cls_mask, dtype=bool)
    sep_mask = np.asarray(sep_mask, dtype=bool)
    if cls_mask.shape != received.shape[-1:] or sep_mask.shape != received.shape[-1:]:
        raise ValueError(f"cls_mask and sep_mask need one flag per token ({received.shape[-1]})")
    return HeadStats(entropy=summary.entropy, distance=summary.distance,
                     cls=received[..., cls_mask].sum(axis=-1), sep=received[..., sep_mask].sum(axis=-1),
                     previous=summary.previous, next=summary.next, self=summary.self)


def special_masks(tokens: Sequence[str], special_mask: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """([CLS] positions, [SEP] positions) from a trace's tokens; other specials count as neither."""
    special = np.asarray(special_mask, dtype=bool)
    tokens = np.asarray(list(tokens), dtype=object)
    return special & (tokens == "[CLS]"), special & (tokens == "[SEP]")
