"""Is an explanation faithful? Delete the tokens it ranks highest and see whether the output moves.

An explanation method gives every input token a score; ranked by score, its top k tokens are the
"rationale" r. ERASER (DeYoung et al., 2020) measures two things with the model's output m(·):

    comprehensiveness(k) = m(x) − m(x ∖ r)     the top k tokens deleted: a faithful ranking
                                                named what mattered, so the output drops a lot (high)
    sufficiency(k)       = m(x) − m(r)          only the top k tokens kept: they should be enough
                                                on their own, so the output barely drops (low)

each at several k, summarised by the area over the perturbation curve (AOPC): the mean over the
k used. ERASER takes k as bins of 1, 5, 10, 20 and 50 % of the tokens; short sentences use
k = 1, 2, 3, … tokens instead (1 % of 8 tokens is no token at all).

Choices, and why:
  * Deleting a token removes its id from the input, so the tokens after it move one position
    left (ERASER deletes words the same way). Special tokens ([CLS], [SEP], <s>) are never
    ranked and never deleted: without them the model reads input unlike anything it was trained on.
  * k stops one short of all ranked tokens: deleting every word leaves a decoder with no input.
  * A ranking no better than chance still moves the output: deleting any k tokens changes the
    text. Random rankings (several seeds, averaged) show what chance achieves on this sentence.
  * The output m is a number that is largest for the full input. For a sentence encoder: the
    cosine of the embedding with the full sentence's embedding (so m(x) = 1 and comprehensiveness
    is a cosine distance). For a language model: p(y | ·), the probability of the token y it
    predicts after the full text (ERASER's p(y|x) − p(y|x∖r)), read after the last token left.

The erasure part of this module is pure: it takes scores and a scoring function, and never
touches a model. The two scorers at the end build that function from a Transformer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch


from .budget import batch_size, chunks, final_hidden, forward_bytes
from .sentence import mean_pooled

BINS = (0.01, 0.05, 0.10, 0.20, 0.50)    # ERASER's k: these fractions of the ranked tokens
RANDOM = "random (chance)"
SEEDS = (0, 1, 2, 3, 4)                  # random rankings averaged into the chance baseline
ROWS = 2048                              # tokens per forward pass, all inputs of a batch together

# score_fn: a batch of token-id lists, all of one length -> one output per list
ScoreFn = Callable[[list[list[int]]], np.ndarray]


@dataclass(frozen=True)
class Curve:
    """One ranking's erasure scores at each k (for the random baseline: means over its seeds)."""
    method: str
    ks: np.ndarray                     # (K,) tokens deleted / kept
    comprehensiveness: np.ndarray      # (K,) m(x) − m(x without the top k): higher = more faithful
    sufficiency: np.ndarray            # (K,) m(x) − m(only the top k): lower = more faithful
    top: tuple[int, ...] = ()          # the ranked positions, best first
    comp_range: Optional[np.ndarray] = None   # (2, K) random baseline: lowest and highest over seeds
    suff_range: Optional[np.ndarray] = None

    @property
    def comprehensiveness_aopc(self) -> float:
        return float(np.mean(self.comprehensiveness))

    @property
    def sufficiency_aopc(self) -> float:
        return float(np.mean(self.sufficiency))


def rankable_positions(special_mask: Sequence[bool]) -> np.ndarray:
    """The positions a method may rank and erasure may delete: every token but the special ones."""
    return np.flatnonzero(~np.asarray(special_mask, dtype=bool))


def ranking(scores: Sequence[float], rankable: Sequence[int]) -> np.ndarray:
    """The rankable positions, highest score first (ties: the earlier position first)."""
    scores = np.asarray(scores, dtype=np.float64)
    rankable = np.asarray(rankable, dtype=int)
    order = np.lexsort((rankable, -np.nan_to_num(scores[rankable], nan=-np.inf)))   # last key sorts first
    return rankable[order]


def erase_counts(n_ranked: int, bins: Optional[Sequence[float]] = BINS, most: int = 10) -> list[int]:
    """The k at which to erase: ERASER's fractions of `n_ranked` (rounded up, so 1 % is at least one
    token), or with bins=None every k = 1 … `most`. Never all n_ranked (see the module's notes)."""
    if n_ranked < 2:
        raise ValueError(f"erasure needs at least 2 tokens that are not special tokens, got {n_ranked}")
    if bins is None:
        return list(range(1, min(most, n_ranked - 1) + 1))
    return sorted({min(max(1, math.ceil(f * n_ranked)), n_ranked - 1) for f in bins})


def without(ids: Sequence[int], positions: Sequence[int]) -> list[int]:
    """The ids with those positions deleted (later tokens move left)."""
    gone = set(int(p) for p in positions)
    return [t for p, t in enumerate(ids) if p not in gone]


def only(ids: Sequence[int], positions: Sequence[int], special_mask: Sequence[bool]) -> list[int]:
    """The ids at those positions and at every special token, in their original order."""
    kept = set(int(p) for p in positions)
    return [t for p, (t, special) in enumerate(zip(ids, special_mask)) if special or p in kept]


def _score_all(inputs: list[tuple[int, ...]], score_fn: ScoreFn, rows: int = ROWS,
               progress: Optional[Callable[[float], None]] = None) -> dict[tuple[int, ...], float]:
    """Each distinct input scored once, in batches of one length (a batch needs no padding) and
    at most `rows` tokens in all (the scorers below cut a batch further to the job's memory
    budget). progress(fraction of the inputs scored) after every batch."""
    by_length: dict[int, list[tuple[int, ...]]] = {}
    distinct = list(dict.fromkeys(inputs))     # in first-seen order
    for ids in distinct:
        by_length.setdefault(len(ids), []).append(ids)
    scored = {}
    for length, group in by_length.items():
        size = max(1, rows // max(length, 1))
        for start in range(0, len(group), size):
            scored.update(_score_batch(group[start:start + size], score_fn))
            if progress is not None:
                progress(len(scored) / len(distinct))
    return scored


def _score_batch(batch: list[tuple[int, ...]], score_fn: ScoreFn) -> dict[tuple[int, ...], float]:
    values = np.asarray(score_fn([list(ids) for ids in batch]), dtype=np.float64)
    if values.shape != (len(batch),):
        raise ValueError(f"score_fn must return one number per input ({len(batch)}), got {values.shape}")
    return dict(zip(batch, values))


def erasure_curves(ids: Sequence[int], special_mask: Sequence[bool], scores: Mapping[str, Sequence[float]],
                   score_fn: ScoreFn, ks: Sequence[int], seeds: Sequence[int] = SEEDS,
                   progress: Optional[Callable[[float], None]] = None) -> dict[str, Curve]:
    """Comprehensiveness and sufficiency at each k for every method's scores, and for random
    rankings (key RANDOM, the mean over `seeds`, with their range). progress(fraction) as the
    shortened inputs are scored."""
    ids = [int(t) for t in ids]
    rankable = rankable_positions(special_mask)
    if len(special_mask) != len(ids):
        raise ValueError(f"need one special-token flag per token ({len(ids)}), got {len(special_mask)}")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1 or max(ks) >= len(rankable):
        raise ValueError(f"k must be from 1 to {len(rankable) - 1} (the tokens that may be deleted, less one)")
    orders = {name: ranking(s, rankable) for name, s in scores.items()}
    rng_orders = [np.random.default_rng(seed).permutation(rankable) for seed in seeds]
    every = list(orders.values()) + rng_orders
    inputs = [tuple(ids)]
    for order in every:
        for k in ks:
            inputs += [tuple(without(ids, order[:k])), tuple(only(ids, order[:k], special_mask))]
    m = _score_all(inputs, score_fn, progress=progress)
    full = m[tuple(ids)]

    def curves(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        comp = [full - m[tuple(without(ids, order[:k]))] for k in ks]
        suff = [full - m[tuple(only(ids, order[:k], special_mask))] for k in ks]
        return np.array(comp), np.array(suff)

    result = {}
    for name, order in orders.items():
        comp, suff = curves(order)
        result[name] = Curve(name, np.array(ks), comp, suff, tuple(int(p) for p in order))
    if seeds:
        runs = np.array([curves(order) for order in rng_orders])          # (seeds, 2, K)
        result[RANDOM] = Curve(RANDOM, np.array(ks), runs[:, 0].mean(0), runs[:, 1].mean(0),
                               comp_range=np.stack([runs[:, 0].min(0), runs[:, 0].max(0)]),
                               suff_range=np.stack([runs[:, 1].min(0), runs[:, 1].max(0)]))
    return result


# -- the model's output on a shortened input ------------------------------------------------------
def _in_budget(net, batch: list[list[int]], run: Callable[[torch.Tensor], torch.Tensor],
               budget: Optional[int]) -> torch.Tensor:
    """run(ids (b, T')) over the batch in pieces of as many inputs as fit the job's memory budget
    (analysis/budget.py), concatenated: each row is computed on its own, so the pieces change nothing."""
    size = batch_size(forward_bytes(net.config, len(batch[0])), budget, most=len(batch))
    with torch.inference_mode():
        return torch.cat([run(torch.tensor(batch[part.start:part.stop], dtype=torch.long))
                          for part in chunks(len(batch), size)])


def similarity_scorer(net, ids: Sequence[int], budget: Optional[int] = None) -> ScoreFn:
    """m(x') = cos(mean-pooled last hidden states of x', those of the full x): 1 for x itself."""
    def pooled(batch: list[list[int]]) -> torch.Tensor:
        return _in_budget(net, batch, lambda rows: mean_pooled(final_hidden(net, rows)), budget)   # (B, d_model)

    full = pooled([list(ids)])[0]

    def score(batch: list[list[int]]) -> np.ndarray:
        return (pooled(batch) @ full).to(torch.float64).numpy()             # (B,)
    return score


def next_token_scorer(net, ids: Sequence[int], budget: Optional[int] = None) -> tuple[ScoreFn, int]:
    """m(x') = p(y | x') read after the last token of x', y the token predicted after the full x.
    Returns the scorer and y."""
    if not net.config.lm_head:
        raise ValueError("this model has no next-token logits (no unembedding)")

    def last_logits(rows: torch.Tensor) -> torch.Tensor:
        return net.next_logits(final_hidden(net, rows)[:, -1])              # (b, vocab)

    def probabilities(batch: list[list[int]]) -> torch.Tensor:
        logits = _in_budget(net, batch, last_logits, budget)                # (B, vocab)
        return torch.softmax(logits.to(torch.float64), dim=-1)             # (B, vocab)

    predicted = int(probabilities([list(ids)])[0].argmax())

    def score(batch: list[list[int]]) -> np.ndarray:
        return probabilities(batch)[:, predicted].numpy()                  # (B,)
    return score, predicted
