"""The five "inside the model" pages under AppTest: sentences, interactions, bad input, 512 tokens."""
from __future__ import annotations


import pytest

from page_helpers import charts, run_page as run, texts

PAGES = ["step_tokens", "step_embeddings", "step_head", "step_layer", "step_mask"]
SENTENCES = ["Time flies like an arrow.", "He created a miniature Eiffel tower lego model.", "Hello"]
BAD = {
    "empty": "",
    "whitespace": "   \n\t ",
    "only_control": "\x07\x08\u200b",
    "html": "<script>alert(1)</script> <b>bold</b> **markdown** [link](http://x)",
    "emoji_control": "Fruit 🍌 flies\x07 like\u200b a banana 🪰",
    "unknown_words": "Zxqvbnm flibbertigibbet qwrtpsdfg.",
    "long": "The river bank was steep. " * 400,          # ~10,000 characters, > 512 tokens
}





@pytest.mark.parametrize("page", PAGES)
def test_page_runs_alone_with_defaults(page):
    at = run(page)
    assert not at.exception
    assert charts(at) >= 1
    assert not at.error


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("sentence", SENTENCES)
def test_page_on_sentences(page, sentence):
    at = run(page, sentence)
    assert not at.exception
    assert charts(at) >= 1


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("case", list(BAD))
def test_page_on_bad_input(page, case):
    at = run(page, BAD[case])
    assert not at.exception, f"{page} raised on {case}: {at.exception}"
    if case in ("empty", "whitespace", "only_control"):
        assert at.info and "type" in texts(at.info).lower()
        assert charts(at) == 0
    else:
        assert charts(at) >= 1
    if case == "long":
        assert "512" in texts(at.warning)          # truncation notice
        if page != "step_tokens":
            assert any(s.key.endswith("_window") for s in at.slider), "long text needs a token window"
    # user text never reaches markdown: no markdown element holds the raw HTML
    assert "<script>" not in texts(at.markdown)


def test_tokens_page_shows_each_stage_and_the_special_tokens():
    at = run("step_tokens", "Héllo unaffable 🍌 flies.")
    shown = texts(at.markdown) + texts(at.code) + texts(at.text)
    assert "BertNormalizer" in shown and "hello unaffable" in shown        # normalised text from the library
    assert "una + ##ffa + ##ble" in str(at.dataframe[1].value.to_dict())    # words spelled with pieces
    assert "[UNK]" in texts(at.warning)
    assert "30,522" in texts(at.metric)
    specials = at.dataframe[-1].value
    assert {"[CLS]", "[SEP]", "[UNK]"} <= set(specials["special token"])
    # the Grammar LM ships with the app: its BPE splits the same sentence beside MiniLM's WordPiece
    assert any(t.value.startswith("Grammar LM") for t in at.text) and "BPE" in texts(at.markdown)


def test_tokens_page_compares_with_another_models_tokenizer(tmp_path):
    """A trained model and its untrained twin share one BPE tokenizer: one comparison row, not two."""
    from models.registry import minilm_folder
    from models.saved import save_model
    from training.bpe import train_bpe
    from training.corpus import CorpusConfig, generate_corpus
    from training.lm import lm_config, new_model

    bpe = train_bpe(generate_corpus(CorpusConfig(n_sentences=300)), 120)
    config = lm_config(bpe.vocab_size, context=16, d_model=32, n_heads=2, n_layers=1)
    trained = save_model(new_model(config, seed=1), bpe.to_json(), tmp_path, "tiny")
    twin = save_model(new_model(config, seed=1), bpe.to_json(), tmp_path, "tiny-untrained")
    extra = {str(trained): "tiny", str(twin): "tiny (untrained)", str(minilm_folder()): "MiniLM copy",
             "/no/such/model": "gone"}
    at = run("step_tokens", "Time flies like an arrow.", extra_models=extra)
    assert not at.exception
    assert charts(at) == 4       # the pieces; rows: this model's, the one tiny BPE's (twins share it), the Grammar LM's
    assert "could not be loaded" in texts(at.warning)
    assert "BPE" in " ".join(m.value for m in at.markdown)


def test_tokens_page_windows_long_text():
    at = run("step_tokens", BAD["long"])
    slider = at.slider(key="step_tokens_window")
    slider.set_value((300, 390)).run()
    assert not at.exception and charts(at) == 3     # the window's pieces; this model's and the Grammar LM's rows


def test_head_page_follows_layer_head_query_and_key():
    at = run("step_head", "The early bird eats the worm.", layer=3, head=7)
    assert at.slider(key="step_head_layer").value == 3 and at.slider(key="step_head_head").value == 7
    query = next(s for s in at.selectbox if s.key.startswith("step_head_query_"))
    query.set_value(4).run()
    key = next(s for s in at.selectbox if s.key.startswith("step_head_key_"))
    key.set_value(2).run()
    assert not at.exception
    assert "weight[2] = e^" in texts(at.code)
    assert "agrees to" in texts(at.caption)
    assert charts(at) == 11       # X, W_Q/K/V, Q/K/V, dots, scaled, softmax, weighted sum
    assert at.get("download_button")


def test_layer_page_counts_parameters_and_shows_the_ffn():
    at = run("step_layer", "Time flies like an arrow.", layer=5)
    assert not at.exception
    shown = texts(at.markdown)
    assert shown.count("591,360") >= 2           # multi-head = one full-width head
    assert "1,774,464" in shown                  # one block's parameters
    assert charts(at) == 8
    token = next(s for s in at.selectbox if s.key.startswith("step_layer_token_"))
    token.set_value(0).run()
    assert not at.exception


def test_mask_page_explains_both_directions():
    """With MiniLM picked and no decoder opened, the causal mask is shown on the Grammar LM that ships
    with the app (trained, so its patterns mean something), not on random weights."""
    at = run("step_mask", "The early bird eats the worm.", extra_models={"/no/such/model": "gone"})
    assert not at.exception
    assert "untrained" not in texts(at.info)
    assert any("Causal model: Grammar LM" in str(t.value) and "ships with the app" in str(t.value) for t in at.text)
    # its words only: the mask is drawn on a sentence of its grammar, whole words, not letters of "early"
    assert "knows only its corpus's words" in texts(at.caption)
    assert any("%" in str(m.value) for m in at.metric)
    assert "0.0e+00" in texts(at.caption)        # no weight at all on a later token in the decoder
    at.slider(key="step_mask_dhead").set_value(3).run()
    assert not at.exception and charts(at) == 5


@pytest.mark.parametrize("sentence", ["Time flies like an arrow.", "He created a miniature Eiffel tower lego model."])
def test_one_head_with_numbers_opens_on_a_query_that_mixes_values(sentence):
    """Issue 26: the page opened on a query with 100 % of its weight on [CLS], so the weighted sum
    was all zeros, written as 32 columns of "-0.00"."""
    import json

    import numpy as np

    from page_helpers import spec_array

    at = run("step_head", sentence)
    assert not at.exception
    query = next(s for s in at.selectbox if s.key.startswith("step_head_query_")).value
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    output = next(f for f in figures if "their sum" in f["layout"]["title"]["text"])["data"][0]
    head_out = spec_array(output["z"]).astype(float)[-1]            # the last row: Σ over all keys
    assert np.abs(head_out).max() >= 0.05, f"query {query}: the weighted sum is all but zero"
    assert "-0.00" not in json.dumps(output["text"])
