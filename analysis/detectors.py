"""Head detectors: a score per head (an L × H array) for a kind of behaviour.

On the person's sentence (a trace), following TransformerLens's head_detector ("mul" measure):
a detection pattern marks, for each query, the keys a head of that kind would look at, and the
score is the share of all the head's attention that falls there,
    score = Σ weights ⊙ pattern / Σ weights                        (1 = only ever looks there)
- previous-token: the key just before the query;
- duplicate-token: earlier keys holding the same token as the query;
- induction (on a sentence): keys just after an earlier copy of the query's token.
Sink: the mean attention each query (other than the first) puts on the first token, or on the
special tokens ([CLS], [SEP], <s>): heads that park their attention there when they have nothing to do.

Induction on probes (Olsson et al. 2022): a random sequence of n tokens, repeated. In the second
half every token has an earlier copy, and an induction head looks from it to the token after that
copy (the diagonal stripe n − 1 below the main one). The score is that weight, averaged over the
second-half queries and over several random sequences. Chance is what a head spreading its
attention evenly over the keys it may see would score there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from core.trace import Trace
from .budget import FLOAT32, batch_size, chunks, job_budget_bytes


# -- detection patterns (T × T, 1 where a head of that kind would look) -------------------------

def previous_token_pattern(t: int) -> np.ndarray:
    return np.eye(t, k=-1)                                           # (T, T): query i -> key i − 1


def duplicate_token_pattern(ids: Sequence[int]) -> np.ndarray:
    ids = np.asarray(ids)
    same = (ids[:, None] == ids[None, :]).astype(np.float64)         # (T, T)
    return np.tril(same, k=-1)                                       # earlier copies only


def induction_pattern(ids: Sequence[int]) -> np.ndarray:
    """Query i -> key j when the token before j is a copy of token i (j − 1 < i, j ≤ i)."""
    duplicate = duplicate_token_pattern(ids)
    shifted = np.zeros_like(duplicate)
    shifted[:, 1:] = duplicate[:, :-1]                               # key j reads duplicate[i, j − 1]
    return np.tril(shifted)


def pattern_scores(weights: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """weights (L, H, T, T), pattern (T, T) -> (L, H): the share of attention on the pattern."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=(-2, -1))                               # (L, H)
    return (np.einsum("lhqk,qk->lh", weights, pattern) / np.maximum(total, 1e-12)).astype(np.float32)


def detector_chunk(n_heads: int, t: int, budget: Optional[int] = None) -> int:
    """Heads scored at once at t tokens within the per-job budget: each needs its float64 weights and
    one product of the same size (2 · T² · 8 bytes); the layer's own float32 weights and the pattern
    come first. At least one head."""
    budget = job_budget_bytes() if budget is None else int(budget)
    fixed = 3 * n_heads * t * t * FLOAT32 + t * t * 8              # the layer recomputed, the pattern
    return batch_size(2 * t * t * 8, max(1, budget - fixed), most=n_heads)


def per_head(trace: Trace, score: Callable[[np.ndarray], np.ndarray], budget: Optional[int] = None,
             progress: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """(L, H): score(weights (h, T, T) float64) -> (h,), one layer at a time (recomputed from the trace)
    and a chunk of heads at a time, so no T² array of every head and layer is ever held: a long text
    stays within the per-job budget (stacking every layer took L · H · T² · 12 bytes)."""
    out = np.zeros((trace.n_layers, trace.n_heads), dtype=np.float32)
    parts = chunks(trace.n_heads, detector_chunk(trace.n_heads, len(trace), budget))
    for layer in range(trace.n_layers):
        weights = trace.layers[layer].weights                                    # (H, T, T) float32
        for part in parts:
            out[layer, part.start:part.stop] = score(np.asarray(weights[part.start:part.stop], dtype=np.float64))
        if progress is not None:
            progress((layer + 1) / trace.n_layers)
    return out


def _pattern_score(pattern: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda weights: pattern_scores(weights[None], pattern)[0]             # (h, T, T) -> (h,)


def previous_token_scores(trace: Trace, budget: Optional[int] = None, progress=None) -> np.ndarray:
    return per_head(trace, _pattern_score(previous_token_pattern(len(trace))), budget, progress)


def duplicate_token_scores(trace: Trace, budget: Optional[int] = None, progress=None) -> np.ndarray:
    return per_head(trace, _pattern_score(duplicate_token_pattern(trace.ids)), budget, progress)


def sentence_induction_scores(trace: Trace, budget: Optional[int] = None, progress=None) -> np.ndarray:
    return per_head(trace, _pattern_score(induction_pattern(trace.ids)), budget, progress)


def sink_scores(trace: Trace, on: str = "first", budget: Optional[int] = None, progress=None) -> np.ndarray:
    """(L, H) mean attention of each query but the first on the first token ("first") or on the
    special tokens ("special"); NaN for "special" when the text has none."""
    shape = (trace.n_layers, trace.n_heads)
    if on == "first":
        keys = np.zeros(len(trace), dtype=bool)
        keys[0] = True
    elif on == "special":
        keys = np.asarray(trace.special_mask, dtype=bool)
        if not keys.any():
            return np.full(shape, np.nan, dtype=np.float32)
    else:
        raise ValueError(f"on must be 'first' or 'special', got {on!r}.")
    if len(trace) < 2:
        return np.zeros(shape, dtype=np.float32)
    return per_head(trace, lambda weights: weights[:, 1:][..., keys].sum(-1).mean(-1), budget, progress)


# -- induction on repeated random tokens ---------------------------------------------------------

@dataclass(frozen=True)
class InductionProbe:
    ids: np.ndarray             # (B, T) prefix + n random tokens + the same n again
    n: int                      # length of the repeated segment
    start: int                  # where the first copy begins (after the prefix)
    scores: np.ndarray          # (L, H) mean weight from second-half tokens to the token after their earlier copy
    chance: float               # the same for a head spreading its attention evenly
    stripes: np.ndarray         # (L, H, T, T) the first sequence's weights (the off-diagonal stripe)
    loss: Optional[np.ndarray]  # (T − 1,) mean loss predicting each next token (LMs; low on the repeat)

    @property
    def second_half(self) -> range:
        """Queries whose token has an earlier copy: the positions of the repeat."""
        return range(self.start + self.n, self.start + 2 * self.n)


def repeated_tokens(vocab_size: int, n: int, batch: int = 4, seed: int = 0, prefix: Sequence[int] = (),
                    avoid: Sequence[int] = ()) -> np.ndarray:
    """(batch, len(prefix) + 2n): random tokens (no repeats within a segment), repeated once."""
    rng = np.random.default_rng(seed)
    allowed = np.setdiff1d(np.arange(vocab_size), np.asarray(list(avoid), dtype=np.int64))
    if len(allowed) < n:
        raise ValueError(f"the vocabulary has only {len(allowed)} usable tokens for a segment of {n}.")
    segments = np.stack([rng.choice(allowed, size=n, replace=False) for _ in range(batch)])   # (B, n)
    head = np.tile(np.asarray(list(prefix), dtype=np.int64), (batch, 1))                       # (B, P)
    return np.concatenate([head, segments, segments], axis=1)                                  # (B, P + 2n)


def induction_chance(t: int, start: int, n: int, causal: bool) -> float:
    """Even attention over the keys a query may see (its past and itself, or all T): the weight on
    the induction target, averaged over the second-half queries."""
    queries = np.arange(start + n, start + 2 * n)
    return float(np.mean(1.0 / (queries + 1))) if causal else 1.0 / t


@torch.inference_mode()
def induction_probe(model, n: int = 20, batch: int = 4, seed: int = 0, prefix: Sequence[int] = (),
                    avoid: Sequence[int] = (), vocab: Optional[int] = None) -> InductionProbe:
    """Run `batch` repeated random sequences and score every head for induction.
    prefix: ids put before each sequence (a tokenizer's <s> or [CLS]); avoid: ids never drawn
    (special tokens); vocab: draw from ids below it (the tokenizer's size, if smaller than the model's)."""
    net = getattr(model, "net", model)                 # a LoadedModel or a bare Transformer
    config = net.config
    room = (config.n_positions - len(prefix)) // 2
    n = max(2, min(int(n), room))
    ids = repeated_tokens(min(config.vocab_size, vocab or config.vocab_size), n, batch, seed, prefix, avoid)
    _, records, _, logits = net.run(torch.from_numpy(ids))
    weights = torch.stack([r.attention.weights for r in records], dim=1)            # (B, L, H, T, T)
    start = len(prefix)
    queries = torch.arange(start + n, start + 2 * n)                                 # (n,)
    targets = queries - n + 1                                                        # the token after the earlier copy
    on_target = weights[:, :, :, queries, targets]                                   # (B, L, H, n)
    loss = None
    if logits is not None:
        logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)                      # (B, T − 1, vocab)
        nxt = torch.from_numpy(ids[:, 1:])[..., None]                                # (B, T − 1, 1)
        loss = (-logp.gather(-1, nxt)[..., 0]).mean(0).float().numpy()               # (T − 1,)
    return InductionProbe(ids, n, start, on_target.mean(dim=(0, 3)).float().numpy(),
                          induction_chance(ids.shape[1], start, n, config.causal),
                          weights[0].float().numpy(), loss)


def top_heads(scores: np.ndarray, k: int = 3) -> list[tuple[int, int, float]]:
    """The k highest-scoring heads as (layer, head, score), best first (NaN ignored)."""
    flat = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf).ravel()
    order = np.argsort(-flat, kind="stable")[:k]
    n_heads = scores.shape[1]
    return [(int(i // n_heads), int(i % n_heads), float(flat[i])) for i in order if np.isfinite(flat[i])]
