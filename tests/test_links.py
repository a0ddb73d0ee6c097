"""A shared link carries the page's own controls (ui/url.py, ui/widgets.linked): a page's controls are
bound to the URL under their keys (buttons, tables and the shared layer and head are not), a link's
values come back as they went in, and a link is untrusted (bounded, checked against the widget; a
page that refuses a value, or fails on one, opens on its own settings with a note, never an error)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.page_helpers import ROOT
from ui import url


def _controls_script():
    """One control of each kind a page keeps in the link, keyed and bound as pages do."""
    import pandas as pd
    import streamlit as st

    from ui import url as page_url
    from ui.widgets import head_label, linked

    page_url.set_page("attention_aggregate")      # what the frame does before a page runs
    labels = ["0 · [CLS]", "1 · time", "2 · flies", "3 · like", "4 · an"]
    st.slider("Rollout", 0.0, 0.9, 0.5, 0.05, **linked("residual"))
    st.slider("Bins", 1, 20, 10, **linked("bins"))
    st.slider("Window", 0, 40, (0, 16), **linked("window"))
    st.radio("Projection", ["PCA", "t-SNE"], **linked("method"))
    st.selectbox("Token", range(5), format_func=labels.__getitem__, **linked("token"))
    st.multiselect("Heads", [0, 1, 2, 3, 4], default=[0, 1], **linked("some"))
    st.multiselect("Words", ["a", "b", "c"], **linked("words"))
    st.multiselect("Knock out", [(0, 1), (2, 3), (4, 5)], format_func=head_label, **linked("pairs"))
    st.toggle("Hide", **linked("hide"))
    st.text_input("Word", "king", **linked("word"))
    st.number_input("Seed", 0, 10_000, 0, **linked("seed"))
    st.select_slider("Learning rate", [3e-4, 1e-3, 3e-3, 1e-2], 3e-3, **linked("lr"))
    st.slider("Layer", 0, 5, key="attention_aggregate_layer")   # the shared layer: its own parameter
    st.button("Go", key="attention_aggregate_go")
    st.dataframe(pd.DataFrame({"a": [1, 2]}), key="attention_aggregate_table", on_select="rerun")


def _linked(**params) -> AppTest:
    at = AppTest.from_function(_controls_script, default_timeout=60)
    for name, value in params.items():
        at.query_params[f"attention_aggregate_{name}"] = value
    return at.run()


BOUND_KINDS = ("slider", "select_slider", "radio", "selectbox", "multiselect", "toggle", "text_input",
               "number_input")


def test_a_page_s_controls_are_in_the_link_under_their_keys_and_buttons_and_tables_are_not():
    at = _linked()
    assert not at.exception
    bound = {w.key: w.proto.query_param_key for kind in BOUND_KINDS for w in at.get(kind)
             if w.proto.query_param_key}
    assert bound == {key: key for key in (
        "attention_aggregate_residual", "attention_aggregate_bins", "attention_aggregate_window",
        "attention_aggregate_method", "attention_aggregate_token", "attention_aggregate_some",
        "attention_aggregate_words", "attention_aggregate_pairs", "attention_aggregate_hide",
        "attention_aggregate_word", "attention_aggregate_seed", "attention_aggregate_lr")}
    # The shared layer slider is not bound (the frame writes `layer`); a button and a table have no binding.
    assert "attention_aggregate_layer" not in bound
    assert not any(name.startswith("attention_aggregate") for name in at.query_params)      # all at defaults


@pytest.mark.parametrize("name, text, value", [
    ("residual", "0.25", 0.25), ("bins", "3", 3), ("window", ["2", "9"], (2, 9)), ("method", "t-SNE", "t-SNE"),
    ("token", "3 · like", 3), ("some", ["1", "4"], [1, 4]), ("words", ["a", "b"], ["a", "b"]),
    ("pairs", ["layer 0 · head 1", "layer 2 · head 3"], [(0, 1), (2, 3)]), ("hide", "true", True),
    ("word", "<b>&amp;", "<b>&amp;"), ("word", "ünïcode 🙂", "ünïcode 🙂"), ("seed", "7", 7), ("lr", "0.01", 0.01)])
def test_a_value_comes_back_from_the_link_as_it_went_in(name, text, value):
    at = _linked(**{name: text})
    assert not at.exception
    back = at.session_state[f"attention_aggregate_{name}"]
    assert back == value and type(back) is type(value)
    assert f"attention_aggregate_{name}" in at.query_params        # a value not at its default stays in the link


@pytest.mark.parametrize("name, text", [
    ("residual", "abc"), ("residual", "5"), ("residual", "NaN"), ("residual", "1e999"), ("residual", ""),
    ("bins", "2.5e9"), ("method", "<script>"), ("token", "9 · x"), ("hide", "abc"), ("some", ["7", "8"]),
    ("pairs", ["layer 9 · head 9"]), ("seed", "-5"), ("lr", "1000"), ("residual", "0.5")])
def test_a_value_that_does_not_fit_its_control_leaves_it_on_its_default(name, text):
    """Out of range, another type, an option the control lacks, or the default itself: the control
    opens on its default and the link forgets the parameter."""
    at = _linked(**{name: text})
    assert not at.exception
    defaults = _linked()
    assert at.session_state[f"attention_aggregate_{name}"] == defaults.session_state[f"attention_aggregate_{name}"]
    assert f"attention_aggregate_{name}" not in at.query_params


def _open(page: str, **params) -> AppTest:
    """A fresh session opened by a link to `page` (app.py's frame, sidebar and all)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def test_a_link_reopens_the_page_with_its_controls():
    link = {"sentence": "Time flies like an arrow.", "attention_aggregate_residual": "0.3", "cb": "1"}
    at = _open("attention_aggregate", **link)
    assert not at.exception
    assert at.slider(key="attention_aggregate_residual").value == pytest.approx(0.3)
    assert at.toggle(key="colour_blind").value is True
    assert at.query_params["attention_aggregate_residual"] == "0.3"      # still in the link
    assert not at.info                                                     # everything fitted: no note


@pytest.mark.parametrize("bad", ["abc", "5"])   # a string for a number; out of range
def test_a_link_value_the_page_rejects_opens_the_page_on_its_own_settings(bad):
    at = _open("attention_aggregate", **{"attention_aggregate_residual": bad})
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.slider(key="attention_aggregate_residual").value == pytest.approx(0.5)
    assert any("did not fit" in i.value for i in at.info)


@pytest.mark.parametrize("params", [
    {"attention_aggregate_hide": "x" * (url.MAX_VALUE_CHARS + 1)},              # too long for any control
    {"attention_aggregate_some": [str(i) for i in range(url.MAX_ITEMS + 1)]},   # too many values
    {"attention_aggregate_residual": "0.3", "Bad-Name!<>": "1"},                # a name no key has
    {f"attention_aggregate_c{i}": "1" for i in range(url.MAX_CONTROLS + 5)},    # too many controls
])
def test_a_link_too_big_for_its_controls_is_cut_before_any_widget_reads_it(params):
    at = _open("attention_aggregate", **params)
    assert not at.exception and not at.error
    assert any("did not fit" in i.value for i in at.info)
    kept = [name for name in at.query_params if name not in url.SHARED]
    assert len(kept) <= url.MAX_CONTROLS
    assert all(not isinstance(at.query_params[name], list) or len(at.query_params[name]) <= url.MAX_ITEMS
               for name in kept)
    assert at.toggle(key="attention_aggregate_hide").value is False
    assert not [n for n in at.query_params if "Bad" in n]


class _FailsOnLinkedValue:
    """A page whose control, at 0.3, makes the page fail (as a page might on a value it accepts but cannot use)."""
    url_path = "attention_aggregate"
    title = "Fails"

    def run(self):
        import streamlit as st

        from ui.widgets import linked

        if st.slider("Rollout", 0.0, 0.9, 0.5, 0.05, **linked("residual")) == pytest.approx(0.3):
            raise ValueError("cannot draw this")
        st.markdown("drawn")


def _framed_script():
    from tests.test_links import _FailsOnLinkedValue
    from ui import url as page_url
    from ui.frame import run_page

    page_url.open_session()
    run_page(_FailsOnLinkedValue())


def test_a_link_whose_value_breaks_the_page_opens_it_on_its_own_settings():
    at = AppTest.from_function(_framed_script, default_timeout=60)
    at.query_params["attention_aggregate_residual"] = "0.3"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.slider(key="attention_aggregate_residual").value == pytest.approx(0.5)
    assert [m.value for m in at.markdown] == ["drawn"]
    assert any("did not fit" in i.value for i in at.info)
    assert "attention_aggregate_residual" not in at.query_params
    at.run()       # the control is back in the link's care: a new value is kept there again
    assert not at.exception and not at.info
    assert at.slider(key="attention_aggregate_residual").proto.query_param_key == "attention_aggregate_residual"


def test_a_page_s_keys_come_from_its_file_name():
    """context_pair's controls are context_pair's, not context's (the page no longer spells its prefix)."""
    at = _open("context_pair")
    assert not at.exception
    keys = [w.key for kind in BOUND_KINDS for w in at.main.get(kind) if w.proto.query_param_key]
    assert keys and all(key.startswith("context_pair_") for key in keys), keys
