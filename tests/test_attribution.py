"""Attribution: integrated gradients are complete, gradient × input is the directional derivative,
and the shared model is left exactly as it was."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from analysis.attribution import (Target, attribute, grad_times_input, integrated_gradients, rollout_share,
                              target_function, token_rows)
from analysis.rollout import rollout
from training.lm import lm_config, new_model

IDS = [5, 17, 3, 28, 11, 9, 40]


@pytest.fixture(scope="module")
def decoder():
    return new_model(lm_config(48, context=16, d_model=32, n_heads=4, n_layers=2), seed=3).eval()


def decoder_targets(net):
    logits = net.trace(IDS).logits[-1]
    return [Target("next token", token_id=int(np.argmax(logits))), Target("next token", token_id=7),
            Target("token state", position=3), Target("token state", position=len(IDS) - 1)]


def minilm_targets(minilm, ids):
    return [Target("similarity", other=minilm.sentence_embedding("Fruit flies like a banana.")),
            Target("token state", position=2), Target("token state", position=len(ids) - 1)]


def assert_complete(result, tol=0.01):
    gap = result.value - result.baseline_value
    assert abs(result.scores.sum() - gap) <= tol * abs(gap), (result.scores.sum(), gap)
    assert abs(result.delta) <= tol * abs(gap)
    assert result.delta == pytest.approx(result.scores.sum() - gap, abs=1e-4 * max(1.0, abs(gap)))


def test_integrated_gradients_are_complete_on_a_small_decoder(decoder):
    for target in decoder_targets(decoder):
        result = integrated_gradients(decoder, IDS, target, n_steps=32)
        assert result.scores.shape == (len(IDS),) and result.n_steps == 32
        assert_complete(result)


def test_integrated_gradients_are_complete_on_minilm(minilm):
    ids = minilm.tokenizer.encode("Time flies like an arrow.").ids
    for target in minilm_targets(minilm, ids):
        assert_complete(integrated_gradients(minilm.net, ids, target, n_steps=32))


def test_gradient_times_input_is_the_directional_derivative(decoder):
    """s_i = d/dε f(x with row i scaled by 1 + ε) at ε = 0, by central differences in float64."""
    net64 = copy.deepcopy(decoder).double()
    for target in decoder_targets(net64):
        result = grad_times_input(net64, IDS, target)
        f = target_function(net64, IDS, target)
        x, eps = token_rows(net64, IDS), 1e-5
        for i in range(len(IDS)):
            up, down = x.clone(), x.clone()
            up[0, i] *= 1 + eps
            down[0, i] *= 1 - eps
            with torch.no_grad():
                numeric = float((f(up) - f(down))[0]) / (2 * eps)
            assert result.scores[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_target_values_are_the_models_own_numbers(minilm, decoder):
    text = "Time flies like an arrow."
    ids = minilm.tokenizer.encode(text).ids
    other = minilm.sentence_embedding("Fruit flies like a banana.")
    sim = grad_times_input(minilm.net, ids, Target("similarity", other=other))
    assert sim.value == pytest.approx(float(minilm.sentence_embedding(text) @ other), abs=1e-5)
    trace = minilm.trace(text)
    state = grad_times_input(minilm.net, ids, Target("token state", position=2))
    assert state.value == pytest.approx(float(np.linalg.norm(trace.hidden_states[-1][2])), rel=1e-5)
    logits = decoder.trace(IDS).logits[-1].astype(np.float64)
    log_p = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    nxt = attribute(decoder, IDS, Target("next token", token_id=7), "gradient × input")
    assert nxt.value == pytest.approx(log_p[7], abs=1e-4)


def test_the_shared_model_is_left_alone(minilm):
    text = "The bank of the river."
    before = minilm.trace(text)
    flags = [p.requires_grad for p in minilm.net.parameters()]
    ids = minilm.tokenizer.encode(text).ids
    grad_times_input(minilm.net, ids, Target("token state", position=1))
    integrated_gradients(minilm.net, ids, Target("token state", position=1), n_steps=4)
    assert [p.requires_grad for p in minilm.net.parameters()] == flags
    assert all(p.grad is None for p in minilm.net.parameters())
    assert not minilm.net.training
    after = minilm.trace(text)
    np.testing.assert_array_equal(before.hidden_states, after.hidden_states)


def test_missing_parts_are_refused_with_a_message(minilm, decoder):
    ids = minilm.tokenizer.encode("Hello").ids
    with pytest.raises(ValueError, match="unembedding"):
        grad_times_input(minilm.net, ids, Target("next token", token_id=0))
    with pytest.raises(ValueError, match="embedding"):
        grad_times_input(decoder, IDS, Target("similarity"))
    with pytest.raises(ValueError, match="no tokens"):
        grad_times_input(decoder, [], Target("token state", position=0))
    with pytest.raises(ValueError, match="method"):
        attribute(decoder, IDS, Target("token state", position=0), "saliency")
    with pytest.raises(ValueError, match="target"):
        Target("loss")


def test_single_token_and_rollout_share(decoder):
    one = integrated_gradients(decoder, [4], Target("next token", token_id=2), n_steps=16)
    assert one.scores.shape == (1,)
    assert_complete(one)
    rolled = rollout(decoder.trace(IDS).attentions)[-1]
    for target in decoder_targets(decoder) + [Target("similarity", other=np.zeros(32))]:
        share = rollout_share(rolled, target)
        assert share.shape == (len(IDS),) and share.sum() == pytest.approx(1.0, abs=1e-5)
