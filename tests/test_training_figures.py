"""The Train section's figures: what was unreadable (a blank softmax panel, a dual axis, charts on
different axes, a colour bar far from its heatmap) stays readable."""
from __future__ import annotations

import numpy as np

from viz.attention import attention_heatmap
from viz.training import (embedding_map, embedding_move, labels_that_fit, logits_to_loss, probability_axis_end,
                          square_cells, statistic_curve, token_probabilities)

VOCAB = [f"tok{i}" for i in range(384)]


def untrained_logits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    logits = np.random.default_rng(seed).normal(0, 0.05, len(VOCAB))
    probs = np.exp(logits) / np.exp(logits).sum()
    return logits, probs


def test_the_softmax_panel_of_an_untrained_model_is_not_blank():
    """Every probability near 1/384: on a 0–1 axis the bars were invisible. The axis ends just past the
    largest bar, and each bar carries its value."""
    logits, probs = untrained_logits()
    fig = logits_to_loss(logits, probs, VOCAB, target=7)
    bars = [t for t in fig.data if t.xaxis == "x2"]
    end = fig.layout.xaxis2.range[1]
    assert len(bars) == 1 and max(bars[0].x) / end > 0.6               # the longest bar fills most of the panel
    assert all(text.endswith("%") for text in bars[0].text)
    assert fig.layout.xaxis2.domain[0] > fig.layout.xaxis.domain[1]    # two panels side by side, not overlaid


def test_the_embedding_move_has_no_dual_axis():
    before = np.random.default_rng(0).normal(0, 0.5, 64)
    after = before + 1e-4
    fig = embedding_move(before, after, "king")
    assert not any(getattr(fig.layout[a], "overlaying", None) for a in fig.layout if a.startswith("yaxis"))
    change = next(t for t in fig.data if t.type == "bar")
    assert change.yaxis != fig.data[0].yaxis                         # the tiny change has its own panel and axis


def test_the_after_dots_show_on_top_of_the_before_dots():
    before = np.random.default_rng(0).normal(0, 0.5, 64)
    fig = embedding_move(before, before + 1e-4, "king")          # a step moves little: the two coincide
    ring, dot = (next(t for t in fig.data if t.name == name) for name in ("before", "after"))
    assert ring.marker.symbol == "circle-open"                      # a ring does not cover what sits inside it
    assert fig.data.index(dot) > fig.data.index(ring)               # the dot drawn over the ring
    assert 6 <= dot.marker.size < ring.marker.size - 2 * ring.marker.line.width + 2   # big enough, inside


def test_before_and_after_probabilities_share_one_axis():
    _, random_probs = untrained_logits()
    trained = np.zeros(len(VOCAB))
    trained[:3] = [0.9, 0.07, 0.03]
    end = probability_axis_end(random_probs.max(), trained.max())
    figs = [token_probabilities(p, VOCAB, xmax=end) for p in (trained, random_probs)]
    assert figs[0].layout.xaxis.range == figs[1].layout.xaxis.range and end >= 0.9
    alone = token_probabilities(random_probs, VOCAB)
    assert alone.layout.xaxis.range[1] < 0.05                          # alone, a chart fits its own bars


def test_a_letters_heatmap_is_as_wide_as_its_cells():
    """The colour bar sat at the far edge of a wide column: the figure is now sized to its cells."""
    sizes = {}
    for n in (3, 9):
        fig = square_cells(attention_heatmap(np.full((n + 1, n), 1 / n), ["<bos>"] + list("abcdefghi")[:n],
                                             key_tokens=list("abcdefghi")[:n], numbers=True), n + 1, n)
        sizes[n] = (fig.layout.width, fig.layout.height)
    assert sizes[9][0] - sizes[3][0] == 6 * 40 and sizes[9][1] - sizes[3][1] == 6 * 40


def test_the_statistic_line_marks_the_step_shown():
    values = np.linspace(0, 1, 12).reshape(6, 2)
    fig = statistic_curve([0, 10, 20, 30, 40, 50], values, 30, "previous-token share", ["head 0", "head 1"], 1)
    assert [t.name for t in fig.data] == ["head 0", "head 1", "mean of heads"]
    assert fig.data[1].line.width > fig.data[0].line.width               # the head shown stands out
    assert fig.layout.shapes[0].x0 == 30 and list(fig.layout.yaxis.range) == [0, 1.05]


def test_the_embedding_map_keeps_the_axes_it_is_given():
    points = np.array([[0.0, 0.1], [0.2, -0.1], [0.05, 0.0]])
    fig = embedding_map(points, ["<b>king</b>", "queen", "cat"], ["a", "a", "b"], ranges=((-1, 1), (-2, 2)))
    assert list(fig.layout.xaxis.range) == [-1, 1] and list(fig.layout.yaxis.range) == [-2, 2]
    assert "&lt;b&gt;king&lt;/b&gt;" in fig.data[0].text                # user text shown literally


def test_map_labels_never_cover_each_other():
    """A trained group sits in one tight cluster: only the first of the piled-up words is written there;
    the others still name themselves on hover."""
    cluster = np.array([[0.0, 0.0], [0.001, 0.0], [0.0, 0.001], [1.0, 1.0]])
    words = ["king", "queen", "prince", "paris"]
    assert labels_that_fit(cluster, words, ((0, 1), (0, 1))) == {0, 3}
    fig = embedding_map(cluster, words, ["a", "a", "a", "b"])
    assert list(fig.data[0].text) == ["king", "", ""] and list(fig.data[0].customdata) == words[:3]
