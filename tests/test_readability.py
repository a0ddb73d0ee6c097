"""Figures stay readable at 8, 64 and 512 tokens: labels never overlap and are never under 10 px, the
rest of the tokens stay in the hover, long attention is not white, categories look different.

The pixel rules here are the figures' own plan (viz.common: LINE, CHAR, PLOT_WIDTH); the browser test
(tests/test_readability_browser.py) measures the drawn labels in Chromium.
"""
from __future__ import annotations

import itertools

import numpy as np
import plotly.colors
import pytest

from analysis.projection import AnalogyPicture, Projection
from viz.attention import attention_heatmap, compare_heatmaps, key_bar
from viz.common import (CATEGORY_COLOURS, CATEGORY_SYMBOLS, GAP, LINE, MIN_FONT, PLOT_WIDTH, category_style,
                        label_plan, log_colourscale, place_labels, text_offset, text_width, to_pixels,
                        token_axis)
from viz.context import trajectory_figure
from viz.embedding_space import analogy_figure, projection_figure
from viz.heads import grid_thumbnail, heads_grid

LENGTHS = [8, 64, 143, 512]


def tokens_of(n: int) -> list[str]:
    words = ["the", "transformer", "is", "a", "deep", "learning", "model", "##s", ",", "attention"]
    return ["[CLS]"] + [words[i % len(words)] for i in range(n - 2)] + ["[SEP]"]


def spread_attention(n: int, seed: int = 0) -> np.ndarray:
    """(n, n) rows summing to 1, spread thin over every key as a long text's heads often are."""
    return np.random.default_rng(seed).dirichlet(np.ones(n), size=n).astype(np.float32)


def colour_at(scale: list, value: float) -> np.ndarray:
    """The RGB a Plotly colorscale (stops over 0..1) gives `value`."""
    return np.array(plotly.colors.unlabel_rgb(plotly.colors.find_intermediate_color(
        *_around(scale, value), colortype="rgb")))


def _around(scale: list, value: float):
    for (lo, c_lo), (hi, c_hi) in zip(scale, scale[1:]):
        if lo <= value <= hi:
            return c_lo, c_hi, (value - lo) / (hi - lo)
    raise ValueError(value)


def lab(hex_colour: str) -> np.ndarray:
    """CIELAB of an sRGB colour, to measure how different two colours look."""
    rgb = np.array(plotly.colors.hex_to_rgb(hex_colour)) / 255
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), 0.008856))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def assert_labels_fit(axis: dict, n: int, room_px: float) -> None:
    """Stacked labels (y axis, or upright x labels) each get a line of their own, ≥ MIN_FONT px."""
    font, values = axis["tickfont"]["size"], list(axis["tickvals"])
    assert font >= MIN_FONT
    gaps = np.diff(values) * room_px / n if len(values) > 1 else [room_px]
    assert min(gaps) >= font * LINE, (font, min(gaps))
    assert values == sorted(set(values)) and all(float(v).is_integer() for v in values)   # positions


# -- tick labels -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("room", [300, 640, 1150])
def test_label_plan_keeps_a_line_per_label_and_never_goes_under_10px(n, room):
    font, step = label_plan(n, room)
    assert font >= MIN_FONT
    slot = room / n
    assert step * slot >= font * LINE + GAP                     # each label's line is free
    if step > 1:                                                # thinned only as much as needed
        assert (step - 1) * slot < font * LINE + GAP


@pytest.mark.parametrize("n", LENGTHS[:3])
def test_one_head_heatmap_labels_fit_and_every_token_stays_in_the_hover(n):
    tokens = tokens_of(n)
    fig = attention_heatmap(spread_attention(n), tokens, "Layer 0, head 0").to_plotly_json()
    layout, heat = fig["layout"], fig["data"][0]
    rows_px = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    assert_labels_fit(layout["yaxis"], n, rows_px)
    x_room = PLOT_WIDTH * (layout["xaxis"].get("domain", [0, 0.9])[1])
    if layout["xaxis"]["tickangle"] == -90:
        assert_labels_fit(layout["xaxis"], n, x_room)
    else:                                                       # level labels: each fits its column
        assert max(text_width(t, layout["xaxis"]["tickfont"]["size"]) for t in layout["xaxis"]["ticktext"]) \
            < x_room / n
    if n == 8:                                                  # a short sentence: every token written
        assert len(layout["xaxis"]["ticktext"]) == len(layout["yaxis"]["ticktext"]) == 8
    if n >= 64:
        assert len(layout["xaxis"]["tickvals"]) < n             # thinned rather than crammed
    hover = np.asarray(heat["customdata"], dtype=object)
    assert hover.shape == (n, n, 2) and hover[0, n - 1, 1] == f"#{n - 1} [SEP]"   # all of them, by position


def test_repeated_tokens_keep_their_own_positions_when_thinned():
    tokens = ["the"] * 100
    axis = token_axis(tokens, 640, across=True)
    assert len(axis["tickvals"]) == len(set(axis["tickvals"])) > 1
    assert axis["tickangle"] == -90 and axis["tickfont"]["size"] >= MIN_FONT


@pytest.mark.parametrize("n", [8, 64])
def test_side_by_side_heads_and_key_bars_fit_their_labels(n):
    tokens, w = tokens_of(n), spread_attention(n)
    fig = compare_heatmaps([w, w, w], ["a", "b", "c"], tokens).to_plotly_json()["layout"]
    for name in ("xaxis", "xaxis2", "xaxis3"):
        if fig[name]["tickangle"] == -90:
            assert_labels_fit(fig[name], n, PLOT_WIDTH * 0.85 / 3)
    bar = key_bar(w[0], tokens).to_plotly_json()["layout"]["xaxis"]
    assert bar["tickfont"]["size"] >= MIN_FONT
    if bar["tickangle"] == -90:
        assert_labels_fit(bar, n, PLOT_WIDTH)


# -- colour at length ------------------------------------------------------------------------------------------
def test_long_attention_is_coloured_on_a_log_scale_and_hover_keeps_the_weight():
    n = 143
    weights = spread_attention(n)
    fig = attention_heatmap(weights, tokens_of(n))
    heat = fig.data[0]
    np.testing.assert_array_equal(np.asarray(heat.z), weights)          # hover shows the real weight
    typical = 1.0 / n                                                   # an evenly spread weight
    linear = [[0, "rgb(247,251,255)"], [1, "rgb(8,48,107)"]]            # Blues from 0 to 1
    lightest, darkest = colour_at(linear, 0.0).sum(), colour_at(linear, 1.0).sum()

    def depth(colour) -> float:                                         # 0 = white … 1 = the darkest blue
        return (lightest - colour.sum()) / (lightest - darkest)
    assert depth(colour_at(linear, typical)) < 0.02                     # on 0-to-1: white
    assert depth(colour_at([list(s) for s in heat.colorscale], typical)) > 0.2   # on the log scale: blue
    key = fig.data[-1]                                                  # the log key replaces the colour bar
    assert heat.showscale is False and key.hoverinfo == "skip"
    ticks = fig.layout.yaxis2
    assert [float(t) for t in ticks.ticktext] == pytest.approx([0.001, 0.01, 0.1, 1.0])
    assert "log" in ticks.title.text
    short = attention_heatmap(spread_attention(8), tokens_of(8))        # short: the familiar 0-to-1 bar
    assert len(short.data) == 1 and short.data[0].colorbar.title.text == "weight"


def test_log_colourscale_gives_equal_steps_per_factor_of_ten():
    scale = log_colourscale()
    darkness = [255 * 3 - colour_at(scale, v).sum() for v in (0.001, 0.01, 0.1, 1.0)]
    steps = np.diff(darkness)
    assert np.all(steps > 0) and steps.max() < 3 * steps.min()


@pytest.mark.parametrize("n", [143, 512])
def test_grid_thumbnails_keep_structure_at_length(n):
    rng = np.random.default_rng(1)
    attentions = rng.dirichlet(np.ones(n), size=(2, 3, n)).astype(np.float32)     # (L, H, T, T) spread thin
    attentions[0, 1] = np.eye(n, k=-1) * 0.9 + 0.1 / n                           # a previous-token head
    attentions[0, 1, 0, 0] += 0.9
    fig = heads_grid(attentions)
    scale = [list(s) for s in fig.layout.coloraxis.colorscale]
    cmax = fig.layout.coloraxis.cmax
    spread = grid_thumbnail(fig, 0, 0).astype(np.float64)
    median = colour_at(scale, float(np.median(spread)) / cmax)
    assert 247 + 251 + 255 - median.sum() > 100         # a spread-out head is not blank (white is 753)
    sharp = grid_thumbnail(fig, 0, 1).astype(np.float64)
    off = np.eye(sharp.shape[0], dtype=bool) | np.eye(sharp.shape[0], k=-1, dtype=bool)
    assert sharp[off].mean() > 20 * sharp[~off].mean()   # the diagonal line survives the pooling
    assert type(fig.data[1]).__name__ == "Scatter"       # the clickable markers stay right after the thumbnails
    assert "log" in fig.layout.yaxis2.title.text


# -- categories ------------------------------------------------------------------------------------------------
def test_twelve_categories_look_different_by_colour_and_by_marker():
    assert len(CATEGORY_COLOURS) == len(set(CATEGORY_COLOURS)) == 12
    assert len(CATEGORY_SYMBOLS) == len(set(CATEGORY_SYMBOLS)) == 12
    closest = min(np.linalg.norm(lab(a) - lab(b)) for a, b in itertools.combinations(CATEGORY_COLOURS, 2))
    assert closest > 25                                  # CIELAB distance: clearly different colours
    assert len({category_style(i) for i in range(144)}) == 144   # past 12, colour and marker never both repeat


def test_trajectories_use_twelve_distinct_styles_and_labels_never_collide():
    rng = np.random.default_rng(2)
    coords = rng.normal(size=(7, 12, 2)).cumsum(axis=0) * 0.3       # (L+1, 12 paths, 2), tangled
    fig = trajectory_figure(coords, [f"word{i}" for i in range(12)], hidden=[False] * 4 + [True] * 8)
    paths = fig.data[:12]
    assert len({(p.line.color, p.marker.symbol[0]) for p in paths}) == 12
    assert [p.visible for p in paths] == [True] * 4 + ["legendonly"] * 8      # one click on the legend away
    assert all(not any(p.text) for p in paths[4:])                             # hidden paths write nothing
    for frame in fig.frames:                                                   # every layer of the slider
        boxes = []
        for trace in frame.data[:4]:
            pixels = _pixels(fig, np.column_stack([trace.x, trace.y]))
            for layer, ((x, y), text, where) in enumerate(zip(pixels, trace.text, trace.textposition)):
                if text:                                        # arrows are 13 px, start markers 11
                    boxes.append(_box(x, y, text_width(text, 11), 11 * LINE, where, text_offset(13 if layer else 11)))
        assert boxes and not _any_overlap(boxes)
    assert any(t.isdigit() for t in paths[0].text)                             # layer numbers where they fit


def _pixels(fig, xy):
    from viz.context import LEGEND_PX
    area = (PLOT_WIDTH - LEGEND_PX, fig.layout.height - 190)
    return to_pixels(xy, [fig.layout.xaxis.range, fig.layout.yaxis.range], *area)


def _box(x, y, w, h, where, pad):
    return {"top center": (x - w / 2, y + pad, x + w / 2, y + pad + h),
            "bottom center": (x - w / 2, y - pad - h, x + w / 2, y - pad),
            "middle right": (x + pad, y - h / 2, x + pad + w, y + h / 2),
            "middle left": (x - pad - w, y - h / 2, x - pad, y + h / 2)}[where]


def _any_overlap(boxes) -> bool:
    return any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
               for a, b in itertools.combinations(boxes, 2))


# -- label placement -------------------------------------------------------------------------------------------
def test_place_labels_puts_the_important_first_and_never_overlaps():
    rng = np.random.default_rng(3)
    points = np.concatenate([np.zeros((1, 2)), rng.normal(scale=25, size=(60, 2))])   # a blob around (0, 0)
    sizes = np.tile([40.0, 14.0], (61, 1))
    obstacle = np.array([[-5.0, 20.0, 5.0, 40.0]])                                    # e.g. an arrowhead
    spots = place_labels(points, sizes, obstacle, pad=6)
    assert spots[0] is not None                                       # the most important always gets a place
    boxes = [_box(x, y, w, h, s, 6) for (x, y), (w, h), s in zip(points, sizes, spots) if s]
    assert not _any_overlap(boxes + [tuple(obstacle[0])])
    assert 3 < len(boxes) < 61                                        # a blob: some labels go to the hover
    assert place_labels(np.array([[0.0, 0.0], [500.0, 0.0]]), np.tile([40.0, 14.0], (2, 1))) == \
        ["top center", "top center"]                                  # far apart: every label, above its point


def test_projector_labels_avoid_each_other_and_the_rest_stay_in_hover():
    rng = np.random.default_rng(4)
    words = [f"token{i}" for i in range(120)]
    proj = Projection(rng.normal(size=(120, 2)), "PCA", np.array([0.2, 0.1]), None)
    fig = projection_figure(proj, words, ["royalty"] * 12 + ["sentence"] * 108, highlight="token50")
    shown = [t for tr in fig.data for t in tr.text if t]
    assert 10 < len(shown) < 120 and "token50" in shown               # the chosen word is written first
    hover = [w for tr in fig.data[:2] for w in tr.customdata]
    assert sorted(hover) == sorted(words)                             # every word still in the hover
    colours = {tr.marker.color for tr in fig.data[:2]}
    symbols = {tr.marker.symbol for tr in fig.data[:2]}
    assert len(colours) == len(symbols) == 2


def test_analogy_words_have_their_own_colours_and_the_answer_clears_the_arrowhead():
    a, b, c = np.array([0.0, 0.0]), np.array([1.0, 0.2]), np.array([0.1, 1.0])
    target = c + b - a
    coords = np.stack([a, b, c, target + [0.01, 0.01], target + [0.2, -0.1]])
    pic = AnalogyPicture(("man", "king", "woman", "queen", "throne"), ("a", "b", "c", "expected", "answer"),
                         coords, target, np.array([0.3, 0.2]), ((a, b), (c, target)))
    fig = analogy_figure(pic)
    by_name = {tr.name: tr for tr in fig.data if tr.mode == "markers+text"}
    assert by_name["a"].marker.color != by_name["b"].marker.color
    assert by_name["a"].marker.symbol != by_name["b"].marker.symbol
    queen = by_name["your expected answer"]
    assert queen.text[0] == "queen"                                   # written, not dropped
    # the arrowhead ends at c + (b − a), a hair from queen's point: the label sits beside it, not on it
    ranges = [fig.layout.xaxis.range, fig.layout.yaxis.range]
    from viz.embedding_space import ANALOGY_WIDTH, LABEL_FONT
    area = (ANALOGY_WIDTH, fig.layout.height - 200)
    head, point = to_pixels(np.stack([target, coords[3]]), ranges, *area, equal=True)
    label = _box(*point, text_width("queen", LABEL_FONT), LABEL_FONT * LINE, queen.textposition[0],
                 text_offset(queen.marker.size))
    arrowhead = (head[0] - 9, head[1] - 9, head[0] + 9, head[1] + 9)
    assert not _any_overlap([label, arrowhead])


# -- what long figures open on ---------------------------------------------------------------------------------
def test_a_long_heatmap_opens_where_the_tokens_attend_to_each_other():
    from ui.attention import busiest_window

    n, size = 300, 64
    attentions = np.full((2, 2, n, n), 1.0 / n, dtype=np.float32)           # (L, H, T, T) evenly spread
    attentions[..., 150:190, 150:190] += 0.5                                # a stretch of strong links
    special = np.zeros(n, dtype=bool)
    special[[0, n - 1]] = True
    start = busiest_window(attentions, list(range(n)), special, size)
    assert start <= 150 and 190 <= start + size                             # the whole stretch in view
    attentions[..., :, 0] += 5.0                                            # everything on [CLS]: ignored
    assert busiest_window(attentions, list(range(n)), special, size) == start
    assert busiest_window(attentions[..., :40, :40], list(range(40)), special[:40], size) == 0


def test_trajectories_open_on_a_few_content_words_with_more_at_hand(minilm):
    from bench.screenshots import PARAGRAPH
    from ui.context import PATHS_AT_HAND, PATHS_OPEN, paths_at_hand, paths_to_draw

    trace = minilm.trace(PARAGRAPH)
    words = [i for i, special in enumerate(trace.special_mask) if not special]
    drawn = paths_to_draw(trace, words)
    assert 1 < len(drawn) <= PATHS_OPEN
    chosen = [trace.tokens[i] for i in drawn]
    assert all(t.isalpha() and t not in ("the", "is", "a", "that", "was", "by") for t in chosen), chosen
    extra = paths_at_hand(trace, words, drawn)
    assert len(drawn) + len(extra) == PATHS_AT_HAND and not set(drawn) & set(extra)
    short = minilm.trace("Time flies like an arrow.")
    assert [short.tokens[i] for i in paths_to_draw(short, [1, 2, 3, 4, 5, 6])][:2] == ["flies", "time"]
    assert paths_to_draw(short, [4, 6]) == [4, 6]          # only "an" and ".": any words rather than none


def test_twelve_heads_get_twelve_colours_a_reader_tells_apart():
    """Issue 26: the lines view's "all heads" drew 12 heads in what read as 10 colours (two oranges,
    two blues about 7 CIELAB units apart)."""
    from viz.common import HEAD_COLOURS

    assert len(set(HEAD_COLOURS)) == 12
    closest = min(np.linalg.norm(lab(a) - lab(b)) for a, b in itertools.combinations(HEAD_COLOURS, 2))
    assert closest > 20


# -- issue 26: labels that overlapped at 141 tokens ------------------------------------------------------------
def assert_axis_fits(axis: dict, n: int, room_px: float) -> None:
    """Upright (or stacked) labels each get a line; level labels each fit their column."""
    if axis.get("tickangle") == -90:
        assert_labels_fit(axis, n, room_px)
    else:
        assert axis["tickangle"] == 0
        widest = max(text_width(t, axis["tickfont"]["size"]) for t in axis["ticktext"])
        assert widest < room_px / n


@pytest.mark.parametrize("n", [8, 24])
def test_mask_grids_thin_their_labels_and_write_minus_infinity_only_where_it_fits(n):
    """5 · Masks at 141 tokens: key labels at -60° ran into each other and the 8-px "−∞" of one cell
    touched the next ("−∞−∞−∞")."""
    from viz.steps import MASK_ROOM, scores_with_mask, weights_with_mask

    tokens = tokens_of(n)
    scores = np.where(np.tril(np.ones((n, n))) > 0, 1.0, -np.inf)
    for fig in (scores_with_mask(scores, tokens, "scores", start=100),
                weights_with_mask(np.tril(spread_attention(n)), ~np.isfinite(scores), tokens, "weights", start=100)):
        layout, grey = fig.layout.to_plotly_json(), fig.data[0]
        assert_axis_fits(layout["xaxis"], n, MASK_ROOM)
        rows_px = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
        assert_labels_fit(layout["yaxis"], n, rows_px)
        assert min(layout["xaxis"]["tickvals"]) == 100                  # the window's own positions
        cell = MASK_ROOM / n
        if grey.texttemplate:                                            # written: readable, and inside its cell
            size = grey.textfont.size
            assert size >= MIN_FONT
            assert max(text_width(t, size) for t in np.ravel(grey.text) if t) + 2 * GAP <= cell
        assert (grey.texttemplate is not None) == (n == 8)               # 24 cells in half a page: colour only
        assert "(hidden)" in grey.hovertemplate                          # the hover still says what it is


def test_methods_heatmap_labels_fit_and_its_colour_bar_title_is_whole():
    """Which tokens drove it at 141 tokens: 96 key labels at -60° on each other, and the colour bar's
    title "÷ row max |·|" written above a 144-px bar, wider than the margin, cut to "÷ row m"."""
    from viz.attribution import methods_heatmap

    n = 96
    tokens = tokens_of(n)
    fig = methods_heatmap(np.random.default_rng(0).normal(size=(3, n)), ["integrated gradients", "gradient × input",
                                                                         "attention rollout"], tokens)
    layout = fig.layout.to_plotly_json()
    assert_axis_fits(layout["xaxis"], n, PLOT_WIDTH * 0.7)
    assert len(layout["xaxis"]["tickvals"]) < n
    bar = fig.data[0].colorbar
    assert bar.title.side == "right"                                     # along the bar, not above it
    rows_px = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    assert text_width(bar.title.text, 13) < rows_px - 90                 # the bar's length holds it (labels aside)


def test_token_chips_labels_of_short_pieces_never_overlap():
    """1 · Tokenization: the labels under short `##` pieces ("##s", ",") ran into each other."""
    from viz.steps import CHIP_LABEL_FONT, token_chips

    words = "the transform ##er ##s , a deep ##ly learn ##ing model ##s . it is ##n ' t".split()
    text, spans, at = "", [], 0
    for w in words:
        piece = w.removeprefix("##")
        if not w.startswith("##") and text:
            text += " "
        spans.append((len(text), len(text) + len(piece)))
        text += piece
    fig = token_chips(text, spans, words, list(range(len(words))), width=72)
    labels = fig.data[1]
    unit = PLOT_WIDTH / 73                                               # px per character column, narrowest page
    boxes = [(x * unit - text_width(t, CHIP_LABEL_FONT) / 2, y, x * unit + text_width(t, CHIP_LABEL_FONT) / 2)
             for x, y, t in zip(labels.x, labels.y, labels.text)]
    for (a0, ay, a1), (b0, by, b1) in itertools.combinations(boxes, 2):
        assert ay != by or a1 <= b0 or b1 <= a0, (a0, a1, b0, b1)        # same row: side by side, never on top
    assert len(set(labels.y)) == 2 and len(labels.text) >= len(words) - 2   # a second row rather than dropping


@pytest.mark.parametrize("n", [8, 24])
def test_one_query_bars_thin_their_token_labels(n):
    """5 · Masks and 3 · One head with numbers: bars of one query's keys labelled at -50°, all of them."""
    from viz.steps import step_bars

    fig = step_bars(np.linspace(-1, 1, n), tokens_of(n), "row", start=40).layout.to_plotly_json()
    assert_axis_fits(fig["xaxis"], n, PLOT_WIDTH * 0.95)
    assert fig["xaxis"]["tickvals"][0] == 40


def test_compared_heads_and_their_difference_stand_equally_tall():
    """Compare heads: A and B squeezed into 380 px while the difference map under them stood three times taller."""
    from viz.attention import compare_rows_px, difference_heatmap

    n = 96
    w = spread_attention(n)
    side = compare_heatmaps([w, w], ["A", "B"], tokens_of(n)).layout
    diff = difference_heatmap(w, w * 0.5, tokens_of(n), title="A minus B", height=compare_rows_px(2) + 160).layout
    heights = [fig.height - fig.margin.t - fig.margin.b for fig in (side, diff)]
    assert max(heights) < 1.3 * min(heights), heights
    assert heights[0] >= 0.45 * PLOT_WIDTH                               # A and B near square, not flattened


def test_inside_one_score_keeps_its_key_labels_apart_in_half_a_page():
    """Inside one score at 141 tokens: two heatmaps abreast planned their key labels for the full width,
    and the key-share bars wrote all 48 labels at -60°, each on the next."""
    from viz.score_parts import key_shares

    n, half = 48, PLOT_WIDTH / 2 - 60
    tokens, w = tokens_of(n), spread_attention(n)
    heat = attention_heatmap(w, tokens, zmax=None, height=560, width_px=half).layout.to_plotly_json()
    assert_axis_fits(heat["xaxis"], n, half * heat["xaxis"]["domain"][1] if "domain" in heat["xaxis"] else half * 0.9)
    bars = key_shares(w, w, tokens).layout.to_plotly_json()
    assert_axis_fits(bars["xaxis"], n, PLOT_WIDTH * 0.9)
