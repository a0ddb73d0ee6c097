"""The causal pages (patching, direct logit attribution, head detectors) open for every family and
say plainly when they do not apply; their numbers are the analysis functions' numbers."""
from __future__ import annotations

import pytest

from page_helpers import charts, run_page, texts

pytest.importorskip("transformers")

from hf_tiny import hf_model, save_checkpoint, tokenizer_for  # noqa: E402
from test_pages_smoke import frame_errors  # noqa: E402

FAMILIES = ["gpt2", "llama", "qwen2", "roberta", "distilbert"]
DECODERS = {"gpt2", "llama", "qwen2"}
PAGES = ["patching", "logit_attribution", "head_detectors"]
SENTENCE = "the cat sat on the mat and the cat looked at the dog"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("causal")
    return {family: str(save_checkpoint(hf_model(family, tied=family != "qwen2"), tokenizer_for(family), root / family))
            for family in FAMILIES}


def messages(at) -> str:
    return texts(list(at.info) + list(at.warning) + list(at.error))


@pytest.mark.parametrize("family", FAMILIES + ["minilm"])
@pytest.mark.parametrize("page", PAGES)
def test_every_causal_page_opens_for_every_family(page, family, folders):
    at = run_page(page, SENTENCE, folders.get(family, family))
    assert not at.exception, f"{page} raised with {family}: {at.exception}"
    assert not frame_errors(at), f"{page} failed with {family}: {frame_errors(at)}"
    decoder = family in DECODERS
    if page == "logit_attribution" and not decoder:
        assert "does not apply" in messages(at) and "no language-model head" in messages(at)
    elif page == "logit_attribution":
        shown = {m.label: m.value for m in at.metric}
        own = float(shown["The model's own logit"])
        assert float(shown["Sum of the contributions"]) == pytest.approx(own, abs=2e-4)
        assert charts(at) == 2
    elif page == "head_detectors":
        assert charts(at) >= 3 and "Top induction heads" in texts(at.caption)
    else:
        # The default prompts and answers are GPT-2's; a tiny tokenizer may split them otherwise, and
        # the page then says what to change instead of drawing a map.
        assert charts(at) == 1 or any(word in messages(at) for word in ("same number", "same token"))


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_patching_a_decoder_shows_the_normalised_map(family, folders):
    at = run_page("patching", SENTENCE, folders[family], patching_clean="the cat sat on the mat",
                  patching_corrupted="the dog sat on the mat", patching_answer=" mat", patching_other=" dog")
    assert not at.exception and charts(at) == 1, messages(at)
    shown = {m.label: m.value for m in at.metric}
    assert "Clean run" in shown and "Measure: the logit difference" in texts(at.caption)
    assert "differ at position" in texts(at.caption)
    at.radio(key="patching_kind").set_value("head").run()
    assert not at.exception and charts(at) == 1
    assert "The strongest single patch: layer" in texts(at.caption)


def test_answers_spelled_piece_by_piece_are_measured_where_they_part(folders):
    """A small vocabulary spells " Mary" and " John" as "Ġ", "M", ... and "Ġ", "J", ...: the shared space is
    read after both prompts and "M" against "J" is measured, so the default pair draws a map for any decoder."""
    at = run_page("patching", SENTENCE, folders["gpt2"])
    assert not at.exception and charts(at) == 1, messages(at)
    assert "Both answers begin with the same 1 token (' ')" in texts(at.caption)
    table = at.dataframe[-1].value
    assert list(table["token measured"]) == ["M", "J"]


def test_patching_says_when_the_prompts_do_not_line_up(folders):
    at = run_page("patching", SENTENCE, folders["gpt2"], patching_clean="the cat sat",
                  patching_corrupted="the cat sat on the mat", patching_answer=" mat", patching_other=" dog")
    assert not at.exception and "same number" in messages(at) and charts(at) == 0
    at = run_page("patching", SENTENCE, folders["gpt2"], patching_clean="the cat sat",
                  patching_corrupted="the cat sat", patching_answer=" mat", patching_other=" dog")
    assert not at.exception and "same tokens" in messages(at)
    at = run_page("patching", SENTENCE, folders["gpt2"], patching_clean="the cat sat",
                  patching_corrupted="the dog sat", patching_answer=" mat", patching_other=" mat")
    assert not at.exception and "same token" in messages(at)
    at = run_page("patching", SENTENCE, folders["gpt2"], patching_clean="", patching_corrupted="the dog sat")
    assert not at.exception and "empty" in messages(at)


def test_patching_an_encoder_measures_the_sentence_embedding():
    at = run_page("patching", SENTENCE, "minilm")
    assert not at.exception and charts(at) == 1
    assert "sentence embedding" in texts(at.caption)
    assert [m.value for m in at.metric][0] == "1.000"


def test_detectors_page_sentence_detectors(folders):
    at = run_page("head_detectors", SENTENCE, folders["gpt2"])
    for detector in ["previous", "duplicate", "induction", "sink", "special"]:
        at.radio(key="head_detectors_detector").set_value(detector).run()
        assert not at.exception, detector
    # GPT-2's tokenizer adds no special tokens: the page says so instead of drawing an empty map.
    assert "no special tokens" in messages(at)


def test_the_largest_head_opens_on_one_head(folders):
    """Under the head map, the head that contributes most is one click from the One head page."""
    at = run_page("logit_attribution", SENTENCE, folders["gpt2"])
    layer = at.selectbox(key="logit_attribution_open_layer").value
    head = at.selectbox(key="logit_attribution_open_head").value
    caption = texts(at.caption)
    assert f"The largest: layer {layer}, head {head}" in caption
    at.button(key="logit_attribution_open").click().run()
    assert not at.exception
    assert (at.session_state["layer"], at.session_state["head"]) == (layer, head)
