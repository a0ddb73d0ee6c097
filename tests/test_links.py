"""A shared link carries the page's own controls (ui/links.py): changed controls go in, defaults
and buttons stay out, and a link's values are untrusted (bounded, plain types, a page that
rejects them opens on its own settings with a note, never an error)."""
from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

from tests.page_helpers import ROOT
from ui import links


@pytest.mark.parametrize("value", [3, 0.25, "t-SNE", "<b>&amp;", True, None, (2, 9), [1, 4], ["a", "b"],
                                   [(0, 1), (2, 3)], "ünïcode 🙂"])
def test_a_value_comes_back_from_the_link_as_it_went_in(value):
    text = links.encode(value)
    assert text is not None and len(text) <= links.MAX_VALUE_CHARS
    back = links.decode(text)
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize("text", ["", "abc", "{}", '{"t": 3}', '{"__class__": 1}', "NaN", "1e999", "[" * 50 + "]" * 50,
                                  "[" + ",".join(["1"] * 1000) + "]", '"' + "x" * 400 + '"', None, 12])
def test_anything_but_a_short_plain_value_is_refused(text):
    with pytest.raises(ValueError):
        links.decode(text)


def test_values_that_cannot_be_written_are_left_out():
    assert links.encode({"a": 1}) is None
    assert links.encode(object()) is None
    assert links.encode(math.nan) is None
    assert links.encode("x" * 1000) is None


def test_a_key_belongs_to_the_longest_page_name_it_starts_with():
    assert links.owner("context_pair_dims") == "context_pair"
    assert links.owner("context_focus") == "context"
    assert links.owner("sidebar_thing") is None


def _controls_script():
    """A page's widgets, with the link written at the start of each run as app.py does."""
    import pandas as pd
    import streamlit as st

    from ui import links as page_links

    page_links.write_controls("attention_aggregate")
    st.slider("Rollout", 0.0, 0.9, 0.5, 0.05, key="attention_aggregate_residual")
    st.selectbox("Statistic", ["entropy", "distance"], key="attention_aggregate_stat")
    st.multiselect("Heads", [0, 1, 2, 3], default=[0, 1], key="attention_aggregate_some")
    st.slider("Layer", 0, 5, key="attention_aggregate_layer")        # the shared layer: its own parameter
    st.button("Go", key="attention_aggregate_go")
    st.dataframe(pd.DataFrame({"a": [1, 2]}), key="attention_aggregate_table", on_select="rerun")
    st.slider("Another page's", 0, 9, 4, key="head_stats_k")


def test_changed_controls_go_in_the_link_and_defaults_stay_out():
    at = AppTest.from_function(_controls_script, default_timeout=60).run()
    assert not at.exception
    assert not [name for name in at.query_params if name.startswith(links.PARAM)]      # all at defaults

    at.slider(key="attention_aggregate_residual").set_value(0.7).run()
    at.selectbox(key="attention_aggregate_stat").set_value("distance").run()
    at.multiselect(key="attention_aggregate_some").set_value([2]).run()
    at.slider(key="attention_aggregate_layer").set_value(3).run()
    at.button(key="attention_aggregate_go").click().run()
    at.slider(key="head_stats_k").set_value(7).run()
    at.run()      # the link is written at the start of a run, from the values the last one left
    params = {name: at.query_params[name] for name in at.query_params if name.startswith(links.PARAM)}
    assert {name: links.decode(text[0] if isinstance(text, list) else text) for name, text in params.items()} == {
        "p.residual": 0.7, "p.stat": "distance", "p.some": [2]}

    at.slider(key="attention_aggregate_residual").set_value(0.5).run()
    at.run()
    assert "p.residual" not in at.query_params      # back at its default: out of the link again


def _open(page: str, **params) -> AppTest:
    """A fresh session opened by a link to `page` (app.py's frame, sidebar and all)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def test_a_link_reopens_the_page_with_its_controls():
    link = {"sentence": "Time flies like an arrow.", "p.residual": links.encode(0.3), "cb": "1"}
    at = _open("attention_aggregate", **link)
    assert not at.exception
    assert at.slider(key="attention_aggregate_residual").value == pytest.approx(0.3)
    assert at.toggle(key="colour_blind").value is True
    kept = at.query_params["p.residual"]
    assert links.decode(kept[0] if isinstance(kept, list) else kept) == pytest.approx(0.3)   # still in the link


@pytest.mark.parametrize("bad", ['"abc"', "5"])   # a string for a number; out of range
def test_a_link_value_the_page_rejects_opens_the_page_on_its_own_settings(bad):
    at = _open("attention_aggregate", **{"p.residual": bad, "p.x": "1" * 5000, "p.Bad-Name": "1"})
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.slider(key="attention_aggregate_residual").value == pytest.approx(0.5)
    assert any("did not fit" in i.value for i in at.info)
    assert "attention_aggregate_x" not in at.session_state      # too long: never read
