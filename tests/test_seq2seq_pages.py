"""The pages with a real encoder–decoder (tiny random T5, BART and Marian checkpoints) picked in the sidebar.

The Encoder–decoder page shows the picked model: the sidebar's sentence as the source, a typed target
(forced decoding) or the model's own greedy output, and the cross-attention rows by output token. Every
other page runs without an exception; those that read one stack of attention say plainly that they do
not apply and point to the Encoder–decoder page.
"""
from __future__ import annotations

import numpy as np
import pytest

from page_helpers import run_page, spec_array, texts

pytest.importorskip("transformers")

from hf_tiny import CASES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402
from test_pages_smoke import PAGES, frame_errors  # noqa: E402

from models import load_model  # noqa: E402
from models.family import ENCODER_PAGES  # noqa: E402

SENTENCE = "Time flies like an arrow; 東京 🍕."
NOT_APPLY = "does not apply to it"
# Pages that need the model's one list of blocks or its next-token head: they say they do not apply. (Steps 3
# and 4 recompute T5's encoder blocks: tests/test_t5_steps.py; they still do not apply to BART and Marian.)
ONE_STACK = ["pages/next_token.py", "pages/logit_lens.py",
             "pages/home.py", "pages/quiz.py", "pages/patching.py", "pages/head_ablation.py"]
ENCODER_NOTE = "this page reads its encoder"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("seq2seq")
    return {family: str(save_checkpoint(hf_model(family, **CASES[family][0]), tokenizer_for(family), root / family))
            for family in ("t5", "bart", "marian")}


@pytest.mark.parametrize("family", ["t5", "bart", "marian"])
def test_the_page_shows_the_greedy_output_and_its_cross_attention(family, folders):
    at = run_page("pages/seq2seq.py", SENTENCE, folders[family])
    assert not at.exception and not frame_errors(at)
    expected = load_model(folders[family]).trace(SENTENCE)
    assert "the model wrote (greedy)" in texts(at.markdown)
    table = at.dataframe[0].value
    assert list(table["decoder input"]) == expected.decoder.tokens
    assert list(table["source token read most"]) == [row[1] for row in expected.alignment()]
    cross = at.get("plotly_chart")[0].proto.spec
    assert "source token (key)" in cross


def test_a_typed_target_is_read_by_the_decoder(folders):
    at = run_page("pages/seq2seq.py", SENTENCE, folders["t5"])
    at.text_input[0].set_value("Le temps file 東京").run()
    assert not at.exception
    assert "you typed (forced decoding)" in texts(at.markdown)
    expected = load_model(folders["t5"]).trace(SENTENCE, "Le temps file 東京")
    assert list(at.dataframe[0].value["decoder input"]) == expected.decoder.tokens
    import json

    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    z = spec_array(figure["data"][0]["z"])
    np.testing.assert_allclose(np.asarray(z, dtype=float), expected.cross_weights(-1, None), atol=1e-5)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_or_says_why_not(page, folders):
    at = run_page(page, SENTENCE, folders["t5"])
    assert not at.exception, f"{page}: {at.exception}"
    assert not frame_errors(at), f"{page}: {frame_errors(at)}"
    if page in ONE_STACK:
        assert NOT_APPLY in texts(at.info), page
        assert not at.get("plotly_chart")
    if page.removeprefix("pages/").removesuffix(".py") in ENCODER_PAGES:
        assert texts(at.caption).count(ENCODER_NOTE) == 1 and NOT_APPLY not in texts(at.info), page
    if page == "pages/seq2seq.py":
        assert NOT_APPLY not in texts(at.info)


def test_the_one_head_page_shows_the_encoders_attention(folders):
    """An attention page reads the encoder's self-attention over the source, the same numbers as the trace's."""
    import json

    at = run_page("pages/attention_head.py", SENTENCE, folders["bart"], layer=1, head=2)
    assert not at.exception
    encoder = load_model(folders["bart"]).trace(SENTENCE).encoder
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    heat = next(t for t in figure["data"] if t.get("type") == "heatmap")
    z = np.asarray(spec_array(heat["z"]), dtype=float)
    np.testing.assert_allclose(z, encoder.layers[1].weights[2][:z.shape[0], :z.shape[1]], atol=1e-5)
