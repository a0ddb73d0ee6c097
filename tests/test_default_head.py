"""Pages open on a head with a pattern a learner recognises, say why, and give way to any explicit choice."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analysis.head_stats import head_statistics
from page_helpers import ROOT, run_page, texts
from ui.family import special_key_masks

SENTENCE = "Time flies like an arrow."


@pytest.fixture(scope="module")
def stats(minilm):
    trace = minilm.trace(SENTENCE)
    return head_statistics(trace.attentions, *special_key_masks(trace))


def sliders(at: AppTest) -> list[int]:
    return [s.value for s in at.slider if s.label in ("Layer", "Head")]


@pytest.mark.parametrize("page", ["attention_head", "step_head"])
def test_a_page_opens_on_a_recognisable_head_and_says_why(page, stats):
    at = run_page(page, SENTENCE)
    assert not at.exception
    layer, head = sliders(at)
    shares = {name: float(stats.get(name)[layer, head]) for name in ("previous", "self", "next", "cls", "sep")}
    assert max(shares.values()) >= 0.5, shares                 # a clear pattern, not a diffuse head
    assert stats.previous[layer, head] >= 0.5                  # this sentence has a previous-token head: it wins
    reason = [c.value for c in at.caption if c.value.startswith("Chosen because")]
    assert reason and f"layer {layer} · head {head}" in reason[0] and "previous-token head" in reason[0]
    assert "layer" not in at.query_params                      # a default is not written into the link


def test_an_explicit_choice_wins_and_there_is_a_way_back(stats):
    at = run_page("attention_head", SENTENCE, layer=3, head=7)
    assert sliders(at) == [3, 7]
    assert not any(c.value.startswith("Chosen because") for c in at.caption)
    back = at.button(key="attention_head_suggested")
    back.click().run()
    assert not at.exception and "layer" not in at.session_state and "head" not in at.session_state
    layer, head = sliders(at)
    assert stats.previous[layer, head] >= 0.5
    assert any(c.value.startswith("Chosen because") for c in at.caption)


def test_moving_one_slider_keeps_the_other_where_it_was():
    at = run_page("attention_head", SENTENCE)
    layer, head = sliders(at)
    at.slider(key="attention_head_layer").set_value((layer + 3) % 6).run()
    assert sliders(at) == [(layer + 3) % 6, head]              # the head does not jump to another suggestion
    assert at.session_state["layer"] == (layer + 3) % 6 and at.session_state["head"] == head
    assert at.query_params["head"] == str(head)


def test_a_link_naming_a_head_is_honoured_by_the_one_head_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for name, value in {"sentence": SENTENCE, "layer": "4", "head": "9", "model": "minilm"}.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("pages/attention_head.py").run()
    assert not at.exception and sliders(at) == [4, 9]


def test_home_shows_the_recognisable_head_with_its_reason(stats):
    at = run_page("home", SENTENCE)
    assert not at.exception
    heading = [s.value for s in at.subheader if s.value.startswith("One attention head")][0]
    layer, head = (int(part.split()[-1]) for part in heading.split(":")[1].split(","))
    assert stats.previous[layer, head] >= 0.5
    assert "Chosen because" in texts(at.caption)


def test_one_token_sentence_gets_an_honest_reason():
    at = run_page("attention_head", "a")          # [CLS] a [SEP]: three tokens, still recognisable or honest
    assert not at.exception
    assert any(c.value.startswith("Chosen because") for c in at.caption)


def test_all_heads_caption_names_only_patterns_the_picture_shows(stats):
    at = run_page("attention_grid", SENTENCE)
    assert not at.exception
    shown = texts(at.markdown)
    assert ("dark first column" in shown) == bool((stats.cls >= 0.5).any())
    assert ("dark last column" in shown) == bool((stats.sep >= 0.5).any())
    assert ("just below the diagonal" in shown) == bool((stats.previous >= 0.5).any())
    assert "bright last column" not in shown
    # The largest weight is ~1 on this sentence: "stretch" would redraw the same picture, so it is not offered.
    assert not [r for r in at.radio if r.label == "Colour scale"]
    assert "would draw the same picture" in texts(at.caption)


def test_head_statistics_are_measured_once_into_the_shared_byte_budget(minilm, monkeypatch):
    """One measurement per trace for the whole server, special tokens found once with it, held in the
    byte-budgeted cache every session shares (not in a private memo of its own)."""
    from ui import head_choice
    from ui.state import shared_cache

    calls = []
    monkeypatch.setattr(head_choice, "special_key_masks", lambda trace: calls.append(1) or special_key_masks(trace))
    text = "A sentence measured once for this test."
    trace, again = minilm.trace(text), minilm.trace(text)       # two objects, one content
    first = head_choice.suggested_head(trace, keep_choices=False)
    for _ in range(3):
        assert head_choice.suggested_head(again, keep_choices=False) == first
        head_choice.special_names(again), head_choice.head_stats_of(trace)
    assert len(calls) == 1
    key = ("head facts", *head_choice._fingerprint(trace))
    assert key in shared_cache()
    other = minilm.trace("Another sentence entirely.")
    assert head_choice._fingerprint(other) != head_choice._fingerprint(trace)
    assert head_choice.head_stats_of(other) is not head_choice.head_stats_of(trace)
