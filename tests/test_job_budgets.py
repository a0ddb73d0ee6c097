"""Issue 27: every expensive computation is cut to the per-job memory budget. Measured here: the
process's peak resident memory while a patching grid runs at a length where all its variants at
once would take many times the budget, and the same values whatever the chunks."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
import torch

from analysis.budget import forward_bytes
from analysis.patching import make_metric, patch_chunk, patch_grid
from training.lm import lm_config, new_model

M_MMAP_THRESHOLD = -3


def _status(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_growth(work) -> int:
    """Bytes the process's resident memory rose above its level before `work()`, at its peak. Large
    blocks are mmapped and returned on free (a fixed mmap threshold), and the kernel's high-water
    mark is reset first (/proc/self/clear_refs), so earlier tests' memory does not count."""
    ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 64 * 1024)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status("VmRSS:")
    work()
    return _status("VmHWM:") - before


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return new_model(lm_config(48, context=256, d_model=32, n_heads=4, n_layers=2), seed=3).eval()


def grid(net, t: int, kind: str, budget: int):
    rng = np.random.default_rng(t)
    clean = [int(i) for i in rng.integers(0, 48, t)]
    corrupted = clean[:t // 2] + [(clean[t // 2] + 1) % 48] + clean[t // 2 + 1:]
    metric = make_metric(net, clean, corrupted, answer=3, other=5)
    return patch_grid(net, net.trace(clean), corrupted, kind, metric, budget=budget)


@pytest.mark.parametrize("kind", ["resid_pre", "head"])
def test_patching_values_do_not_depend_on_the_chunks(net, kind):
    one_at_a_time = grid(net, 40, kind, budget=1)
    all_at_once = grid(net, 40, kind, budget=10 ** 12)
    np.testing.assert_allclose(one_at_a_time.values, all_at_once.values, rtol=1e-5, atol=1e-5)


def test_a_patching_grid_stays_within_the_budget_where_all_at_once_would_not(net):
    t, budget = 256, 20_000_000
    assert 256 * forward_bytes(net.config, t) > 20 * budget        # every position at once: > 20 budgets
    assert patch_chunk(net.config, t, budget) * forward_bytes(net.config, t) <= budget
    growth = peak_growth(lambda: grid(net, t, "resid_pre", budget))
    assert growth < 2 * budget, f"grew {growth / 1e6:.0f} MB for a {budget / 1e6:.0f} MB budget"


def test_detector_scores_do_not_depend_on_the_chunks_and_equal_every_layer_stacked(net):
    from analysis.detectors import (detector_chunk, duplicate_token_pattern, duplicate_token_scores,
                                    pattern_scores, sink_scores)

    ids = [int(i) for i in np.random.default_rng(1).integers(0, 48, 60)]
    trace = net.trace(ids)
    stacked = pattern_scores(trace.attentions, duplicate_token_pattern(ids))     # every layer at once
    np.testing.assert_allclose(duplicate_token_scores(trace, budget=1), stacked, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(duplicate_token_scores(trace, budget=10 ** 12), stacked, rtol=1e-6, atol=1e-9)
    sinks = np.asarray(trace.attentions, dtype=np.float64)[:, :, 1:, 0].mean(-1)
    np.testing.assert_allclose(sink_scores(trace, budget=1), sinks, rtol=1e-6, atol=1e-9)
    assert detector_chunk(12, 512, 1) == 1 and detector_chunk(12, 512, 10 ** 12) == 12
    assert detector_chunk(12, 2048, 400_000_000) < 12                  # long texts: a few heads at a time


def test_a_corpus_job_of_long_passages_stays_within_the_budget_and_says_so_before_it_starts(minilm):
    """Corpus head statistics over 512-token MiniLM passages with a 120 MB budget: the estimate made
    before the job fits the budget, the process's peak stays within it (every layer's weights stacked
    with their temporaries took ~0.3 GB a passage), and the values equal those of unchunked heads."""
    from analysis.corpus import sentence_values
    from jobs import corpus_head_stats
    from jobs.budget import estimate_for

    budget = 120_000_000
    passages = [" ".join([f"the {animal} sat on the mat near the old river and saw a friend."] * 45)
                for animal in ("cat", "dog", "fox")]                       # each cut at 512 tokens
    before = estimate_for(minilm, passages, "stats", budget)
    assert before.longest_tokens == 512 and before.within_budget, before.describe()
    assert "within the per-job budget of 120 MB" in before.describe()
    assert 6 * 12 * 512 * 512 * 4 * 4 > 2 * budget                          # every layer stacked: > 2 budgets
    minilm.trace("warm up")                                                 # first-call allocations not counted
    growth = peak_growth(lambda: corpus_head_stats(minilm, passages, engine="local", budget=budget))
    assert growth < budget, f"grew {growth / 1e6:.0f} MB for a {budget / 1e6:.0f} MB budget"
    assert growth < 1.5 * before.peak_bytes                                 # the estimate is not far off
    trace = minilm.trace(passages[0][:400])
    np.testing.assert_allclose(sentence_values(trace, budget=1, config=minilm.config),
                               sentence_values(trace, budget=10 ** 12, config=minilm.config), rtol=1e-6, atol=1e-7)


def test_the_estimate_grows_with_the_passages_not_with_the_corpus(minilm):
    """Ten times the passages add only their small result rows; a longer passage costs more; a corpus of
    8,000-token passages on MiniLM is bounded by the 512 tokens it reads."""
    from jobs.budget import estimate_for

    short = ["The cat sat on the mat."] * 100
    small, large = estimate_for(minilm, short, budget=400_000_000), estimate_for(minilm, short * 10,
                                                                                budget=400_000_000)
    assert large.passage_bytes == small.passage_bytes
    assert large.result_bytes == 10 * small.result_bytes < 50_000_000
    huge = estimate_for(minilm, ["word " * 2000], budget=400_000_000)
    assert huge.longest_tokens == 512 and huge.passage_bytes > small.passage_bytes
    one_head = estimate_for(minilm, ["word " * 2000], "head", budget=400_000_000, per_passage=10)
    assert one_head.peak_bytes < huge.peak_bytes
    tiny = estimate_for(minilm, ["word " * 2000], budget=1)
    assert not tiny.within_budget and "even one head at a time" in tiny.describe()
