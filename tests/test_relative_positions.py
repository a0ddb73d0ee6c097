"""Step 5 (Masks) with a real encoder–decoder: T5's relative position bias taken apart (its buckets, the bias
over the sentence, q·k + bias = the score) and the decoder's masked self-attention beside its unmasked
cross-attention; BART says where its positions are instead."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from page_helpers import run_page, spec_array, texts

pytest.importorskip("transformers")

from hf_tiny import CASES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from models import load_model  # noqa: E402
from ui.relative_positions import bucket_table  # noqa: E402

SENTENCE = "Time flies like an arrow; fruit flies like a banana."


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq2seq")
    built = {}
    for family in ("t5", "bart"):
        model = hf_model(family, **CASES[family][0])
        built[family] = (str(save_checkpoint(model, tokenizer_for(family), root / family)), model)
    return built


def figure(at, title_part: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if title_part in (spec["layout"].get("title") or {}).get("text", ""):
            return spec
    raise AssertionError(f"no figure titled …{title_part}…")


def test_t5s_buckets_are_exact_near_and_logarithmic_far():
    table = bucket_table(True, 32, 128, np.arange(32, dtype=float))      # T5's defaults
    text = dict(zip(table["bucket"], table["distance key − query"]))
    assert text[0] == "0" and text[1] == "−1" and text[7] == "−7" and text[16 + 1] == "1"
    assert text[15].startswith("≤ −") and text[31].startswith("≥ ")      # everything beyond shares the last
    assert list(table["bias of this head"]) == list(table["bucket"])     # each row reads its own bucket's number
    assert 16 not in text                    # "after the query, distance 0" cannot happen: that bucket is unused
    causal = bucket_table(False, 32, 128, np.zeros(32))
    assert "later keys are hidden" in causal["distance key − query"][0] and len(causal) == 32


def test_the_mask_step_takes_t5s_score_apart(folders):
    folder, reference = folders["t5"]
    at = run_page("step_mask", SENTENCE, folder)
    assert not at.exception
    layer, head = at.session_state["step_mask_layer"], at.session_state["step_mask_head"]
    encoder = load_model(folder).encoder_trace(SENTENCE)
    t = len(encoder.tokens)
    shown = spec_array(figure(at, f"Head {head}'s bias")["data"][0]["z"])
    attention = reference.encoder.block[0].layer[0].SelfAttention
    with torch.no_grad():
        expected = attention.compute_bias(t, t)[0, head].numpy()         # transformers' own bias
    np.testing.assert_allclose(shown, expected[:len(shown), :len(shown)], atol=1e-6)
    tables = [frame.value for frame in at.dataframe]
    with torch.no_grad():
        table = attention.relative_attention_bias.weight[:, head].numpy()
    np.testing.assert_allclose(tables[0]["bias of this head"], table[list(tables[0]["bucket"])], atol=1e-6)
    gap = float(re.search(r"largest difference ([0-9.e+-]+)", texts(at.caption)).group(1))
    assert gap < 1e-4                                                     # q·k + bias is the score
    cross = spec_array(figure(at, "Cross-attention")["data"][0]["z"])
    decoder = load_model(folder).trace(SENTENCE).decoder
    np.testing.assert_allclose(cross, decoder.layers[layer].cross.weights[head][:len(cross)], atol=1e-6)
    assert "does not apply" not in texts(at.info)


def test_bart_says_its_positions_are_in_the_embeddings_and_shows_the_cross_attention(folders):
    at = run_page("step_mask", SENTENCE, folders["bart"][0])
    assert not at.exception
    assert "learned position vectors" in texts(at.markdown)
    assert not any("bias" in (json.loads(c.proto.spec)["layout"].get("title") or {}).get("text", "")
                   for c in at.get("plotly_chart"))
    figure(at, "Cross-attention")
