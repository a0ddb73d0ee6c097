"""The server's shared cache is bounded in bytes, computes each key once, and traces stay one size."""
from __future__ import annotations

import threading
import time

import numpy as np

from ui.cache import ByteCache, nbytes


def block(megabytes: float) -> np.ndarray:
    return np.zeros(int(megabytes * 1_000_000), dtype=np.uint8)


def test_the_budget_holds_and_the_least_recently_used_goes_first():
    cache = ByteCache(budget_bytes=3_000_000)
    for key in "abc":
        cache.get_or_compute(key, lambda: block(1))
    cache.get_or_compute("a", lambda: block(1))          # a is used again: b is now the oldest
    cache.get_or_compute("d", lambda: block(1))
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.used <= cache.budget


def test_a_value_larger_than_the_budget_is_returned_but_not_kept():
    cache = ByteCache(budget_bytes=1_000_000)
    value = cache.get_or_compute("big", lambda: block(2))
    assert value.nbytes == 2_000_000 and "big" not in cache and cache.used == 0


def test_thirty_sessions_asking_at_once_compute_once():
    cache = ByteCache(budget_bytes=10_000_000)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return block(1)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("default sentence", compute)))
               for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 30 and all(r is results[0] for r in results)


def test_views_are_counted_once():
    base = block(1)
    assert nbytes({"a": base, "b": base[:10], "c": [base[5:], base]}) == 1_000_000


def test_a_trace_keeps_its_size_when_its_layers_and_stacked_views_are_used(minilm):
    """Layers and attentions are recomputed on access (in the layer cache), never stored on the trace;
    hidden_states is the stored residual stream itself, which the layers' resid_pre/post are views of."""
    trace = minilm.trace("The river bank was steep and the water was cold. " * 6)
    before = nbytes(trace)
    attentions, hidden, layer = trace.attentions, trace.hidden_states, trace.layers[2]
    assert nbytes(trace) == before
    assert np.shares_memory(hidden, layer.resid_pre) and np.shares_memory(hidden, layer.resid_post)
    assert not attentions.flags.writeable and not hidden.flags.writeable
    np.testing.assert_array_equal(attentions[4], trace.layers[4].weights)
    np.testing.assert_array_equal(hidden[0], trace.embed)
