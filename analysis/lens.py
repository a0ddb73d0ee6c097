"""The logit lens: what would the model predict if it stopped after layer ℓ?

Each residual stream state (the embedding, then every block's output) is passed through
the model's own final norm and unembedding, exactly as the last layer's output is:

    lens[ℓ, t] = softmax(final_norm(hidden[ℓ, t]) · W_Uᵀ)

The last row is therefore the model's own next-token distribution. Only the top k of
each row is kept: a full (layers, T, vocab) table would be 13 × 512 × 50,257 floats
(1.3 GB) for GPT-2 at 512 tokens; here at most `chunk` positions × vocab exist at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from core.attention import soft_cap
from core.trace import Trace


@dataclass(frozen=True)
class LogitLens:
    ids: np.ndarray      # (n_layers + 1, T, k) int64  top-k token ids, most likely first (T: the positions asked)
    probs: np.ndarray    # (n_layers + 1, T, k) float32  their probabilities (a full softmax's values)
    # Row 0 reads the embedding; row ℓ reads block ℓ's output; the last row is the model's logits.
    # (n_layers + 1, T) float32: the probability each row gives the token that really comes next
    # in the text (NaN at the sentence's last position, whose next token is unknown).
    next_probs: Optional[np.ndarray] = None


@torch.inference_mode()
def logit_lens(net, trace: Trace, k: int = 5, chunk: int = 64,
               positions: Optional[Sequence[int]] = None) -> LogitLens:
    """Top-k next tokens at every layer and position of `trace`, through net's final norm and unembedding.

    positions: only these token positions (a page's token window), in this order; all by default.
    Each (layer, position) costs one d_model × vocab product, as the model's own last layer does:
    GPT-2 small at 512 tokens is 13 of them, about 13 times the cost of its logits.
    """
    if net.final_norm is None:
        raise ValueError("the logit lens needs a language model (a final norm and an unembedding); "
                         "this model is an encoder without one.")
    k = max(1, min(int(k), net.config.vocab_size))
    unembedding = net.unembedding()                                   # (vocab, d_model)
    hidden = trace.hidden_states                                      # (L + 1, T, d_model)
    if positions is not None:
        hidden = hidden[:, np.asarray(list(positions), dtype=np.int64)]  # (L + 1, P, d_model)
    n_rows, t, _ = hidden.shape
    asked = np.arange(len(trace.ids)) if positions is None else np.asarray(list(positions), dtype=np.int64)
    following = np.append(np.asarray(trace.ids[1:], dtype=np.int64), -1)[asked]   # (P,) -1: none
    ids = np.empty((n_rows, t, k), dtype=np.int64)
    probs = np.empty((n_rows, t, k), dtype=np.float32)
    next_probs = np.full((n_rows, t), np.nan, dtype=np.float32)
    for layer in range(n_rows):
        for start in range(0, t, chunk):
            h = torch.from_numpy(hidden[layer, start:start + chunk].copy())   # (c, d_model), a writable copy
            logits = soft_cap(net.apply_final_norm(h) @ unembedding.T, net.config.final_softcap)   # (c, vocab)
            full = torch.softmax(logits, dim=-1)                      # (c, vocab)
            top = full.topk(k, dim=-1)                                # (c, k) each
            ids[layer, start:start + chunk] = top.indices.numpy()
            probs[layer, start:start + chunk] = top.values.numpy()
            nxt = following[start:start + chunk]
            known = np.flatnonzero(nxt >= 0)
            next_probs[layer, start + known] = full[known, nxt[known]].numpy()
    for array in (ids, probs, next_probs):
        array.flags.writeable = False
    return LogitLens(ids, probs, next_probs)


def top_next_tokens(logits: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The k most likely next tokens of one position's logits (vocab,): (ids, probabilities), most likely first."""
    logits = np.asarray(logits, dtype=np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    k = max(1, min(int(k), probs.size))
    order = np.argsort(-probs, kind="stable")[:k]
    return order, probs[order]


def probability_and_rank(logits: np.ndarray, token_id: int) -> tuple[float, int]:
    """The softmax probability of one token under logits (vocab,), and its rank (1 = most likely)."""
    logits = np.asarray(logits, dtype=np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return float(probs[token_id]), int((probs > probs[token_id]).sum()) + 1
