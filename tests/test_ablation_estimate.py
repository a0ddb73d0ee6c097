"""The gradient estimate of every head's knock-out effect: in the exact map's units, ranking heads as the
knock-outs do, and within the per-job memory budget at 512 tokens."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.ablation import head_importance
from analysis.ablation_estimate import estimated_importance, rank_agreement
from analysis.budget import DEFAULT_JOB_MB, gradient_bytes

SENTENCE = "The bank of the river was muddy after the storm."


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_the_estimate_ranks_heads_like_the_knock_outs(minilm, mode):
    ids = minilm.tokenizer.encode(SENTENCE).ids
    estimate, exact = estimated_importance(minilm.net, ids, mode), head_importance(minilm.net, ids, mode)
    assert estimate.shape == exact.shape == (6, 12) and (estimate >= 0).all()
    assert rank_agreement(estimate, exact) > 0.8
    # The same units: the strongest head's estimate is within a factor of three of its exact effect.
    top = np.unravel_index(exact.argmax(), exact.shape)
    assert exact[top] / 3 < estimate[top] < exact[top] * 3


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_decoder_estimates_the_kl_and_nothing_changes_the_model(tiny_folders, family):
    """GPT-2, and Llama's grouped-query heads with rotary positions: the same units and order as the knock-outs."""
    from models import load_model

    model = load_model(tiny_folders[family])
    ids = model.tokenizer.encode("the queen rules her kingdom and the king").ids
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    estimate, exact = estimated_importance(model.net, ids), head_importance(model.net, ids)
    assert estimate.shape == exact.shape
    assert rank_agreement(estimate, exact) > 0.5
    assert all((model.net.state_dict()[k] == v).all() for k, v in before.items())
    assert all(p.grad is None for p in model.net.parameters())


def test_rank_agreement_is_spearman():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert rank_agreement(a, a ** 3) == pytest.approx(1.0)
    assert rank_agreement(a, -a) == pytest.approx(-1.0)
    assert np.isnan(rank_agreement(a, np.ones_like(a)))


def test_the_estimate_fits_the_job_budget_at_512_tokens(minilm):
    """One forward kept for the gradient: what integrated gradients keep per path point."""
    assert gradient_bytes(minilm.net.config, 512) <= DEFAULT_JOB_MB * 1_000_000
