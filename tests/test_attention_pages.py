"""The attention pages under AppTest: each runs alone and in the frame, on good, long and hostile
sentences, and the controls a person uses do what they say."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.frame import UNEXPECTED

ROOT = Path(__file__).resolve().parents[1]


def frame_errors(at) -> list[str]:
    """Errors that app.py's frame caught from a page (shown as a short message, not a traceback)."""
    return [e.value for e in at.error if e.value.startswith(UNEXPECTED)]
PAGES = ["attention_head", "attention_grid", "attention_compare", "attention_lines",
         "attention_aggregate", "head_stats"]
SENTENCES = {
    "example": "Fruit flies like a banana.",
    "one_word": "Hello",
    "html": "<script>alert(1)</script> <b>bold</b> **markdown** [link](http://x)",
    "emoji_control": "Time 🕰️ flies\x00\x1b[31m like\u202e an arrow 🏹",
    "unknown": "Zxqvbnmplk grumbleflorp octothorpe.",
    "long": "I sat on the bank of the river and watched the water. " * 700,   # ~10,000+ tokens
}


def page_test(page: str, sentence: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=90)
    if sentence is not None:
        at.session_state["sentence"] = sentence
    return at.run()


def figures(at: AppTest) -> list:
    """The page's figures: Plotly charts, and the attention views drawn by the app's component (All heads' canvas)."""
    return list(at.get("plotly_chart")) + list(at.get("bidi_component"))


def messages(at: AppTest) -> list[str]:
    return [str(m.value) for m in list(at.info) + list(at.warning) + list(at.error)]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_with_defaults(page):
    at = page_test(page)
    assert not at.exception and not frame_errors(at)
    assert figures(at), f"{page} draws no figure"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("case", list(SENTENCES))
def test_page_survives_sentences(page, case):
    at = page_test(page, SENTENCES[case])
    assert not at.exception, f"{page} on {case}: {at.exception}"
    assert figures(at)
    if case == "long":
        assert any("512" in m for m in messages(at)), "no truncation notice"
    # Nothing of the user's text reaches markdown: no element renders the raw tags.
    for md in at.markdown:
        assert "<script>" not in md.value and "**markdown**" not in md.value


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_gives_a_message(page, text):
    at = page_test(page, text)
    assert not at.exception and not frame_errors(at)
    assert any("empty" in m for m in messages(at))
    assert not at.get("plotly_chart")


def test_one_head_hides_specials_and_says_rows_are_renormalised():
    at = page_test("attention_head", "The early bird eats the worm.")
    assert not any("are hidden" in c.value for c in at.caption)
    at.toggle(key="attention_head_hide").set_value(True).run()
    assert not at.exception and not frame_errors(at)
    assert any("are hidden" in c.value and "renormalised" in c.value for c in at.caption)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    ticks = figure["layout"]["xaxis"]["ticktext"]
    assert "[CLS]" not in ticks and "[SEP]" not in ticks and "early" in ticks


def test_one_head_follows_the_shared_layer_and_head():
    at = AppTest.from_file(str(ROOT / "pages" / "attention_head.py"), default_timeout=90)
    at.session_state["layer"], at.session_state["head"] = 4, 9
    at.run()
    assert [s.value for s in at.slider][:2] == [4, 9]
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["title"]["text"].startswith("Layer 4, head 9")
    at.session_state["layer"] = 99     # out of range from an edited link: clamped, no exception
    at.run()
    assert not at.exception and at.slider[0].value == 5


def test_long_sentence_offers_a_token_window():
    at = page_test("attention_head", SENTENCES["long"])
    window = [s for s in at.slider if s.label.startswith("Token window")]
    start, end = window[0].value if window else (0, 0)
    assert end - start + 1 == 64             # 64 tokens, where they attend to each other most (busiest_window)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(figure["data"][0]["customdata"][0]) == 64      # every key in the hover; the labels thinned to fit
    window[0].set_value((100, 149)).run()
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(figure["data"][0]["customdata"][0]) == 50
    assert figure["layout"]["xaxis"]["tickvals"][0] == 0        # positions in the window, from its first token
    assert not at.exception and not frame_errors(at)


def test_exports_are_offered():
    assert page_test("attention_head").get("download_button")
    grid = page_test("attention_grid", "Time flies like an arrow.")
    labels = [b.proto.label for b in grid.get("download_button")]
    assert any("NPZ" in label for label in labels) and any("JSON" in label for label in labels)
    long = page_test("attention_grid", SENTENCES["long"])
    assert any("JSON is offered up to" in c.value for c in long.caption)


def test_grid_opens_a_head_on_the_one_head_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()   # run first: pages get registered
    at.switch_page("pages/attention_grid.py").run()
    at.selectbox(key="attention_grid_open_layer").set_value(2)
    at.selectbox(key="attention_grid_open_head").set_value(6)
    at.button(key="attention_grid_open").click().run()
    assert not at.exception and not frame_errors(at)
    assert at.title[0].value.endswith("One head")
    assert [s.value for s in at.slider][:2] == [2, 6]
    assert at.session_state["layer"] == 2 and at.session_state["head"] == 6


def test_a_shared_link_sets_sentence_layer_and_head():
    """The frame reads the link on a session's first run (the browser test opens a real link)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    link = {"sentence": "Time flies like an arrow.", "layer": "3", "head": "7", "model": "minilm"}
    for name, value in link.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception and not frame_errors(at)
    assert at.sidebar.text_area(key="sentence_box").value == "Time flies like an arrow."
    assert int(at.session_state["layer"]) == 3 and int(at.session_state["head"]) == 7
    assert at.query_params["layer"] == "3" and at.query_params["sentence"] == "Time flies like an arrow."


@pytest.mark.parametrize("value", ["abc", "-1", "2e3", "", "9" * 5000, "3.5", " 7 "])
@pytest.mark.parametrize("page", ["pages/attention_lines.py", "pages/attention_aggregate.py",
                                  "pages/attention_head.py", "pages/step_head.py"])
def test_a_crafted_layer_or_head_in_the_link_is_clamped(page, value):
    """Every value a link hands to a widget goes through one gate: no int() on raw text."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params["layer"] = value
    at.query_params["head"] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception and not frame_errors(at)
    assert 0 <= int(at.session_state["head"]) < 12 and 0 <= int(at.session_state["layer"]) < 6


def test_compare_warns_about_the_same_head_twice():
    at = page_test("attention_compare")
    at.selectbox(key="attention_compare_pick_1").set_value(at.selectbox(key="attention_compare_pick_0").value).run()
    assert any("same head" in m for m in messages(at))
    at.radio(key="attention_compare_count").set_value(4).run()
    assert not at.exception and not frame_errors(at)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sum(d["type"] == "heatmap" for d in figure["data"]) == 4


def test_lines_view_modes():
    at = page_test("attention_lines", "The early bird eats the worm.")
    at.radio(key="attention_lines_mode").set_value("All heads of the layer").run()
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    legend = {d["name"] for d in figure["data"] if d.get("showlegend") is not False and d["mode"] == "lines"}
    assert legend == {f"head {h}" for h in range(12)}
    at.radio(key="attention_lines_mode").set_value("Some heads").run()
    at.multiselect(key="attention_lines_some").set_value([]).run()
    assert any("at least one head" in m for m in messages(at))
    assert not at.exception and not frame_errors(at)


def test_aggregates_sum_the_chosen_query_tokens():
    at = page_test("attention_aggregate", "I sat on the bank of the river.")
    assert not at.exception and not frame_errors(at)
    rows = [m for m in at.multiselect if m.label == "Query tokens"][0]
    rows.set_value([5, 7]).run()   # "bank", "river"
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bar = [f for f in figures if f["data"][0]["type"] == "bar"][0]
    assert "2 query tokens" in bar["layout"]["title"]["text"]
    rows.set_value([]).run()
    assert any("at least one query token" in m for m in messages(at))
    for source in ("the layer's mean head", "the rollout"):
        at.radio(key="attention_aggregate_source").set_value(source).run()
        assert not at.exception and not frame_errors(at)


def test_head_statistics_table_has_every_head():
    at = page_test("head_stats", "He created a miniature Eiffel tower lego model.")
    table = at.dataframe[0].value
    assert len(table) == 72 and {"layer", "head", "entropy (bits)", "on [SEP]"} <= set(table.columns)
    for name in ("entropy", "distance", "cls", "sep", "next", "self"):
        at.selectbox(key="head_stats_stat").set_value(name).run()
        assert not at.exception and not frame_errors(at)
    assert any("Highest" in c.value for c in at.caption)
