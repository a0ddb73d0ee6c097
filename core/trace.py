"""The record a forward pass returns for one sequence: the residual stream, and the rest on demand.

A Trace stores what cannot be recomputed cheaply: the tokens, the embeddings, the residual
stream at every layer boundary and in every block's middle, the final norm's output, and for
a language model the top-k next tokens of each position with their log-probabilities and the
log-sum-exp. Everything inside a layer (q, k, v, scores, weights, head outputs, the feed-forward's
activations) is a deterministic function of that layer's input, so `trace.layers[l]` runs block
l again from its stored input, by the same code as the forward pass, when a page asks for it.
Memory then grows with layers · T · d_model, not layers · heads · T²; a few recent layers are
kept in a small cache bounded in bytes (LAYER_CACHE_MB, shared by every trace of the process).

What needs every head at once (head statistics, the all-heads thumbnails, the mean attention
per layer that rollout reads) is streamed: measured layer by layer while the forward pass has
the attention in hand, and only the small result is kept (`trace.summary`).

Arrays are numpy, float32, read-only, with the batch dimension removed. A Trace is built fresh
by each call and never stored on a module, so one cached model can serve many browser sessions
without leaking one person's sentence into another's page.
"""
from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Protocol, Sequence

import numpy as np
import torch

# -- what a block hands back while it runs (tensors, batch kept) --------------------------------
@dataclass(frozen=True)
class AttentionRecord:
    """One attention sublayer's intermediates as torch tensors, batch dimension B kept."""
    attn_in: torch.Tensor                     # (B, T_q, d_model)  what W_Q reads
    q: torch.Tensor                           # (B, H, T_q, d_head)  rotated by position with RoPE
    k: torch.Tensor                           # (B, H_kv, T_k, d_head)
    v: torch.Tensor                           # (B, H_kv, T_k, d_head)
    scores: torch.Tensor                      # (B, H, T_q, T_k)
    weights: torch.Tensor                     # (B, H, T_q, T_k)
    head_out: torch.Tensor                    # (B, H, T_q, d_head)
    attn_out: torch.Tensor                    # (B, T_q, d_model)
    q_raw: Optional[torch.Tensor] = None      # (B, H, T_q, d_head)  RoPE: before the rotation
    k_raw: Optional[torch.Tensor] = None      # (B, H_kv, T_k, d_head)  RoPE: before the rotation


@dataclass(frozen=True)
class BlockRecord:
    """One block's run: its input, its attention, its feed-forward and its output (tensors, batch kept).
    `LayerTrace` below is the same record for one sequence as read-only numpy arrays."""
    resid_pre: torch.Tensor                   # (B, T, d_model)
    attention: AttentionRecord                # self-attention
    resid_mid: torch.Tensor                   # (B, T, d_model)
    mlp_in: torch.Tensor                      # (B, T, d_model)
    mlp_pre: torch.Tensor                     # (B, T, d_ff)
    mlp_hidden: torch.Tensor                  # (B, T, d_ff)
    mlp_out: torch.Tensor                     # (B, T, d_model)
    resid_post: torch.Tensor                  # (B, T, d_model)
    mlp_up: Optional[torch.Tensor] = None     # (B, T, d_ff)  gated feed-forward only
    cross: Optional[AttentionRecord] = None   # decoder blocks: attention to the encoder's output


@dataclass(frozen=True)
class AttentionTrace:
    """One multi-head attention sublayer (self- or cross-attention)."""
    attn_in: np.ndarray      # (T, d_model)  the X that W_Q, W_K, W_V read
    q: np.ndarray            # (H, T_q, d_head)
    k: np.ndarray            # (H, T_k, d_head)
    v: np.ndarray            # (H, T_k, d_head)
    scores: np.ndarray       # (H, T_q, T_k)  q·kᵀ/√d_head with the mask applied (-inf where hidden)
    weights: np.ndarray      # (H, T_q, T_k)  softmax of scores; each row sums to 1
    head_out: np.ndarray     # (H, T_q, d_head)  weights·v
    attn_out: np.ndarray     # (T_q, d_model)  heads concatenated, then W_O

    @property
    def heads_concat(self) -> np.ndarray:
        """The heads' outputs side by side, (T_q, H * d_head): what W_O reads."""
        h, t, dh = self.head_out.shape
        return self.head_out.transpose(1, 0, 2).reshape(t, h * dh)  # (T, H*d_head)


@dataclass(frozen=True)
class LayerTrace:
    """One transformer block. Self-attention fields sit at the top level.

    Grouped-query attention (Llama-style, n_kv_heads < n_heads): q, scores, weights and
    head_out have all H query heads, but k and v have only H_kv heads; query head h reads
    key/value head `kv_head_of(h)`. Without it H_kv == H and kv_head_of(h) == h.
    """
    resid_pre: np.ndarray    # (T, d_model)  the block's input
    attn_in: np.ndarray      # (T, d_model)  resid_pre (post-LN) or LN1(resid_pre) (pre-LN)
    q: np.ndarray            # (H, T, d_head)  rotated by position in RoPE models (what the scores use)
    k: np.ndarray            # (H_kv, T, d_head)  one per key/value head; rotated in RoPE models
    v: np.ndarray            # (H_kv, T, d_head)
    scores: np.ndarray       # (H, T, T)
    weights: np.ndarray      # (H, T, T)
    head_out: np.ndarray     # (H, T, d_head)
    attn_out: np.ndarray     # (T, d_model)
    resid_mid: np.ndarray    # (T, d_model)  LN(resid_pre + attn_out) post-LN; resid_pre + attn_out pre-LN
    mlp_in: np.ndarray       # (T, d_model)  what the feed-forward reads
    mlp_pre: np.ndarray      # (T, d_ff)  first linear, before the activation (the gate, if gated)
    mlp_hidden: np.ndarray   # (T, d_ff)  after the activation (gated: act(gate) * up), what W_down reads
    mlp_out: np.ndarray      # (T, d_model)
    resid_post: np.ndarray   # (T, d_model)  the block's output, the next block's resid_pre
    cross: Optional[AttentionTrace] = None   # decoder blocks: attention to the encoder's output
    q_raw: Optional[np.ndarray] = None       # (H, T, d_head)  RoPE models: q before the rotation
    k_raw: Optional[np.ndarray] = None       # (H_kv, T, d_head)  RoPE models: k before the rotation
    mlp_up: Optional[np.ndarray] = None      # (T, d_ff)  gated feed-forward: up(x), multiplied by the gate

    def kv_head_of(self, head: int) -> int:
        """The key/value head (index into k and v) that query head `head` reads."""
        n_heads, n_kv = self.q.shape[0], self.k.shape[0]
        if not 0 <= head < n_heads:
            raise ValueError(f"head must be in [0, {n_heads}), got {head}.")
        return head // (n_heads // n_kv)

    @property
    def self_attention(self) -> AttentionTrace:
        return AttentionTrace(self.attn_in, self.q, self.k, self.v, self.scores,
                              self.weights, self.head_out, self.attn_out)

    @property
    def heads_concat(self) -> np.ndarray:
        return self.self_attention.heads_concat



@dataclass(frozen=True)
class HeadTrace:
    """One query head of one layer's self-attention: `trace.head(layer, head)`, the same numbers as
    `trace.layers[layer]` holds for that head, computed without the other heads."""
    layer: int
    head: int
    kv_head: int             # the key/value head it reads (== head without grouped-query attention)
    q: np.ndarray            # (T, d_head)  rotated by position in RoPE models
    k: np.ndarray            # (T, d_head)  key/value head kv_head
    v: np.ndarray            # (T, d_head)
    scores: np.ndarray       # (T, T)  -inf where the mask hides a key
    weights: np.ndarray      # (T, T)  each row sums to 1
    head_out: np.ndarray     # (T, d_head)  weights·v (after a knock-out or patch of this head)
    q_raw: Optional[np.ndarray] = None       # (T, d_head)  RoPE models: before the rotation
    k_raw: Optional[np.ndarray] = None       # (T, d_head)

    @staticmethod
    def of_layer(layer: LayerTrace, index: int, head: int) -> "HeadTrace":
        """The head's slice of an already recomputed layer (views, no copy)."""
        kv = layer.kv_head_of(head)
        raw = (None, None) if layer.q_raw is None else (layer.q_raw[head], layer.k_raw[kv])
        return HeadTrace(index, head, kv, layer.q[head], layer.k[kv], layer.v[kv], layer.scores[head],
                         layer.weights[head], layer.head_out[head], *raw)


def head_bytes(head: HeadTrace) -> int:
    return sum(v.nbytes for v in vars(head).values() if isinstance(v, np.ndarray))


# -- streamed while the forward pass runs --------------------------------------------------------
THUMB_SIDE = 64        # the all-heads thumbnails are block-pooled down to this many rows and columns
MEAN_SIDE = 512        # the per-layer mean attention is exact up to this many tokens, pooled beyond
ROWS_AT_ONCE = 2**18   # weights read per step while summarising a layer: 1 MB bands, in the L2 cache,
MIN_ROWS = 32          # but never fewer query rows than this (at 4,096 tokens, fewer bands of more bytes)
STACK_LIMIT_BYTES = 2 * 2**30   # trace.attentions (every layer stacked) is refused beyond this
TINY = torch.finfo(torch.float32).tiny   # the smallest normal float32


@dataclass(frozen=True)
class AttentionSummary:
    """What every head did, measured during the forward pass (after Clark et al., 2019).

    For head weights W (T×T, rows = queries), averaged over the query rows:
      entropy -Σ_k W_ik log₂ W_ik; distance Σ_k W_ik |i - k|; previous W_i,i-1; next W_i,i+1;
      self W_ii; received[k] = mean_i W_ik (the share key k gets: sinks, [CLS], [SEP]).
    Pooled maps sum the keys of a block and average its queries (rows still sum to 1), so a
    sink column or a diagonal keeps its strength; `*_starts` are each block's first position.
    """
    entropy: np.ndarray        # (L, H)  bits
    distance: np.ndarray       # (L, H)  positions
    previous: np.ndarray       # (L, H)
    next: np.ndarray           # (L, H)
    self: np.ndarray           # (L, H)
    received: np.ndarray       # (L, H, T)
    thumbnails: np.ndarray     # (L, H, S, S)  S = min(T, THUMB_SIDE)
    thumb_starts: np.ndarray   # (S,)
    mean_weights: np.ndarray   # (L, P, P)  mean over heads; P = min(T, MEAN_SIDE)
    mean_starts: np.ndarray    # (P,)

    @property
    def mean_is_exact(self) -> bool:
        """True when mean_weights is every token's own row (no pooling): rollout is then exact."""
        return self.mean_weights.shape[-1] == self.received.shape[-1]


def block_starts(t: int, side: int) -> np.ndarray:
    """First position of each of `side` blocks covering 0..t-1 (widths differ by at most one)."""
    if t <= side:
        return np.arange(t)
    return np.linspace(0, t, side + 1).astype(int)[:-1]


class SummaryBuilder:
    """Collects an AttentionSummary one layer at a time; each layer's weights are let go after `add`."""

    def __init__(self, n_layers: int, n_heads: int, t: int, causal: bool = False):
        self.t, self.causal = t, causal
        self.per_head = {name: np.zeros((n_layers, n_heads), dtype=np.float32)
                         for name in ("entropy", "distance", "previous", "next", "self")}
        self.received = np.zeros((n_layers, n_heads, t), dtype=np.float32)
        self.thumb_starts = block_starts(t, THUMB_SIDE)
        self.mean_starts = block_starts(t, MEAN_SIDE)
        self.thumbnails = np.zeros((n_layers, n_heads, len(self.thumb_starts), len(self.thumb_starts)),
                                   dtype=np.float32)
        self.mean_weights = np.zeros((n_layers, len(self.mean_starts), len(self.mean_starts)), dtype=np.float32)
        self.position = torch.arange(t, dtype=torch.float32)                      # (T,)
        # |i - k| for every query and key; a causal model needs no T × T table (see add).
        self.gap = None if causal else (self.position[:, None] - self.position[None, :]).abs_()   # (T, T)
        self._scratch: Optional[torch.Tensor] = None      # one band's products, reused by every layer
        self._blocks: Optional[torch.Tensor] = None       # the thumbnails' 0/1 key-block matrix
        self._block_rows: Optional[torch.Tensor] = None   # (H, S, T): each block of query rows summed

    def add(self, layer: int, weights: torch.Tensor) -> None:
        """weights: (H, T, T) of one layer, read in bands of query rows so temporaries stay small.

        Few, large operations per band: each one is a pass over memory and, on a busy machine, a
        wait for the second thread, so a pass saved counts more than the arithmetic inside it. While a
        band is in the cache it gives every result it feeds: entropy, received, distance, and where
        the blocks allow, its rows of the thumbnails and of the mean. Per-row results are kept in
        float32 and summed once, in float64, at the end (the order of the bands does not show)."""
        weights = weights.detach().to("cpu", torch.float32)
        h, t, _ = weights.shape
        band = max(MIN_ROWS, ROWS_AT_ONCE // (h * t))
        side = len(self.thumb_starts)
        width = t // side                                   # thumbnail block height and width, if equal
        in_band = t % side == 0 and band >= width           # thumbnail rows made band by band
        if in_band:
            band -= band % width                            # whole blocks of rows in every band
        if self._scratch is None or self._scratch.numel() < h * min(band, t) * t:
            self._scratch = torch.empty(h * min(band, t) * t)     # one band's products, reused
        mean = torch.from_numpy(self.mean_weights[layer]) if len(self.mean_starts) == t else None   # (T, T)
        if in_band:
            # Each block of `width` query rows summed: the thumbnails and `received` both come from it.
            if self._block_rows is None:
                self._block_rows = torch.zeros(h, side, t)                        # (H, S, T)
            elif self.causal:
                self._block_rows.zero_()                 # a causal band leaves its later keys untouched
            block_rows = self._block_rows
        else:
            received = torch.zeros(h, t, dtype=torch.float64)
        entropy_rows, distance_rows = [], []                # per band: (H, rows)
        for start in range(0, t, band):
            stop = min(t, start + band)
            # A causal query i reads keys k ≤ i: the rest of its row is 0 and is not read at all.
            keys = stop if self.causal else t
            w = weights[:, start:stop, :keys]                                     # (H, rows, keys)
            work = self._scratch[:w.numel()].view(w.shape)                        # (H, rows, keys)
            # -Σ_k w_ik log₂ w_ik. A hidden key's w = 0 is read as the smallest normal float, so
            # 0·log 0 counts as 0 (as analysis/head_stats.py does): log₂ and a product are vectorised,
            # five times faster than torch.special.entr, which is not.
            entropy_rows.append(torch.clamp_min(w, TINY, out=work).log2_().mul_(w).sum(-1))
            if self.causal:     # Σ_k w_ik, for the distance below
                distance_rows.append(w.sum(-1))
            else:
                distance_rows.append(torch.mul(w, self.gap[start:stop], out=work).sum(-1))
            if mean is not None:        # exact: the band's rows of the mean, written in place
                torch.mean(w, 0, out=mean[start:stop, :keys])
            if in_band:
                torch.sum(w.view(h, (stop - start) // width, width, keys), -2,
                          out=block_rows[:, start // width:stop // width, :keys])   # (H, blocks, keys)
            else:
                received[:, :keys] += w.sum(-2)
        if in_band:
            received = block_rows.sum(1, dtype=torch.float64)                     # (H, T)
            # Keys summed by a product with the 0/1 block matrix: one matmul, where a sum over a
            # short last axis (2 keys a block at 128 tokens) is a slow reduction. Queries averaged.
            self.thumbnails[layer] = (block_rows @ self._key_blocks(t, width)).div_(width).numpy()
        else:
            self.thumbnails[layer] = pool(weights, self.thumb_starts)
        entropy = -torch.cat(entropy_rows, 1).sum(-1, dtype=torch.float64)          # (H,)
        if self.causal:     # Σ_ik w_ik (i - k) = Σ_i i·Σ_k w_ik - Σ_k k·Σ_i w_ik: no T × T table of gaps
            position = self.position.double()
            distance = torch.cat(distance_rows, 1).double() @ position - received @ position
        else:
            distance = torch.cat(distance_rows, 1).sum(-1, dtype=torch.float64)
        self.per_head["entropy"][layer] = (entropy / t).numpy()
        self.per_head["distance"][layer] = (distance / t).numpy()
        self.received[layer] = (received / t).numpy()
        for name, offset in (("previous", -1), ("next", 1), ("self", 0)):
            diag = torch.diagonal(weights, offset=offset, dim1=-2, dim2=-1)     # (H, T - |offset|)
            self.per_head[name][layer] = diag.mean(-1).numpy() if diag.shape[-1] else 0.0
        if mean is None:
            self.mean_weights[layer] = pool(weights.mean(0), self.mean_starts)

    def _key_blocks(self, t: int, width: int) -> torch.Tensor:
        """(T, T / width) 0/1: column b is 1 on the keys of block b."""
        if self._blocks is None:
            self._blocks = (torch.arange(t)[:, None] // width == torch.arange(t // width)[None, :]).float()
        return self._blocks

    def result(self) -> AttentionSummary:
        arrays = dict(**self.per_head, received=self.received, thumbnails=self.thumbnails,
                      thumb_starts=self.thumb_starts, mean_weights=self.mean_weights,
                      mean_starts=self.mean_starts)
        for value in arrays.values():
            value.flags.writeable = False
        return AttentionSummary(**arrays)


def pool(w, starts: np.ndarray) -> np.ndarray:
    """(…, T, T) -> (…, S, S): keys summed over each block, queries averaged (viz.heads.block_pool's
    arithmetic, so a thumbnail drawn from the summary equals one pooled from the full attention).
    w: a numpy array or a float32 CPU tensor."""
    t, side = w.shape[-1], len(starts)
    if side == t:
        return np.array(w, dtype=np.float32)
    if t % side == 0 and isinstance(w, torch.Tensor):
        # Equal blocks (T = 512, 1024, 4096 ...): two sums over split axes, in torch's threads.
        width, lead = t // side, w.shape[:-2]
        rows = w.contiguous().view(*lead, side, width, t).sum(-2)                 # (…, S, T)  queries summed
        if width <= 4:      # a sum over a last axis this short is a slow reduction: strided adds instead
            both = rows[..., 0::width].clone()                                   # (…, S, S)
            for offset in range(1, width):
                both += rows[..., offset::width]
        else:
            both = rows.view(*lead, side, side, width).sum(-1)                   # (…, S, S)  keys summed
        return both.div_(width).numpy()
    w = w.numpy() if isinstance(w, torch.Tensor) else w
    heights = np.diff(np.append(starts, t)).astype(np.float32)                  # (S,)  positions per block
    if t % side == 0:   # equal blocks: strided sums, no gather
        width = t // side
        rows = w.reshape(*w.shape[:-2], side, width, t).sum(axis=-2)             # (…, S, T)  queries summed
        # Keys summed as `width` strided slices: a reshape to (…, S, S, width) would make numpy loop
        # once per block over a short innermost axis, several times slower.
        both = rows[..., 0::width].copy()                                        # (…, S, S)
        for offset in range(1, width):
            both += rows[..., offset::width]
    else:
        rows = first_rows_sums(w, starts, heights)                               # (…, S, T)  queries summed
        both = np.add.reduceat(rows, starts, axis=-1)                            # (…, S, S)  keys summed
    return (both / heights[:, None]).astype(np.float32)


def first_rows_sums(w: np.ndarray, starts: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """(…, T, M) -> (…, S, M): the rows of each block summed, for blocks of h or h + 1 rows (linspace's):
    h gathers of one row per block, then the extra row of the taller blocks (numpy's reduceat over
    a middle axis is several times slower)."""
    shortest = int(heights.min())
    out = np.take(w, starts, axis=-2)                                            # (…, S, M)
    for offset in range(1, shortest):
        out += np.take(w, starts + offset, axis=-2)
    taller = np.flatnonzero(heights > shortest)                                  # blocks with one more row
    if taller.size:
        out[..., taller, :] += np.take(w, starts[taller] + shortest, axis=-2)
    return out


# -- recomputed on access ------------------------------------------------------------------------
class Rerun(Protocol):
    """What a trace needs from its model to recompute a layer (core/model.py's BlockRerun). It holds
    the residual stream as the torch tensor the forward pass wrote (trace.resid is a view of it)."""
    def block(self, layer: int) -> BlockRecord: ...
    def head(self, layer: int, head: int) -> AttentionRecord: ...
    def logits(self, final: np.ndarray) -> torch.Tensor: ...


def to_numpy(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    """First batch element as a read-only float32 array (no copy when already a float32 CPU tensor)."""
    if t is None:
        return None
    out = t.detach()[0].to("cpu", torch.float32).contiguous().numpy()
    out.flags.writeable = False
    return out


def attention_trace(record: AttentionRecord) -> AttentionTrace:
    return AttentionTrace(*(to_numpy(t) for t in (record.attn_in, record.q, record.k, record.v, record.scores,
                                                   record.weights, record.head_out, record.attn_out)))


def layer_trace(record: BlockRecord, resid_pre: np.ndarray, resid_mid: np.ndarray,
                resid_post: np.ndarray) -> LayerTrace:
    """One block's record as arrays; the residual stream is the trace's stored one (no second copy)."""
    a = record.attention
    attn_in = resid_pre if a.attn_in is record.resid_pre else to_numpy(a.attn_in)
    mlp_in = resid_mid if record.mlp_in is record.resid_mid else to_numpy(record.mlp_in)
    return LayerTrace(resid_pre=resid_pre, attn_in=attn_in, q=to_numpy(a.q), k=to_numpy(a.k), v=to_numpy(a.v),
                      scores=to_numpy(a.scores), weights=to_numpy(a.weights), head_out=to_numpy(a.head_out),
                      attn_out=to_numpy(a.attn_out), resid_mid=resid_mid, mlp_in=mlp_in,
                      mlp_pre=to_numpy(record.mlp_pre), mlp_hidden=to_numpy(record.mlp_hidden),
                      mlp_out=to_numpy(record.mlp_out), resid_post=resid_post,
                      cross=attention_trace(record.cross) if record.cross is not None else None,
                      q_raw=to_numpy(a.q_raw), k_raw=to_numpy(a.k_raw), mlp_up=to_numpy(record.mlp_up))


def layer_bytes(layer: LayerTrace) -> int:
    """Bytes of the arrays a recomputed layer made (the stored residual stream not counted)."""
    shared = {id(layer.resid_pre), id(layer.resid_mid), id(layer.resid_post)}
    arrays = [v for v in vars(layer).values() if isinstance(v, np.ndarray) and id(v) not in shared]
    if layer.cross is not None:
        arrays += [v for v in vars(layer.cross).values() if isinstance(v, np.ndarray)]
    return sum(a.nbytes for a in arrays)


class LayerCache:
    """Recently recomputed layers of every trace in the process, least recently used dropped first.

    Bounded in bytes; the newest entry is always kept, so a page that reads several fields of the
    layer it shows (weights, then q, then k) computes it once even when it alone exceeds the budget.
    Entries hold their trace weakly: a trace that is let go takes nothing with it.
    """

    def __init__(self, budget_bytes: int):
        self.budget = int(budget_bytes)
        self._entries: OrderedDict = OrderedDict()       # (id(trace), key) -> (weakref, value, bytes)
        self._lock = threading.Lock()

    def get(self, owner, key, compute: Callable[[], object], size: Callable[[object], int]):
        slot = (id(owner), key)
        with self._lock:
            hit = self._entries.get(slot)
            if hit is not None and hit[0]() is owner:
                self._entries.move_to_end(slot)
                return hit[1]
        value = compute()
        with self._lock:
            self._entries[slot] = (weakref.ref(owner), value, size(value))
            self._entries.move_to_end(slot)
            for stale in [k for k, (ref, _, _) in self._entries.items() if ref() is None]:
                del self._entries[stale]
            while len(self._entries) > 1 and sum(e[2] for e in self._entries.values()) > self.budget:
                self._entries.popitem(last=False)
        return value

    def peek(self, owner, key):
        """The cached value, or None; counts as a use (it moves to the newest end)."""
        slot = (id(owner), key)
        with self._lock:
            hit = self._entries.get(slot)
            if hit is None or hit[0]() is not owner:
                return None
            self._entries.move_to_end(slot)
            return hit[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


LAYER_CACHE = LayerCache(float(os.environ.get("ATTENTION_EXPLORER_LAYER_CACHE_MB", 256)) * 2**20)


class Layers(Sequence):
    """trace.layers: a sequence of LayerTrace, each recomputed from its stored input when read."""

    def __init__(self, trace: "Trace"):
        self._trace = trace     # made anew on each `trace.layers`, never stored on the trace: no cycle
        self._n = trace.n_layers

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self._n)))
        index = int(index)
        if not -self._n <= index < self._n:
            raise IndexError(f"layer {index} out of range: this model has {self._n} layers.")
        index %= self._n
        trace = self._trace
        return LAYER_CACHE.get(trace, index, lambda: trace.recompute_layer(index), layer_bytes)

    def __iter__(self) -> Iterator[LayerTrace]:
        return (self[i] for i in range(self._n))


@dataclass(frozen=True, eq=False)
class Trace:
    tokens: list[str]
    ids: list[int]
    offsets: list[tuple[int, int]]       # character span of each token in the text; (0, 0) for specials
    special_mask: list[bool]             # True for [CLS], [SEP] and other added tokens
    token_embed: np.ndarray              # (T, d_model)  rows of the token table
    pos_embed: np.ndarray                # (T, d_model)  learned rows, the sinusoids, or zeros (RoPE / none:
                                         # nothing is added; rotary positions act inside attention)
    type_embed: Optional[np.ndarray]     # (T, d_model)  segment embedding, BERT only
    resid: np.ndarray                    # (n_layers + 1, T, d_model)  the embedding, then each block's output
    resid_mid: np.ndarray                # (n_layers, T, d_model)  each block's middle (after attention)
    n_heads: int                         # query heads per layer
    n_kv_heads: int                      # key/value heads per layer: fewer with grouped-query attention
    rerun: Optional[Rerun] = field(default=None, repr=False)   # the model's blocks, to recompute a layer
    truncated: bool = False              # the text was cut to the model's max positions
    text: str = ""
    n_input_tokens: int = 0              # tokens before truncation (== len(tokens) when not truncated)
    causal: bool = False
    final: Optional[np.ndarray] = None   # (T, d_model)  after the final norm (LMs)
    top_ids: Optional[np.ndarray] = None       # (T, k)  the k likeliest next tokens at each position (LMs)
    top_logprobs: Optional[np.ndarray] = None  # (T, k)  their log-probabilities
    log_sum_exp: Optional[np.ndarray] = None   # (T,)  log Σ exp(logits): log p(x) = logit(x) - this
    summary: Optional[AttentionSummary] = None  # streamed head statistics, thumbnails, mean attention

    @property
    def embed(self) -> np.ndarray:
        """(T, d_model) the input of layer 0."""
        return self.resid[0]

    @property
    def n_layers(self) -> int:
        return self.resid.shape[0] - 1

    def kv_head_of(self, head: int) -> int:
        """The key/value head that query head `head` reads (the same in every layer)."""
        if not 0 <= head < self.n_heads:
            raise ValueError(f"head must be in [0, {self.n_heads}), got {head}.")
        return head // (self.n_heads // self.n_kv_heads)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def layers(self) -> Layers:
        """layers[l]: block l's intermediates, recomputed from resid[l] on access (bounded cache)."""
        return Layers(self)

    def recompute_layer(self, layer: int) -> LayerTrace:
        """Block `layer` run again from its stored input, by the forward pass's own code. The input is
        the very memory the forward pass read, so the same kernels give the same bits."""
        if self.rerun is None:
            raise ValueError("this trace keeps no model to recompute its layers from.")
        with torch.inference_mode():
            record = self.rerun.block(layer)
        return layer_trace(record, self.resid[layer], self.resid_mid[layer], self.resid[layer + 1])

    def head(self, layer: int, head: int) -> HeadTrace:
        """One head of one layer: q, k, v, scores, weights and head_out of that head only, recomputed
        from the stored layer input (one layer's projections and one T×T matrix, not H of them) in
        the same byte-bounded cache as `layers`. A layer already in the cache is sliced instead.
        The numbers equal `layers[layer]`'s for the head bit for bit on the CPU (tests/test_lean_trace.py)."""
        if not -self.n_layers <= layer < self.n_layers:
            raise IndexError(f"layer {layer} out of range: this model has {self.n_layers} layers.")
        layer %= self.n_layers
        kv = self.kv_head_of(head)
        whole = LAYER_CACHE.peek(self, layer)
        if whole is not None:
            return HeadTrace.of_layer(whole, layer, head)
        if self.rerun is None:
            raise ValueError("this trace keeps no model to recompute its layers from.")

        def compute() -> HeadTrace:
            with torch.inference_mode():
                a = self.rerun.head(layer, head)
            one = [None if t is None else to_numpy(t)[0] for t in (a.q, a.k, a.v, a.scores, a.weights,
                                                                  a.head_out, a.q_raw, a.k_raw)]  # (T, …)
            return HeadTrace(layer, head, kv, *one)
        return LAYER_CACHE.get(self, ("head", layer, head), compute, head_bytes)

    @property
    def hidden_states(self) -> np.ndarray:
        """(n_layers + 1, T, d_model): the embedding output, then each block's output.

        As transformers' hidden_states for encoders. For pre-LN LMs (GPT-2, Llama) transformers'
        last entry has the final norm applied: that one is `final` here; ours is the raw output.
        """
        return self.resid

    @property
    def attentions(self) -> np.ndarray:
        """(n_layers, H, T, T): every layer's weights, as transformers returns them. Recomputes every
        layer (kept in the layer cache's budget): for short inputs; long ones read `summary`."""
        size = self.n_layers * self.n_heads * len(self) ** 2 * 4
        if size > STACK_LIMIT_BYTES:
            raise ValueError(f"every layer's attention at {len(self):,} tokens would take {size / 1e9:.1f} GB; "
                             "read one layer at a time (trace.layers[l].weights) or the streamed trace.summary "
                             "instead.")

        def stack() -> np.ndarray:
            out = np.stack([self.recompute_layer(layer).weights for layer in range(self.n_layers)])
            out.flags.writeable = False
            return out
        return LAYER_CACHE.get(self, "attentions", stack, lambda a: a.nbytes)

    # -- next tokens (language models) -----------------------------------------------------------
    def logits_at(self, position: int) -> np.ndarray:
        """(vocab,) the next-token scores at one position: one row of the unembedding product."""
        self._need_lm()
        with torch.inference_mode():
            return self.rerun.logits(self.final[position][None])[0].cpu().numpy()   # (vocab,)

    @property
    def logits(self) -> Optional[np.ndarray]:
        """(T, vocab) next-token scores, computed on access (T × vocab floats: for short inputs;
        `logits_at`, `top_ids` and `log_sum_exp` answer most questions without them)."""
        if self.final is None or self.rerun is None:
            return None
        with torch.inference_mode():
            out = self.rerun.logits(self.final).cpu().numpy()                       # (T, vocab)
        out.flags.writeable = False
        return out

    def _need_lm(self) -> None:
        if self.final is None or self.rerun is None:
            raise ValueError("this model predicts no next token (it has no language-model head).")

