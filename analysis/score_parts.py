"""Inside one attention score, and what a head writes.

One score (BertViz's neuron view):

    score(i, j) = Σ_d q_i[d] · k_j[d]  /  √d_head

q_i is the query of token i in head h; k_j the key of token j in the key/value head h reads
(grouped-query attention shares one k among several query heads; rotary models use q and k
after the rotation). `score_parts` returns the two vectors, their elementwise product and its
sum. The score is recomputed with core/attention.py's own `attend` on the traced q and k, so it
equals `trace.layers[l].scores[h, i, j]` bit for bit; the sum of the product, taken in float64,
differs from it only by float32 rounding of core's matmul (about 1e-7 of Σ|q ⊙ k|).

What a head writes (Kobayashi et al. 2020, *Attention is not only a weight*):

    ‖α_ij · f(x_j)‖,   f(x_j) = v_j · W_O[head h's d_head rows]

v_j includes the value bias; W_O's own bias is left out (it is added once per token, whatever the
head looks at). A key with a large weight but a tiny ‖f(x_j)‖ (often [SEP] or [CLS]) is looked
at but contributes almost nothing. Not included: the residual connection added next and, in
post-LN models (BERT, MiniLM), the LayerNorm after it, which rescales the whole sum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from typing import Optional

import numpy as np
import torch

from core.attention import attend
from core.trace import Trace


@dataclass(frozen=True)
class ScoreParts:
    q: np.ndarray          # (d_head,) float32, the query of token `query` in head `head`
    k: np.ndarray          # (d_head,) float32, the key of token `key` in head `head`'s key/value head
    product: np.ndarray    # (d_head,) q ⊙ k
    dot: float             # Σ q ⊙ k, summed in float64 (what the bars add up to)
    scale: float           # √d_head
    score: float           # q·k / √d_head with core's own float32 arithmetic (before the mask)
    trace_score: float     # trace.layers[layer].scores[head, query, key] (-inf where masked)
    kv_head: int
    masked: bool           # the key is hidden from this query (causal mask): the score is -inf


def _check(trace: Trace, layer: int, head: int, *positions: int) -> None:
    if not 0 <= layer < trace.n_layers:
        raise ValueError(f"layer must be in 0..{trace.n_layers - 1}, got {layer}.")
    if not 0 <= head < trace.n_heads:
        raise ValueError(f"head must be in 0..{trace.n_heads - 1}, got {head}.")
    for p in positions:
        if not 0 <= p < len(trace):
            raise ValueError(f"token position must be in 0..{len(trace) - 1}, got {p}.")


def score_parts(trace: Trace, layer: int, head: int, query: int, key: int, *, scale: Optional[float] = None,
                softcap: Optional[float] = None) -> ScoreParts:
    """The pieces of scores[head, query, key] in one layer. scale, softcap: the model's config.attn_scale
    and config.attn_softcap (Gemma 2: ÷ √query_pre_attn_scalar, then cap · tanh(score / cap))."""
    _check(trace, layer, head, query, key)
    lt = trace.layers[layer]
    kv = lt.kv_head_of(head)
    q = np.asarray(lt.q[head, query], dtype=np.float32)               # (d_head,)
    k = np.asarray(lt.k[kv, key], dtype=np.float32)                   # (d_head,)
    d_head = q.shape[0]
    # The score exactly as core computes it: attend() on the whole layer (the same matmul shapes,
    # so the same float32 summation), unmasked; `dot` is the product summed in float64.
    scores, _, _ = attend(torch.from_numpy(np.array(lt.q))[None], torch.from_numpy(np.array(lt.k))[None],
                          torch.from_numpy(np.array(lt.v))[None], scale=scale, softcap=softcap)   # (1, H, T, T)
    score = float(scores[0, head, query, key])
    dot = float(np.sum(q.astype(np.float64) * k.astype(np.float64)))
    trace_score = float(lt.scores[head, query, key])
    return ScoreParts(q, k, q * k, dot, math.sqrt(d_head if scale is None else scale), score, trace_score, kv,
                      not np.isfinite(trace_score))


def value_norms(net, trace: Trace, layer: int, head: int) -> np.ndarray:
    """(T,) ‖v_j · W_O[head]‖ for every key token j: how much each token would write if looked at fully."""
    _check(trace, layer, head)
    lt = trace.layers[layer]
    d_head = lt.q.shape[-1]
    w_o = net.blocks[layer].attention.output.weight                    # (d_model, d_model): out × in
    with torch.no_grad():
        w_head = w_o[:, head * d_head:(head + 1) * d_head].to(torch.float64)   # (d_model, d_head)
        v = torch.from_numpy(np.asarray(lt.v[lt.kv_head_of(head)], dtype=np.float64))  # (T, d_head)
        return (v @ w_head.T).norm(dim=-1).numpy()                     # (T,)


def norm_attention(net, trace: Trace, layer: int, head: int) -> np.ndarray:
    """(T, T) ‖α_ij · v_j · W_O[head]‖: what head `head` of `layer` writes from key j into query i."""
    weights = np.asarray(trace.layers[layer].weights[head], dtype=np.float64)   # (T, T)
    return weights * value_norms(net, trace, layer, head)[None, :]
