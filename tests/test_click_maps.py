"""Click a cell of a map of heads and that head opens (issues 25 and 26).

The patching map, the detector maps, the head-statistics map, the direct-logit-attribution map, the
knock-out map and the All heads grid (heads_grid, for print) each carry one invisible marker per head (Plotly
selects scatter points, never heatmap cells). A click selects a marker; ui.attention.clicked_head reads back
(layer, head), and the page opens that head on One head. All heads on the page is a canvas (the attention
view component) whose click sends (layer, head) as its "open" trigger.
Here: every marker sits on its own head's cell, a selection names that head, and each page, given the
selection a browser sends, chooses that layer and head (the patching map with its clean prompt as
the sentence). tests/test_click_maps_browser.py clicks a real cell in Chromium.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from page_helpers import ROOT, run_page, spec_array, texts
from test_pages_smoke import frame_errors
from ui.attention import clicked_head
from viz.causal import layer_head_map
from viz.common import OPEN_HEAD
from viz.heads import heads_grid, statistic_heatmap

LAYERS, HEADS = 3, 5


def values() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, size=(LAYERS, HEADS)).astype(np.float32)   # (L, H)


MAPS = {
    "patching": lambda v: layer_head_map(v, "patching", "share recovered", clickable=True),
    "detector": lambda v: layer_head_map(np.abs(v), "detector", "score", diverging=False, zmax=1.0, clickable=True),
    "statistic": lambda v: statistic_heatmap(np.abs(v), "on previous", "statistic", clickable=True),
}


def selection(curve: int, index: int) -> dict:
    """What Streamlit hands the page when a point is clicked."""
    return {"selection": {"points": [{"curve_number": curve, "point_number": index, "point_index": index}],
                          "point_indices": [index], "box": [], "lasso": []}}


def markers_of(fig) -> int:
    return next(i for i, trace in enumerate(fig.data) if trace.name == OPEN_HEAD)


@pytest.mark.parametrize("kind", MAPS)
def test_every_cell_of_a_map_has_a_marker_that_opens_its_own_head(kind):
    v = values()
    fig = MAPS[kind](v)
    heat, curve = fig.data[0], markers_of(fig)
    markers = fig.data[curve]
    z = np.asarray(heat.z)
    assert len(markers.x) == LAYERS * HEADS
    seen = set()
    for i, (x, y) in enumerate(zip(markers.x, markers.y)):
        head, layer = list(heat.x).index(x), list(heat.y).index(y)    # the cell under the marker
        assert clicked_head(fig, selection(curve, i)) == (layer, head)
        assert z[layer, head] == pytest.approx(MAPS[kind](v).data[0].z[layer][head])
        seen.add((layer, head))
    assert seen == {(la, h) for la in range(LAYERS) for h in range(HEADS)}
    # the hover of the cell under the mouse is the marker's: it names the head, its value, and the click
    assert "click to open" in markers.hovertemplate and heat.hoverinfo == "skip"
    assert np.asarray(markers.customdata)[2 * HEADS + 3][2] == pytest.approx(z[2, 3])
    assert fig.layout.hoverdistance == -1          # the nearest marker, i.e. the cell under the mouse, answers


def test_a_map_without_clickable_stays_as_it_was():
    fig = layer_head_map(values(), "map", "value")
    assert len(fig.data) == 1 and "%{z:.3f}" in fig.data[0].hovertemplate


def test_the_grid_marker_of_a_thumbnail_opens_that_head():
    attentions = np.random.default_rng(1).dirichlet(np.ones(6), size=(LAYERS, HEADS, 6))     # (L, H, T, T)
    fig = heads_grid(attentions.astype(np.float32))
    curve = markers_of(fig)
    markers = fig.data[curve]
    i = 2 * HEADS + 4
    assert markers.y[i].startswith("layer 2 ·") and markers.x[i].startswith("head 4 ·")   # on its thumbnail
    assert clicked_head(fig, selection(curve, i)) == (2, 4)


def test_a_click_elsewhere_opens_nothing():
    fig = MAPS["patching"](values())
    assert clicked_head(fig, selection(0, 3)) is None            # the heatmap itself (no marker)
    assert clicked_head(fig, selection(markers_of(fig), 999)) is None
    assert clicked_head(fig, {"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}) is None
    assert clicked_head(fig, None) is None


# -- the pages, given the selection a browser sends ----------------------------------------------------------
def click(at, key: str, layer: int, head: int):
    """Run `at` again as if the person clicked the cell of (layer, head) on the chart keyed `key`. AppTest has
    no API for a chart's selection, so the widget state a browser sends is added by hand (AppTest._run)."""
    chart = next(c for c in at.get("plotly_chart") if c.key == key)
    figure = json.loads(chart.proto.spec)
    assert chart.proto.id and list(chart.proto.selection_mode), f"{key} answers no click"
    curve = next(i for i, trace in enumerate(figure["data"]) if trace.get("name") == OPEN_HEAD)
    custom = spec_array(figure["data"][curve]["customdata"])
    index = next(i for i, row in enumerate(custom) if (int(row[0]), int(row[1])) == (layer, head))
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id, state.string_value = chart.proto.id, json.dumps(selection(curve, index))
    return at._run(WidgetStates(widgets=list(states.widgets)))


def assert_opened(at, layer: int, head: int) -> None:
    assert not at.exception, at.exception
    assert (at.session_state["layer"], at.session_state["head"]) == (layer, head)
    assert f"Layer {layer}, head {head} is now chosen" in texts(at.info)     # run alone: no One head page to go to


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> str:
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for

    return str(save_checkpoint(hf_model("gpt2"), tokenizer_for("gpt2"), tmp_path_factory.mktemp("click") / "gpt2"))


def open_from_grid(at, layer: int, head: int) -> AppTest:
    """What the browser sends when a thumbnail of All heads' canvas is clicked (or chosen with Enter): the
    attention view's "open" trigger with (layer, head) (ui/components/attention_view, drawGrid)."""
    from streamlit.components.v2.bidi_component.main import _make_trigger_id

    views = [v for v in at.get("bidi_component") if json.loads(v.proto.json).get("mode") == "grid"]
    assert len(views) == 1, "All heads should mount one grid view"
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = _make_trigger_id(views[0].proto.id, "events")
    state.json_trigger_value = json.dumps([{"event": "open", "value": [layer, head]}])
    return at._run(WidgetStates(widgets=list(states.widgets)))


def test_clicking_a_thumbnail_of_all_heads_opens_that_head():
    at = run_page("attention_grid", "The cat sat on the mat because it was warm.")
    assert not at.get("plotly_chart"), "All heads draws on a canvas: no Plotly code for a new tab to load"
    assert_opened(open_from_grid(at, 3, 7), 3, 7)
    at = run_page("attention_grid", "The cat sat on the mat because it was warm.")
    after = open_from_grid(at, 9, 0)                           # no layer 9 in MiniLM: nothing opens
    assert not after.exception and "is now chosen" not in texts(after.info)


def test_clicking_the_head_statistics_map_opens_that_head():
    at = run_page("head_stats", "The cat sat on the mat because it was warm.")
    assert "Click a cell to open that head" in texts(at.caption)
    assert_opened(click(at, "head_stats_map", 4, 7), 4, 7)


def test_clicking_a_detector_map_opens_that_head(gpt2):
    sentence = "the cat sat on the mat and the cat looked at the dog"
    at = run_page("head_detectors", sentence, gpt2)
    assert_opened(click(at, "head_detectors_induction_map", 2, 1), 2, 1)
    at = run_page("head_detectors", sentence, gpt2)
    assert_opened(click(at, "head_detectors_sentence_previous_map", 1, 3), 1, 3)
    assert at.session_state["sentence"] == sentence


def test_clicking_the_direct_logit_attribution_map_opens_that_head(gpt2):
    at = run_page("logit_attribution", "the cat sat on the mat and the cat", gpt2)
    assert "Click a cell to open that head" in texts(at.caption)
    assert_opened(click(at, "logit_attribution_heads_map", 1, 2), 1, 2)


def test_clicking_the_knock_out_map_opens_that_head():
    at = run_page("head_ablation", "The cat sat on the mat because it was warm.")
    assert "Click a cell to open that head" in texts(at.caption)
    assert_opened(click(at, "head_ablation_map_click", 2, 5), 2, 5)


def test_clicking_the_patching_map_opens_that_head_on_the_clean_prompt(gpt2):
    at = run_page("patching", "a sentence of its own", gpt2, patching_clean="the cat sat on the mat",
                  patching_corrupted="the dog sat on the mat", patching_answer=" mat", patching_other=" dog",
                  patching_kind="head")
    assert not at.exception and "Click a cell to open that head" in texts(at.caption)
    at = click(at, "patching_head_map", 1, 2)
    assert_opened(at, 1, 2)
    # the head opens on the prompt the map was drawn for (with the answers' shared start, if any)
    assert at.session_state["sentence"].startswith("the cat sat on the mat")
    assert at.session_state["sentence_box"] == at.session_state["sentence"]


def test_in_the_app_a_click_on_the_patching_map_lands_on_one_head(gpt2):
    """The whole app: the patching page with prompts of the person's own (bound to the link), a click,
    and the One head page on that layer and head, on the clean prompt."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["extra_models"] = {gpt2: "gpt2-tiny"}
    at.query_params["model"] = gpt2          # a session's first run takes the model from the link
    at.run()
    at.switch_page("pages/patching.py").run()
    at.text_area(key="patching_clean").set_value("the cat sat on the mat")
    at.text_area(key="patching_corrupted").set_value("the dog sat on the mat")
    at.text_input(key="patching_answer").set_value(" mat")
    at.text_input(key="patching_other").set_value(" dog")
    at.radio(key="patching_kind").set_value("head").run()
    assert not at.exception, at.exception
    at = click(at, "patching_head_map", 2, 3)
    assert not at.exception and not frame_errors(at), at.exception
    assert at.title[0].value.endswith("One head")
    assert [s.value for s in at.slider][:2] == [2, 3]
    assert at.session_state["sentence"].startswith("the cat sat on the mat")
