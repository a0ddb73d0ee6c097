"""The attribution and score-anatomy pages under AppTest: default sentence, bad input, one token,
512 tokens, and models without the needed part."""
from __future__ import annotations


import pytest

from page_helpers import charts, run_page as run, texts

PAGES = ["attribution", "score_anatomy"]
BAD = {
    "empty": "",
    "whitespace": "   \n\t ",
    "html": "<script>alert(1)</script> <b>bold</b> **markdown** [link](http://x)",
    "single": "Hello",
    "long": "The river bank was steep. " * 400,          # > 512 tokens
}





@pytest.mark.parametrize("page", PAGES)
def test_page_runs_with_defaults(page):
    at = run(page)
    assert not at.exception and not at.error
    assert charts(at) >= 2


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("case", list(BAD))
def test_page_on_bad_input(page, case):
    if case == "long" and page == "attribution":
        pytest.skip("512 tokens: test_attribution_on_512_tokens runs it with few steps")
    at = run(page, BAD[case])
    assert not at.exception, f"{page} raised on {case}: {at.exception}"
    if case in ("empty", "whitespace"):
        assert at.info and "type" in texts(at.info).lower()
        assert charts(at) == 0
        return
    assert charts(at) >= 2 and not at.error
    if case == "long":
        assert "512" in texts(at.warning)
        assert any("window" in s.key for s in at.slider)
    assert "<script>" not in texts(at.markdown) + texts(at.caption)


def test_attribution_on_512_tokens():
    """The token-state target on a 512-token MiniLM trace, with few steps to keep the test short."""
    at = run("attribution", BAD["long"], attribution_target="A token's final state", attribution_steps=4)
    assert not at.exception and not at.error
    assert "512" in texts(at.warning)
    assert charts(at) >= 2
    assert any("window" in s.key for s in at.slider)


def test_similarity_is_cut_at_256_tokens():
    at = run("attribution", "The river bank was steep. " * 60, attribution_steps=4)   # ~360 tokens
    assert not at.exception and not at.error
    assert "256" in texts(at.warning)


def test_attribution_on_minilm_offers_no_next_token_and_says_why():
    at = run("attribution")
    assert "The next token" not in at.radio(key="attribution_target").options
    assert "unembedding" in texts(at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert {"f(input)", "f(baseline)", "Σ integrated gradients", "Convergence delta"} <= set(metrics)
    at.text_input(key="attribution_other").set_value("").run()
    assert not at.exception and "second sentence" in texts(at.info)


@pytest.fixture(scope="module")
def decoder_model(tmp_path_factory):
    """A small decoder saved as the train page saves it: no sentence embedding, but an unembedding."""
    from models.saved import save_model
    from training.bpe import train_bpe
    from training.corpus import CorpusConfig, generate_corpus
    from training.lm import lm_config, new_model

    bpe = train_bpe(generate_corpus(CorpusConfig(n_sentences=300)), 120)
    net = new_model(lm_config(bpe.vocab_size, context=24, d_model=48, n_heads=3, n_layers=2), seed=1)
    return str(save_model(net, bpe.to_json(), tmp_path_factory.mktemp("models"), "tiny", info={"label": "tiny"}))


@pytest.mark.parametrize("page", PAGES)
def test_pages_on_a_small_decoder(page, decoder_model):
    state = dict(extra_models={decoder_model: "tiny"}, model=decoder_model)
    at = run(page, "The queen rules her kingdom, and the king rules his. " * 3, **state)
    assert not at.exception and not at.error
    assert charts(at) >= 2
    if page == "attribution":
        radio = at.radio(key="attribution_target")
        assert "Similarity to a second sentence" not in radio.options
        assert "sentence encoder" in texts(at.caption)
        radio.set_value("The next token").run()
        assert not at.exception and not at.error and charts(at) >= 2
    else:   # causal: a key after the query is masked
        box = at.selectbox(key=next(s.key for s in at.selectbox if "_key_" in s.key))
        box.set_value(len(box.options) - 1).run()   # the last token: after the first-word query
        assert not at.exception
        assert "causal mask" in texts(at.info)


def test_a_long_text_draws_gradient_x_input_at_once_labelled_as_a_first_view():
    """Issue 26: at 141 tokens the page spent tens of seconds on integrated gradients before drawing anything.
    It now draws gradient × input (one backward pass) at once, titled as the first view, and integrated
    gradients, with their completeness check, are one click away."""
    import json

    from bench.screenshots import PARAGRAPH

    at = run("attribution", PARAGRAPH, attribution_steps=4)
    assert not at.exception and not at.error
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles and titles[0].startswith("First view, gradient × input")
    assert "A first view, from one backward pass" in texts(at.caption)
    assert "Σ integrated gradients" not in [m.label for m in at.metric]
    at.button(key="attribution_ig").click().run()
    assert not at.exception and not at.error
    assert {"Σ integrated gradients", "Convergence delta"} <= {m.label for m in at.metric}
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert not any(t.startswith("First view") for t in titles)      # the full result took its place
    assert "the first view correlates" in texts(at.caption)
