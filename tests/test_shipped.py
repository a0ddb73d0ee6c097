"""The models that ship with the app (issue 26): a fresh install offers a trained decoder beside MiniLM and a
trained reversal toy, so the prediction pages, Try your model and Encoder–decoder are never a dead end offline.

Nothing here retrains: the build's recipe is compared with what was shipped, and the shipped files are read."""
from __future__ import annotations

import json
import re
from dataclasses import asdict

import pytest
import torch

from page_helpers import run_page, texts

from models import available_models, load_model
from models.saved import folder_bytes
from models.shipped import (GRAMMAR_LM, GRAMMAR_LM_STEPS, GRAMMAR_LM_UNTRAINED, REVERSAL, load_reversal, shipped_folder,
                            unknown_words)
from training.shipped import CHECKPOINT_STEPS, GRAMMAR_LM as LM_RECIPE, REVERSAL as REVERSAL_RECIPE

PREDICTION_PAGES = ["next_token", "logit_lens"]


@pytest.fixture(scope="module")
def grammar_lm():
    return load_model(GRAMMAR_LM)


@pytest.fixture
def fresh_server(tmp_path, monkeypatch):
    """What a fresh install lists: an empty models folder, no extra folders, an empty Hugging Face cache."""
    monkeypatch.setenv("ATTENTION_EXPLORER_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("ATTENTION_EXPLORER_MODEL_DIRS", raising=False)
    from ui.library import _listed_in

    _listed_in.clear()
    yield
    _listed_in.clear()


def top_word(model, prompt: str) -> str:
    trace = model.trace(prompt)
    return model.tokenizer.backend.decode([int(trace.top_ids[-1][0])]).strip()


# -- the shipped files -----------------------------------------------------------------------------------
def test_the_grammar_lm_is_listed_beside_minilm_and_opens_by_name(grammar_lm, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    listed = available_models()
    assert list(listed)[:2] == ["minilm", GRAMMAR_LM]
    assert listed[GRAMMAR_LM].startswith("Grammar LM — decoder") and "2 × 4 heads" in listed[GRAMMAR_LM]
    assert grammar_lm.name == GRAMMAR_LM and grammar_lm.config.causal and grammar_lm.config.lm_head
    assert "ships with the app" in grammar_lm.description


@pytest.mark.parametrize("name", [GRAMMAR_LM, GRAMMAR_LM_UNTRAINED, REVERSAL, *(
    f"{GRAMMAR_LM_STEPS}/step{step}" for step in CHECKPOINT_STEPS)])
def test_shipped_folders_are_small_safetensors(name):
    folder = shipped_folder(name)
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    assert folder_bytes(folder) < 1_200_000


@pytest.mark.parametrize("prompt, expected", [
    ("paris is the capital of", "france"), ("the capital of japan is", "tokyo"), ("cows eat", "grass"),
    ("the cow eats", "grass"), ("the king rules", "his"), ("the queen rules", "her"),
    ("the dogs near the bird", None),     # agreement: a plural verb after a singular distractor
])
def test_the_grammar_lm_predicts_its_grammar(grammar_lm, prompt, expected):
    word = top_word(grammar_lm, prompt)
    if expected is None:
        assert word in {"run", "sleep", "sing", "wait", "play", "eat"}
    else:
        assert word == expected


def test_words_outside_the_corpus_are_named(grammar_lm):
    assert unknown_words(grammar_lm, "Time flies like an arrow.") == ["time", "flies", "an", "arrow"]
    assert unknown_words(grammar_lm, "The King rules his kingdom .") == []


def test_the_build_recipe_is_what_was_shipped():
    """The build script's settings and the shipped files cannot drift apart (nothing is retrained here)."""
    from training.bpe import train_bpe
    from training.lm import new_model

    raw = json.loads((shipped_folder(GRAMMAR_LM) / "config.json").read_text())
    assert raw["info"]["recipe"] == asdict(LM_RECIPE)
    lines = LM_RECIPE.corpus()
    tokenizer = train_bpe(lines, LM_RECIPE.vocab_size)
    assert (shipped_folder(GRAMMAR_LM) / "tokenizer.json").read_text() == tokenizer.to_json()
    assert raw["config"] == LM_RECIPE.model_config(tokenizer.vocab_size).to_dict()
    assert raw["info"]["words"] == sorted({w for line in lines for w in line.split()})
    # "before training" is exactly the run's random start: the seeded initialiser, again
    start = new_model(LM_RECIPE.model_config(tokenizer.vocab_size), LM_RECIPE.seed).state_dict()
    before = load_model(GRAMMAR_LM_UNTRAINED).net.state_dict()
    assert all(torch.equal(before[k], start[k]) for k in start)

    toy = json.loads((shipped_folder(REVERSAL) / "config.json").read_text())
    assert toy["info"]["recipe"] == asdict(REVERSAL_RECIPE)
    assert toy["config"] == REVERSAL_RECIPE.model_config().to_dict()
    task = REVERSAL_RECIPE.task()
    assert toy["task"] == {"n_letters": task.n_letters, "min_len": task.min_len, "max_len": task.max_len}


def test_the_reversal_toy_reverses_held_out_strings():
    from training.reversal import ReversalTask, accuracy

    toy = load_reversal()
    task = ReversalTask(**toy.task)
    held_out = task.split(seed=REVERSAL_RECIPE.seed)[1]
    assert accuracy(toy.net, task, held_out) >= 0.95


def test_a_failure_elsewhere_never_drops_the_grammar_lm():
    from models.registry import has_failed, mark_failed

    mark_failed(GRAMMAR_LM)
    assert not has_failed(GRAMMAR_LM)


# -- the pages on a fresh server -----------------------------------------------------------------------------
@pytest.mark.parametrize("page", PREDICTION_PAGES)
def test_prediction_pages_switch_from_minilm_to_the_grammar_lm(page, fresh_server):
    at = run_page(page, "Time flies like an arrow.")
    assert not at.exception
    switch = [b for b in at.button if b.key == f"use_decoder_{GRAMMAR_LM}"]
    assert switch and "Grammar LM" in switch[0].label
    switch[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state["model"] == GRAMMAR_LM and at.get("plotly_chart")
    # the default sentence is not of its grammar: it says so, and offers sentences that are
    note = texts(at.info)
    assert "*flies*" in note and "guesses" in note
    at.button(key="grammar_example_paris is the capital of").click().run()
    assert not at.exception and at.session_state["sentence"] == "paris is the capital of"
    assert "only the" not in texts(at.info)          # every word known now: no note
    if page == "next_token":
        assert at.dataframe[0].value["token"][0] == "␣france"       # a word start, shown as GPT-2's are
    else:
        assert "france" in json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec)["data"])


def test_try_your_model_opens_on_the_shipped_decoder(fresh_server):
    """Issue 26: with nothing trained yet the page was empty; it opens on the Grammar LM that ships with the
    app, says so, and says how to train one's own."""
    at = run_page("train_results")
    assert not at.exception, at.exception
    # the one model to try is named, not offered as a choice of one
    assert not [s for s in at.selectbox if s.key == "train_results_model"]
    assert any(t.value.startswith("Model: Grammar LM") for t in at.text)     # the only one: named
    note = texts(at.info)
    assert "ships with the app" in note and "Train a tiny transformer" in note
    headers = [h.value for h in at.header]
    assert "Next token" in headers and "Before and after: attention" in headers   # its random start ships too
    # the default prefix "the queen rules": the shipped model continues it in its grammar
    assert any(re.search(r"the queen rules (her|his) ", c.value) for c in at.code)


def test_encoder_decoder_opens_on_the_trained_toy_without_training():
    at = run_page("seq2seq")
    assert not at.exception, at.exception
    assert "seq2seq_run" not in at.session_state        # nothing was trained in this session
    assert "pre-trained" in texts(at.info)
    assert any(re.search(r"1[12] of 12 right here", m.value) for m in at.markdown)
    mirror = next(c.value for c in at.caption if c.value.startswith("Weight on the mirror position"))
    assert int(re.search(r"(\d+)%", mirror).group(1)) >= 50
    assert any("✅" in m.value for m in at.markdown if m.value.startswith("Input"))



def _sidebar_pages() -> list[str]:
    from ui.sections import SECTIONS

    return [path for entries in SECTIONS.values() for path, *_ in entries]


@pytest.mark.parametrize("page", _sidebar_pages())
def test_every_page_runs_with_the_grammar_lm(page):
    """Picked by its name ("grammar-lm", not a folder path), the shipped decoder works on every page."""
    from streamlit.testing.v1 import AppTest

    from page_helpers import ROOT

    at = AppTest.from_file(str(ROOT / page), default_timeout=300)
    at.session_state["model"] = GRAMMAR_LM
    at.session_state["sentence"] = "the king rules his kingdom . the queen rules her"
    at.run()
    assert not at.exception, f"{page} raised with the Grammar LM: {at.exception}"


def test_the_sidebar_offers_sentences_of_its_grammar_when_the_grammar_lm_is_picked():
    """Its examples are sentences it knows every word of; MiniLM keeps the English examples."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parents[1] / "app.py")
    at = AppTest.from_file(app, default_timeout=120)
    at.query_params["model"] = GRAMMAR_LM          # a link naming it, as a first run reads it
    at.run()
    assert not at.exception and at.session_state["model"] == GRAMMAR_LM
    offered = at.selectbox(key="example_choice").options
    lm = load_model(GRAMMAR_LM)
    assert offered and all(not unknown_words(lm, sentence) for sentence in offered)
    at.selectbox(key="example_choice").set_value(offered[1]).run()
    assert not at.exception and at.session_state["sentence"] == offered[1]
    english = AppTest.from_file(app, default_timeout=120).run()
    assert "Time flies like an arrow." in english.selectbox(key="example_choice").options
