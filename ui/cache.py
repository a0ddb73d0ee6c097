"""A cache bounded in bytes, shared by every browser session of the server.

A teacher may serve a class of 30 from one machine: a traced 512-token sentence is
tens of megabytes, so a cache counted in entries grows to many gigabytes. This one
counts bytes (traces and what is derived from them alike), drops the least recently
used entries past its budget, and computes each key once even when thirty sessions
ask for the same default sentence at the same moment. Values are shared read-only
objects (a Trace is frozen with read-only arrays), never copied.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Callable, Hashable

import numpy as np

DEFAULT_BUDGET_MB = 700     # with MiniLM, GloVe and the runtime this keeps a server near 1.5–2 GB


def nbytes(value) -> int:
    """Bytes held by a value's numpy arrays, each buffer counted once (views share their base)."""
    seen: dict[int, int] = {}

    def visit(obj, depth: int = 0) -> None:
        if depth > 6 or obj is None:
            return
        if isinstance(obj, np.ndarray):
            root = obj
            while isinstance(root.base, np.ndarray):
                root = root.base
            seen[id(root)] = root.nbytes
        elif isinstance(obj, (list, tuple)):
            for item in obj[:4096]:
                visit(item, depth + 1)
        elif isinstance(obj, dict):
            for item in obj.values():
                visit(item, depth + 1)
        elif hasattr(obj, "__dict__") or hasattr(obj, "__dataclass_fields__"):
            for item in vars(obj).values():
                visit(item, depth + 1)

    visit(value)
    return sum(seen.values())


class ByteCache:
    def __init__(self, budget_bytes: int):
        self.budget = int(budget_bytes)
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._inflight: dict[Hashable, threading.Event] = {}
        self.used = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], object],
                       on_miss: Callable[[], None] | None = None,
                       on_wait: Callable[[], None] | None = None):
        """The cached value, or compute(), stored if it fits; one computation per key at a time.
        While another thread computes the key, on_wait() is called every half second (a page
        shows that it waits; a Streamlit call there also lets a closed tab stop waiting)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
                waiting = self._inflight.get(key)
                if waiting is None:
                    self._inflight[key] = threading.Event()
                    break
            # Another session computes it: take its result. If that session gives up (a closed
            # tab), the event is set without a value and the next waiter computes it instead.
            while not waiting.wait(timeout=0.5):
                if on_wait is not None:
                    on_wait()
        try:
            if on_miss is not None:
                on_miss()
            value = compute()
            self._store(key, value, nbytes(value))
            return value
        finally:
            with self._lock:
                self._inflight.pop(key).set()

    def _store(self, key: Hashable, value, size: int) -> None:
        with self._lock:
            if size > self.budget:      # too big to keep: the caller still gets it
                return
            self._items[key] = (value, size)
            self.used += size
            while self.used > self.budget:
                _, (_, dropped) = self._items.popitem(last=False)
                self.used -= dropped

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0

    def __len__(self) -> int:
        return len(self._items)


def budget_from_env() -> int:
    """$ATTENTION_EXPLORER_CACHE_MB, in megabytes (default DEFAULT_BUDGET_MB)."""
    raw = os.environ.get("ATTENTION_EXPLORER_CACHE_MB", "")
    megabytes = int(raw) if raw.isdigit() else DEFAULT_BUDGET_MB
    return megabytes * 1_000_000
