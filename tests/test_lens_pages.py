"""Next token and the logit lens: the numbers (final layer = the model's own logits), the figures,
and both pages under AppTest with MiniLM (no unembedding), a tiny GPT-2 and a tiny Llama."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from page_helpers import run_page as run

pytest.importorskip("transformers")

from hf_tiny import hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from analysis.lens import logit_lens, probability_and_rank, top_next_tokens  # noqa: E402
from viz.lens import lens_row_labels, logit_lens_grid, next_token_bars, visible_token  # noqa: E402

PAGES = ["pages/next_token.py", "pages/logit_lens.py"]
SENTENCE = "the cat sat on the mat and looked at the dog"
LONG = "The river bank was steep. " * 400            # far more than 512 tokens


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("lens")
    return {family: str(save_checkpoint(hf_model(family, tied=family == "gpt2"), tokenizer_for(family), root / family))
            for family in ("gpt2", "llama")}


@pytest.fixture(scope="module")
def gpt2(folders):
    from models import load_model

    return load_model(folders["gpt2"])



def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A figure spec's array: a plain list, or Plotly's typed-array form {dtype, bdata, shape}."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in shape.split(",")]) if shape else flat
    return np.asarray(value)


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


# -- the numbers -----------------------------------------------------------------------------------
def test_the_lens_top_row_is_the_models_own_prediction(gpt2):
    trace = gpt2.trace(SENTENCE)
    lens = logit_lens(gpt2.net, trace, k=5)
    assert lens.ids.shape == (trace.n_layers + 1, len(trace), 5)
    np.testing.assert_array_equal(lens.ids[-1, :, 0], trace.logits.argmax(axis=-1))
    logits = trace.logits.astype(np.float64)
    full = np.exp(logits - logits.max(axis=-1, keepdims=True))
    full /= full.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(lens.probs[-1, :, 0], full.max(axis=-1), rtol=1e-4)
    actual = full[np.arange(len(trace) - 1), trace.ids[1:]]
    np.testing.assert_allclose(lens.next_probs[-1, :-1], actual, rtol=1e-4)
    assert np.isnan(lens.next_probs[:, -1]).all()
    # a window of positions gives the same numbers as the whole sentence
    part = logit_lens(gpt2.net, trace, k=5, positions=range(3, 7))
    np.testing.assert_array_equal(part.ids, lens.ids[:, 3:7])
    np.testing.assert_allclose(part.next_probs, lens.next_probs[:, 3:7], rtol=1e-6)


def test_top_next_tokens_and_rank():
    ids, probs = top_next_tokens(np.array([0.0, 2.0, 1.0, -1.0]), 2)
    assert ids.tolist() == [1, 2] and probs[0] > probs[1] and probs.sum() < 1
    p, rank = probability_and_rank(np.array([0.0, 2.0, 1.0, -1.0]), 2)
    assert rank == 2 and p == pytest.approx(probs[1])


# -- the figures -----------------------------------------------------------------------------------
def test_lens_grid_shapes_and_escaped_text():
    rows, positions, k = 4, 3, 5
    probs = np.sort(np.random.default_rng(0).random((rows, positions, k)), axis=-1)[..., ::-1] / 3
    top = [[["<b>x</b>", " the", "a", "b", "c"] for _ in range(positions)] for _ in range(rows)]
    fig = logit_lens_grid(top, probs, ["<script>", " cat", "\n"], "lens", start=10)
    heat = fig.data[0]
    assert heat.type == "heatmap" and np.asarray(heat.z).shape == (rows, positions)
    np.testing.assert_allclose(np.asarray(heat.z), probs[:, :, 0])
    # layers count from 0 on every page: row i reads the output of layer i − 1
    assert list(fig.layout.yaxis.ticktext) == lens_row_labels(rows) == ["embeddings", "after layer 0", "after layer 1",
                                                                        "after layer 2 (output)"]
    assert list(heat.x) == [10, 11, 12]
    everything = json.dumps(fig.to_plotly_json(), default=str)
    assert "<b>x" not in everything and "<script>" not in everything and "&lt;b&gt;x" in everything
    assert "<b>" not in heat.hovertemplate
    assert np.asarray(heat.text)[0, 1] == "&lt;b&gt;x&lt;/b&gt;"
    nxt = np.full((rows, positions), 0.25)
    nxt[:, -1] = np.nan
    coloured = logit_lens_grid(top, probs, ["a", "b", "c"], "lens", next_probs=nxt, next_tokens=["b", "c", None])
    np.testing.assert_allclose(np.asarray(coloured.data[0].z, dtype=float)[:, 0], 0.25)
    assert "actual next" in json.dumps(np.asarray(coloured.data[0].customdata, dtype=object).tolist())


def test_next_token_bars():
    fig = next_token_bars([" the", "<i>cat</i>", "\n"], np.array([0.5, 0.3, 0.1]), "next")
    assert fig.data[0].type == "bar" and list(fig.data[0].x) == [0.5, 0.3, 0.1]
    assert list(fig.layout.yaxis.ticktext) == ["␣the", "&lt;i&gt;cat&lt;/i&gt;", "\\n"]
    assert visible_token(" a\tb") == "␣a\\tb"


@pytest.mark.parametrize("top", [0.006, 0.024, 0.03, 0.2, 0.47, 0.93, 1.0])
def test_probability_ticks_are_distinct_and_honest(top):
    """Issue 26: a 0–3 % axis read 0%, 1%, 1%, 2%, 2%, 3%, so a 0.6 % bar looked longer than a 1 % one.
    Every tick label is distinct and reads the value it stands at."""
    fig = next_token_bars(["a", "b"], np.array([top, top / 3]), "next")
    axis = fig.layout.xaxis
    labels, values = list(axis.ticktext), list(axis.tickvals)
    assert len(labels) >= 3 and len(set(labels)) == len(labels)
    for label, value in zip(labels, values):
        assert abs(float(label.rstrip("%")) / 100 - value) < 1e-9
    assert values[-1] <= axis.range[1] + 1e-12 and values[-1] >= axis.range[1] / 2


# -- the pages -------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_minilm_has_no_unembedding(page):
    at = run(page, SENTENCE)
    assert not at.exception
    assert "no unembedding" in texts(at.info) and "decoder" in texts(at.info)
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("page", PAGES)
def test_minilm_offers_the_servers_decoders_one_click_away(page, folders, monkeypatch):
    """Issue 26: Next token and Logit lens were a dead end with MiniLM. They list the decoders this
    server has, and one click switches to one."""
    monkeypatch.setenv("ATTENTION_EXPLORER_MODEL_DIRS", str(Path(folders["gpt2"]).parent))
    at = run(page, SENTENCE)
    switch = [b for b in at.button if b.key and b.key.startswith("use_decoder_")]
    assert {b.key.removeprefix("use_decoder_") for b in switch} >= {folders["gpt2"], folders["llama"]}
    next(b for b in switch if b.key == f"use_decoder_{folders['gpt2']}").click().run()
    assert not at.exception and at.session_state["model"] == folders["gpt2"]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_lens_page_shows_the_grid(folders, family):
    at = run("pages/logit_lens.py", SENTENCE, folders[family])
    assert not at.exception and not at.error
    (fig,) = figures(at)
    heat = fig["data"][0]
    assert heat["type"] == "heatmap"
    assert array(heat["z"]).shape[0] == 3 + 1               # embed + 3 layers
    agree = [c for c in texts(at.caption).split(". ") if "argmax" in c][0]
    n = [int(w) for w in agree.replace(".", " ").split() if w.isdigit()]
    assert n[-2] == n[-1]                                   # the top row equals the model's own argmax everywhere
    at.toggle(key="logit_lens_actual").set_value(True).run()
    assert not at.exception
    assert "p(actual next)" in json.dumps(figures(at)[0]["data"][0]["colorbar"])


def test_next_token_page_with_gpt2(folders):
    at = run("pages/next_token.py", SENTENCE, folders["gpt2"])
    assert not at.exception and not at.error
    (fig,) = figures(at)
    assert fig["data"][0]["type"] == "bar" and len(array(fig["data"][0]["x"])) == 10
    assert len(at.dataframe[0].value) == 10
    position = next(s for s in at.selectbox if s.key.startswith("next_token_position_"))
    position.set_value(2).run()
    assert not at.exception and "really comes next" in texts(at.caption)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("sentence", ["", "   "])
def test_empty_sentence_gives_a_message(folders, page, sentence):
    at = run(page, sentence, folders["gpt2"])
    assert not at.exception
    assert at.info and not at.get("plotly_chart")


@pytest.mark.parametrize("page", PAGES)
def test_long_text_is_truncated_and_windowed(folders, page):
    at = run(page, LONG, folders["gpt2"])
    assert not at.exception
    assert "token" in texts(at.warning)                      # the truncation notice
    if page == "pages/logit_lens.py":
        window = next(s for s in at.slider if s.key.startswith("logit_lens_window"))
        window.set_value((20, 29)).run()
        assert not at.exception
        assert array(figures(at)[0]["data"][0]["z"]).shape[1] == 10


def test_lens_opens_on_the_continuation_and_its_title_names_the_slider_positions(folders):
    """Issue 26: the lens opened on positions 0–15 of 19 (hiding the continuation) and its title said
    "0–15" while the slider said 16. It opens on the last positions; title and slider give the same numbers."""
    at = run("pages/logit_lens.py", LONG, folders["gpt2"])
    window = next(s for s in at.slider if s.key.startswith("logit_lens_window"))
    first, last = window.value
    assert last == window.max                     # the last token is in view
    title = figures(at)[0]["layout"]["title"]["text"]
    assert f"tokens {first}–{last} of {int(window.max) + 1}" in title


def test_html_in_the_sentence_stays_text(folders):
    at = run("pages/logit_lens.py", "<script>alert(1)</script> <b>bold</b>", folders["gpt2"])
    assert not at.exception
    assert "<script>" not in json.dumps(figures(at)[0])
