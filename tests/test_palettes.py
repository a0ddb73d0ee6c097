"""Colour-blind-safe colours (viz/palettes.py): with the setting on, every colour a figure uses is an
Okabe–Ito colour, a pale tint of one, a grey, or a colour of cividis, Twilight or the blue–orange
scale; categories stay told apart and a shade keeps its place on its scale."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import pytest

from tests.page_helpers import ROOT, run_page
from viz import palettes
from viz.common import DIVERGING_SCALE, PALETTE, WEIGHT_SCALE, base_layout

# Okabe & Ito (2008), as published: what "categorical and safe" means here.
OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
SAFE_SCALES = [palettes.safe_scale("sequential", False), palettes.safe_scale("diverging", True),
               palettes.safe_scale("diverging", False), palettes.safe_scale("cyclic", False)]
_SCALE_POINTS = np.array([palettes.parse(c)[:3] for scale in SAFE_SCALES
                          for c in pc.sample_colorscale(scale, list(np.linspace(0, 1, 256)))])
LITERAL = re.compile(r"""["'](#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}|rgba?\([^)]*\))["']""")


def is_safe(colour: str) -> bool:
    rgba = palettes.parse(colour)
    if rgba is None:
        return colour in ("", "auto")
    if rgba[3] == 0 or palettes.is_neutral(rgba):
        return True
    text = palettes.to_text(*rgba[:3])
    if text in OKABE_ITO or text in palettes.PALE_CATEGORIES:
        return True
    return float(np.min(np.linalg.norm(_SCALE_POINTS - np.array(rgba[:3]), axis=1))) <= 3.0   # on a safe scale


def unsafe_in(spec: dict) -> list[str]:
    """Colours and scales in a figure's JSON that are not colour-blind safe."""
    colours, scales = palettes.figure_colours(go.Figure(spec) if isinstance(spec, dict) else spec)
    bad = [c for c in colours if not is_safe(c)]
    for scale in scales:
        if isinstance(scale, str):
            bad.append(f"scale {scale}")
        else:
            bad += [f"scale colour {c}" for _, c in scale if not is_safe(c)]
    return bad


def test_every_literal_colour_in_viz_becomes_safe():
    found = set(PALETTE)
    for path in (ROOT / "viz").glob("*.py"):
        if path.name != "palettes.py":
            found.update(LITERAL.findall(path.read_text()))
    assert len(found) > 20          # the scan finds the palette and the literals
    unsafe = {c: palettes.recolour_colour(c) for c in found if not is_safe(palettes.recolour_colour(c))}
    assert not unsafe


@pytest.mark.parametrize("name", [WEIGHT_SCALE, DIVERGING_SCALE, "Twilight", "Viridis", "RdBu", "Plasma", "PuOr_r"])
def test_named_and_expanded_scales_become_safe_scales(name):
    as_name = palettes.recolour_scale(name)
    as_list = palettes.recolour_scale(pc.get_colorscale(name))     # as Plotly stores it in a figure
    assert as_name == as_list
    assert as_name in SAFE_SCALES


def test_the_diverging_scale_keeps_blue_low_and_white_in_the_middle():
    safe = palettes.recolour_scale(DIVERGING_SCALE)                  # RdBu_r: blue low, red high
    low, mid, high = (palettes.parse(c) for c in pc.sample_colorscale(safe, [0.0, 0.5, 1.0]))
    assert low[2] > low[0]                                           # blue end
    assert high[0] > high[2]                                         # orange end
    assert min(mid[:3]) > 230                                        # zero is near white


def test_a_shade_from_a_scale_keeps_its_place_on_the_safe_scale():
    """Attribution shades tokens with colours sampled from the diverging scale: a strong negative
    must stay a strong blue, a weak positive a pale orange."""
    for position in (0.05, 0.3, 0.7, 0.95):
        shade = pc.sample_colorscale(DIVERGING_SCALE, [position])[0]
        expected = pc.sample_colorscale(palettes.recolour_scale(DIVERGING_SCALE), [position])[0]
        assert math.dist(palettes.parse(palettes.recolour_colour(shade))[:3], palettes.parse(expected)[:3]) < 12


def test_categories_stay_told_apart():
    heads = [palettes.recolour_colour(c) for c in PALETTE[:8]]
    assert len(set(heads)) == 8
    # an orange highlight among blue bars (viz/attention.py) stays orange against blue
    assert palettes.recolour_colour("#e8590c") != palettes.recolour_colour("#4c6ef5")
    # a green/red sign pair (viz/score_parts.py) stays two colours
    assert palettes.recolour_colour("#2b8a3e") != palettes.recolour_colour("#e03131")


def test_recolour_copies_and_keeps_everything_but_colour():
    fig = base_layout(go.Figure(go.Heatmap(z=np.arange(6.0).reshape(2, 3), colorscale=WEIGHT_SCALE, zmin=0, zmax=5,
                                           x=["a", "<b>", "c"])), title="weights")
    fig.add_scatter(x=[0, 1], y=[0, 1], line=dict(color=PALETTE[1]), marker=dict(color=["#e03131", "#2b8a3e"]))
    before = fig.to_json()
    safe = palettes.recolour(fig)
    assert fig.to_json() == before                       # the page's figure is not changed
    assert palettes.recolour(fig, "default") is fig
    assert unsafe_in(safe) == [] and unsafe_in(fig) != []
    assert safe.data[0].zmin == 0 and safe.data[0].zmax == 5 and list(safe.data[0].x) == ["a", "<b>", "c"]
    assert np.array_equal(safe.data[0].z, fig.data[0].z)
    assert safe.layout.title.text == fig.layout.title.text


@pytest.mark.parametrize("page", ["attention_head", "attention_grid", "attention_lines", "step_tokens",
                                  "step_embeddings", "context", "score_anatomy", "head_stats"])
def test_every_figure_on_a_page_is_safe_with_the_setting_on(page):
    at = run_page(page, colour_blind=True)
    assert not at.exception
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    # the hover views (All heads' canvas, One head's heatmap) draw from their own colour scale
    views = [json.loads(view.proto.json) for view in at.get("bidi_component")]
    assert specs or views
    for spec in specs:
        assert unsafe_in(spec) == []
    for view in views:
        if "scale" in view:
            assert [c for _, c in view["scale"] if not is_safe(c)] == []


def test_the_setting_off_leaves_figures_as_they_were():
    at = run_page("attention_head")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert unsafe_in(spec)            # "Blues" and the default palette: not the safe set
