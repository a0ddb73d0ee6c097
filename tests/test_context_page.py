"""The two context pages under AppTest: "Context at work" (paths, lens, movement; pages/context.py)
and "Same word, two sentences" (pages/context_pair.py): presets, every part, every kind of bad
input; and the CSV tables of ui/context.py."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "context.py")
PAIR = str(Path(__file__).resolve().parents[1] / "pages" / "context_pair.py")


def run(sentence: str | None = None, page: str = PAGE) -> AppTest:
    at = AppTest.from_file(page, default_timeout=90)
    if sentence is not None:
        at.session_state["sentence"] = sentence
    return at.run()


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def token_picker(at: AppTest):
    return next(w for w in at.selectbox if w.key.startswith("context_token_"))


def drawn_picker(at: AppTest):
    return next(w for w in at.multiselect if w.key.startswith("context_drawn_"))


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def use_own_pair(at: AppTest, a: str, b: str, word: str) -> AppTest:
    at.selectbox(key="context_pair_preset").set_value("your own").run()
    at.text_input(key="context_pair_a_your own").input(a)
    at.text_input(key="context_pair_b_your own").input(b)
    at.text_input(key="context_pair_word_your own").input(word)
    return at.run()


def test_defaults_show_all_four_parts_and_the_exports():
    at = run()
    assert not at.exception
    assert charts(at) == 3        # trajectories, lens, movement
    assert "approximation" in texts(at.info)
    downloads = {b.key for b in at.get("download_button")} if at.get("download_button") else set()
    assert len(at.get("download_button")) == 3, downloads
    assert token_picker(at).value == 2          # "flies" in the default sentence
    pair = run(page=PAIR)
    assert not pair.exception
    assert charts(pair) == 2      # pair paths, pair cosine
    assert len(pair.dataframe) == 1 and len(pair.dataframe[0].value) == 7   # nearest entries, a row per layer


@pytest.mark.parametrize("preset", ["bank", "flies", "bat"])
def test_each_preset_compares_the_word(preset):
    at = run(page=PAIR)
    at.selectbox(key="context_pair_preset").set_value(preset).run()
    assert not at.exception
    assert charts(at) == 2
    assert not at.warning
    if preset == "flies":
        assert "insects" in texts(at.markdown)                    # what to look for, said on the page


def test_three_d_and_a_chosen_token():
    at = run("He created a miniature Eiffel tower lego model.")
    assert token_picker(at).value == 8          # "tower" (Eiffel is e ##iff ##el) is picked first
    at.radio(key="context_dims").set_value("3-D").run()
    token_picker(at).set_value(1).run()
    assert not at.exception and charts(at) == 3
    pair = run(page=PAIR)
    pair.radio(key="context_pair_dims").set_value("3-D").run()
    assert not pair.exception and charts(pair) == 2


def test_one_token_sentence_says_there_is_no_context():
    at = run("Hello")
    assert not at.exception
    assert "single token" in texts(at.info)
    assert charts(at) == 3
    assert charts(run("Hello", page=PAIR)) == 2       # the pair page reads its own two sentences


def test_512_tokens_caps_the_paths_drawn_with_a_notice():
    at = run("The river bank was steep. " * 200)
    assert not at.exception
    assert "512" in texts(at.warning)                            # the truncation notice
    drawn_picker(at).set_value(list(range(1, 120))).run()
    assert not at.exception
    assert "only the first 40 are drawn" in texts(at.warning)


def test_no_token_chosen_asks_for_one():
    at = run()
    drawn_picker(at).set_value([]).run()
    assert not at.exception
    assert "Pick at least one token" in texts(at.info)


def test_a_split_word_can_be_averaged_or_a_piece_picked():
    at = use_own_pair(run(page=PAIR), "Snowboarding is fun in winter.", "I love snowboarding with friends.",
                      "snowboarding")
    assert not at.exception
    captions = texts(at.caption)
    assert "snow + ##boarding" in captions and "their average" in captions
    at.radio(key="context_pair_piece").set_value(1).run()
    assert not at.exception
    assert "using ##boarding" in texts(at.caption)
    assert charts(at) == 2


def test_a_word_missing_from_one_sentence_is_named():
    at = use_own_pair(run(page=PAIR), "I sat on the bank of the river.", "I deposited money there.", "bank")
    assert not at.exception
    assert "not in sentence B" in texts(at.warning)
    assert charts(at) == 0        # the page stops at the message
    assert "i deposited money there ." in texts(at.text)              # sentence B as the model reads it


def test_empty_comparison_fields_ask_for_input():
    at = use_own_pair(run(page=PAIR), "", "Something here.", "here")
    assert not at.exception
    assert "Type two sentences" in texts(at.info)


@pytest.mark.parametrize("sentence", ["", "   ", "<script>alert(1)</script>", "**markdown** <b>bold</b>",
                                      "Fruit 🍌 flies\x07 like\u200b a banana", "\x07\x08", "x" * 10_000,
                                      "zxqvw blorptastic frobnicators"])
def test_bad_sidebar_sentences_never_raise(sentence):
    at = run(sentence)
    assert not at.exception
    if not sentence.strip() or sentence == "\x07\x08":
        assert at.info, "an empty or unreadable sentence gets a message"
    pair = run(sentence, page=PAIR)
    assert not pair.exception and charts(pair) == 2


def test_only_the_pair_page_compares():
    """The paths page ends at the movement tab; the pair widgets live on their own page."""
    at = run()
    assert not [w for w in at.selectbox if w.key == "context_pair_preset"]
    assert [w.key for w in run(page=PAIR).selectbox] == ["context_pair_preset"]


def test_comparison_sentence_the_model_cannot_read():
    at = use_own_pair(run(page=PAIR), "\x07\x08", "A bank.", "bank")
    assert not at.exception
    assert at.info


def test_changing_to_a_shorter_sentence_keeps_the_page_working():
    at = run("The river bank was steep. " * 20)
    token_picker(at).set_value(90).run()
    drawn_picker(at).set_value([80, 90, 100]).run()
    at.session_state["sentence"] = "Hello"
    at.run()
    assert not at.exception
    assert token_picker(at).value < 3
    assert charts(at) == 3


def test_the_lens_says_which_piece_of_a_split_word_it_uses():
    at = run("Unbelievably good.")
    assert token_picker(at).value == 1                               # "un", the first piece
    assert "Using the piece “un” alone" in texts(at.caption)
    at.toggle(key="context_lens_average").set_value(True).run()
    assert not at.exception
    assert "average of the word's pieces" in texts(at.caption)


# -- the CSV tables --------------------------------------------------------------------------------------
def test_coordinate_csv_has_a_row_per_layer_and_position():
    from ui.context import nearest_csv, trajectory_csv

    coords = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2)          # (L+1, T, dims)
    table = pd.read_csv(io.StringIO(trajectory_csv(["[CLS]", "a", "a", "[SEP]"], coords)))
    assert list(table.columns) == ["vector", "position", "token", "pc1", "pc2"]
    assert len(table) == 12
    row = table[(table.vector == "after layer 1") & (table.position == 1)].iloc[0]
    assert row.token == "a" and (row.pc1, row.pc2) == tuple(coords[2, 1])
    lens = pd.read_csv(io.StringIO(nearest_csv([[("flies", 0.9), ("fly", 0.5)], [("insects", 0.4), ("x", 0.1)]])))
    assert list(lens.columns) == ["vector", "1", "2"] and list(lens["1"]) == ["flies", "insects"]
    assert list(lens["vector"]) == ["embeddings", "after layer 0"]


def test_context_follows_a_content_word_by_default():
    """Issue 26: the token to follow opened on "the"."""
    from page_helpers import run_page

    at = run_page("context", "The committee reviewed the proposal before lunch.")
    assert not at.exception
    picker = next(s for s in at.selectbox if s.key.startswith("context_token_"))
    assert picker.value == 2                     # [CLS] the committee …: "committee", not "the"


def test_a_status_spins_until_the_whole_page_is_drawn():
    at = run("The river bank was steep and the bank by the town lent money.")
    assert not at.exception
    assert len(at.status) == 1 and at.status[0].label.startswith("Page complete")
    assert at.status[0].state == "complete"                              # no longer spinning
    assert charts(at) == 3                                               # paths, nearest entries, movement


def test_predicting_first_folds_the_movement_bars_until_revealed():
    at = run("Time flies like an arrow.")
    from ui.quiz import FOLDED

    assert not any(t.label == FOLDED for t in at.tabs)
    toggle = next(t for t in at.toggle if t.key.startswith("context_quiz"))
    toggle.set_value(True).run()
    labels = [t.label for t in at.tabs]
    assert FOLDED in labels and not at.tabs[labels.index(FOLDED)].get("plotly_chart")   # the first tab: no answer
    assert at.tabs[labels.index(FOLDED) + 1].get("plotly_chart")        # the bars, a click away
    radio = next(r for r in at.radio if r.key.startswith("context_quiz"))
    radio.set_value(0).run()
    at.button(key=radio.key.replace("_pick", "_button")).click().run()
    assert not at.exception and (at.success or at.error)
    assert not any(t.label == FOLDED for t in at.tabs)
    assert charts(at) == 3
