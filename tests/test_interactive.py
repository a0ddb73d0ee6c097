"""The hover view's data (ui/interactive.py) and the two pages that mount it, under AppTest.

What reaches the browser is arrays: weights rounded to 4 decimals, tokens as plain strings (the
JavaScript sets them as text), colours from the app's one scale and head palette.
"""
from __future__ import annotations

import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from tests.page_helpers import run_page
from ui.interactive import ASSETS, heatmap_data, lines_data
from viz.common import WEIGHT_SCALE, colour


def softmax_rows(shape: tuple, seed: int = 0) -> np.ndarray:
    scores = np.random.default_rng(seed).normal(size=shape)
    return np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)


def view_data(at) -> dict:
    views = at.get("bidi_component")
    assert len(views) == 1, "the page should mount exactly one hover view"
    return json.loads(views[0].proto.json)


def test_heatmap_sends_rounded_weights_plain_tokens_and_the_apps_colour_scale():
    weights = softmax_rows((6, 6))
    tokens = ["[CLS]", "<b>bold</b>", "a\u202eb", "tab\there", "🏹", "[SEP]"]
    data = heatmap_data(weights, tokens, [10, 11, 12, 13, 14, 15], "Layer 1, head 2")
    sent = np.array(data["weights"])
    assert sent.shape == (6, 6) and np.abs(sent - weights).max() <= 5e-5       # 4 decimals
    assert np.allclose(sent.sum(1), 1, atol=1e-3)                              # rows still sum to 1
    assert data["tokens"][1] == "<b>bold</b>"              # shown literally by textContent, not escaped twice
    assert "\u202e" not in data["tokens"][2] and "\t" not in data["tokens"][3]  # no reordering, no control codes
    assert data["tokens"][4] == "🏹" and data["positions"] == [10, 11, 12, 13, 14, 15]
    plotly_scale = [[at, rgb] for at, rgb in go.Heatmap(colorscale=WEIGHT_SCALE).colorscale]
    assert data["scale"] == plotly_scale and data["zmax"] == 1.0   # the same colours as the Plotly heatmap
    json.dumps(data, allow_nan=False)                                          # plain JSON


def test_heatmap_stretches_its_colours_to_the_largest_weight_when_asked():
    weights = softmax_rows((5, 5)) * 0.3
    assert heatmap_data(weights, list("abcde"), range(5), "", zmax=None)["zmax"] == pytest.approx(weights.max())
    assert heatmap_data(np.zeros((2, 2)), ["a", "b"], [0, 1], "", zmax=None)["zmax"] == 1.0


def test_shapes_that_do_not_match_the_tokens_are_refused():
    with pytest.raises(ValueError):
        heatmap_data(np.zeros((3, 4)), ["a", "b", "c"], [0, 1, 2], "")
    with pytest.raises(ValueError):
        lines_data(np.zeros((2, 3, 3)), ["a", "b"], [0, 1], [0], "")


def test_lines_send_only_the_chosen_heads_in_their_palette_colours():
    weights = softmax_rows((12, 7, 7))                                        # (heads, T, T)
    data = lines_data(weights, list("abcdefg"), range(7), [3, 0, 11], "Layer 2, 3 heads")
    sent = np.array(data["weights"])
    assert sent.shape == (3, 7, 7)
    assert np.abs(sent - weights[[3, 0, 11]]).max() <= 5e-5
    assert data["heads"] == [3, 0, 11] and data["colours"] == [colour(3), colour(0), colour(11)]


def test_colour_blind_mode_swaps_the_scale_and_head_colours_as_the_figures_do():
    from viz.palettes import recolour, recolour_colour

    weights = softmax_rows((3, 4, 4))
    heat = heatmap_data(weights[0], list("abcd"), range(4), "", safe_colours=True)
    figure = recolour(go.Figure(go.Heatmap(z=weights[0], colorscale=WEIGHT_SCALE)))
    assert heat["scale"] == [[at, rgb] for at, rgb in figure.data[0].colorscale]   # cividis, like the figure
    lines = lines_data(weights, list("abcd"), range(4), [0, 2], "", safe_colours=True)
    assert lines["colours"] == [recolour_colour(colour(0)), recolour_colour(colour(2))]
    assert lines["colours"] != lines_data(weights, list("abcd"), range(4), [0, 2], "")["colours"]


def test_a_long_window_stays_a_small_payload():
    """The largest heatmap a page sends (160 × 160) and the largest lines view (12 heads × 64²)."""
    heat = json.dumps(heatmap_data(softmax_rows((160, 160)), ["token"] * 160, range(160), ""))
    lines = json.dumps(lines_data(softmax_rows((12, 64, 64)), ["token"] * 64, range(64), range(12), ""))
    assert len(heat) < 250_000 and len(lines) < 450_000


def test_the_javascript_never_writes_html():
    script = (ASSETS / "attention_view.js").read_text()
    assert not re.search(r"\.(inner|outer)HTML\s*\+?=|insertAdjacentHTML|document\.write|eval\(", script)
    assert "http" not in script.replace('"http://www.w3.org/2000/svg"', "")   # nothing fetched: works offline


def test_one_head_mounts_the_view_with_what_the_page_shows():
    at = run_page("attention_head", sentence="The early bird eats the worm.")
    assert not at.exception
    data = view_data(at)
    assert data["mode"] == "heatmap" and data["tokens"][0] == "[CLS]" and data["tokens"].count("the") == 2
    at.toggle(key="attention_head_hide").set_value(True).run()
    data = view_data(at)
    assert "[CLS]" not in data["tokens"] and "[SEP]" not in data["tokens"]
    assert np.allclose(np.array(data["weights"]).sum(1), 1, atol=1e-3)        # renormalised rows
    assert at.get("plotly_chart"), "the Plotly figure (zoom, PNG) is still offered"


def test_lines_view_mounts_the_heads_chosen():
    at = run_page("attention_lines", sentence="The early bird eats the worm.")
    assert not at.exception and len(view_data(at)["heads"]) == 1
    at.radio(key="attention_lines_mode").set_value("All heads of the layer").run()
    data = view_data(at)
    assert data["heads"] == list(range(12)) and len(set(data["colours"])) == 12
    assert np.array(data["weights"]).shape == (12, len(data["tokens"]), len(data["tokens"]))


@pytest.mark.parametrize("page", ["attention_head", "attention_lines"])
def test_a_long_text_sends_only_the_window(page):
    at = run_page(page, sentence="I sat on the bank of the river and watched the water. " * 40)
    assert not at.exception
    data = view_data(at)
    assert len(data["tokens"]) <= (160 if page == "attention_head" else 64)
    assert data["positions"] == list(range(data["positions"][0], data["positions"][0] + len(data["tokens"])))


# -- All heads: the canvas grid ---------------------------------------------------------------------------------
def grid_of(attentions: np.ndarray, tokens: list[str], zmax: float | None = 1.0) -> dict:
    from ui.interactive import grid_data, pack_grid

    return grid_data(pack_grid(attentions), tokens, "token", zmax)


@pytest.mark.parametrize("n", [8, 141])
def test_the_grid_sends_every_heads_thumbnail_exactly_and_compactly(n):
    """Every layer and head arrives, each cell the pooled weight heads_grid draws to 4 decimals (the tooltip
    shows 3), at 141 tokens in well under the 2.2 MB the Plotly figure took, in the figure's own colours."""
    from ui.interactive import read_grid_weights
    from viz.heads import grid_thumbnails, heads_grid

    attentions = softmax_rows((6, 12, n, n), seed=n).astype(np.float32)          # (L, H, T, T)
    tokens = [f"t{i}" for i in range(n)]
    data = grid_of(attentions, tokens)
    thumbs, starts, _ = grid_thumbnails(attentions)
    sent = read_grid_weights(data)
    assert sent.shape == thumbs.shape == (6, 12, min(n, 64), min(n, 64))         # every head drawn
    assert np.abs(sent - thumbs).max() <= 5.1e-5                                  # 4 decimals (float32)
    assert data["starts"] == [int(s) for s in starts] and data["tokens"] == tokens
    assert len(json.dumps(data, allow_nan=False)) < (600_000 if n > 64 else 60_000)
    figure = heads_grid(attentions)
    assert data["scale"] == [[at, rgb] for at, rgb in figure.layout.coloraxis.colorscale]
    assert data["log"] == (n > 32) and data["zmax"] == figure.layout.coloraxis.cmax == 1.0


def test_the_grid_stretches_its_colours_and_refuses_labels_that_do_not_match():
    attentions = softmax_rows((2, 3, 5, 5)).astype(np.float32) * 0.4
    assert grid_of(attentions, list("abcde"), zmax=None)["zmax"] == pytest.approx(attentions.max(), abs=1e-6)
    with pytest.raises(ValueError):
        grid_of(attentions, list("abcd"))


def test_all_heads_page_mounts_the_grid_and_swaps_to_safe_colours():
    from viz.palettes import recolour_scale

    at = run_page("attention_grid", sentence="The early bird eats the worm.")
    assert not at.exception and not at.get("plotly_chart")          # no Plotly code to load in a new tab
    data = view_data(at)
    assert data["mode"] == "grid" and (data["layers"], data["heads"]) == (6, 12)
    assert data["tokens"][0] == "[CLS]" and data["unit"] == "token"
    safe = view_data(run_page("attention_grid", sentence="The early bird eats the worm.", colour_blind=True))
    assert safe["scale"] == recolour_scale(data["scale"]) != data["scale"]

