"""Expensive work cut to the per-job memory budget: the batch sizes fit it, and the results do not
depend on them (integrated gradients, erasure scoring)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.attribution import Target, integrated_gradients
from analysis.budget import (DEFAULT_JOB_MB, batch_size, block_bytes, chunks, final_hidden, forward_bytes,
                             gradient_bytes, job_budget_bytes)
from analysis.faithfulness import next_token_scorer, similarity_scorer
from training.lm import lm_config, new_model

SENTENCE = "The bank of the river was muddy after the storm."


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("ATTENTION_EXPLORER_JOB_MB", raising=False)
    assert job_budget_bytes() == DEFAULT_JOB_MB * 1_000_000
    monkeypatch.setenv("ATTENTION_EXPLORER_JOB_MB", "150")
    assert job_budget_bytes() == 150_000_000
    for bad in ("0", "-5", "lots", ""):
        monkeypatch.setenv("ATTENTION_EXPLORER_JOB_MB", bad)
        assert job_budget_bytes() == DEFAULT_JOB_MB * 1_000_000


def test_batches_fit_and_chunks_cover_everything_once():
    assert batch_size(100, budget=1_000) == 10 and batch_size(100, budget=1_000, most=4) == 4
    assert batch_size(10_000, budget=1_000) == 1               # never zero: the job still runs
    for n, size in [(12, 8), (12, 12), (12, 1), (7, 3), (1, 5)]:
        parts = chunks(n, size)
        assert [i for part in parts for i in part] == list(range(n))
        assert max(map(len, parts)) <= size and max(map(len, parts)) - min(map(len, parts)) <= 1
    assert chunks(0, 4) == []


def test_the_estimates_grow_as_the_work_does(minilm):
    config = minilm.config
    assert block_bytes(config, 512) > 3 * block_bytes(config, 256)        # the T² scores dominate
    assert gradient_bytes(config, 512) > config.n_layers * block_bytes(config, 512)   # the graph keeps every block
    assert forward_bytes(config, 512) < gradient_bytes(config, 512) / config.n_layers


def test_the_lean_forward_equals_the_model_run(minilm):
    ids = torch.tensor([minilm.tokenizer.encode(SENTENCE).ids])
    with torch.inference_mode():
        expected = minilm.net.run(ids)[1][-1].resid_post
        np.testing.assert_array_equal(final_hidden(minilm.net, ids).numpy(), expected.numpy())


def test_integrated_gradients_do_not_depend_on_the_batch(minilm):
    ids = minilm.tokenizer.encode(SENTENCE).ids
    target = Target("token state", position=2)
    one_at_a_time = integrated_gradients(minilm.net, ids, target, n_steps=8, budget=1)
    seen = []
    all_at_once = integrated_gradients(minilm.net, ids, target, n_steps=8, budget=10 ** 12, progress=seen.append)
    np.testing.assert_allclose(one_at_a_time.scores, all_at_once.scores, rtol=1e-5, atol=1e-7)
    assert one_at_a_time.delta == pytest.approx(all_at_once.delta, rel=1e-4, abs=1e-6)   # float32 sums
    assert seen and seen == sorted(seen) and seen[-1] <= 1.0


def test_erasure_scores_do_not_depend_on_the_batch(minilm):
    ids = minilm.tokenizer.encode(SENTENCE).ids
    batch = [ids[:5] + ids[-1:], ids[1:6] + ids[-1:], ids[2:7] + ids[-1:]]
    small = similarity_scorer(minilm.net, ids, budget=1)(batch)             # one input per pass
    large = similarity_scorer(minilm.net, ids, budget=10 ** 12)(batch)
    np.testing.assert_allclose(small, large, atol=1e-6)
    assert similarity_scorer(minilm.net, ids)([ids])[0] == pytest.approx(1.0, abs=1e-6)


def test_next_token_scores_do_not_depend_on_the_batch():
    net = new_model(lm_config(48, context=16, d_model=32, n_heads=4, n_layers=2), seed=3).eval()
    ids = [5, 17, 3, 28, 11, 9]
    small, predicted = next_token_scorer(net, ids, budget=1)
    large, same = next_token_scorer(net, ids, budget=10 ** 12)
    batch = [ids[:3], ids[2:5], ids[1:4]]
    assert predicted == same
    np.testing.assert_allclose(small(batch), large(batch), atol=1e-9)
    with torch.no_grad():
        p = torch.softmax(net.run(torch.tensor([ids[2:5]]))[3][0, -1].double(), dim=-1)
    assert small(batch)[1] == pytest.approx(float(p[predicted]), abs=1e-6)
