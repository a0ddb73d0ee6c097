"""corpus_head_stats: every head's statistics over a corpus, on Ray or in this process.

    from jobs import corpus_head_stats
    result = corpus_head_stats("minilm", texts, engine="ray")     # or engine="local"
    result.mean("previous"), result.spread("previous")             # (layers, heads)
    result.per_sentence("previous")                                # (sentences, layers, heads)

engine="ray" runs on this process's local Ray (2 single-threaded workers by default) or, with
`address=` / $ATTENTION_EXPLORER_RAY_ADDRESS, on an existing cluster. If Ray cannot start, the
same job runs in this process and `result.engine` / `result.note` say so: the numbers are the same.
"""
from __future__ import annotations

import os
from typing import Sequence

from analysis.budget import job_budget_bytes
from analysis.corpus import CorpusStats, combine
from models import LoadedModel, load_model

from .engine import (DEFAULT_WORKERS, WORKERS_ENV, Cancelled, JobCancelled, Progress, RayUnavailable, Task,
                     cluster_cpus, ray_session, run_local, run_ray)

ENGINES = ("ray", "local")


def default_workers() -> int:
    text = os.environ.get(WORKERS_ENV, "")
    return max(1, int(text)) if text.isdigit() else DEFAULT_WORKERS


def corpus_head_stats(model: str | LoadedModel, texts: Sequence[str], engine: str = "ray",
                      address: str | None = None, workers: int | None = None, batch_size: int = 16,
                      progress: Progress | None = None, cancelled: Cancelled | None = None,
                      timings: dict | None = None, threads: int | None = None,
                      budget: int | None = None) -> CorpusStats:
    """Per-head statistics (mean and spread, L×H) and per-sentence values for `texts`.

    model: a name load_model knows ("minilm", a folder) or a LoadedModel (Ray workers reload it by
    its name). workers: Ray actors (default 2 locally, every CPU of a cluster). progress(done,
    total) is called as sentences finish; cancelled() returning True stops the job (JobCancelled).
    threads: torch threads of an in-process run (None: the process's setting). Ray workers use one
    each; at equal thread counts the two engines agree bit for bit, else to float32 rounding (~2e-6).
    budget: bytes one sentence's work may take, in this process or in each worker (default
    $ATTENTION_EXPLORER_JOB_MB, read here and sent to the workers); see jobs/budget.py.
    """
    texts = list(texts)
    name = model.name if isinstance(model, LoadedModel) else str(model)
    rows, used, note = run_corpus_job(model, texts, engine, address, workers, batch_size, progress, cancelled,
                                      timings, threads, task_args={"budget": job_budget_bytes() if budget is None
                                                                   else int(budget)})
    kept = [(text, row) for text, row in zip(texts, rows) if row is not None]
    skipped = len(texts) - len(kept)
    if skipped:
        note += f" {skipped} passage(s) had nothing the model reads and were left out."
    return combine(name, [t for t, _ in kept], [r for _, r in kept], engine=used, note=note.strip())


def run_corpus_job(model: str | LoadedModel, texts: list[str], engine: str = "ray", address: str | None = None,
                   workers: int | None = None, batch_size: int = 16, progress: Progress | None = None,
                   cancelled: Cancelled | None = None, timings: dict | None = None, threads: int | None = None,
                   task: Task | None = None, task_args: dict | None = None) -> tuple[list, str, str]:
    """(one row per text, the engine used, a note saying how it ran): `task` (default: the head
    statistics) over the texts on Ray, or in this process when asked or when Ray fails."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if not texts:
        raise ValueError("the corpus has no sentences.")
    name = model.name if isinstance(model, LoadedModel) else str(model)
    note = ""
    if engine == "ray":
        try:
            session = ray_session(address, workers or default_workers())
            count = workers or (default_workers() if session.get("local") else cluster_cpus())
            rows = run_ray(name, texts, count, batch_size, progress, cancelled, timings, task, task_args)
            return rows, "ray", (f"Ray, {count} workers on " + ("a local instance" if session.get("local")
                                                                else f"the cluster at {session['address']}"))
        except JobCancelled:
            raise
        except RayUnavailable as exc:
            note = f"Ray could not start ({exc}); ran in this process instead, with the same results."
        except Exception as exc:   # a worker that failed (model missing on a node, a lost node)
            note = (f"The Ray job failed ({type(exc).__name__}: {str(exc)[:300]}); ran in this process "
                    "instead, with the same results.")
    loaded = model if isinstance(model, LoadedModel) else load_model(name)
    rows = run_local(loaded, texts, progress, cancelled, batch_size, threads, task, task_args)
    return rows, "local", note or "in this process"
