"""Running sentences through a model: in this process, or on Ray (a local instance or a cluster).

On Ray each worker is an actor that loads the model once (by name: models.load_model) and then
computes the statistics of batch after batch of sentences; the driver keeps every worker two
batches busy, collects results as they come back (progress, cancel) and puts them back in the
corpus's order. Plain Ray actors, not Ray Data: on this 2-core machine Ray Data's streaming
executor added ~15 s and three helper actors to a 200-sentence job, for a pool we need anyway.

One local Ray instance per process at most: `ray_session()` starts it once (bounded CPUs and
object store) or joins the cluster at `address` / $ATTENTION_EXPLORER_RAY_ADDRESS, and reuses it
after that. Ray shuts it down when the process exits.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Callable, Sequence

import numpy as np

ADDRESS_ENV = "ATTENTION_EXPLORER_RAY_ADDRESS"
WORKERS_ENV = "ATTENTION_EXPLORER_RAY_WORKERS"
DEFAULT_WORKERS = 2                  # this app's own Ray: two single-threaded workers
OBJECT_STORE_BYTES = 128 * 2**20     # results are small (7 × L × H floats a sentence)
WORKER_MEMORY_BYTES = 1 * 2**30      # reserved per worker: Ray places no more workers than fit
IN_FLIGHT = 2                        # batches queued per worker, so none waits for the driver

Row = tuple[np.ndarray, int] | None  # (statistics (S, L, H), tokens), None: nothing the model reads
Task = Callable                      # task(model, texts, **args) -> one row per text; module-level, so
                                     # Ray sends it to a worker by name (stats_of_texts, corpus_qk.qk_of_texts)
Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]

_lock = threading.Lock()
_started: dict = {}                  # what this process's Ray is: {"address": ..., "local": bool}


class JobCancelled(Exception):
    """The person stopped the job."""


class RayUnavailable(RuntimeError):
    """Ray could not start or join a cluster here; the message says why."""


def traces_of(model, texts: Sequence[str]):
    """Each text's trace, or None for a text with no tokens (it keeps its place in the corpus)."""
    from models import EmptyTextError

    for text in texts:
        try:
            yield model.trace(text)
        except EmptyTextError:
            yield None


def stats_of_texts(model, texts: Sequence[str], budget: int | None = None) -> list[Row]:
    """Each text's head statistics with one loaded model (the work inside a worker, and locally),
    one sentence at a time, each within `budget` bytes (default $ATTENTION_EXPLORER_JOB_MB)."""
    from analysis.budget import job_budget_bytes
    from analysis.corpus import sentence_values

    from .budget import work_budget

    budget = job_budget_bytes() if budget is None else int(budget)
    return [None if trace is None else (sentence_values(trace, work_budget(model.config, len(trace), budget),
                                                        model.config), len(trace.tokens))
            for trace in traces_of(model, texts)]


class StatsWorker:
    """A Ray actor's body: the model is loaded once, in the worker, then reused for every batch."""

    def __init__(self, model_name: str, threads: int = 1):
        import torch

        from models import load_model

        torch.set_num_threads(threads)   # one core each: two workers fill two cores without fighting
        self.model = load_model(model_name)

    def run(self, texts: list[str], task: Task | None = None, args: dict | None = None) -> list:
        return (task or stats_of_texts)(self.model, texts, **(args or {}))

    def peak_memory_bytes(self) -> int:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux reports KiB

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


def ray_address(address: str | None = None) -> str | None:
    return address or os.environ.get(ADDRESS_ENV) or None


def ray_session(address: str | None = None, workers: int = DEFAULT_WORKERS) -> dict:
    """Start this process's local Ray (once) or join a cluster; raises RayUnavailable with the reason."""
    address = ray_address(address)
    with _lock:
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable(f"Ray is not installed ({exc})") from exc
        if ray.is_initialized():
            return _started or {"address": "already running in this process", "local": False}
        try:
            common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                          configure_logging=True)
            if address:
                ray.init(address=address, **common)
                _started.update(address=address, local=False)
            else:
                # "local": a new instance of our own, even when a `ray start` cluster on this machine
                # left its address in /tmp/ray (plain ray.init() would join that one).
                ray.init(address="local", num_cpus=max(1, workers), object_store_memory=OBJECT_STORE_BYTES, **common)
                _started.update(address="local", local=True)
        except Exception as exc:   # a locked-down host fails in many ways (ports, /dev/shm, sockets)
            raise RayUnavailable(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        return dict(_started)


def stop_ray() -> None:
    """Shut this process's Ray down (tests, the command): the next job starts a fresh one."""
    with _lock:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _started.clear()


def cluster_cpus() -> int:
    import ray

    return int(ray.cluster_resources().get("CPU", 1))


def run_ray(model_name: str, texts: Sequence[str], workers: int, batch_size: int = 16,
            progress: Progress | None = None, cancelled: Cancelled | None = None,
            stats: dict | None = None, task: Task | None = None, task_args: dict | None = None) -> list:
    """Rows for every text, in order, computed by `workers` actors (Ray must be running).
    `stats`, if given, receives the workers' start-up seconds and peak memory. task(model, texts,
    **task_args): what a worker computes per batch (default: the head statistics)."""
    import ray

    Worker = ray.remote(num_cpus=1, memory=WORKER_MEMORY_BYTES, max_restarts=0)(StatsWorker)
    started = time.perf_counter()
    actors = [Worker.remote(model_name) for _ in range(max(1, workers))]
    rows: list[Row] = [None] * len(texts)
    queue = deque(range(0, len(texts), batch_size))          # each batch: texts[start:start + batch_size]
    pending: dict = {}                                        # result ref -> (batch start, actor)
    done_count = 0

    def submit(actor) -> None:
        start = queue.popleft()
        pending[actor.run.remote(list(texts[start:start + batch_size]), task, task_args)] = (start, actor)

    try:
        ray.get([a.node.remote() for a in actors])            # every model is loaded: errors surface here
        if stats is not None:
            stats["worker_start_s"] = time.perf_counter() - started
            stats["nodes"] = len(set(ray.get([a.node.remote() for a in actors])))
        for actor in actors:
            for _ in range(IN_FLIGHT):
                if queue:
                    submit(actor)
        while pending:
            if cancelled is not None and cancelled():
                raise JobCancelled()
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                start, actor = pending.pop(ref)
                batch = ray.get(ref)
                rows[start:start + len(batch)] = batch
                done_count += len(batch)
                if queue:
                    submit(actor)
                if progress is not None:
                    progress(done_count, len(texts))
        if stats is not None:
            stats["peak_memory_bytes"] = ray.get([a.peak_memory_bytes.remote() for a in actors])
    finally:
        for actor in actors:     # cancelled or failed: no worker keeps computing for nobody
            ray.kill(actor)
    return rows


def run_local(model, texts: Sequence[str], progress: Progress | None = None,
              cancelled: Cancelled | None = None, batch_size: int = 16, threads: int | None = None,
              task: Task | None = None, task_args: dict | None = None) -> list:
    """Rows for every text in this process, with the same progress and cancel as on Ray.
    threads: torch's threads for this job (restored after); None keeps the process's setting.
    A Ray worker uses 1: the same count gives the same float32 rounding, bit for bit."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    rows: list[Row] = []
    try:
        for start in range(0, len(texts), batch_size):
            if cancelled is not None and cancelled():
                raise JobCancelled()
            rows += (task or stats_of_texts)(model, texts[start:start + batch_size], **(task_args or {}))
            if progress is not None:
                progress(len(rows), len(texts))
    finally:
        torch.set_num_threads(before)
    return rows
