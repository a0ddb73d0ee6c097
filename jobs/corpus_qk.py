"""One head's query–key space over a corpus (analysis/corpus_qk.py), on Ray or in this process.

    from jobs.corpus_qk import corpus_qk
    space = corpus_qk("minilm", texts, layer=3, head=5, engine="ray", max_points=2000)
    space.query_xy, space.key_xy, space.tokens, space.sentence, space.position

Each worker runs its sentences and sends back only the sampled tokens' queries and keys (at most
`per_sentence` tokens × d_head floats × 2 per sentence); the driver normalises and projects them
all together. The sample is fixed by each text and the seed, so both engines draw the same picture.
"""
from __future__ import annotations

from typing import Sequence

from analysis.corpus_qk import DEFAULT_POINTS, CorpusQK, SentenceQK, corpus_qk_space, per_sentence_budget, sentence_qk
from models import LoadedModel

from .corpus_stats import run_corpus_job
from .engine import Cancelled, Progress, traces_of


def qk_of_texts(model, texts: Sequence[str], layer: int, head: int, keep: int, seed: int = 0,
                skip_special: bool = True) -> list[SentenceQK | None]:
    """The work inside a worker (and locally): each text's sampled queries and keys at one head."""
    return [None if trace is None else sentence_qk(trace, layer, head, keep, seed, skip_special)
            for trace in traces_of(model, texts)]


def corpus_qk(model: str | LoadedModel, texts: Sequence[str], layer: int, head: int, engine: str = "local",
              max_points: int = DEFAULT_POINTS, seed: int = 0, skip_special: bool = True,
              address: str | None = None, workers: int | None = None, progress: Progress | None = None,
              cancelled: Cancelled | None = None) -> tuple[CorpusQK, str]:
    """(the corpus's tokens in the head's joint query–key projection, a note saying how it ran).
    At most max_points tokens: about max_points / len(texts) from each passage, a seeded subset of those."""
    texts = list(texts)
    keep = per_sentence_budget(len(texts), max_points)
    args = dict(layer=layer, head=head, keep=keep, seed=seed, skip_special=skip_special)
    rows, _, note = run_corpus_job(model, texts, engine, address, workers, progress=progress, cancelled=cancelled,
                                   task=qk_of_texts, task_args=args)
    return corpus_qk_space(rows, max_points, seed), note
