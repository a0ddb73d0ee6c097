"""The step-by-step pages recompute the forward pass by hand; every number must be the model's number.

Tolerance: the trace is float32, our recomputation float64, so values agree to 1e-5 absolute or,
for the large feed-forward values (|x| up to ~200), to 1e-5 relative (float32's own rounding).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.budget import count_parameters
from analysis.recompute import (attention_parameters, cosine_matrix, embedding_steps, head_steps,
                            layer_parameter_counts, layer_steps, position_table, softmax_formula, top_neurons)
from models.stages import tokenizer_stages
from training.demo import UNTRAINED_CAUSAL, fold_ids, untrained_causal_model
from ui.widgets import window_at
from viz.steps import matrix_heatmap, scores_with_mask, step_bars, token_chips, vector_strip

SENTENCE = "He created a miniature Eiffel tower lego model. The bank of the river was steep."
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def trace(minilm):
    return minilm.trace(SENTENCE)


@pytest.fixture(scope="module")
def decoder():
    return untrained_causal_model()


@pytest.fixture(scope="module")
def decoder_trace(decoder, trace):
    return decoder.trace(fold_ids(trace.ids, decoder.config.vocab_size), trace.tokens)


@pytest.mark.parametrize("layer,head,query", [(0, 0, 1), (2, 5, 7), (5, 11, 0), (3, 3, 12)])
def test_one_head_chain_equals_the_trace(minilm, trace, layer, head, query):
    hs = head_steps(minilm.net, trace, layer, head, query)
    lt = trace.layers[layer]
    np.testing.assert_allclose(hs.q, lt.q[head], **TOL)
    np.testing.assert_allclose(hs.k, lt.k[head], **TOL)
    np.testing.assert_allclose(hs.v, lt.v[head], **TOL)
    np.testing.assert_allclose(hs.scaled, lt.scores[head, query], **TOL)            # scaled scores
    np.testing.assert_allclose(hs.dots, lt.scores[head, query] * math.sqrt(hs.d_head), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(hs.weights, lt.weights[head, query], **TOL)          # softmax
    np.testing.assert_allclose(hs.head_out, lt.head_out[head, query], **TOL)        # Σ weights · v
    assert hs.weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert hs.scale == pytest.approx(math.sqrt(minilm.config.d_head))


@pytest.mark.parametrize("layer", range(6))
def test_whole_layer_chain_equals_the_trace(minilm, trace, layer):
    ls = layer_steps(minilm.net, trace, layer)
    lt = trace.layers[layer]
    for name in ("q", "k", "v", "scores", "weights", "head_out", "attn_out", "resid_mid", "mlp_in",
                 "mlp_pre", "mlp_hidden", "mlp_out", "resid_post"):
        np.testing.assert_allclose(getattr(ls, name), getattr(lt, name), err_msg=name, **TOL)
    np.testing.assert_allclose(ls.heads_concat, lt.heads_concat, **TOL)
    # post-LN (BERT): the two sums the page shows are what the LayerNorms normalise
    np.testing.assert_allclose(ls.attn_sum, lt.resid_pre + lt.attn_out, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ls.mlp_sum, lt.resid_mid + lt.mlp_out, rtol=1e-5, atol=1e-4)
    if layer < 5:
        np.testing.assert_allclose(ls.resid_post, trace.layers[layer + 1].resid_pre, **TOL)


def test_embedding_chain_equals_the_trace(minilm, trace):
    es = embedding_steps(minilm.net, trace)
    np.testing.assert_allclose(es.token_embed, trace.token_embed, **TOL)
    np.testing.assert_allclose(es.pos_embed, trace.pos_embed, **TOL)
    np.testing.assert_allclose(es.type_embed, trace.type_embed, **TOL)
    np.testing.assert_allclose(es.summed, trace.token_embed + trace.pos_embed + trace.type_embed, **TOL)
    np.testing.assert_allclose(es.embed, trace.embed, **TOL)
    table = position_table(minilm.net, 64)
    np.testing.assert_array_equal(table, minilm.net.embeddings.position.weight[:64].detach().double().numpy())
    cos = cosine_matrix(table)
    np.testing.assert_allclose(np.diag(cos), 1.0, atol=1e-5)
    assert cos[10, 11] > cos[10, 60]     # neighbouring positions are more alike than distant ones


def test_causal_decoder_chain_equals_its_trace_and_hides_the_future(decoder, decoder_trace):
    t = len(decoder_trace.tokens)
    for layer in range(decoder.config.n_layers):
        ls = layer_steps(decoder, decoder_trace, layer)
        lt = decoder_trace.layers[layer]
        hidden = ~np.tril(np.ones((t, t), dtype=bool))
        assert np.isneginf(lt.scores[:, hidden]).all() and np.isneginf(ls.scores[:, hidden]).all()
        assert (lt.weights[:, hidden] == 0).all()
        for name in ("attn_in", "weights", "head_out", "attn_out", "resid_mid", "mlp_in", "mlp_out", "resid_post"):
            np.testing.assert_allclose(getattr(ls, name), getattr(lt, name), err_msg=name, **TOL)
    hs = head_steps(decoder, decoder_trace, 1, 2, 3)
    assert hs.allowed.tolist() == [True] * 4 + [False] * (t - 4)
    assert (hs.weights[4:] == 0).all() and hs.weights[:4].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(hs.head_out, decoder_trace.layers[1].head_out[2, 3], **TOL)


def test_untrained_decoder_is_seeded_and_leaves_the_global_random_state_alone():
    before = torch.random.get_rng_state()
    a, b = untrained_causal_model(), untrained_causal_model()
    assert torch.equal(torch.random.get_rng_state(), before)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert a.config.causal and a.config.norm == "pre"
    assert fold_ids([5, 4096, 30000], 4096) == [5, 0, 30000 % 4096]


def test_softmax_formula_uses_the_real_numbers(minilm, trace):
    hs = head_steps(minilm.net, trace, 1, 4, 2)
    key = int(np.argmax(hs.weights))
    text = softmax_formula(hs, key)
    assert text.strip().endswith(f"{hs.weights[key]:.4f}")
    assert f"e^{hs.scaled[key]:.2f}" in text
    assert "more" in text                  # a long sentence: the denominator is summarised, not 20 terms


def test_parameter_counts_are_counted_from_the_weights(minilm):
    counts = layer_parameter_counts(minilm.net, 0)
    block = minilm.net.blocks[0]
    assert sum(c.count for c in counts) == sum(p.numel() for p in block.parameters())
    d, dff = minilm.config.d_model, minilm.config.d_ff
    assert [c.count for c in counts][:4] == [d * d + d] * 4
    assert counts[5].count == d * dff + dff and counts[6].count == dff * d + d
    ap = attention_parameters(minilm.config)
    assert ap["multi_head"] == ap["one_full_head"] == 4 * (d * d + d)
    assert minilm.config.n_heads * ap["per_head_qkv"] + ap["output"] == ap["multi_head"]


def test_top_neurons_and_windows():
    row = np.array([0.1, 3.0, -0.2, 2.0, 3.0])
    assert top_neurons(row, 3) == [(1, 3.0), (4, 3.0), (3, 2.0)]
    assert list(window_at(10, 4, 8)) == [6, 7, 8, 9]           # kept inside the sentence
    assert list(window_at(3, 40, 5)) == [0, 1, 2]


# -- tokenizer stages ----------------------------------------------------------------------------
def test_stages_come_from_the_tokenizer_and_point_into_the_original_text(minilm):
    text = "Héllo unaffable <b>bold</b> 🍌 flies\x07 like\u200b a banana."
    stages = tokenizer_stages(minilm.tokenizer, text)
    assert stages.normalized == minilm.tokenizer.backend.normalizer.normalize_str(text)
    assert stages.normalized.startswith("hello unaffable <b>bold</b>")   # lower-cased, accent stripped
    assert "\x07" not in stages.normalized and "\u200b" not in stages.normalized
    assert ("unaffable", (6, 15)) in stages.pre_tokens
    assert stages.model_kind == "WordPiece" and stages.vocab_size == 30522
    split = {text[ps[0].start:ps[-1].end]: [p.token for p in ps] for _, ps in stages.pieces_by_word() if len(ps) > 1}
    assert split["unaffable"][0] == "una" and all(p.startswith("##") for p in split["unaffable"][1:])
    assert stages.n_unknown == 1                                          # the banana emoji
    enc = minilm.tokenizer.encode(text)
    assert [p.id for p in stages.pieces] == enc.ids
    for p in stages.pieces:
        if not p.special and p.token != "[UNK]":
            assert text[p.start:p.end].lower().replace("é", "e") == p.token.removeprefix("##")
    # the shared tokenizer's settings are untouched: still no padding, no truncation
    assert minilm.tokenizer.backend.padding is None and minilm.tokenizer.backend.truncation is None


# -- figures -------------------------------------------------------------------------------------
def _all_text(fig) -> str:
    parts = []
    for tr in fig.data:
        for attr in ("text", "customdata", "hovertemplate"):
            value = getattr(tr, attr, None)
            if value is not None:
                parts.append(str(np.asarray(value, dtype=object).tolist()))
    layout = fig.layout
    parts.append(str(layout.title.text))
    for axis in (layout.xaxis, layout.yaxis):
        if axis.ticktext is not None:
            parts.append(str(list(axis.ticktext)))
    return " ".join(parts)


def test_figures_escape_user_text_and_never_template_it():
    tokens = ["<b>", "bold", "</b>", "<a href='x'>", "bold"]
    figs = [
        token_chips("<b>bold</b> <a href='x'>", [(0, 3), (3, 7), (7, 11), (12, 24), (3, 7)], tokens, [1, 2, 3, 4, 5]),
        matrix_heatmap(np.ones((5, 3)), "X: 5 × 3", tokens),
        step_bars(np.array([1.0, -np.inf, 2.0, 0.5, 0.1]), tokens, "scores"),
        scores_with_mask(np.where(np.tril(np.ones((5, 5))) > 0, 1.0, -np.inf), tokens, "masked"),
        vector_strip(np.ones((2, 4)), ["<b>x</b>", "sum"], "strip"),
    ]
    for fig in figs:
        text = _all_text(fig)
        assert "<b>" not in text.replace("<br>", "") and "<a " not in text, text[:300]
        for tr in fig.data:
            template = getattr(tr, "hovertemplate", None) or ""
            assert "bold" not in template and "href" not in template
    # repeated tokens keep their own positions (no merged categories)
    assert list(figs[1].layout.yaxis.tickvals) == [0, 1, 2, 3, 4]


def test_masked_keys_read_minus_infinity():
    fig = step_bars(np.array([0.5, -np.inf]), ["a", "b"], "row")
    assert list(fig.data[0].text) == ["0.50", "−∞"]
    assert list(fig.data[0].y) == [0.5, 0.0]
    fig = scores_with_mask(np.array([[0.2, -np.inf], [0.1, 0.3]]), ["a", "b"], "mask")
    assert fig.data[0].text.tolist() == [["", "−∞"], ["", ""]]


def test_embedding_chain_of_a_sinusoidal_pre_ln_model():
    net = untrained_causal_model(replace(UNTRAINED_CAUSAL, positional="sinusoidal"), seed=3)
    trace = net.trace([5, 17, 99, 5])
    es = embedding_steps(net, trace)
    assert es.type_embed is None
    np.testing.assert_allclose(es.embed, trace.embed, **TOL)           # no LayerNorm: the sum itself
    np.testing.assert_allclose(position_table(net, 4), trace.pos_embed, **TOL)
    np.testing.assert_allclose(layer_steps(net, trace, 1).resid_post, trace.layers[1].resid_post, **TOL)


# -- the Hugging Face families: RMSNorm, grouped-query attention, RoPE, SwiGLU, no biases, tanh GELU ------
@pytest.fixture(scope="module", params=["llama", "qwen2", "gpt2", "roberta"])
def family(request, tmp_path_factory):
    """(name, loaded tiny random checkpoint, trace): Llama (GQA, RoPE, RMSNorm, SwiGLU, no biases),
    Qwen2 (the same with q/k/v biases), GPT-2 (pre-LN, tanh GELU), RoBERTa (offset positions)."""
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for
    from models import load_model

    name = request.param
    folder = save_checkpoint(hf_model(name), tokenizer_for(name), tmp_path_factory.mktemp(name))
    model = load_model(str(folder))
    return name, model, model.trace("Time flies like an arrow; fruit flies like a banana.")


def test_family_head_chain_equals_the_trace(family):
    name, model, trace = family
    config = model.config
    for layer in range(config.n_layers):
        for head in range(config.n_heads):
            hs = head_steps(model.net, trace, layer, head, query=len(trace) - 2)
            lt = trace.layers[layer]
            kv = config.kv_head_of(head)
            assert hs.kv_head == kv == lt.kv_head_of(head)
            np.testing.assert_allclose(hs.q, lt.q[head], **TOL)
            np.testing.assert_allclose(hs.k, lt.k[kv], **TOL)
            np.testing.assert_allclose(hs.v, lt.v[kv], **TOL)
            if config.positional == "rotary":
                np.testing.assert_allclose(hs.q_raw, lt.q_raw[head], **TOL)
                np.testing.assert_allclose(hs.k_raw, lt.k_raw[kv], **TOL)
                # a rotation keeps every pair's length
                half = config.d_head // 2
                np.testing.assert_allclose(np.hypot(hs.q[:, :half], hs.q[:, half:]),
                                           np.hypot(hs.q_raw[:, :half], hs.q_raw[:, half:]), atol=1e-9)
            else:
                assert hs.q_raw is None and hs.angles is None
            gaps = hs.agreement(trace)
            assert max(gaps.values()) < 1e-5, gaps


def test_family_layer_chain_equals_the_trace(family):
    name, model, trace = family
    config = model.config
    if name == "llama":
        assert config.kv_heads < config.n_heads and config.mlp == "gated" and config.norm_kind == "rmsnorm"
    for layer in range(config.n_layers):
        ls = layer_steps(model.net, trace, layer)
        lt = trace.layers[layer]
        for field in ("q", "k", "v", "scores", "weights", "head_out", "attn_out", "resid_mid", "mlp_in",
                      "mlp_pre", "mlp_hidden", "mlp_out", "resid_post"):
            np.testing.assert_allclose(getattr(ls, field), getattr(lt, field), err_msg=f"{name} {field}", **TOL)
        if config.mlp == "gated":
            np.testing.assert_allclose(ls.mlp_up, lt.mlp_up, **TOL)
        else:
            assert ls.mlp_up is None


def test_family_embeddings_and_parameter_counts(family):
    name, model, trace = family
    net, config = model.net, model.config
    es = embedding_steps(net, trace)
    np.testing.assert_allclose(es.pos_embed, trace.pos_embed, **TOL)
    np.testing.assert_allclose(es.embed, trace.embed, **TOL)
    table = position_table(net, 8)
    if config.positional == "rotary":
        assert table is None and not es.pos_embed.any()
    else:
        assert table.shape == (8, config.d_model)
    counts = layer_parameter_counts(net, 1)
    assert sum(c.count for c in counts) == sum(p.numel() for p in net.blocks[1].parameters())
    # and it is what the memory estimate (core/budget.py, from the config alone) counts for one block
    one_more_block = count_parameters(replace(config, n_layers=2)) - count_parameters(replace(config, n_layers=1))
    assert sum(c.count for c in counts) == one_more_block
    steps = " ".join(c.step for c in counts)
    assert ("RMSNorm" in steps) == (config.norm_kind == "rmsnorm")
    assert ("W_gate" in steps) == (config.mlp == "gated")
    ap = attention_parameters(config)
    attention = sum(p.numel() for p in net.blocks[1].attention.parameters())
    assert ap["multi_head"] == attention
    assert config.n_heads * ap["per_head_q"] + config.kv_heads * ap["per_kv_head"] + ap["output"] == attention


def test_the_diagonal_band_is_named_only_when_the_numbers_show_one():
    """Issue 26: 2 · Embeddings promised "a bright diagonal band" whatever the table looked like."""
    from ui.steps import diagonal_band_caption

    n = 20
    gap = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    banded = np.exp(-gap / 3.0)                      # neighbours alike, distant positions not
    flat = np.eye(n) + 0.2 * (1 - np.eye(n))         # every pair equally (un)alike
    assert diagonal_band_caption(banded).startswith("A band along the diagonal")
    assert diagonal_band_caption(flat).startswith("No band")
