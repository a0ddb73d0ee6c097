"""One head's query vectors (or pooled attention rows) over a corpus, for exBERT-style search
(analysis/corpus_search.py).

Runs in this process: one head's index is small (tokens × d_head floats) and a page asks for one
head at a time; the statistics job is the one worth a cluster.
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
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    vectors_of, index_kind = KINDS[kind]
    queries, skips, covered = [], [], []
    for i, text in enumerate(texts):
        if cancelled is not None and i % 16 == 0 and cancelled():
            raise JobCancelled()
        try:
            trace = model.trace(text)
        except EmptyTextError:
            continue
        queries.append(vectors_of(trace, layer, head))
        skips.append(trace.special_mask if skip_special else [False] * len(trace.tokens))
        covered.append(i)
        if progress is not None and (i + 1) % 16 == 0:
            progress(i + 1, len(texts))
    if progress is not None:
        progress(len(texts), len(texts))
    return index_kind.build(queries, skips), covered
