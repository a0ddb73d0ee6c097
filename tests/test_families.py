"""Every supported Hugging Face family, loaded into our one core, equals transformers (eager) at 1e-4.

How transformers' hidden_states line up with our Trace (n = number of layers):
- encoders (RoBERTa, DistilBERT): hidden_states[0..n] == trace.hidden_states[0..n]
  (the embedding output, then each block's output; post-LN blocks end in their own norm);
- decoders (GPT-2, Llama, Mistral, Qwen2): hidden_states[0..n-1] == trace.hidden_states[0..n-1],
  but transformers' last entry has the final norm applied: hidden_states[n] == trace.final.
  Our trace.hidden_states[n] (the last block's output, before that norm) is checked through the
  logits, which are computed from it: logits == trace.logits.
"""
from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import (CASES, KV_HEADS, LAYERS, POSITIONS, SENTENCES, SPECIALS, VOCAB, case_id,  # noqa: E402
                     hf_model, save_checkpoint, tokenizer_for)
from safetensors.torch import load_file, save_file  # noqa: E402

from analysis.lens import logit_lens  # noqa: E402
from core import apply_rotary, count_parameters, estimate_trace_bytes  # noqa: E402
from models import load_model  # noqa: E402
from models.families import FAMILIES, FAMILY_LIST, SUPPORTED, config_for  # noqa: E402

# Every single-stack model_type of the family list, in each variant tests/hf_tiny.py builds for it
# (the encoder–decoders, T5, BART and Marian, have their own tests: tests/test_seq2seq_families.py).
ALL_CASES = [(family, variant) for family in SUPPORTED if not FAMILIES[family].encoder_decoder
             for variant in CASES.get(family, [])]
ATOL = 1e-4


def ids(cases) -> list[str]:
    return [case_id(family, variant) for family, variant in cases]


def test_every_registered_family_has_tiny_checkpoints():
    """A family added to the list without a tiny model in tests/hf_tiny.py would go unchecked."""
    assert set(CASES) == set(SUPPORTED)
    assert set(SPECIALS) == set(SUPPORTED)
    assert all(CASES[family] for family in SUPPORTED)
    assert len({family.name for family in FAMILY_LIST}) == len(FAMILY_LIST)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """(family, variant) -> (transformers model, folder, our LoadedModel), built once per session.
    Called as checkpoints(family, tied) or checkpoints(family, tied=..., parallel=..., ...)."""
    built = {}

    def get(family: str, tied: bool = True, **variant):
        variant = dict(variant, tied=tied)
        key = (family, tuple(sorted(variant.items())))
        if key not in built:
            model = hf_model(family, **variant)
            folder = save_checkpoint(model, tokenizer_for(family),
                                     tmp_path_factory.mktemp(case_id(family, variant)))
            built[key] = (model, folder, load_model(str(folder)))
        return built[key]

    return get


def reference(model, ids: list[int]):
    with torch.no_grad():
        return model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)


def is_decoder(model) -> bool:
    """A causal language model of transformers (ends in logits over the next token)."""
    return type(model).__name__.endswith(("ForCausalLM", "LMHeadModel"))


def assert_matches(model, trace):
    out = reference(model, trace.ids)
    attentions = np.stack([a[0].numpy() for a in out.attentions])
    hidden = np.stack([h[0].numpy() for h in out.hidden_states])
    assert trace.attentions.shape == attentions.shape == (LAYERS, 4, len(trace), len(trace))
    np.testing.assert_allclose(trace.attentions, attentions, atol=ATOL, rtol=0)
    if is_decoder(model):
        np.testing.assert_allclose(trace.hidden_states[:-1], hidden[:-1], atol=ATOL, rtol=0)
        np.testing.assert_allclose(trace.final, hidden[-1], atol=ATOL, rtol=0)
        np.testing.assert_allclose(trace.logits, out.logits[0].numpy(), atol=ATOL, rtol=0)
    else:
        np.testing.assert_allclose(trace.hidden_states, hidden, atol=ATOL, rtol=0)
        assert trace.logits is None


@pytest.mark.parametrize("sentence", list(SENTENCES))
@pytest.mark.parametrize("case", ALL_CASES, ids=ids(ALL_CASES))
def test_trace_matches_transformers(checkpoints, case, sentence):
    model, _, loaded = checkpoints(case[0], **case[1])
    trace = loaded.trace(SENTENCES[sentence])
    assert trace.truncated == (sentence == "long")
    if trace.truncated:
        assert len(trace) == POSITIONS and trace.n_input_tokens > POSITIONS
    assert_matches(model, trace)


@pytest.mark.parametrize("case", ALL_CASES, ids=ids(ALL_CASES))
def test_tokens_follow_the_tokenizers_own_specials(checkpoints, case):
    """Our ids equal transformers' tokenizer on the same tokenizer.json, truncation included."""
    _, folder, loaded = checkpoints(case[0], **case[1])
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    for text in SENTENCES.values():
        expected = hf_tok(text, truncation=True, max_length=POSITIONS)["input_ids"]
        assert loaded.trace(text).ids == expected
    first = loaded.trace("the cat").tokens
    assert [t for t, s in zip(first, loaded.trace("the cat").special_mask) if s] == SPECIALS[case[0]]


@pytest.mark.parametrize("case", ALL_CASES, ids=ids(ALL_CASES))
def test_parameter_count_matches_transformers(checkpoints, case):
    model, _, loaded = checkpoints(case[0], **case[1])
    heads = ("pooler.", "bert.pooler.", "cls.")  # on top of the per-token hidden states
    on_top = sum(p.numel() for n, p in model.named_parameters() if n.startswith(heads))
    assert count_parameters(loaded.config) == model.num_parameters() - on_top


def test_grouped_query_attention_in_the_trace(checkpoints):
    _, _, loaded = checkpoints("llama", True)
    trace = loaded.trace(SENTENCES["plain"])
    layer = trace.layers[1]
    t, d_head = len(trace), 64 // 4
    assert layer.q.shape == (4, t, d_head) and layer.k.shape == layer.v.shape == (KV_HEADS, t, d_head)
    assert trace.n_kv_heads == KV_HEADS and loaded.config.kv_heads == KV_HEADS
    assert [trace.kv_head_of(h) for h in range(4)] == [0, 0, 1, 1]
    assert [loaded.config.kv_head_of(h) for h in range(4)] == [0, 0, 1, 1]
    for h in range(4):  # each query head scores against the k of its key/value head
        kv = trace.kv_head_of(h)
        scores = layer.q[h] @ layer.k[kv].T / np.sqrt(d_head)
        allowed = np.tril(np.ones((t, t), dtype=bool))
        np.testing.assert_allclose(layer.scores[h][allowed], scores[allowed], atol=1e-5)
        np.testing.assert_allclose(layer.head_out[h], layer.weights[h] @ layer.v[kv], atol=1e-5)


def test_rotary_trace_keeps_raw_and_rotated(checkpoints):
    _, _, loaded = checkpoints("llama", True)
    trace = loaded.trace(SENTENCES["plain"])
    layer = trace.layers[0]
    positions = torch.arange(len(trace))
    theta = loaded.config.rope_theta
    assert theta == 5000.0
    rotated = apply_rotary(torch.from_numpy(np.array(layer.q_raw)), positions, theta).numpy()
    np.testing.assert_allclose(layer.q, rotated, atol=1e-6)
    np.testing.assert_array_equal(layer.q[:, 0], layer.q_raw[:, 0])      # position 0 is not turned
    np.testing.assert_allclose(np.linalg.norm(layer.k, axis=-1), np.linalg.norm(layer.k_raw, axis=-1), rtol=1e-5)
    assert not trace.pos_embed.any()                                      # nothing added to the tokens
    assert layer.mlp_up is not None and layer.mlp_up.shape == layer.mlp_hidden.shape


def test_roberta_positions_start_after_padding_idx(checkpoints):
    model, _, loaded = checkpoints("roberta", True)
    trace = loaded.trace("the cat")
    table = model.embeddings.position_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(trace.pos_embed, table[2:2 + len(trace)])  # pad_token_id 1 -> rows 2, 3, ...
    assert loaded.config.position_offset == 2 and loaded.tokenizer.max_tokens == POSITIONS


def test_bf16_checkpoint_is_computed_in_float32(tmp_path):
    reference_model = hf_model("llama", tied=False)
    with torch.no_grad():  # round the weights to bf16 values, kept in float32 (exactly representable)
        for p in reference_model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    # A bf16 copy to save; the reference stays float32 (casting the model itself would also round
    # RoPE's frequency buffer, which no checkpoint stores).
    folder = save_checkpoint(copy.deepcopy(reference_model).to(torch.bfloat16), tokenizer_for("llama"),
                             tmp_path / "bf16")
    assert {t.dtype for t in load_file(str(folder / "model.safetensors")).values()} == {torch.bfloat16}
    loaded = load_model(str(folder))
    assert all(p.dtype == torch.bfloat16 for p in loaded.net.parameters())   # kept (tests/test_low_precision.py)
    for text in SENTENCES.values():
        assert_matches(reference_model, loaded.trace(text))


def test_sharded_checkpoint_loads(tmp_path):
    model = hf_model("gpt2", tied=True)
    folder = save_checkpoint(model, tokenizer_for("gpt2"), tmp_path / "sharded", max_shard_size="60KB")
    assert (folder / "model.safetensors.index.json").is_file() and not (folder / "model.safetensors").exists()
    assert len(list(folder.glob("model-*.safetensors"))) > 2
    loaded = load_model(str(folder))
    assert_matches(model, loaded.trace(SENTENCES["emoji_cjk"]))


# -- strictness: each error names what is wrong ------------------------------------------

def copy_of(checkpoints, tmp_path, family="gpt2", tied=True):
    _, folder, _ = checkpoints(family, tied)
    return shutil.copytree(folder, tmp_path / f"copy-{family}")


def rewrite_weights(folder, change):
    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})


def rewrite_config(folder, change):
    raw = json.loads((folder / "config.json").read_text())
    change(raw)
    (folder / "config.json").write_text(json.dumps(raw))


def test_bert_with_tensorflow_layernorm_names(checkpoints, tmp_path):
    """Older BERT checkpoints spell LayerNorm's weight and bias gamma and beta."""
    model, _, _ = checkpoints("bert", True)
    folder = copy_of(checkpoints, tmp_path, "bert", True)

    def rename(tensors):
        for name in [n for n in tensors if ".LayerNorm." in n]:
            tensors[name.replace(".weight", ".gamma").replace(".bias", ".beta")] = tensors.pop(name)
    rewrite_weights(folder, rename)
    assert "bert.embeddings.LayerNorm.gamma" in load_file(str(folder / "model.safetensors"))
    assert_matches(model, load_model(str(folder)).trace(SENTENCES["plain"]))


def test_missing_tensor_is_named(checkpoints, tmp_path):
    folder = copy_of(checkpoints, tmp_path)
    rewrite_weights(folder, lambda t: t.pop("transformer.h.1.ln_2.bias"))
    with pytest.raises(ValueError, match=r"missing tensor 'transformer\.h\.1\.ln_2\.bias'"):
        load_model(str(folder))


def test_unexpected_tensor_is_named(checkpoints, tmp_path):
    folder = copy_of(checkpoints, tmp_path, "qwen2", False)
    rewrite_weights(folder, lambda t: t.update({"model.layers.0.self_attn.surprise": torch.zeros(3)}))
    with pytest.raises(ValueError, match=r"unexpected tensor 'model\.layers\.0\.self_attn\.surprise'"):
        load_model(str(folder))


def test_wrong_shape_is_named(checkpoints, tmp_path):
    folder = copy_of(checkpoints, tmp_path, "llama", False)
    rewrite_weights(folder, lambda t: t.update({"model.layers.2.mlp.up_proj.weight": torch.zeros(7, 64)}))
    with pytest.raises(ValueError, match=r"'model\.layers\.2\.mlp\.up_proj\.weight' has shape \(7, 64\)"):
        load_model(str(folder))


def test_stored_tied_head_must_equal_the_table(checkpoints, tmp_path):
    folder = copy_of(checkpoints, tmp_path, "llama", True)
    rewrite_weights(folder, lambda t: t.update({"lm_head.weight": torch.ones(VOCAB, 64)}))
    with pytest.raises(ValueError, match=r"'lm_head\.weight' differs from 'model\.embed_tokens\.weight'"):
        load_model(str(folder))


def test_unsupported_model_type_lists_the_supported(checkpoints, tmp_path):
    folder = copy_of(checkpoints, tmp_path)
    rewrite_config(folder, lambda c: c.update(model_type="mbart"))
    with pytest.raises(ValueError, match="model_type 'mbart' is not supported") as info:
        load_model(str(folder))
    assert all(name in str(info.value) for name in SUPPORTED)
    assert set(SUPPORTED) == {"bert", "roberta", "distilbert", "gpt2", "llama", "mistral", "qwen2", "gpt_neox",
                              "phi3", "qwen3", "olmo2", "gemma", "gemma2", "gemma3_text", "t5", "bart", "marian"}


@pytest.mark.parametrize("field,value,name", [
    ("rope_scaling", {"rope_type": "dynamic", "factor": 8.0}, "dynamic"),                # older config.json
    ("rope_scaling", {"type": "longrope", "factor": 2.0}, "longrope"),
    ("rope_parameters", {"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}, "yarn"),  # transformers 5
])
def test_rope_scaling_is_refused_by_name(checkpoints, tmp_path, field, value, name):
    folder = copy_of(checkpoints, tmp_path, "llama", True)
    rewrite_config(folder, lambda c: c.update({field: value}))
    with pytest.raises(ValueError, match=f"rope scaling '{name}' is not supported"):
        load_model(str(folder))


def test_plain_rope_in_either_config_style():
    base = dict(model_type="llama", vocab_size=10, hidden_size=8, num_attention_heads=2,
                num_hidden_layers=1, intermediate_size=16)
    assert config_for({**base, "rope_theta": 500000.0, "rope_scaling": None}).rope_theta == 500000.0
    assert config_for({**base, "rope_parameters": {"rope_type": "default", "rope_theta": 7.0}}).rope_theta == 7.0


def test_too_large_model_is_refused_before_reading_weights(checkpoints, tmp_path, monkeypatch):
    folder = copy_of(checkpoints, tmp_path)
    (folder / "model.safetensors").unlink()       # never reached: the size is judged from config.json
    monkeypatch.setenv("ATTENTION_EXPLORER_MAX_MODEL_BYTES", "100000")
    with pytest.raises(ValueError, match=r"too large.*parameters are 0\.00 GB in float32.*64 tokens") as info:
        load_model(str(folder))
    assert "ATTENTION_EXPLORER_MAX_MODEL_BYTES" in str(info.value)


def test_token_limit_and_sliding_window_cap_the_trace(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_EXPLORER_MAX_TOKENS", "16")
    _, folder, _ = checkpoints("qwen2", False)
    trace = load_model(str(folder)).trace(SENTENCES["long"])
    assert trace.truncated and len(trace) == 16
    monkeypatch.delenv("ATTENTION_EXPLORER_MAX_TOKENS")
    folder = copy_of(checkpoints, tmp_path, "mistral", True)
    rewrite_config(folder, lambda c: c.update(sliding_window=24))
    assert load_model(str(folder)).tokenizer.max_tokens == 24


def test_trace_size_estimate_is_close(checkpoints):
    """What a trace stores, plus one recomputed layer (core/budget.py), against the arrays themselves."""
    for family, variant in ALL_CASES:
        _, _, loaded = checkpoints(family, **variant)
        trace = loaded.trace(SENTENCES["long"])
        arrays = [trace.token_embed, trace.pos_embed, trace.type_embed, trace.resid, trace.resid_mid, trace.final,
                  trace.top_ids, trace.top_logprobs, trace.log_sum_exp, *vars(trace.summary).values()]
        layer = trace.layers[1]
        arrays += [getattr(layer, f) for f in layer.__dataclass_fields__
                   if f not in ("cross", "resid_pre", "resid_mid", "resid_post")]
        actual = sum(a.nbytes for a in arrays if a is not None)
        estimate = estimate_trace_bytes(loaded.config, len(trace))
        assert 0.8 < estimate / actual < 1.25, case_id(family, variant)


# -- logit lens ---------------------------------------------------------------------------

LENS_CASES = [("gpt2", dict(tied=True)), ("llama", dict(tied=False)), ("qwen2", dict(tied=False)),
              ("gpt_neox", dict(tied=False, parallel=True, rotary_pct=0.25))]


@pytest.mark.parametrize("case", LENS_CASES, ids=ids(LENS_CASES))
def test_logit_lens_last_layer_is_the_models_logits(checkpoints, case):
    _, _, loaded = checkpoints(case[0], **case[1])
    trace = loaded.trace(SENTENCES["emoji_cjk"])
    lens = logit_lens(loaded.net, trace, k=5, chunk=7)   # chunks that do not divide T
    assert lens.ids.shape == lens.probs.shape == (LAYERS + 1, len(trace), 5)
    probs = torch.softmax(torch.from_numpy(np.array(trace.logits)), dim=-1)
    top = probs.topk(5, dim=-1)
    np.testing.assert_array_equal(lens.ids[-1], top.indices.numpy())
    np.testing.assert_allclose(lens.probs[-1], top.values.numpy(), atol=1e-6)
    assert (np.diff(lens.probs, axis=-1) <= 0).all()      # most likely first


def test_logit_lens_rows_are_probabilities(checkpoints):
    _, _, loaded = checkpoints("llama", True)
    trace = loaded.trace(SENTENCES["plain"])
    lens = logit_lens(loaded.net, trace, k=VOCAB)
    np.testing.assert_allclose(lens.probs.sum(-1), 1.0, atol=1e-4)
    assert (lens.probs >= 0).all()
    assert all(sorted(row) == list(range(VOCAB)) for row in lens.ids[:, 3])


def test_logit_lens_refuses_an_encoder(checkpoints):
    _, _, loaded = checkpoints("roberta", True)
    with pytest.raises(ValueError, match="language model"):
        logit_lens(loaded.net, loaded.trace("the cat"))


# -- real configs (fields as in their config.json; no weights needed) --------------------

REAL = {
    "gpt2": (dict(model_type="gpt2", n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257),
             124_439_808),
    "Qwen2-0.5B": (dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                        num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                        max_position_embeddings=32768, rope_theta=1000000.0, tie_word_embeddings=True,
                        use_sliding_window=False, sliding_window=32768), 494_032_768),
    # Pythia's own config.json (transformers 4.24 field names: rotary_pct, rotary_emb_base).
    "pythia-70m": (dict(model_type="gpt_neox", vocab_size=50304, hidden_size=512, intermediate_size=2048,
                        num_hidden_layers=6, num_attention_heads=8, max_position_embeddings=2048,
                        rotary_pct=0.25, rotary_emb_base=10000, use_parallel_residual=True,
                        hidden_act="gelu", layer_norm_eps=1e-5, tie_word_embeddings=False), 70_426_624),
    # The new families' own config.json fields; the counts are those transformers' models report.
    "Phi-3-mini-4k": (dict(model_type="phi3", vocab_size=32064, hidden_size=3072, intermediate_size=8192,
                           num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                           max_position_embeddings=4096, rope_theta=10000.0, sliding_window=2047,
                           tie_word_embeddings=False, pad_token_id=32000), 3_821_079_552),
    "gemma-2b": (dict(model_type="gemma", vocab_size=256000, hidden_size=2048, intermediate_size=16384,
                      num_hidden_layers=18, num_attention_heads=8, num_key_value_heads=1, head_dim=256,
                      max_position_embeddings=8192, rope_theta=10000.0, hidden_act="gelu_pytorch_tanh"),
                 2_506_172_416),
    "Qwen3-8B": (dict(model_type="qwen3", vocab_size=151936, hidden_size=4096, intermediate_size=12288,
                      num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                      max_position_embeddings=40960, rope_theta=1000000.0, tie_word_embeddings=False),
                 8_190_735_360),
    "Qwen3-0.6B": (dict(model_type="qwen3", vocab_size=151936, hidden_size=1024, intermediate_size=3072,
                        num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                        max_position_embeddings=40960, rope_theta=1000000.0, tie_word_embeddings=True),
                   596_049_920),                                    # heads of 128, wider than 1024 / 16
    "gemma-7b": (dict(model_type="gemma", vocab_size=256000, hidden_size=3072, intermediate_size=24576,
                      num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=16, head_dim=256,
                      max_position_embeddings=8192, rope_theta=10000.0, hidden_act="gelu_pytorch_tanh"),
                 8_537_680_896),                                    # heads of 256, wider than 3072 / 16
    "OLMo-2-0425-1B": (dict(model_type="olmo2", vocab_size=100352, hidden_size=2048, intermediate_size=8192,
                            num_hidden_layers=16, num_attention_heads=16, num_key_value_heads=16,
                            max_position_embeddings=4096, rope_theta=500000.0, tie_word_embeddings=False),
                       1_484_916_736),
    "Mistral-7B-v0.1": (dict(model_type="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                             num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                             max_position_embeddings=32768, rope_theta=10000.0, sliding_window=4096),
                        7_241_732_096),
}


@pytest.mark.parametrize("name", list(REAL))
def test_real_configs_count_their_published_parameters(name):
    hf, published = REAL[name]
    assert count_parameters(config_for(hf)) == published


def test_a_7b_model_is_refused_with_its_size(tmp_path):
    from models.families import check_size, max_tokens

    hf, _ = REAL["Mistral-7B-v0.1"]
    config = config_for(hf)
    assert max_tokens(config, hf) == 4096         # 32k positions, cut at the token limit and its window
    with pytest.raises(ValueError, match=r"7,242M parameters are 28\.97 GB in float32.*512 tokens about 0\.85 GB"):
        check_size(config, 512, "Mistral-7B-v0.1")


def test_a_larger_model_reads_shorter_texts_instead_of_being_refused():
    from models.families import fitting_tokens, max_tokens

    hf, _ = REAL["Qwen2-0.5B"]          # 2.0 GB of float32 weights; one 4,096-token trace about 3 GB more
    config = config_for(hf)
    assert max_tokens(config, hf) == 4096 and fitting_tokens(config, 4096) == 2048
    assert fitting_tokens(config_for(REAL["gpt2"][0]), 1024) == 1024


def test_logit_lens_at_chosen_positions(checkpoints):
    _, _, loaded = checkpoints("gpt2", True)
    trace = loaded.trace(SENTENCES["plain"])
    whole = logit_lens(loaded.net, trace, k=3)
    some = logit_lens(loaded.net, trace, k=3, positions=[5, 2])
    np.testing.assert_array_equal(some.ids, whole.ids[:, [5, 2]])
    np.testing.assert_allclose(some.probs, whole.probs[:, [5, 2]], atol=1e-6)


# -- GPT-NeoX (Pythia): parallel attention and feed-forward, partial rotary, fused QKV ---------------

PYTHIA = dict(tied=False, parallel=True, rotary_pct=0.25)


def test_parallel_block_reads_one_input_for_both_branches(checkpoints):
    _, _, loaded = checkpoints("gpt_neox", **PYTHIA)
    assert loaded.config.norm == "parallel" and loaded.config.rotary_dims == 4     # a quarter of d_head 16
    trace = loaded.trace(SENTENCES["plain"])
    block, layer = loaded.net.blocks[1], trace.layers[1]
    x = torch.from_numpy(np.array(layer.resid_pre))
    with torch.no_grad():
        np.testing.assert_allclose(layer.attn_in, block.attn_norm(x).numpy(), atol=1e-6)
        np.testing.assert_allclose(layer.mlp_in, block.mlp_norm(x).numpy(), atol=1e-6)   # not resid_mid
    np.testing.assert_allclose(layer.resid_mid, layer.resid_pre + layer.attn_out, atol=1e-6)
    np.testing.assert_allclose(layer.resid_post, layer.resid_pre + layer.attn_out + layer.mlp_out, atol=1e-5)


def test_partial_rotary_turns_only_the_first_dimensions(checkpoints):
    _, _, loaded = checkpoints("gpt_neox", **PYTHIA)
    layer = loaded.trace(SENTENCES["plain"]).layers[0]
    turned = loaded.config.rotary_dims
    np.testing.assert_array_equal(layer.q[..., turned:], layer.q_raw[..., turned:])     # content dims pass
    np.testing.assert_array_equal(layer.k[..., turned:], layer.k_raw[..., turned:])
    assert np.abs(layer.q[:, 1:, :turned] - layer.q_raw[:, 1:, :turned]).max() > 1e-3  # turned by position
    half = turned // 2
    for q in (layer.q, layer.q_raw):            # each pair (i, i + turned/2) keeps its length
        pairs = np.hypot(q[..., :half], q[..., half:turned])
        np.testing.assert_allclose(pairs, np.hypot(layer.q_raw[..., :half], layer.q_raw[..., half:turned]),
                                   rtol=1e-5)


def test_fused_qkv_is_cut_head_by_head(checkpoints):
    """query_key_value's rows are [q | k | v] per head: head h's query is W_Q's rows h·d_head…"""
    model, _, loaded = checkpoints("gpt_neox", **PYTHIA)
    fused = model.gpt_neox.layers[2].attention.query_key_value.weight.detach()       # (3·d, d)
    ours = loaded.net.blocks[2].attention
    d_head = loaded.config.d_head
    for h in range(4):
        rows = fused[3 * d_head * h: 3 * d_head * (h + 1)]                            # (3·d_head, d)
        for k, part in enumerate((ours.query, ours.key, ours.value)):
            torch.testing.assert_close(part.weight[h * d_head:(h + 1) * d_head], rows[k * d_head:(k + 1) * d_head])


def test_pythia_checkpoint_with_its_old_buffers_loads(checkpoints, tmp_path):
    """Pythia's own files keep the causal mask and RoPE's frequencies as tensors; they are ignored."""
    model, folder, _ = checkpoints("gpt_neox", **PYTHIA)
    folder = shutil.copytree(folder, tmp_path / "pythia")

    def add_buffers(tensors):
        for i in range(LAYERS):
            tensors[f"gpt_neox.layers.{i}.attention.bias"] = torch.ones(1, 1, 8, 8, dtype=torch.bool)
            tensors[f"gpt_neox.layers.{i}.attention.masked_bias"] = torch.tensor(-1e9)
            tensors[f"gpt_neox.layers.{i}.attention.rotary_emb.inv_freq"] = torch.ones(2)
    rewrite_weights(folder, add_buffers)
    assert_matches(model, load_model(str(folder)).trace(SENTENCES["emoji_cjk"]))
    rewrite_weights(folder, lambda t: t.update({"gpt_neox.layers.0.attention.query_key_value.weight":
                                                torch.zeros(3 * 64 - 3, 64)}))
    with pytest.raises(ValueError, match=r"'gpt_neox\.layers\.0\.attention\.query_key_value\.weight' has shape"):
        load_model(str(folder))


@pytest.mark.parametrize("change,message", [
    (dict(rope_scaling={"type": "dynamic", "factor": 2.0}), "rope scaling 'dynamic' is not supported"),
    (dict(attention_bias=False), "attention_bias=false is not supported"),
    (dict(rotary_pct=0.1), "turns 1 of 16 dimensions"),
    (dict(hidden_act="gelu_fast"), "hidden_act 'gelu_fast' is not supported"),
])
def test_gpt_neox_refuses_what_core_lacks_by_name(change, message):
    base = dict(model_type="gpt_neox", vocab_size=10, hidden_size=64, num_attention_heads=4,
                num_hidden_layers=1, intermediate_size=16, rotary_pct=0.25)
    assert config_for(base).rotary_dims == 4
    with pytest.raises(ValueError, match=message):
        config_for({**base, **change})


# -- Phi-3: fused qkv_proj and gate_up_proj, long-rope refused -------------------------------------

PHI3 = CASES["phi3"][0]


def test_phi3_fused_matrices_are_cut_in_blocks(checkpoints):
    """qkv_proj's rows are [all queries | all keys | all values] (not per head, unlike GPT-NeoX), and
    gate_up_proj's are [gate | up]: the gate is the half that goes through SiLU."""
    model, _, loaded = checkpoints("phi3", **PHI3)
    layer = model.model.layers[1]
    qkv, gate_up = layer.self_attn.qkv_proj.weight.detach(), layer.mlp.gate_up_proj.weight.detach()
    ours = loaded.net.blocks[1]
    d, d_kv, d_ff = loaded.config.d_model, KV_HEADS * loaded.config.d_head, loaded.config.d_ff
    torch.testing.assert_close(ours.attention.query.weight, qkv[:d])
    torch.testing.assert_close(ours.attention.key.weight, qkv[d:d + d_kv])
    torch.testing.assert_close(ours.attention.value.weight, qkv[d + d_kv:])
    torch.testing.assert_close(ours.mlp.gate.weight, gate_up[:d_ff])
    torch.testing.assert_close(ours.mlp.up.weight, gate_up[d_ff:])


PHI3_BASE = dict(model_type="phi3", vocab_size=10, hidden_size=64, num_attention_heads=4, num_key_value_heads=4,
                 num_hidden_layers=1, intermediate_size=16, rope_theta=10000.0, sliding_window=2047)


@pytest.mark.parametrize("change,message", [
    (dict(rope_scaling={"type": "su", "short_factor": [1.0] * 8, "long_factor": [2.0] * 8}),
     "long-context rope scaling 'su'"),
    (dict(rope_scaling={"type": "longrope", "short_factor": [1.0] * 8, "long_factor": [2.0] * 8}),
     "long-context rope scaling 'longrope'"),
    (dict(rope_parameters={"rope_type": "longrope", "rope_theta": 1e4}), "long-context rope scaling 'longrope'"),
    (dict(rope_scaling={"type": "dynamic", "factor": 2.0}), "rope scaling 'dynamic' is not supported"),
    (dict(partial_rotary_factor=0.1), "turns 1 of 16 dimensions"),
    (dict(head_dim=32), "head_dim=32"),
    (dict(hidden_act="gelu"), "hidden_act 'gelu' is not supported"),
])
def test_phi3_refuses_what_core_lacks_by_name(change, message):
    config = config_for(PHI3_BASE)
    assert config.mlp == "gated" and config.rotary_dims is None and not config.bias
    with pytest.raises(ValueError, match=message):
        config_for({**PHI3_BASE, **change})


def test_phi3_sliding_window_caps_the_trace():
    from models.families import max_tokens, token_limit
    hf = dict(PHI3_BASE, max_position_embeddings=4096)
    assert max_tokens(config_for(hf), hf) == min(2047, token_limit())    # the window, or the server's limit
    hf = dict(hf, sliding_window=20)
    assert max_tokens(config_for(hf), hf) == 20


# -- Qwen3 and OLMo 2: the q/k norm (per head; over the whole projection) and OLMo 2's layout -------

def test_qwen3_normalises_each_heads_query_before_rope(checkpoints):
    model, _, loaded = checkpoints("qwen3", True)
    assert loaded.config.qk_norm == "head" and loaded.config.norm == "pre"
    layer = loaded.trace(SENTENCES["plain"]).layers[0]
    theirs = model.model.layers[0].self_attn
    with torch.no_grad():
        q = theirs.q_proj(torch.from_numpy(np.array(layer.attn_in)))                  # (T, H·d_head)
        expected = theirs.q_norm(q.view(len(q), 4, -1)).transpose(0, 1)               # (H, T, d_head): per head
    np.testing.assert_allclose(layer.q_raw, expected.numpy(), atol=1e-5)


def test_olmo2_normalises_the_whole_query_projection_and_the_sublayer_outputs(checkpoints):
    model, _, loaded = checkpoints("olmo2", False)
    assert loaded.config.qk_norm == "full" and loaded.config.norm == "post_sublayer"
    layer = loaded.trace(SENTENCES["plain"]).layers[0]
    np.testing.assert_array_equal(layer.attn_in, layer.resid_pre)                    # no norm before attention
    theirs = model.model.layers[0]
    with torch.no_grad():
        q = theirs.self_attn.q_norm(theirs.self_attn.q_proj(torch.from_numpy(np.array(layer.resid_pre))))
        added = theirs.post_attention_layernorm(torch.from_numpy(np.array(layer.attn_out)))
    np.testing.assert_allclose(layer.q_raw, q.view(len(q), 4, -1).transpose(0, 1).numpy(), atol=1e-5)  # all heads
    np.testing.assert_allclose(layer.resid_mid, layer.resid_pre + added.numpy(), atol=1e-5)


@pytest.mark.parametrize("family,change,message", [
    ("qwen3", dict(attention_bias=True), "attention_bias=true is not supported"),
    ("qwen3", dict(rope_scaling={"rope_type": "yarn", "factor": 4.0}), "rope scaling 'yarn'"),
    ("olmo2", dict(attention_bias=True), "attention_bias=true is not supported"),
    ("olmo2", dict(hidden_act="gelu"), "hidden_act 'gelu' is not supported"),
])
def test_qk_norm_families_refuse_what_core_lacks_by_name(family, change, message):
    base = dict(model_type=family, vocab_size=10, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                num_hidden_layers=1, intermediate_size=16, head_dim=16)
    assert config_for(base).kv_heads == 2
    with pytest.raises(ValueError, match=message):
        config_for({**base, **change})


def test_qwen3_sliding_window_caps_the_trace_only_when_used():
    from models.families import max_tokens, token_limit
    hf = dict(model_type="qwen3", vocab_size=10, hidden_size=64, num_attention_heads=4, num_hidden_layers=1,
              intermediate_size=16, head_dim=16, max_position_embeddings=4096, sliding_window=40)
    assert max_tokens(config_for(hf), hf) == min(4096, token_limit())         # the window is off
    assert max_tokens(config_for(dict(hf, use_sliding_window=True)), dict(hf, use_sliding_window=True)) == 40



# -- Gemma: RMSNorm with (1 + w), token rows × √d_model, GeGLU -------------------------------------

def test_gemma_norms_add_one_and_embeddings_are_scaled(checkpoints):
    from analysis.recompute import embedding_steps

    model, _, loaded = checkpoints("gemma", True)
    assert loaded.config.embed_scale == pytest.approx(8.0) and loaded.config.activation == "gelu_tanh"
    stored = model.model.layers[1].input_layernorm.weight.detach()
    torch.testing.assert_close(loaded.net.blocks[1].attn_norm.weight.detach(), stored + 1.0)
    torch.testing.assert_close(loaded.net.final_norm.weight.detach(), model.model.norm.weight.detach() + 1.0)
    trace = loaded.trace(SENTENCES["plain"])
    with torch.no_grad():
        theirs = model.model.embed_tokens(torch.tensor([trace.ids]))[0].numpy()   # scaled inside transformers
    np.testing.assert_allclose(trace.embed, theirs, atol=1e-5)
    assert embedding_steps(loaded.net, trace).agreement(trace) < 1e-5


@pytest.mark.parametrize("change,message", [
    (dict(hidden_act="silu"), "hidden_act 'silu' is not supported"),
    (dict(attention_bias=True), "attention_bias=true is not supported"),
    (dict(use_bidirectional_attention=True), "use_bidirectional_attention=true is not supported"),
    (dict(rope_scaling={"rope_type": "yarn", "factor": 2.0}), "rope scaling 'yarn'"),
])
def test_gemma_refuses_what_core_lacks_by_name(change, message):
    base = dict(model_type="gemma", vocab_size=10, hidden_size=64, num_attention_heads=4, num_key_value_heads=1,
                num_hidden_layers=1, intermediate_size=16, head_dim=16)
    assert config_for(base).tie_embeddings and config_for(base).kv_heads == 1
    with pytest.raises(ValueError, match=message):
        config_for({**base, **change})
