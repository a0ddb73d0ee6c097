"""Weights in their checkpoint's dtype (issue 23): a bf16 or fp16 checkpoint stays bf16/fp16 in memory,
half the bytes of float32, and every number a page shows is still computed in float32.

The proof: the same weights saved twice, once in bf16 (or fp16) and once in float32 (their values
are exactly representable in the half dtype, so the float32 file is the half file upcast at load).
Loaded, the half model holds half the bytes, and its trace and every analysis that reads weights
directly (lens, ablation, patching, faithfulness, attribution, logit attribution, value norms, the
embedding table) equal the float32 model's: each block's weights are upcast before use, so the
same float32 kernels run on the same float32 numbers. The trace is equal bit for bit, except a
single row's logits (`logits_at`, a matrix-vector kernel: within 1e-6); the analyses within 1e-5
relative (their few-row products, likewise), where a bf16 rounding would show as 1e-3. Against
transformers, which computes on a float32 copy of the same weights, the trace stays within 1e-4.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import SENTENCES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from analysis.ablation import head_importance  # noqa: E402
from analysis.attribution import Target, grad_times_input  # noqa: E402
from analysis.faithfulness import next_token_scorer  # noqa: E402
from analysis.lens import logit_lens  # noqa: E402
from analysis.logit_attribution import logit_attribution  # noqa: E402
from analysis.patching import make_metric, patch_grid  # noqa: E402
from analysis.score_parts import value_norms  # noqa: E402
from core import count_parameters, estimate_model_bytes, estimate_trace_bytes  # noqa: E402
from core import model as core_model  # noqa: E402
from models import load_model  # noqa: E402
from models.families import check_size, weight_bytes  # noqa: E402

HALVES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# (dtype, tied): bf16 with its own unembedding, fp16 reading the token table for both ends.
CASES = [("bf16", False), ("fp16", True)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{d}-{'tied' if t else 'untied'}" for d, t in CASES])
def pair(request, tmp_path_factory):
    """(transformers reference in float32, our model from the half file, ours from the float32 file)."""
    name, tied = request.param
    dtype = HALVES[name]
    reference = hf_model("llama", tied=tied)
    with torch.no_grad():                    # values the half dtype holds exactly, kept in float32
        for p in reference.parameters():
            p.copy_(p.to(dtype).float())
    root = tmp_path_factory.mktemp(name)
    # The reference itself stays float32: casting it would also round RoPE's frequency buffer,
    # which no checkpoint stores.
    half = save_checkpoint(copy.deepcopy(reference).to(dtype), tokenizer_for("llama"), root / "half")
    full = save_checkpoint(reference, tokenizer_for("llama"), root / "float32")
    return reference, load_model(str(half)), load_model(str(full)), dtype


def parameter_bytes(net) -> int:
    return sum(p.numel() * p.element_size() for p in net.parameters())


def test_half_weights_stay_half_at_half_the_bytes(pair):
    _, half, full, dtype = pair
    assert {p.dtype for p in half.net.parameters()} == {dtype}
    assert {p.dtype for p in full.net.parameters()} == {torch.float32}
    assert parameter_bytes(half.net) * 2 == parameter_bytes(full.net)
    assert half.info["weight_dtypes"] == [str(dtype).removeprefix("torch.")]


def assert_same_trace(a, b):
    for name in ("token_embed", "pos_embed", "embed", "resid", "resid_mid", "final", "top_ids",
                 "top_logprobs", "log_sum_exp", "logits"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("entropy", "distance", "received", "thumbnails", "mean_weights"):
        np.testing.assert_array_equal(getattr(a.summary, name), getattr(b.summary, name), err_msg=name)
    for layer_a, layer_b in zip(a.layers, b.layers):
        for name in ("q", "k", "v", "q_raw", "k_raw", "scores", "weights", "head_out", "attn_out", "mlp_pre",
                     "mlp_up", "mlp_hidden", "mlp_out", "resid_post"):
            np.testing.assert_array_equal(getattr(layer_a, name), getattr(layer_b, name), err_msg=name)
            assert getattr(layer_a, name).dtype == np.float32
    np.testing.assert_array_equal(a.head(1, 2).weights, b.head(1, 2).weights)
    # One row is a matrix-vector product, whose kernel may sum in another order for a freshly upcast
    # table than for the loaded one (alignment): equal within 1e-6, not bit for bit.
    np.testing.assert_allclose(a.logits_at(3), b.logits_at(3), rtol=0, atol=1e-6)


@pytest.mark.parametrize("sentence", ["plain", "emoji_cjk", "long"])
def test_the_trace_equals_the_float32_model_bit_for_bit(pair, sentence):
    _, half, full, _ = pair
    assert_same_trace(half.trace(SENTENCES[sentence]), full.trace(SENTENCES[sentence]))


@pytest.mark.parametrize("sentence", ["plain", "long"])
def test_the_trace_matches_transformers_on_a_float32_copy(pair, sentence):
    reference, half, _, _ = pair
    trace = half.trace(SENTENCES[sentence])
    with torch.no_grad():
        out = reference(torch.tensor([trace.ids]), output_attentions=True, output_hidden_states=True)
    np.testing.assert_allclose(trace.attentions, np.stack([a[0].numpy() for a in out.attentions]), atol=1e-4, rtol=0)
    np.testing.assert_allclose(trace.logits, out.logits[0].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(trace.final, out.hidden_states[-1][0].numpy(), atol=1e-4, rtol=0)


def test_a_half_unembedding_is_never_copied_whole_to_float32(pair, monkeypatch):
    """A bf16/fp16 vocabulary is scored a slice at a time (Llama 3.2 1B's table would be a 1 GB float32
    copy at every trace): the trace's next tokens and log-sum-exp, its logits, the next-token logits
    the analyses read and the rows of a logit difference equal the float32 model's, with the slices
    made small enough here that the vocabulary takes several."""
    _, half, full, _ = pair
    d = half.config.d_model
    monkeypatch.setattr(core_model, "UPCAST_BYTES", 4 * d * 37)          # 37 vocabulary rows a slice
    monkeypatch.setattr(type(half.net), "unembedding",
                        lambda self: pytest.fail("a float32 copy of the whole unembedding was made"))
    text = SENTENCES["long"]
    a, b = half.trace(text), full.trace(text)
    assert half.config.vocab_size > 3 * 37
    np.testing.assert_array_equal(a.top_ids, b.top_ids)
    np.testing.assert_allclose(a.top_logprobs, b.top_logprobs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.log_sum_exp, b.log_sum_exp, rtol=1e-6)
    np.testing.assert_allclose(a.logits, b.logits, rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.logits_at(3), b.logits_at(3), rtol=0, atol=1e-6)
    hidden = torch.tensor(np.asarray(a.resid[-1][:4]))
    with torch.inference_mode():
        np.testing.assert_allclose(half.net.next_logits(hidden), full.net.next_logits(hidden), rtol=0, atol=1e-6)
    answer, other = int(a.top_ids[-1, 0]), int(a.top_ids[-1, 1])
    np.testing.assert_allclose(logit_attribution(half, a, -1, answer, other).heads,
                               logit_attribution(full, b, -1, answer, other).heads, rtol=1e-5, atol=1e-7)
    ids = a.ids
    corrupted = ids[:2] + [ids[3]] + ids[3:]
    grids = [patch_grid(model, trace, corrupted, "resid_pre", make_metric(model, ids, corrupted, answer=answer)).values
             for model, trace in ((half, a), (full, b))]
    np.testing.assert_allclose(grids[0], grids[1], rtol=1e-5, atol=1e-7)


def test_every_analysis_that_reads_weights_computes_in_float32(pair):
    """The places outside core that read a weight (or the final norm) directly give the float32
    model's numbers on the half model: none multiplies a bf16 matrix or rounds through one. Within
    1e-5 relative, not bit for bit: a product of a few rows by a freshly upcast matrix may sum in
    another order than by the loaded one (the kernel follows the memory's alignment)."""
    _, half, full, _ = pair
    text = SENTENCES["plain"]
    results = []
    for model in (half, full):
        net, trace = model.net, model.trace(text)
        ids = trace.ids
        corrupted = ids[:2] + [ids[3]] + ids[3:]                       # one token changed, same length
        answer = int(trace.top_ids[-1, 0])
        metric = make_metric(model, ids, corrupted, answer=answer)
        scorer, _ = next_token_scorer(net, ids)
        results.append({
            "lens": logit_lens(net, trace, k=3).probs,
            "ablation": head_importance(net, ids),
            "patching": patch_grid(model, trace, corrupted, "resid_pre", metric).values,
            "faithfulness": scorer([tuple(ids), tuple(corrupted)]),
            "attribution": grad_times_input(net, ids, Target("next token", token_id=answer)).scores,
            "logit attribution": logit_attribution(model, trace, -1, answer).heads,
            "value norms": value_norms(net, trace, 1, 2),
            "embedding table": model.embedding_table(),
        })
    for name in results[0]:   # a bf16 rounding anywhere would differ by about 1e-3
        np.testing.assert_allclose(results[0][name], results[1][name], rtol=1e-5, atol=1e-7, err_msg=name)
    assert results[0]["embedding table"].dtype == np.float32


def test_the_size_limit_counts_two_bytes_a_weight_for_half_checkpoints(pair, monkeypatch):
    _, half, _, _ = pair
    assert weight_bytes({"torch_dtype": "bfloat16"}) == weight_bytes({"dtype": "float16"}) == 2
    assert weight_bytes({"torch_dtype": "float32"}) == weight_bytes({}) == 4
    config, n = half.config, 64
    assert estimate_model_bytes(config, 2) * 2 == estimate_model_bytes(config) == 4 * count_parameters(config)
    # A limit that the half weights fit and the float32 weights do not.
    between = estimate_model_bytes(config, 3) + estimate_trace_bytes(config, n)
    monkeypatch.setenv("ATTENTION_EXPLORER_MAX_MODEL_BYTES", str(between))
    check_size(config, n, "tiny", 2)
    with pytest.raises(ValueError, match="in float32"):
        check_size(config, n, "tiny", 4)
    monkeypatch.setenv("ATTENTION_EXPLORER_MAX_MODEL_BYTES", str(between // 2))
    with pytest.raises(ValueError, match=r"in bf16/fp16 \(as the checkpoint stores them\)"):
        check_size(config, n, "tiny", 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_a_half_model_on_cuda_matches_the_cpu(pair, monkeypatch):
    """ATTENTION_EXPLORER_DEVICE=cuda: the half weights go to the GPU as they are, and the trace is the
    CPU's within 1e-4 (other kernels: not bit for bit)."""
    _, half, _, dtype = pair
    monkeypatch.setenv("ATTENTION_EXPLORER_DEVICE", "cuda")
    on_gpu = load_model(str(half.folder))
    assert {p.device.type for p in on_gpu.net.parameters()} == {"cuda"}
    assert {p.dtype for p in on_gpu.net.parameters()} == {dtype}
    gpu, cpu = on_gpu.trace(SENTENCES["long"]), half.trace(SENTENCES["long"])
    np.testing.assert_allclose(gpu.attentions, cpu.attentions, atol=1e-4)
    np.testing.assert_allclose(gpu.logits, cpu.logits, atol=1e-4)
    np.testing.assert_allclose(gpu.log_sum_exp, cpu.log_sum_exp, atol=1e-4)
