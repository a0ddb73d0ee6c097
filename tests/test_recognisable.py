"""The head a page opens on: one with a pattern a learner recognises, chosen from head statistics."""
import numpy as np
import pytest

from analysis.head_stats import head_statistics
from analysis.recognisable import CLEAR, recognisable_head

T = 8
CLS = np.eye(T, dtype=bool)[0]
SEP = np.eye(T, dtype=bool)[-1]
NAMES = {"cls": "[CLS]", "sep": "[SEP]"}


def uniform(layers: int = 3, heads: int = 4, t: int = T) -> np.ndarray:
    return np.full((layers, heads, t, t), 1.0 / t, dtype=np.float32)           # (L, H, T, T)


def previous_token(t: int = T, strength: float = 0.9) -> np.ndarray:
    """Each query puts `strength` on the token before it (the first on itself), the rest spread evenly."""
    w = np.full((t, t), (1 - strength) / (t - 1), dtype=np.float32)
    w[0, 0] = strength
    w[np.arange(1, t), np.arange(t - 1)] = strength
    return w / w.sum(axis=-1, keepdims=True)


def sink(t: int = T, column: int = 0, strength: float = 0.9) -> np.ndarray:
    w = np.full((t, t), (1 - strength) / (t - 1), dtype=np.float32)
    w[:, column] = strength
    return w / w.sum(axis=-1, keepdims=True)


def choose(attentions, **kwargs):
    t = attentions.shape[-1]
    cls, sep = np.eye(t, dtype=bool)[0], np.eye(t, dtype=bool)[-1]
    return recognisable_head(head_statistics(attentions, cls, sep), t, NAMES, **kwargs)


def test_a_previous_token_head_is_found_and_explained():
    w = uniform()
    w[2, 1] = previous_token()
    choice = choose(w)
    assert (choice.layer, choice.head, choice.pattern) == (2, 1, "previous")
    assert choice.reason.startswith("layer 2 · head 1:") and "previous-token head" in choice.reason
    assert "90%" in choice.reason or "89%" in choice.reason


def test_a_previous_token_head_is_preferred_to_a_stronger_sink():
    w = uniform()
    w[0, 3] = sink(strength=0.99)
    w[1, 2] = previous_token(strength=0.7)
    assert (choose(w).layer, choose(w).head) == (1, 2)


def test_a_sink_is_named_by_its_token_when_nothing_else_is_clear():
    w = uniform()
    w[1, 0] = sink(column=T - 1)
    choice = choose(w)
    assert (choice.layer, choice.head, choice.pattern) == (1, 0, "sep") and "[SEP]" in choice.reason


def test_a_sink_is_not_claimed_for_a_model_without_special_tokens():
    w = uniform()
    w[1, 0] = sink(column=0)
    stats = head_statistics(w, np.zeros(T, bool), np.zeros(T, bool))
    choice = recognisable_head(stats, T, {})
    assert choice.pattern is None and "[CLS]" not in choice.reason


def test_an_untrained_model_gets_the_most_focused_head_and_an_honest_reason():
    w = uniform()
    w[2, 3] = 0.7 * w[2, 3] + 0.3 * np.eye(T, dtype=np.float32)                 # a little sharper, not clear
    choice = choose(w)
    assert (choice.layer, choice.head, choice.pattern) == (2, 3, None)
    assert "no head gives half" in choice.reason and "most focused" in choice.reason


@pytest.mark.parametrize("t", [1, 2])
def test_one_or_two_tokens_say_every_head_looks_alike(t):
    choice = choose(uniform(t=t))
    assert (choice.layer, choice.head) == (0, 0) and "try a longer sentence" in choice.reason


def test_a_chosen_layer_is_kept_and_the_best_head_in_it_picked():
    w = uniform()
    w[0, 0] = previous_token()
    w[2, 3] = sink(column=0)
    choice = choose(w, layer=2)
    assert (choice.layer, choice.head, choice.pattern) == (2, 3, "cls")
    with pytest.raises(ValueError):
        choose(w, layer=7)


def test_the_threshold_is_half_of_the_attention():
    w = uniform()
    w[1, 1] = previous_token(strength=CLEAR - 0.1)
    assert choose(w).pattern != "previous"


def test_heads_with_lists_every_clear_head_strongest_first():
    from analysis.recognisable import heads_with
    w = uniform()
    w[0, 1] = sink(column=0, strength=0.6)
    w[2, 2] = sink(column=0, strength=0.9)
    w[1, 3] = previous_token()
    stats = head_statistics(w, CLS, SEP)
    assert [(layer, head) for layer, head, _ in heads_with(stats, "cls")] == [(2, 2), (0, 1)]
    assert [(layer, head) for layer, head, _ in heads_with(stats, "previous")] == [(1, 3)]
    assert heads_with(stats, "sep") == []
