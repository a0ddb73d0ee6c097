"""The lean trace: it stores the residual stream and recomputes each layer on access, exactly.

What a learner relies on: `trace.layers[l]` shows the numbers the forward pass computed (bit for
bit: the same kernels run on the same shapes, reading the same memory), the trace's size grows
with layers · T · d_model and not with T², the streamed summaries equal what the full attention
gives, and a trace never shows a layer computed with other weights than its residual stream.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from analysis.head_stats import head_statistics, summary_statistics
from core import Transformer, TransformerConfig
from core import trace as trace_module
from core.budget import estimate_layer_bytes, estimate_stored_bytes
from core.model import device_from_env, knock_outs_for
from core.seq2seq import EncoderDecoder
from ui.cache import nbytes
from viz.heads import block_pool

LLAMA_LIKE = dict(vocab_size=60, d_model=32, n_heads=4, n_kv_heads=2, n_layers=3, d_ff=48, max_positions=2048,
                  positional="rotary", norm="pre", activation="silu", eps=1e-6, embed_norm=False, causal=True,
                  lm_head=True, tie_embeddings=False, norm_kind="rmsnorm", mlp="gated", bias=False,
                  qkv_bias=False)
BERT_LIKE = dict(vocab_size=60, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=512, type_vocab_size=2)
LAYER_FIELDS = ("attn_in", "q", "k", "v", "scores", "weights", "head_out", "attn_out", "resid_mid", "mlp_in",
                "mlp_pre", "mlp_hidden", "mlp_out", "resid_post", "q_raw", "k_raw", "mlp_up")


def model(**config) -> Transformer:
    torch.manual_seed(0)
    return Transformer(TransformerConfig(**config)).eval()


def ids_of(n: int, vocab: int = 60, seed: int = 1) -> list[int]:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def forward_records(net: Transformer, ids: list[int], knock_outs=None):
    """The plain forward pass (the one training uses), every record kept."""
    with torch.no_grad():
        return net.run(torch.tensor([ids]), knock_outs=knock_outs)


def flat_record(record) -> dict[str, np.ndarray]:
    a = record.attention
    tensors = dict(attn_in=a.attn_in, q=a.q, k=a.k, v=a.v, scores=a.scores, weights=a.weights,
                   head_out=a.head_out, attn_out=a.attn_out, resid_mid=record.resid_mid, mlp_in=record.mlp_in,
                   mlp_pre=record.mlp_pre, mlp_hidden=record.mlp_hidden, mlp_out=record.mlp_out,
                   resid_post=record.resid_post, q_raw=a.q_raw, k_raw=a.k_raw, mlp_up=record.mlp_up)
    return {name: None if t is None else t[0].numpy() for name, t in tensors.items()}


@pytest.mark.parametrize("config", [LLAMA_LIKE, BERT_LIKE], ids=["llama-like", "bert-like"])
def test_recomputed_layers_equal_the_forward_pass_bit_for_bit(config):
    """Bit for bit: the same block code and kernels, the same shapes, the same input values."""
    net, ids = model(**config), ids_of(37)
    trace = net.trace(ids)
    emb, records, final, logits = forward_records(net, ids)
    for layer, record in zip(trace.layers, records):
        expected = flat_record(record)
        for name in LAYER_FIELDS:
            got = getattr(layer, name)
            assert (got is None) == (expected[name] is None), name
            if got is not None:
                np.testing.assert_array_equal(got, expected[name], err_msg=name)
    np.testing.assert_array_equal(trace.hidden_states[-1], records[-1].resid_post[0].numpy())
    if final is not None:
        np.testing.assert_array_equal(trace.final, final[0].numpy())
        np.testing.assert_array_equal(trace.logits, logits[0].numpy())


def test_a_knocked_out_trace_recomputes_with_the_same_heads_out():
    net, ids = model(**LLAMA_LIKE), ids_of(20)
    trace = net.trace(ids, ablate=[(1, 2), (2, 0)], mode="mean")
    _, records, _, _ = forward_records(net, ids, knock_outs_for(net.config, [(1, 2), (2, 0)], "mean"))
    for layer, record in zip(trace.layers, records):
        np.testing.assert_array_equal(layer.attn_out, record.attention.attn_out[0].numpy())
    intact = net.trace(ids)
    assert not np.array_equal(intact.layers[2].attn_out, trace.layers[2].attn_out)


def test_the_trace_stores_the_stream_not_the_attention(monkeypatch):
    """Memory grows with T, not T²: 8× the tokens is about 8× the bytes, and the estimate is close.
    (The per-layer mean attention is T² up to MEAN_SIDE tokens and fixed beyond; it is set small here.)"""
    monkeypatch.setattr(trace_module, "MEAN_SIDE", 32)
    monkeypatch.setattr("core.budget.MEAN_SIDE", 32)
    net = model(**LLAMA_LIKE)
    short, long = net.trace(ids_of(64)), net.trace(ids_of(512))
    assert nbytes(long) < 9 * nbytes(short)
    for trace in (short, long):
        assert 0.8 < estimate_stored_bytes(net.config, len(trace)) / nbytes(trace) < 1.25
    layer = long.layers[1]
    made = sum(getattr(layer, f).nbytes for f in LAYER_FIELDS if f not in ("resid_mid", "resid_post", "attn_in",
                                                                             "mlp_in"))
    assert 0.8 < estimate_layer_bytes(net.config, len(long)) / made < 1.25
    # The residual stream is views of one buffer; a recomputed layer's stream is that buffer too.
    assert np.shares_memory(layer.resid_pre, long.resid) and np.shares_memory(layer.resid_post, long.resid)
    assert not long.resid.flags.writeable and not layer.weights.flags.writeable


def test_recent_layers_are_cached_within_a_byte_budget(monkeypatch):
    cache = trace_module.LayerCache(budget_bytes=1)           # smaller than any layer: only the newest stays
    monkeypatch.setattr(trace_module, "LAYER_CACHE", cache)
    trace = model(**BERT_LIKE).trace(ids_of(30))
    first = trace.layers[0]
    assert trace.layers[0] is first                            # weights, then q, then k: computed once
    trace.layers[1]
    assert len(cache._entries) == 1 and trace.layers[0] is not first
    np.testing.assert_array_equal(trace.layers[0].weights, first.weights)
    roomy = trace_module.LayerCache(budget_bytes=2**30)
    monkeypatch.setattr(trace_module, "LAYER_CACHE", roomy)
    layers = [trace.layers[i] for i in range(2)]
    assert all(trace.layers[i] is layers[i] for i in range(2))
    del trace
    import gc
    gc.collect()
    roomy.get(object.__new__(type("Other", (), {})), 0, lambda: 1, lambda _: 1)   # a later insert sweeps
    assert len(roomy._entries) == 1                           # the dropped trace left nothing behind


def test_streamed_summaries_equal_the_statistics_of_the_full_attention(monkeypatch):
    monkeypatch.setattr(trace_module, "MEAN_SIDE", 40)        # pool the mean attention beyond 40 tokens
    net, n = model(**BERT_LIKE), 100
    ids = ids_of(n)
    trace = net.trace(ids)
    summary, attentions = trace.summary, trace.attentions
    cls, sep = np.zeros(n, bool), np.zeros(n, bool)
    cls[0], sep[[50, n - 1]] = True, True
    stats = head_statistics(attentions, cls, sep)
    for name in ("entropy", "distance", "previous", "next", "self"):
        np.testing.assert_allclose(getattr(summary, name), stats.get(name), rtol=1e-5, atol=1e-6, err_msg=name)
    streamed = summary_statistics(summary, cls, sep)
    for name in ("entropy", "distance", "cls", "sep", "previous", "next", "self"):
        np.testing.assert_allclose(streamed.get(name), stats.get(name), rtol=1e-5, atol=1e-6, err_msg=name)
    pooled, starts = block_pool(attentions, 64)
    np.testing.assert_allclose(summary.thumbnails, pooled, atol=1e-6)
    np.testing.assert_array_equal(summary.thumb_starts, starts)
    assert not summary.mean_is_exact and summary.mean_weights.shape == (2, 40, 40)
    np.testing.assert_allclose(summary.mean_weights, block_pool(attentions.mean(1), 40)[0], atol=1e-6)
    even = net.trace(ids_of(128))                             # T a multiple of 64: pooled by reshaping
    np.testing.assert_allclose(even.summary.thumbnails, block_pool(even.attentions, 64)[0], atol=1e-6)
    short = net.trace(ids[:30]).summary
    assert short.mean_is_exact and short.thumbnails.shape == (2, 4, 30, 30)


def test_a_causal_summary_equals_the_statistics_of_the_full_attention():
    """Causal models measure distance as i - Σ_k w_ik k (no T × T table): the same numbers."""
    trace = model(**LLAMA_LIKE).trace(ids_of(90))
    none = np.zeros(90, bool)
    stats = head_statistics(trace.attentions, none, none)
    for name in ("entropy", "distance", "previous", "next", "self"):
        np.testing.assert_allclose(getattr(trace.summary, name), stats.get(name), rtol=1e-5, atol=1e-5, err_msg=name)
    # T a multiple of 64: the thumbnails and the exact mean are made band by band, reading only the
    # keys a causal band can see; they equal the full attention pooled.
    even = model(**LLAMA_LIKE).trace(ids_of(128))
    np.testing.assert_allclose(even.summary.thumbnails, block_pool(even.attentions, 64)[0], atol=1e-6)
    assert even.summary.mean_is_exact
    np.testing.assert_allclose(even.summary.mean_weights, even.attentions.mean(1), atol=1e-7)


def test_next_tokens_are_stored_and_any_probability_is_one_row_away():
    net = model(**LLAMA_LIKE)
    trace = net.trace(ids_of(300))                             # more positions than one unembedding chunk
    logits = torch.from_numpy(np.array(trace.logits)).double()
    logprobs = torch.log_softmax(logits, -1)
    top = logprobs.topk(trace.top_ids.shape[1], -1)
    np.testing.assert_array_equal(trace.top_ids, top.indices.numpy())
    np.testing.assert_allclose(trace.top_logprobs, top.values.numpy(), atol=1e-5)
    np.testing.assert_allclose(trace.log_sum_exp, torch.logsumexp(logits, -1).numpy(), rtol=1e-6)
    # One row is another shape than T rows (a matrix-vector kernel): equal within 1e-6, not bit for bit.
    np.testing.assert_allclose(trace.logits_at(123), trace.logits[123], rtol=0, atol=1e-6)
    word = 7
    np.testing.assert_allclose(trace.logits_at(5)[word] - trace.log_sum_exp[5], logprobs[5, word].item(), atol=1e-5)
    assert model(**BERT_LIKE).trace([1, 2, 3]).logits is None


def test_stacking_every_layer_is_refused_beyond_its_limit(monkeypatch):
    trace = model(**BERT_LIKE).trace(ids_of(40))
    monkeypatch.setattr(trace_module, "STACK_LIMIT_BYTES", 2 * 4 * 40 * 40 * 4 - 1)
    with pytest.raises(ValueError, match="one layer at a time"):
        trace.attentions
    assert trace.layers[1].weights.shape == (4, 40, 40)


def test_a_trace_refuses_layers_once_the_weights_changed():
    net = model(**LLAMA_LIKE)
    trace = net.trace(ids_of(10))
    with torch.no_grad():
        net.blocks[1].mlp.up.weight.add_(1.0)               # an optimiser step does this in place
    with pytest.raises(RuntimeError, match="weights changed after this text was traced"):
        trace.layers[0]


def test_bf16_weights_stay_bf16_and_are_computed_in_float32():
    net = model(**LLAMA_LIKE)
    with torch.no_grad():                                     # bf16 values, held in float32
        for p in net.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    half = copy.deepcopy(net).to(torch.bfloat16)
    ids = ids_of(25)
    a, b = net.trace(ids), half.trace(ids)
    assert all(p.dtype == torch.bfloat16 for p in half.parameters())
    np.testing.assert_array_equal(a.attentions, b.attentions)
    np.testing.assert_array_equal(a.logits, b.logits)
    assert b.layers[2].mlp_out.dtype == np.float32


def test_seq2seq_traces_recompute_self_and_cross_attention():
    config = TransformerConfig(vocab_size=12, d_model=16, n_heads=2, n_layers=2, d_ff=32, max_positions=16,
                               positional="sinusoidal", norm="pre", embed_norm=False)
    torch.manual_seed(0)
    net = EncoderDecoder(config).eval()
    source, target = [3, 4, 5, 6, 7], [1, 7, 6, 5]
    encoder, decoder = net.trace(source, target, list("abcde"), list("^gfe"))
    with torch.no_grad():
        _, enc_records, memory, keys = net.encode(torch.tensor([source]))
        _, dec_records, _, logits = net.decode(torch.tensor([target]), memory, keys)
    np.testing.assert_array_equal(encoder.layers[1].weights, enc_records[1].attention.weights[0].numpy())
    np.testing.assert_array_equal(decoder.layers[1].cross.weights, dec_records[1].cross.weights[0].numpy())
    np.testing.assert_array_equal(decoder.logits, logits[0].numpy())
    assert decoder.layers[0].cross.weights.shape == (2, 4, 5)


def test_device_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("ATTENTION_EXPLORER_DEVICE", raising=False)
    assert device_from_env() == torch.device("cpu")
    monkeypatch.setenv("ATTENTION_EXPLORER_DEVICE", "cpu")
    assert device_from_env() == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_a_trace_on_cuda_matches_the_cpu():
    net = model(**LLAMA_LIKE)
    ids = ids_of(50)
    cpu = net.trace(ids)
    gpu = copy.deepcopy(net).to("cuda").trace(ids)
    np.testing.assert_allclose(gpu.attentions, cpu.attentions, atol=1e-4)
    np.testing.assert_allclose(gpu.logits, cpu.logits, atol=1e-4)
    np.testing.assert_array_equal(gpu.top_ids[:, 0], cpu.top_ids[:, 0])


@pytest.mark.parametrize("scaling", [
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 32},
], ids=["linear", "llama3"])
def test_rope_scaling_matches_transformers(scaling):
    """A tiny Llama with scaled RoPE, read through the Llama family's own config and name map."""
    import transformers as tf

    from models.checkpoint import convert
    from models.llama import config_from_hf, hf_name_map
    from core import from_state_dict

    hf_config = tf.LlamaConfig(vocab_size=80, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                               rope_parameters={"rope_theta": 10000.0, **scaling}, attn_implementation="eager")
    torch.manual_seed(0)
    reference = tf.LlamaForCausalLM(hf_config).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(0.1 * torch.randn_like(p))
    config = config_from_hf(hf_config.to_dict())
    assert config.rope_scaling == scaling["rope_type"]
    theirs = reference.state_dict()
    mapping, ignored = hf_name_map(config, theirs, "tiny llama")
    net = from_state_dict(config, convert(theirs, mapping, ignored, config, "tiny llama"))
    ids = ids_of(120, vocab=80)
    trace = net.trace(ids)
    with torch.no_grad():
        out = reference(torch.tensor([ids]), output_attentions=True)
    np.testing.assert_allclose(trace.attentions, np.stack([a[0].numpy() for a in out.attentions]), atol=1e-4)
    np.testing.assert_allclose(trace.logits, out.logits[0].numpy(), atol=1e-4)
    plain = from_state_dict(config_from_hf({**hf_config.to_dict(), "rope_parameters": {"rope_theta": 10000.0}}),
                            convert(theirs, mapping, ignored, config, "tiny llama"))
    assert not np.allclose(plain.trace(ids).attentions, trace.attentions, atol=1e-3)   # the scaling matters
