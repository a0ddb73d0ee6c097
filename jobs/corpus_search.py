"""One head's query vectors over a corpus, for exBERT-style search (analysis/corpus_search.py).

Runs in this process: one head's index is small (tokens × d_head floats) and a page asks for one
head at a time; the statistics job is the one worth a cluster.
"""
from __future__ import annotations

from typing import Sequence

from analysis.corpus_search import QueryIndex, head_queries
from models import EmptyTextError, LoadedModel

from .engine import Cancelled, JobCancelled, Progress


def corpus_query_index(model: LoadedModel, texts: Sequence[str], layer: int, head: int,
                       progress: Progress | None = None, cancelled: Cancelled | None = None,
                       skip_special: bool = True) -> tuple[QueryIndex, list[int]]:
    """(index of every token's query at (layer, head), which texts it covers: indices into texts).
    Special tokens are left out unless skip_special is False."""
    queries, skips, covered = [], [], []
    for i, text in enumerate(texts):
        if cancelled is not None and i % 16 == 0 and cancelled():
            raise JobCancelled()
        try:
            trace = model.trace(text)
        except EmptyTextError:
            continue
        queries.append(head_queries(trace, layer, head))
        skips.append(trace.special_mask if skip_special else [False] * len(trace.tokens))
        covered.append(i)
        if progress is not None and (i + 1) % 16 == 0:
            progress(i + 1, len(texts))
    if progress is not None:
        progress(len(texts), len(texts))
    return QueryIndex.build(queries, skips), covered
