"""Rollout, multi-token sums, hidden specials and head statistics, checked against direct computations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.head_stats import STATISTICS, head_statistics, special_masks
from analysis.rollout import add_residual, hide_tokens, mean_over_heads, renormalise_rows, rollout, summed_rows


def random_attention(shape, seed=0) -> np.ndarray:
    """Row-stochastic matrices of the given (…, T, T) shape, like softmax output."""
    logits = np.random.default_rng(seed).normal(size=shape) * 2
    w = np.exp(logits)
    return (w / w.sum(axis=-1, keepdims=True)).astype(np.float32)


def test_rollout_rows_sum_to_one_and_match_the_product():
    att = random_attention((4, 3, 6, 6))
    rolled = rollout(att)
    np.testing.assert_allclose(rolled.sum(axis=-1), 1.0, atol=1e-5)
    # Written out as in the paper: Â_l = 0.5·mean_h A + 0.5·I, R = Â_3 Â_2 Â_1 Â_0.
    eye = np.eye(6)
    mixed = [0.5 * att[layer].astype(np.float64).mean(axis=0) + 0.5 * eye for layer in range(4)]
    expected = mixed[3] @ mixed[2] @ mixed[1] @ mixed[0]
    np.testing.assert_allclose(rolled[3], expected, atol=1e-5)
    np.testing.assert_allclose(rolled[0], mixed[0], atol=1e-6)


def test_rollout_with_no_residual_is_the_plain_product_and_full_residual_is_identity():
    att = random_attention((2, 2, 5, 5), seed=1)
    means = att.mean(axis=1)
    np.testing.assert_allclose(rollout(att, residual=0.0)[1], means[1] @ means[0], atol=1e-5)
    np.testing.assert_allclose(rollout(att, residual=1.0)[1], np.eye(5), atol=1e-6)
    with pytest.raises(ValueError):
        add_residual(att, residual=1.5)
    with pytest.raises(ValueError):
        rollout(att[0])


def test_rollout_of_the_real_model_sums_to_one(minilm):
    trace = minilm.trace("I sat on the bank of the river.")
    rolled = rollout(trace.attentions)
    assert rolled.shape == (trace.n_layers, len(trace), len(trace))
    np.testing.assert_allclose(rolled.sum(axis=-1), 1.0, atol=1e-4)
    assert (rolled >= 0).all()


def test_summed_rows_equal_the_sum_of_the_chosen_rows():
    w = random_attention((7, 7), seed=2)
    total = summed_rows(w, [1, 4, 5])
    np.testing.assert_allclose(total, w[1] + w[4] + w[5], atol=1e-6)
    assert total.sum() == pytest.approx(3.0, abs=1e-5)   # three rows, each summing to 1
    np.testing.assert_allclose(summed_rows(w, [2]), w[2])
    with pytest.raises(ValueError):
        summed_rows(w, [])
    with pytest.raises(ValueError):
        summed_rows(w, [7])


def test_hiding_specials_drops_them_and_renormalises_rows():
    w = random_attention((5, 5), seed=3)
    hidden = [True, False, False, False, True]      # [CLS] a b c [SEP]
    smaller, kept = hide_tokens(w, hidden)
    assert kept.tolist() == [1, 2, 3]
    inner = w[1:4, 1:4]
    np.testing.assert_allclose(smaller, inner / inner.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(smaller.sum(axis=-1), 1.0, atol=1e-6)
    with pytest.raises(ValueError):
        hide_tokens(w, [True] * 5)


def test_mean_over_heads_and_zero_rows():
    w = random_attention((3, 4, 4), seed=4)
    np.testing.assert_allclose(mean_over_heads(w), (w[0] + w[1] + w[2]) / 3, atol=1e-6)
    rows = renormalise_rows(np.array([[0.0, 0.0], [1.0, 3.0]]))
    np.testing.assert_allclose(rows, [[0, 0], [0.25, 0.75]])     # an empty row stays empty, no NaN


def direct_statistics(w: np.ndarray, cls: list[int], sep: list[int]) -> dict[str, float]:
    """One head's statistics by plain loops, straight from the definitions."""
    t = len(w)
    entropy = sum(-sum(p * math.log2(p) for p in row if p > 0) for row in w) / t
    distance = sum(w[i, k] * abs(i - k) for i in range(t) for k in range(t)) / t
    return {
        "entropy": entropy, "distance": distance,
        "cls": sum(w[i, k] for i in range(t) for k in cls) / t,
        "sep": sum(w[i, k] for i in range(t) for k in sep) / t,
        "previous": sum(w[i, i - 1] for i in range(1, t)) / (t - 1),
        "next": sum(w[i, i + 1] for i in range(t - 1)) / (t - 1),
        "self": sum(w[i, i] for i in range(t)) / t,
    }


def test_statistics_equal_direct_computation_on_a_hand_made_matrix():
    # [CLS] the cat sat [SEP]: a head that looks at the previous token, with some weight parked on [SEP].
    w = np.array([
        [0.0, 0.0, 0.0, 0.0, 1.0],
        [0.8, 0.0, 0.0, 0.0, 0.2],
        [0.0, 0.7, 0.1, 0.0, 0.2],
        [0.0, 0.0, 0.9, 0.0, 0.1],
        [0.0, 0.0, 0.0, 0.5, 0.5],
    ], dtype=np.float32)
    stats = head_statistics(w[None, None], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1])
    expected = direct_statistics(w.astype(np.float64), cls=[0], sep=[4])
    for name in STATISTICS:
        assert float(stats.get(name)[0, 0]) == pytest.approx(expected[name], abs=1e-5), name
    assert stats.previous[0, 0] == pytest.approx((0.8 + 0.7 + 0.9 + 0.5) / 4)
    assert stats.entropy[0, 0] == pytest.approx(expected["entropy"])


def test_statistics_limits_uniform_and_one_hot():
    t = 8
    uniform = np.full((1, 1, t, t), 1 / t, dtype=np.float32)
    stats = head_statistics(uniform, [True] + [False] * 7, [False] * 7 + [True])
    assert stats.entropy[0, 0] == pytest.approx(math.log2(t), abs=1e-5)   # looks everywhere
    assert stats.cls[0, 0] == pytest.approx(1 / t)
    self_only = np.eye(t, dtype=np.float32)[None, None]
    stats = head_statistics(self_only, [False] * t, [False] * t)
    assert stats.entropy[0, 0] == pytest.approx(0.0, abs=1e-6)             # looks at one token
    assert stats.self[0, 0] == pytest.approx(1.0)
    assert stats.distance[0, 0] == pytest.approx(0.0)
    assert stats.cls[0, 0] == 0.0 and stats.sep[0, 0] == 0.0


def test_statistics_of_every_head_and_table(minilm):
    trace = minilm.trace("The early bird eats the worm.")
    cls_mask, sep_mask = special_masks(trace.tokens, trace.special_mask)
    assert cls_mask.tolist() == [tok == "[CLS]" for tok in trace.tokens]
    assert sep_mask.tolist() == [tok == "[SEP]" for tok in trace.tokens]
    stats = head_statistics(trace.attentions, cls_mask, sep_mask)
    assert stats.entropy.shape == (trace.n_layers, trace.n_heads)
    w = trace.layers[3].weights[7].astype(np.float64)
    expected = direct_statistics(w, cls=[0], sep=[len(trace) - 1])
    for name in STATISTICS:
        assert float(stats.get(name)[3, 7]) == pytest.approx(expected[name], abs=1e-4), name
    rows = stats.rows()
    assert len(rows) == trace.n_layers * trace.n_heads
    assert rows[3 * trace.n_heads + 7]["layer"] == 3 and rows[3 * trace.n_heads + 7]["head"] == 7
    with pytest.raises(KeyError):
        stats.get("nonsense")


def test_minilm_has_a_previous_token_head(minilm):
    """What a learner is told to look for: one head that reads the word before, on any sentence."""
    for text in ("I sat on the bank of the river.", "He created a miniature Eiffel tower lego model."):
        trace = minilm.trace(text)
        stats = head_statistics(trace.attentions, *special_masks(trace.tokens, trace.special_mask))
        layer, head = divmod(int(stats.previous.argmax()), trace.n_heads)
        assert stats.previous[layer, head] > 0.8, text
