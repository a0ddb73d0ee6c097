"""Defaults a newcomer meets first show something (issue 26): each page opens on its most telling case."""
from __future__ import annotations

import json

import numpy as np

from page_helpers import run_page, spec_array


def figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_sentence_meaning_opens_on_the_closest_pair_numbered_as_the_text_box():
    at = run_page("sentence_meaning", "I sat on the bank of the river.")
    assert not at.exception
    cosines_figure = figures(at)[0]
    cosines = spec_array(cosines_figure["data"][0]["z"]).astype(float)            # (6, 6)
    np.fill_diagonal(cosines, -np.inf)
    a, b = at.selectbox(key="sentence_meaning_a").value, at.selectbox(key="sentence_meaning_b").value
    assert cosines[a, b] == cosines.max() > 0.3           # the most alike pair, not the first two
    # The text box's first line is 1 in the matrix and the picker; the sidebar's sentence is 0.
    first_line = at.text_area(key="sentence_meaning_list").value.splitlines()[0]
    labels = at.selectbox(key="sentence_meaning_a").options
    assert labels[0].startswith("0. I sat on the bank") and labels[1] == f"1. {first_line}"


def test_a_long_window_keeps_the_token_a_sink_head_parks_on():
    from ui.attention import busiest_window, opening_window

    n, size = 300, 64
    attentions = np.full((2, 2, n, n), 1.0 / n, dtype=np.float32)           # (L, H, T, T) evenly spread
    attentions[..., 150:190, 150:190] += 0.5                                # a busy stretch far from [CLS]
    attentions[..., :, 0] += 5.0                                            # and every row parks on [CLS]
    special = np.zeros(n, dtype=bool)
    special[[0, n - 1]] = True
    assert busiest_window(attentions, list(range(n)), special, size) > 0   # the busiest stretch alone drops [CLS]
    start, keep = opening_window(attentions, list(range(n)), special, size)
    assert keep == 0 and start == 0                                        # the sink stays in view
    attentions[..., :, 0] -= 5.0
    attentions[..., :, 120] += 5.0                                         # a sink mid-text: the busy stretch
    start, keep = opening_window(attentions, list(range(n)), special, size)  # as close as holding it allows
    assert keep == 120 and start <= 120 < start + size and start + size > 150


def test_a_long_text_says_which_part_is_shown(minilm):
    from bench.screenshots import PARAGRAPH

    trace = minilm.trace(PARAGRAPH)
    at = run_page("attention_head", PARAGRAPH)
    assert not at.exception
    start, end = next(s for s in at.slider if s.label.startswith("Token window")).value
    received = trace.attentions.mean(axis=(0, 1)).sum(axis=0)              # (T,) attention each token receives
    assert start <= int(np.argmax(received)) <= end                        # the sink is in the heatmap
    note = " ".join(c.value for c in at.caption if c.value.startswith("Showing positions"))
    assert f"Showing positions {start}–{end} of {len(trace.tokens)}" in note


def test_one_training_step_opens_on_predicting_a_word():
    at = run_page("train_step", "Time flies like an arrow.")
    assert not at.exception
    read = next(c.value for c in at.code if c.value.startswith("read:"))
    assert "“time flies”" in read                                 # what the model read, as text
    target = read.split("target: ")[1].split()[0]
    assert target.startswith("▁") and sum(ch.isalpha() for ch in target) >= 2     # a word, not "m"


def test_the_encoder_decoders_extra_rows_are_explained():
    at = run_page("seq2seq")              # the pre-trained toy that ships with the app
    assert not at.exception
    source = at.text_input(key=next(k for k in at.session_state if str(k).startswith("seq2seq_text_"))).value
    note = next(c.value for c in at.caption if c.value.startswith("The decoder has"))
    cross = next(f for f in figures(at) if f["data"][0]["type"] == "heatmap")["data"][0]   # the first: cross-attention
    assert len(cross["x"]) == len(source) == len(cross["y"]) - 1   # trained: one row per letter + the start
    assert note.startswith(f"The decoder has {len(cross['y'])} rows for {len(source)} input letters")
    assert "start signal" in note and "not learnt to stop" not in note
    at.radio(key="seq2seq_state").set_value("before training (random)").run()
    note = next(c.value for c in at.caption if c.value.startswith("The decoder has"))
    assert "not learnt to stop" in note                       # its random start writes past the end
