"""Searching a corpus by what a head asks, or by where it looks (after exBERT, Hoover et al. 2020).

At one layer and head, each token's query vector q says what the token is looking for. Two
contexts whose queries point the same way are asked the same question by that head, so they
tend to look at the same kind of key: "where else does layer 4 head 3 look from a verb to its
object?" becomes "which corpus tokens have queries nearest (by cosine) to this verb's query?".

    index = QueryIndex.build([head_queries(trace, layer, head) for trace in corpus_traces])
    hits = index.nearest(head_queries(my_trace, layer, head)[position], k=10)

By where it looks: a token's attention row at the head, pooled by position relative to the token
(pattern_profile: the sink, i.e. the first token and the special tokens, then each offset from
−NEAR to +NEAR, and "further back" / "further ahead"), is compared with another's by their
overlap  Σ min(p, q): the share of attention both rows put in the same places (1 = the same
pattern, 0 = nothing in common). Rows of different lengths compare, and a head that always looks
two tokens back matches itself in every sentence, whatever the words.

    index = PatternIndex.build([head_profiles(trace, layer, head) for trace in corpus_traces])
    hits = index.nearest(head_profiles(my_trace, layer, head)[position], k=10)

Pure numpy; the vectors take tokens × d_head × 4 bytes (1,000 sentences of 30 tokens at d_head
32: 4 MB), so one head's index is kept, not every head's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core import Trace


def head_queries(trace: Trace, layer: int, head: int) -> np.ndarray:
    """(T, d_head): every token's query at one head, as the scores use it (rotated in RoPE models)."""
    check_head(trace, layer, head)
    return np.asarray(trace.head(layer, head).q, dtype=np.float32)     # one head recomputed, not the layer


NEAR = 8        # offsets −NEAR..+NEAR each keep their own bin; further ones are pooled
BINS = ("sink", "further back", *(f"{d:+d}" for d in range(-NEAR, 0)), "itself",
        *(f"{d:+d}" for d in range(1, NEAR + 1)), "further ahead")


def pattern_profiles(weights: np.ndarray, sink: np.ndarray) -> np.ndarray:
    """weights (T_q, T_k) of one head, sink (T_k,) True for the first token and special tokens ->
    (T_q, len(BINS)): each row's attention pooled by where the key sits relative to the query.
    A row's bins add up to its total weight (1)."""
    weights = np.asarray(weights, dtype=np.float64)
    t_q, t_k = weights.shape
    offset = np.arange(t_k)[None, :] - np.arange(t_q)[:, None]               # (T_q, T_k) key − query
    column = np.clip(offset, -NEAR - 1, NEAR + 1) + NEAR + 2                  # 1 .. 2·NEAR + 3; 0 = sink
    column = np.where(np.asarray(sink, dtype=bool)[None, :], 0, column)
    profiles = np.zeros((t_q, len(BINS)))
    np.add.at(profiles, (np.repeat(np.arange(t_q), t_k), column.ravel()), weights.ravel())
    return profiles.astype(np.float32)


def sink_keys(trace: Trace) -> np.ndarray:
    """(T,) the keys pooled as 'sink': the first token and every special token."""
    sink = np.asarray(trace.special_mask, dtype=bool).copy()
    sink[:1] = True
    return sink


def head_profiles(trace: Trace, layer: int, head: int) -> np.ndarray:
    """(T, len(BINS)): every token's attention row at one head, pooled by relative position."""
    check_head(trace, layer, head)
    return pattern_profiles(trace.head(layer, head).weights, sink_keys(trace))   # one head's T × T, not H


def check_head(trace: Trace, layer: int, head: int) -> None:
    if not 0 <= layer < trace.n_layers or not 0 <= head < trace.n_heads:
        raise ValueError(f"layer {layer}, head {head} is not in this model "
                         f"({trace.n_layers} layers × {trace.n_heads} heads)")


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Hit:
    sentence: int      # index into the corpus
    position: int      # the token inside that sentence
    similarity: float  # queries: cosine (1 = the same way); patterns: overlap (1 = the same pattern)


@dataclass(frozen=True, eq=False)
class QueryIndex:
    """Unit query vectors of every token of a corpus at one head, and where each came from."""
    vectors: np.ndarray      # (tokens, d_head) float32, each of length 1
    sentence: np.ndarray     # (tokens,) int32: which sentence
    position: np.ndarray     # (tokens,) int32: which token of it

    measure = "cosine"       # what nearest() reports

    @classmethod
    def build(cls, per_sentence: Sequence[np.ndarray], skip: Sequence[Sequence[bool]] | None = None) -> "QueryIndex":
        """From one (T_i, d_head) array per sentence; skip[i][t] leaves token t of sentence i out
        (special tokens: [CLS] and [SEP] ask the same thing in every sentence and would crowd the list)."""
        if not per_sentence:
            raise ValueError("the corpus has no sentences.")
        rows, sentences, positions = [], [], []
        for i, queries in enumerate(per_sentence):
            keep = np.ones(len(queries), dtype=bool) if skip is None else ~np.asarray(skip[i], dtype=bool)
            rows.append(np.asarray(queries, dtype=np.float32)[keep])
            sentences.append(np.full(int(keep.sum()), i, dtype=np.int32))
            positions.append(np.flatnonzero(keep).astype(np.int32))
        return cls(cls._prepare(np.concatenate(rows)), np.concatenate(sentences), np.concatenate(positions))

    @staticmethod
    def _prepare(vectors: np.ndarray) -> np.ndarray:
        return _unit(vectors)

    def similarity(self, query: np.ndarray) -> np.ndarray:
        """(tokens,) each corpus token's similarity to `query`: the cosine of the two queries."""
        return self.vectors @ _unit(query)

    def __len__(self) -> int:
        return len(self.vectors)

    def nearest(self, query: np.ndarray, k: int = 10, one_per_sentence: bool = True) -> list[Hit]:
        """The k corpus tokens most similar to `query` (see similarity), best first;
        with one_per_sentence, each sentence's best token only (ten different contexts)."""
        query = np.asarray(query, dtype=np.float32).ravel()
        if query.shape != self.vectors.shape[1:]:
            raise ValueError(f"the query has {query.size} numbers; this head's have {self.vectors.shape[1]}")
        scores = self.similarity(query)                                # (tokens,)
        order = np.argsort(-scores, kind="stable")
        hits, seen = [], set()
        for i in order:
            s = int(self.sentence[i])
            if one_per_sentence and s in seen:
                continue
            seen.add(s)
            hits.append(Hit(s, int(self.position[i]), float(scores[i])))
            if len(hits) == k:
                break
        return hits


class PatternIndex(QueryIndex):
    """Pooled attention rows (pattern_profiles) of every token of a corpus at one head: the search by
    where the head looks. The same building and listing as QueryIndex; the similarity is the overlap."""
    measure = "overlap"

    @staticmethod
    def _prepare(vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float32)        # already shares of one: nothing to scale

    def similarity(self, query: np.ndarray) -> np.ndarray:
        """(tokens,) Σ min(p, q) over the bins: the share of attention both rows put in the same places."""
        return np.minimum(self.vectors, query[None, :]).sum(axis=1)
