"""Every page opens at 4,096 tokens for a tiny long-position model, and the attention views stay small.

The model is a tiny random Llama (2 layers, 4 query heads, 2 key/value heads, d_model 32) whose
positions reach 4,096, so the text is not cut and each page meets a 4,096-token trace; the trace is
computed once for the module (the shared cache) and each page then does its own work.
"""
from __future__ import annotations

import numpy as np
import pytest

from page_helpers import run_page, texts

pytest.importorskip("transformers")

from hf_tiny import save_checkpoint, tokenizer_for  # noqa: E402
from test_pages_smoke import PAGES, frame_errors  # noqa: E402

TEXT = "The river bank was steep, and the cat sat on the mat. " * 137    # cut at 4,096 tokens
FIGURE_JSON_LIMIT = 5 * 2**20


@pytest.fixture(scope="module")
def long_model(tmp_path_factory) -> str:
    import torch
    import transformers as tf

    config = tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, max_position_embeddings=4096, vocab_size=320,
                            attn_implementation="eager", rope_parameters={"rope_type": "default", "rope_theta": 1e4},
                            bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    model = tf.LlamaForCausalLM(config).eval()
    return str(save_checkpoint(model, tokenizer_for("llama"), tmp_path_factory.mktemp("long") / "llama4k"))


def figure_bytes(at) -> list[int]:
    """Bytes of each figure the page sends: Plotly's JSON, and the hover views' data (All heads' canvas)."""
    return ([len(chart.proto.spec) for chart in at.get("plotly_chart")]
            + [len(view.proto.json) for view in at.get("bidi_component")])


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_at_4096_tokens(page, long_model):
    at = run_page(page, TEXT, long_model)
    assert not at.exception, f"{page} raised at 4,096 tokens: {at.exception}"
    assert not frame_errors(at), f"{page} failed at 4,096 tokens: {frame_errors(at)}"
    assert max(figure_bytes(at), default=0) <= FIGURE_JSON_LIMIT, f"{page} sends a figure over 5 MB"


@pytest.mark.parametrize("page", ["pages/attribution.py", "pages/faithfulness.py"])
def test_explanations_say_plainly_that_they_stop_at_512_tokens(page, long_model):
    at = run_page(page, TEXT, long_model)
    assert not at.exception and "runs on texts of up to 512 tokens" in texts(at.info)
    assert not at.get("plotly_chart")


def test_one_head_shows_a_pooled_overview_and_an_exact_window(long_model):
    at = run_page("pages/attention_head.py", TEXT, long_model)
    shown = texts(at.caption)
    assert "Overview of all 4096 positions" in shown and "pooled into blocks of about 16" in shown
    assert "Showing positions" in shown


def test_a_pooled_overview_keeps_a_sink_column_and_a_diagonal():
    from viz.long_context import pooled_overview
    t = 1024
    weights = np.zeros((t, t), dtype=np.float32)
    weights[:, 0] = 0.5                                        # a sink on the first token
    weights[np.arange(t), np.arange(t)] += 0.5                 # and each token on itself
    z = np.asarray(pooled_overview(weights).data[0].z)
    assert z.shape == (256, 256)
    assert np.allclose(z[1:, 0], 0.5) and np.allclose(np.diag(z)[1:], 0.5)    # both at full strength
    assert np.allclose(z.sum(axis=1), 1.0)                    # rows still sum to 1
    hover = np.asarray(pooled_overview(weights).data[0].customdata)   # each cell's query and key blocks
    assert hover[0, 1].tolist() == [0, 3, 4, 7] and hover[255, 255].tolist() == [1020, 1023, 1020, 1023]


def test_the_long_context_page_reads_the_whole_text_from_the_summary(long_model):
    at = run_page("pages/long_context.py", TEXT, long_model, layer=1, head=2)
    assert not at.exception and not frame_errors(at)
    shown = texts(at.markdown)
    assert "evenly over the 4,096 tokens" in shown and "Over the last 512 queries of layer 1" in shown
    assert "Layer 1, head 2 puts" in shown and "busiest stretch of 32 tokens" in shown
    table = at.dataframe[0].value
    assert len(table) == 5 and all("river" in text or "cat" in text or "mat" in text for text in table["text"])
    assert len(at.get("plotly_chart")) == 4 and max(figure_bytes(at)) <= 200_000   # curves pooled to 256 points
