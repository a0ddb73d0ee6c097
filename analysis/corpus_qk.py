"""One head's query–key space over a whole corpus (AttentionViz's main view, Yeh et al. 2023).

The Query–key space page draws one sentence's queries and keys (analysis/qk_space.py). Here the
same picture holds thousands of tokens from many sentences at once: clusters that recur across
the corpus (all the determiners' queries, every sentence's first key) become visible.

Bounded twice: each sentence gives at most `per_sentence` tokens (a sample fixed by the text and a
seed, so the same corpus gives the same picture on Ray and in this process), and the whole picture
at most `max_points` tokens (2 points each: its query and its key). The normalisation is the one
page's: keys moved by one vector c and both rescaled by s, found over every sampled token together;
neither changes any attention weight, in any sentence (c adds q_i·c to every score of query i's
row, whatever sentence it is in), so the picture is still the head's own geometry.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core import Trace

from .corpus_search import check_head
from .qk_space import qk_space

DEFAULT_POINTS = 2_000     # tokens drawn: 4,000 markers, a few hundred kB in the browser
MAX_POINTS = 5_000         # beyond this a scatter of tokens is a blur and the page gets heavy


@dataclass(frozen=True)
class SentenceQK:
    """The sampled tokens of one sentence at one head: what a worker sends back (small)."""
    positions: np.ndarray    # (m,) int32 which tokens of the sentence
    tokens: tuple[str, ...]  # (m,) their text
    queries: np.ndarray      # (m, d_head) float32
    keys: np.ndarray         # (m, d_head) float32


def sample_positions(text: str, n_tokens: int, keep: int, seed: int = 0,
                     skip: Sequence[bool] | None = None) -> np.ndarray:
    """Up to `keep` positions of a sentence, sorted; the same text and seed give the same sample
    (the text's checksum seeds the draw: independent of batches, workers and the corpus's order)."""
    allowed = np.arange(n_tokens) if skip is None else np.flatnonzero(~np.asarray(skip, dtype=bool))
    if len(allowed) <= keep:
        return allowed.astype(np.int32)
    rng = np.random.default_rng([seed, zlib.crc32(text.encode("utf-8"))])
    return np.sort(rng.choice(allowed, size=keep, replace=False)).astype(np.int32)


def sentence_qk(trace: Trace, layer: int, head: int, keep: int, seed: int = 0,
                skip_special: bool = True) -> SentenceQK:
    """The queries and keys of up to `keep` sampled tokens of one sentence at (layer, head)."""
    check_head(trace, layer, head)
    one = trace.head(layer, head)           # one head recomputed (not the layer's H): the corpus job's memory
    q, k = one.q, one.k                                                  # (T, d_head) each, as head_qk gives
    positions = sample_positions(trace.text, len(trace.tokens), keep, seed,
                                 trace.special_mask if skip_special else None)
    return SentenceQK(positions, tuple(trace.tokens[i] for i in positions),
                      np.asarray(q, dtype=np.float32)[positions], np.asarray(k, dtype=np.float32)[positions])


def per_sentence_budget(n_sentences: int, max_points: int) -> int:
    """Tokens to sample from each sentence so that the corpus fills about max_points (at least 1)."""
    return max(1, -(-max_points // max(1, n_sentences)))                # ceil


@dataclass(frozen=True)
class CorpusQK:
    """Sampled tokens of a corpus in one head's joint query–key projection."""
    query_xy: np.ndarray     # (N, 2) float32
    key_xy: np.ndarray       # (N, 2) float32
    sentence: np.ndarray     # (N,) int32 which passage (index into the texts)
    position: np.ndarray     # (N,) int32 which token of it
    tokens: tuple[str, ...]  # (N,) the token's text
    explained: np.ndarray    # (2,) share of the joint cloud's spread on each axis
    scale: float             # s of the normalisation (queries ×s, keys ÷s)

    def __len__(self) -> int:
        return len(self.tokens)

    def frequent_tokens(self, count: int = 10) -> list[str]:
        """The `count` most frequent tokens of the sample, most frequent first (ties: first seen)."""
        seen: dict[str, int] = {}
        for token in self.tokens:
            seen[token] = seen.get(token, 0) + 1
        return sorted(seen, key=lambda t: -seen[t])[:count]

    def tightest(self, count: int = 10, least: int = 5) -> tuple[str, int, float] | None:
        """Among the `count` most frequent tokens drawn at least `least` times, the one whose queries sit
        closest together in the picture: (token, times drawn, the root-mean-square distance of its queries
        to their centre ÷ that of every query to theirs; 1 = as spread as the whole cloud). None: no such token."""
        tokens = np.asarray(self.tokens, dtype=object)
        whole = np.sqrt(((self.query_xy - self.query_xy.mean(axis=0)) ** 2).sum(axis=1).mean())
        best = None
        for token in self.frequent_tokens(count):
            points = self.query_xy[tokens == token]                        # (n, 2) this token's queries
            if len(points) < least:
                continue
            ratio = float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()) / max(whole, 1e-12))
            if best is None or ratio < best[2]:
                best = (token, len(points), ratio)
        return best


def corpus_qk_space(rows: Sequence[SentenceQK | None], max_points: int = DEFAULT_POINTS,
                    seed: int = 0) -> CorpusQK:
    """Normalise every sampled query and key together, then one PCA of both: one row per passage
    (None: a passage the model could not read). Beyond max_points tokens, a seeded subset is kept."""
    if not 1 <= max_points <= MAX_POINTS:
        raise ValueError(f"max_points must be between 1 and {MAX_POINTS:,}, got {max_points}")
    kept = [(i, row) for i, row in enumerate(rows) if row is not None and len(row.positions)]
    if not kept:
        raise ValueError("the corpus has no tokens to draw (every passage was empty or only special tokens).")
    q = np.concatenate([row.queries for _, row in kept])                  # (N, d_head)
    k = np.concatenate([row.keys for _, row in kept])
    sentence = np.concatenate([np.full(len(row.positions), i, dtype=np.int32) for i, row in kept])
    position = np.concatenate([row.positions for _, row in kept]).astype(np.int32)
    tokens = [t for _, row in kept for t in row.tokens]
    if len(q) > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(len(q), size=max_points, replace=False))
        q, k, sentence, position = q[chosen], k[chosen], sentence[chosen], position[chosen]
        tokens = [tokens[i] for i in chosen]
    space = qk_space(q, k)                          # the one-sentence page's normalisation and PCA, on all of them
    return CorpusQK(space.query_xy.astype(np.float32), space.key_xy.astype(np.float32), sentence, position,
                    tuple(tokens), np.asarray(space.explained, dtype=np.float64), float(space.scale))
