"""One head's query vectors (or pooled attention rows) over a corpus, for exBERT-style search
(analysis/corpus_search.py).

Runs in this process: one head's index is small (tokens × d_head floats). Reading the corpus (a trace
per passage) costs far more than taking one more head from each trace, so a page's job builds the
index of every head of the chosen layer at once, and moving to another head of that layer is free;
the statistics job is the one worth a cluster.
"""
from __future__ import annotations

from typing import Sequence

from analysis.corpus_search import PatternIndex, QueryIndex, head_profiles, head_queries
from models import EmptyTextError, LoadedModel

from .engine import Cancelled, JobCancelled, Progress

# What a search compares: the head's query vectors, or its pooled attention rows (where it looks).
KINDS = {"query": (head_queries, QueryIndex), "pattern": (head_profiles, PatternIndex)}


def corpus_query_index(model: LoadedModel, texts: Sequence[str], layer: int, head: int,
                       progress: Progress | None = None, cancelled: Cancelled | None = None,
                       skip_special: bool = True, kind: str = "query") -> tuple[QueryIndex, list[int]]:
    """(index of every token's query (kind="query") or pooled attention row (kind="pattern") at
    (layer, head), which texts it covers: indices into texts). Special tokens are left out unless
    skip_special is False."""
    return corpus_layer_indexes(model, texts, layer, [head], progress, cancelled, skip_special, kind)[head]


def corpus_layer_indexes(model: LoadedModel, texts: Sequence[str], layer: int, heads: Sequence[int] | None = None,
                         progress: Progress | None = None, cancelled: Cancelled | None = None,
                         skip_special: bool = True, kind: str = "query") -> dict[int, tuple[QueryIndex, list[int]]]:
    """corpus_query_index for several heads of one layer (all of them by default), each passage traced once."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    vectors_of, index_kind = KINDS[kind]
    heads = list(range(model.config.n_heads) if heads is None else heads)
    vectors: dict[int, list] = {head: [] for head in heads}
    skips, covered = [], []
    for i, text in enumerate(texts):
        if cancelled is not None and i % 16 == 0 and cancelled():
            raise JobCancelled()
        try:
            trace = model.trace(text)
        except EmptyTextError:
            continue
        for head in heads:
            vectors[head].append(vectors_of(trace, layer, head))
        skips.append(trace.special_mask if skip_special else [False] * len(trace.tokens))
        covered.append(i)
        if progress is not None and (i + 1) % 16 == 0:
            progress(i + 1, len(texts))
    if progress is not None:
        progress(len(texts), len(texts))
    return {head: (index_kind.build(vectors[head], skips), covered) for head in heads}
