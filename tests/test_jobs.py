"""The server's job queue and its once-per-key results: progress and place shown, a place freed by
whoever leaves, and one computation for ten sessions asking at once (head statistics included)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from training.jobs import JobQueue
from ui.cache import ByteCache


def test_the_running_job_reports_progress_and_the_line_moves_when_someone_leaves():
    queue = JobQueue(slots=1)
    a = queue.enter("Knocking out every head")
    b, c = queue.enter("Attribution"), queue.enter("Faithfulness")
    assert queue.try_start(a) and [queue.ahead_of(t) for t in (b, c)] == [0, 1]
    queue.report(a, 0.4)
    assert [(t.label, t.progress) for t in queue.now_running()] == [("Knocking out every head", 0.4)]
    queue.leave(b)                                       # a closed tab frees its place in line
    assert queue.ahead_of(c) == 0 and not queue.try_start(c)
    done = queue.leave(a)
    assert done.label == "Knocking out every head" and done.waited_s < 1.0
    assert queue.try_start(c) and queue.leave(c).waited_s >= 0
    assert queue.leave(c) is None and queue.running == queue.waiting == 0


def test_the_waiting_message_names_the_place_and_what_runs():
    from ui.jobs import waiting_line

    queue = JobQueue(slots=1)
    first, second, mine = queue.enter("Attribution"), queue.enter("Flow"), queue.enter("Head map")
    queue.try_start(first)
    queue.report(first, 0.25)
    line = waiting_line(queue, mine, "Head map")
    assert "number 2 in line" in line and "attribution (25%)" in line and "1 at a time" in line


def test_a_waiting_session_is_told_so_and_a_cancelled_computation_is_taken_over():
    """The first session gives up half way (its tab closed): the one waiting computes it instead."""
    cache = ByteCache(budget_bytes=10_000_000)
    started, waits, results = threading.Event(), [], []

    def abandoned():
        started.set()
        time.sleep(1.2)
        raise RuntimeError("tab closed")

    def first():
        with pytest.raises(RuntimeError):
            cache.get_or_compute("map", abandoned)

    worker = threading.Thread(target=first)
    worker.start()
    started.wait(5)
    results.append(cache.get_or_compute("map", lambda: np.ones(3), on_wait=lambda: waits.append(1)))
    worker.join(5)
    assert waits and results[0].sum() == 3 and "map" in cache


def test_ten_sessions_opening_the_same_new_link_measure_head_statistics_once(minilm, monkeypatch):
    """Issue 27: head statistics for one new link opened by 10 sessions were computed 10 times. They
    live in the shared byte-budgeted cache (ui/head_choice.py), computed once per key."""
    import ui.head_choice as head_choice

    calls = []
    real = head_choice.summary_statistics

    def counted(*args):
        calls.append(1)
        time.sleep(0.2)                 # long enough for all ten to arrive while it runs
        return real(*args)

    monkeypatch.setattr(head_choice, "summary_statistics", counted)
    trace = minilm.trace("A new link opened by a whole class at the same moment, measured once.")
    results = []
    threads = [threading.Thread(target=lambda: results.append(head_choice.head_stats_of(trace))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(results) == 10 and all(r is results[0] for r in results)
    assert head_choice.head_stats_of(trace) is results[0] and len(calls) == 1
