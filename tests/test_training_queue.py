"""The server's one job queue (training runs and expensive pages): at most N at once, in arrival order,
every slot freed."""
from __future__ import annotations

import threading
import time

import pytest

from training.jobs import JobQueue


def test_one_slot_serves_in_arrival_order():
    queue = JobQueue(slots=1)
    a, b, c = queue.enter(), queue.enter(), queue.enter()
    assert [queue.ahead_of(t) for t in (a, b, c)] == [0, 1, 2]
    assert not queue.try_start(b)                  # b may not jump the line
    assert queue.try_start(a) and queue.try_start(a)
    assert not queue.try_start(b)                  # the slot is taken
    assert [queue.ahead_of(t) for t in (b, c)] == [0, 1]
    queue.leave(a)
    assert queue.try_start(b) and not queue.try_start(c)
    queue.leave(c)                                 # a person who closes the tab while waiting
    queue.leave(b)
    assert queue.running == 0 and queue.waiting == 0


def test_two_slots_and_many_threads_never_exceed_the_limit():
    queue = JobQueue(slots=2)
    peak, now, lock = [0], [0], threading.Lock()

    def student():
        ticket = queue.enter()
        while not queue.try_start(ticket):
            time.sleep(0.001)
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.005)
        with lock:
            now[0] -= 1
        queue.leave(ticket)

    threads = [threading.Thread(target=student) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert peak[0] == 2 and queue.running == 0 and queue.waiting == 0


def test_a_queue_needs_a_slot():
    with pytest.raises(ValueError):
        JobQueue(slots=0)
