"""A fair queue for expensive work: at most `slots` jobs run at once, the others wait in arrival order.

One server may serve a whole class on two cores: two jobs at once each take twice as long,
twenty take the machine. Training runs, the head-importance map, attribution, the faithfulness
test and attention flow all wait here. A page takes a ticket, shows its place in line while it
waits, works when `try_start` says so, reports its progress, and always `leave`s (a finished,
cancelled or abandoned job frees its slot; so does a ticket that never started). Every ticket
remembers how long it waited and ran, for the server's log and the load test.
Thread-safe; no Streamlit here (ui/jobs.py draws it).
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Ticket:
    number: int
    label: str
    entered: float = field(default_factory=time.monotonic)
    started: float | None = None
    progress: float = 0.0            # 0 … 1, as the job reports it

    @property
    def waited_s(self) -> float:
        return (self.started or time.monotonic()) - self.entered


class JobQueue:
    def __init__(self, slots: int = 1, what: str = "job"):
        if slots < 1:
            raise ValueError(f"a {what} queue needs at least one slot.")
        self.slots = slots
        self._lock = threading.Lock()
        self._waiting: deque[int] = deque()
        self._running: set[int] = set()
        self._tickets: dict[int, Ticket] = {}
        self._numbers = itertools.count(1)

    def enter(self, label: str = "") -> int:
        """A ticket at the end of the line."""
        with self._lock:
            ticket = next(self._numbers)
            self._waiting.append(ticket)
            self._tickets[ticket] = Ticket(ticket, label)
            return ticket

    def ahead_of(self, ticket: int) -> int:
        """How many jobs wait before this ticket (0 once it runs or is first in line)."""
        with self._lock:
            return self._waiting.index(ticket) if ticket in self._waiting else 0

    def try_start(self, ticket: int) -> bool:
        """True when the ticket may work now: first in line and a slot is free (or it already runs)."""
        with self._lock:
            if ticket in self._running:
                return True
            if self._waiting and self._waiting[0] == ticket and len(self._running) < self.slots:
                self._waiting.popleft()
                self._running.add(ticket)
                self._tickets[ticket].started = time.monotonic()
                return True
            return False

    def report(self, ticket: int, fraction: float) -> None:
        """The job's progress, 0 … 1 (shown to the people waiting behind it)."""
        with self._lock:
            if ticket in self._tickets:
                self._tickets[ticket].progress = min(1.0, max(0.0, float(fraction)))

    def leave(self, ticket: int) -> Ticket | None:
        """Done, cancelled or gone: free the slot, or the place in line. Returns what the ticket
        recorded (its wait and label), or None for a ticket that already left."""
        with self._lock:
            self._running.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            return self._tickets.pop(ticket, None)

    def now_running(self) -> list[Ticket]:
        """Copies of the running jobs' tickets, oldest first (what the waiting are waiting for)."""
        with self._lock:
            return [Ticket(**vars(self._tickets[n])) for n in sorted(self._running)]

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)
