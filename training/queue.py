"""A fair queue for training runs: at most `slots` run at once, the others wait in arrival order.

One server may serve a whole class on two cores: two runs at once would each take twice
as long, twenty would take the machine. A page takes a ticket, shows its place in line
while it waits, trains when `try_start` says so, and always `leave`s (a finished, stopped
or abandoned run frees its slot). Thread-safe; no Streamlit here.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque


class TrainingQueue:
    def __init__(self, slots: int = 1):
        if slots < 1:
            raise ValueError("a training queue needs at least one slot.")
        self.slots = slots
        self._lock = threading.Lock()
        self._waiting: deque[int] = deque()
        self._running: set[int] = set()
        self._numbers = itertools.count(1)

    def enter(self) -> int:
        """A ticket at the end of the line."""
        with self._lock:
            ticket = next(self._numbers)
            self._waiting.append(ticket)
            return ticket

    def ahead_of(self, ticket: int) -> int:
        """How many runs wait before this ticket (0 once it runs or is first in line)."""
        with self._lock:
            return self._waiting.index(ticket) if ticket in self._waiting else 0

    def try_start(self, ticket: int) -> bool:
        """True when the ticket may train now: first in line and a slot is free (or it already runs)."""
        with self._lock:
            if ticket in self._running:
                return True
            if self._waiting and self._waiting[0] == ticket and len(self._running) < self.slots:
                self._waiting.popleft()
                self._running.add(ticket)
                return True
            return False

    def leave(self, ticket: int) -> None:
        """Done, stopped or gone: free the slot, or the place in line."""
        with self._lock:
            self._running.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)
