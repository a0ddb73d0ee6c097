"""Expensive work on a shared server: computed once per key, in one fair queue, with progress and cancel.

The head-importance map, attribution, the faithfulness test and attention flow cost seconds to
minutes of both cores at 512 tokens. `run_job` makes each of them:
  * computed once per key for the whole server (the shared byte-budgeted cache, ui/cache.py):
    ten sessions asking for the same map wait for one computation, and show that they wait;
  * a job in the server's queue (training/jobs.py): $ATTENTION_EXPLORER_JOB_SLOTS at once
    (default one per two cores), the others shown their place in line;
  * shown with a progress bar and a Cancel button. Every wait step and every progress report is a
    Streamlit call, so Cancel, any other click and a closed tab stop the job there and free its
    place (Streamlit interrupts a script at its next call once a rerun or a stop is asked for).
Each job's batches stay within the per-job memory budget (analysis/budget.py), so the server's
extra memory for expensive work is at most slots × $ATTENTION_EXPLORER_JOB_MB.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Callable, Hashable, Iterator

import streamlit as st

from training.jobs import JobQueue
from ui.state import shared_cache

WAIT_STEP_S = 0.5
log = logging.getLogger("attention_explorer.jobs")

Progress = Callable[[float], None]


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server: $ATTENTION_EXPLORER_JOB_SLOTS jobs at once (default one per
    two cores), every other job waits its turn."""
    slots = os.environ.get("ATTENTION_EXPLORER_JOB_SLOTS", "")
    return JobQueue(int(slots) if slots.isdigit() and int(slots) > 0 else max(1, (os.cpu_count() or 2) // 2))


def is_ready(key: Hashable) -> bool:
    """Already computed (by anyone): show it without asking for a click."""
    return key in shared_cache()


@contextlib.contextmanager
def queue_place(label: str, where, leave: str = "Cancel") -> Iterator[Progress]:
    """Wait in the server's one queue (the place shown in `where`, an st.empty) until this job may
    run; yields progress(fraction), which the people behind it see. Always leaves: a finished,
    cancelled or abandoned job (Stop, Cancel, a closed tab: each wait step is a Streamlit call)
    frees its slot or its place in line. Training runs and every expensive page wait here."""
    queue = job_queue()
    ticket = queue.enter(label)
    try:
        while not queue.try_start(ticket):
            where.info(waiting_line(queue, ticket, label, leave))
            time.sleep(WAIT_STEP_S)
        where.empty()
        yield lambda fraction: queue.report(ticket, fraction)
    finally:
        record = queue.leave(ticket)
        if record is not None:
            log.info("job %r waited %.1f s", label, record.waited_s)


def run_job(key: Hashable, compute: Callable[[Progress], object], label: str):
    """compute(progress) once per key for the whole server, as one job of the server's queue.
    `label` names the work for the person waiting ("Knocking out every head")."""
    cache = shared_cache()
    if key in cache:
        return cache.get_or_compute(key, lambda: compute(lambda fraction: None))
    status, cancel = st.empty(), st.empty()
    cancel.button("Cancel", key=f"cancel_job_{label}", help="Stops the computation and leaves the line.")

    def shared_wait() -> None:    # another session computes this very key: its result will be ours
        status.info(f"⏳ {label}: someone else asked for the same result just before you; it is on its way.")

    def job():
        with queue_place(label, status) as report:
            bar = status.progress(0.0, text=f"{label}…")

            def progress(fraction: float) -> None:
                report(fraction)
                bar.progress(min(1.0, max(0.0, fraction)), text=f"{label}… {fraction:.0%}")
            return compute(progress)

    try:
        return cache.get_or_compute(key, job, on_wait=shared_wait)
    finally:
        status.empty()
        cancel.empty()


def waiting_line(queue: JobQueue, ticket: int, label: str, leave: str = "Cancel") -> str:
    """What a person in line reads: their place, what runs now and how far it is, and which button
    (`leave`: Cancel, or Stop on the training pages) gives the place up."""
    ahead = queue.ahead_of(ticket)
    running = queue.now_running()
    now = ", ".join(f"{t.label.lower()} ({t.progress:.0%})" for t in running) or "nothing"
    return (f"⏳ {label}: other people's computations come first on this server ({queue.slots} at a time). "
            f"Yours is number {ahead + 1} in line; running now: {now}. It starts by itself; {leave} leaves the line.")
