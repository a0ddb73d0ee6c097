"""Searching a corpus by what a head asks (after exBERT, Hoover et al. 2020).

At one layer and head, each token's query vector q says what the token is looking for. Two
contexts whose queries point the same way are asked the same question by that head, so they
tend to look at the same kind of key: "where else does layer 4 head 3 look from a verb to its
object?" becomes "which corpus tokens have queries nearest (by cosine) to this verb's query?".

    index = QueryIndex.build([head_queries(trace, layer, head) for trace in corpus_traces])
    hits = index.nearest(head_queries(my_trace, layer, head)[position], k=10)

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
    if not 0 <= layer < trace.n_layers or not 0 <= head < trace.n_heads:
        raise ValueError(f"layer {layer}, head {head} is not in this model "
                         f"({trace.n_layers} layers × {trace.n_heads} heads)")
    return np.asarray(trace.layers[layer].q[head], dtype=np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Hit:
    sentence: int      # index into the corpus
    position: int      # the token inside that sentence
    cosine: float      # how closely its query points the way yours does (1 = the same way)


@dataclass(frozen=True, eq=False)
class QueryIndex:
    """Unit query vectors of every token of a corpus at one head, and where each came from."""
    vectors: np.ndarray      # (tokens, d_head) float32, each of length 1
    sentence: np.ndarray     # (tokens,) int32: which sentence
    position: np.ndarray     # (tokens,) int32: which token of it

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
        return cls(_unit(np.concatenate(rows)), np.concatenate(sentences), np.concatenate(positions))

    def __len__(self) -> int:
        return len(self.vectors)

    def nearest(self, query: np.ndarray, k: int = 10, one_per_sentence: bool = True) -> list[Hit]:
        """The k corpus tokens whose queries are most similar (cosine) to `query`, best first;
        with one_per_sentence, each sentence's best token only (ten different contexts)."""
        query = _unit(np.asarray(query, dtype=np.float32).ravel())
        if query.shape != self.vectors.shape[1:]:
            raise ValueError(f"the query has {query.size} numbers; this head's have {self.vectors.shape[1]}")
        cosine = self.vectors @ query                                  # (tokens,)
        order = np.argsort(-cosine, kind="stable")
        hits, seen = [], set()
        for i in order:
            s = int(self.sentence[i])
            if one_per_sentence and s in seen:
                continue
            seen.add(s)
            hits.append(Hit(s, int(self.position[i]), float(cosine[i])))
            if len(hits) == k:
                break
        return hits
