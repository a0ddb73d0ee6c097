"""The attention figures show the model's numbers, label them with the tokens, and never render user HTML."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from analysis.head_stats import head_statistics, special_masks
from viz.attention import attention_heatmap, compare_heatmaps, difference_heatmap, key_bar
from viz.common import safe
from viz.heads import MAX_THUMB, block_pool, grid_thumbnail, heads_grid, statistic_heatmap
from viz.lines import MIN_WEIGHT, lines_figure

PROBE = "The <b>bold</b> cat saw the cat."   # repeated "the"/"cat" and an HTML probe


@pytest.fixture(scope="module")
def trace(minilm):
    return minilm.trace(PROBE)


@pytest.fixture(scope="module")
def long_trace(minilm):
    return minilm.trace("The river bank was steep and muddy after the rain. " * 60)


def all_user_strings(fig: go.Figure) -> list[str]:
    """Every tick label, hover datum and text a figure carries."""
    out = []
    layout = fig.to_plotly_json()["layout"]
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")):
            out += [str(t) for t in axis.get("ticktext", [])]
    for trace in fig.data:
        for field in ("customdata", "text"):
            value = getattr(trace, field, None)
            if value is not None:
                out += [str(v) for v in np.asarray(value, dtype=object).ravel()]
    return out


def test_heatmap_shows_the_trace_weights_with_token_ticks(trace):
    weights = trace.layers[2].weights[5]
    fig = attention_heatmap(weights, trace.tokens, "Layer 2, head 5")
    heat = fig.data[0]
    np.testing.assert_array_equal(np.asarray(heat.z), weights)
    assert list(fig.layout.xaxis.ticktext) == [safe(t) for t in trace.tokens]
    assert list(fig.layout.yaxis.ticktext) == [safe(t) for t in trace.tokens]
    # Repeated tokens keep their own columns: positions, not categories.
    assert list(fig.layout.xaxis.tickvals) == list(range(len(trace)))
    assert trace.tokens.count("the") == 2
    # Hover: query → key: weight to three decimals, tokens from customdata.
    assert heat.hovertemplate == "%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>"
    assert heat.customdata[3][1][0] == f"#3 {safe(trace.tokens[3])}"
    assert heat.customdata[3][1][1] == f"#1 {safe(trace.tokens[1])}"
    assert heat.zmin == 0 and heat.zmax == 1


def test_html_tokens_are_escaped_everywhere(trace):
    assert "<" in trace.tokens and ">" in trace.tokens       # the probe's brackets are tokens
    figs = [
        attention_heatmap(trace.layers[0].weights[0], trace.tokens, title="<b>title</b>"),
        compare_heatmaps([trace.layers[0].weights[0], trace.layers[1].weights[1]], ["a", "b"], trace.tokens),
        lines_figure(trace.layers[0].weights, trace.tokens, heads=[0, 1]),
        key_bar(trace.layers[0].weights[0][1], trace.tokens),
    ]
    for fig in figs:
        strings = all_user_strings(fig)
        assert strings, "no labels found"
        assert not any("<" in s or ">" in s for s in strings), [s for s in strings if "<" in s][:3]
        assert any("&lt;" in s for s in strings)
        for data in fig.data:  # templates hold no user text
            assert "bold" not in (data.hovertemplate or "")
    assert figs[0].layout.title.text == "&lt;b&gt;title&lt;/b&gt;"


def test_window_and_hidden_specials_keep_real_positions(trace):
    positions = [2, 3, 4]
    sub = trace.layers[1].weights[0][np.ix_(positions, positions)]
    fig = attention_heatmap(sub, [trace.tokens[i] for i in positions], positions=positions, zmax=None)
    assert fig.data[0].customdata[0][2][0].startswith("#2 ")
    assert fig.data[0].customdata[0][2][1].startswith("#4 ")
    assert fig.data[0].zmax is None                           # stretched to this head
    with pytest.raises(ValueError):
        attention_heatmap(sub, trace.tokens)


def test_compare_uses_one_colour_scale_and_difference_is_a_minus_b(trace):
    a, b, c = trace.layers[0].weights[2], trace.layers[4].weights[3], trace.layers[5].weights[11]
    fig = compare_heatmaps([a, b, c], ["A", "B", "C"], trace.tokens)
    heats = [d for d in fig.data if isinstance(d, go.Heatmap)]
    assert len(heats) == 3 and {h.coloraxis for h in heats} == {"coloraxis"}
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == 1
    np.testing.assert_array_equal(np.asarray(heats[1].z), b)
    diff = difference_heatmap(a, b, trace.tokens).data[0]
    np.testing.assert_allclose(np.asarray(diff.z), a - b, atol=1e-7)
    assert diff.zmin == -diff.zmax == pytest.approx(-np.abs(a - b).max())
    with pytest.raises(ValueError):
        compare_heatmaps([a] * 5, list("ABCDE"), trace.tokens)


def test_grid_has_every_head_on_one_scale(trace):
    fig = heads_grid(trace.attentions)
    heats = [d for d in fig.data if isinstance(d, go.Heatmap)]
    assert len(heats) == 1 and heats[0].coloraxis == "coloraxis"     # every head in one mosaic, one scale
    # Thumbnail of layer 3, head 7 is that head's weights (short sentence: no downsampling).
    np.testing.assert_array_equal(grid_thumbnail(fig, 3, 7), trace.layers[3].weights[7])
    np.testing.assert_array_equal(grid_thumbnail(fig, 5, 11), trace.layers[5].weights[11])
    # its hover names the layer, head and positions: row and column categories of the mosaic
    mosaic = np.asarray(heats[0].z)
    row = next(i for i, name in enumerate(heats[0].y) if name == "layer 3 · query #2")
    column = next(i for i, name in enumerate(heats[0].x) if name == "head 7 · key #0")
    assert mosaic[row, column] == trace.layers[3].weights[7][2, 0]
    assert "%{y}" in heats[0].hovertemplate and "%{x}" in heats[0].hovertemplate
    markers = [d for d in fig.data if isinstance(d, go.Scatter)][0]   # what a click opens
    assert fig.data.index(markers) == 1
    assert np.asarray(markers.customdata)[3 * 12 + 7].tolist() == [3, 7]
    assert list(fig.layout.yaxis.ticktext)[:2] == ["layer 0", "layer 1"]


def test_grid_thumbnails_of_a_long_sentence_are_pooled_and_small(long_trace):
    assert len(long_trace) == 512
    fig = heads_grid(long_trace.attentions)
    thumb = grid_thumbnail(fig, 0, 0).astype(np.float64)
    assert thumb.shape == (MAX_THUMB, MAX_THUMB)
    # 8 queries averaged, 8 keys summed: each thumbnail row is still a distribution
    assert thumb[0, 0] == pytest.approx(long_trace.layers[0].weights[0][:8, :8].sum(axis=1).mean(), rel=1e-5)
    np.testing.assert_allclose(thumb.sum(axis=1), 1.0, atol=1e-4)
    assert len(fig.to_json()) < 2_500_000                   # 72 × 64² weights once: a new tab opens fast


def test_block_pool_keeps_sharp_patterns_and_uneven_blocks():
    m = np.arange(49, dtype=np.float32).reshape(7, 7)
    small, starts = block_pool(m, 3)
    assert starts.tolist() == [0, 2, 4]
    assert small[0, 0] == pytest.approx(m[:2, :2].sum() / 2)         # 2 query rows averaged, keys summed
    assert small[2, 2] == pytest.approx(m[4:, 4:].sum() / 3)
    same, _ = block_pool(m, 10)
    np.testing.assert_array_equal(same, m)
    on_first = np.zeros((64, 64), dtype=np.float32)
    on_first[:, 0] = 1.0                                                # every query on [CLS]
    pooled, _ = block_pool(on_first, 8)
    assert pooled[:, 0].tolist() == [1.0] * 8 and pooled.sum() == pytest.approx(8.0)


def test_lines_draw_every_weight_above_the_threshold_once(trace):
    weights = trace.layers[2].weights
    fig = lines_figure(weights, trace.tokens, heads=[0, 5])
    drawn = 0
    for data in fig.data:
        if data.mode == "lines" and data.x and data.x[0] is not None:
            drawn += len(data.x) // 3
    assert drawn == int((weights[[0, 5]] >= MIN_WEIGHT).sum())
    names = {d.name for d in fig.data if d.showlegend is not False}
    assert names == {"head 0", "head 5"}
    # Thicker lines for larger weights.
    widths = [d.line.width for d in fig.data if d.mode == "lines" and d.legendgroup == "h0" and d.x[0] is not None]
    assert widths == sorted(widths)


def test_lines_focus_draws_only_the_chosen_query(trace):
    weights = trace.layers[2].weights
    fig = lines_figure(weights, trace.tokens, heads=[1], focus=[3])
    ys = [y for d in fig.data if d.mode == "lines" for y in d.y[0::3] if y is not None]
    assert ys and set(ys) == {3}


def test_statistic_heatmap_and_key_bar_show_the_numbers(trace):
    stats = head_statistics(trace.attentions, *special_masks(trace.tokens, trace.special_mask))
    fig = statistic_heatmap(stats.sep, "on [SEP]", "share on [SEP]")
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), stats.sep)
    values = trace.layers[0].weights[0][[1, 2]].sum(axis=0)
    bar = key_bar(values, trace.tokens, highlight=[1, 2])
    np.testing.assert_array_equal(np.asarray(bar.data[0].y), values)
    assert list(bar.layout.xaxis.ticktext) == [safe(t) for t in trace.tokens]


def test_statistic_map_reads_small_effects_and_labels_zero():
    """Issue 26: the importance map printed 2 decimals, so most cells read "0.00", and the head
    statistics' colour bar had no 0 tick."""
    effects = np.full((6, 12), 0.004, dtype=np.float32)
    effects[2, 3] = 0.05
    fig = statistic_heatmap(effects, "effect")
    heat = fig.data[0]
    assert heat.texttemplate == "%{z:.4f}"          # 0.004 reads as 0.0040 (two significant digits), not 0.00
    assert heat.zmin == 0.0 and heat.colorbar.tick0 == 0.0 and 0 < heat.colorbar.dtick <= 0.05
    # Plotly honours zmin only with zmax beside it: otherwise the bar began at the smallest value, above 0
    assert heat.zmax == pytest.approx(0.05)
    shares = np.linspace(0, 0.9, 72, dtype=np.float32).reshape(6, 12)
    assert statistic_heatmap(shares, "share").data[0].texttemplate == "%{z:.2f}"
