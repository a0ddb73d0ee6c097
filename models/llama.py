"""Llama, Mistral and Qwen2 checkpoints -> our core. The three share one weight layout.

They are pre-norm decoders with RMSNorm, rotary positions (RoPE), grouped-query
attention (num_key_value_heads key/value heads shared by num_attention_heads query
heads) and a gated SiLU feed-forward (SwiGLU: gate_proj, up_proj, down_proj). No
biases, except Qwen2's on W_Q, W_K, W_V (and Llama's optional attention_bias). The
unembedding is `lm_head`, or the token table when tie_word_embeddings is true.
RoPE plain or with "linear" or "llama3" frequency scaling (Llama 3.1/3.2); other scaling
schemes (dynamic, yarn, longrope, ...) are refused by name.
"""
from __future__ import annotations

from typing import Optional

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears, unembedding
from .family import Family

ACTIVATIONS = {"silu": "silu", "swish": "silu"}
PLAIN_ROPE = (None, "default")
SCALED_ROPE = ("linear", "llama3")


def rope_scaling(hf: dict) -> dict:
    """Our config's rope_scaling fields, refusing a scheme we do not compute by name."""
    found = {}
    for source in (hf.get("rope_parameters") or {}, hf.get("rope_scaling") or {}):
        kind = source.get("rope_type", source.get("type"))
        if kind not in PLAIN_ROPE + SCALED_ROPE:
            raise ValueError(f"rope scaling {kind!r} is not supported: only plain rotary positions "
                             f"(rope_type 'default' or none) and the scalings {', '.join(SCALED_ROPE)} are")
        if kind in SCALED_ROPE:
            found = dict(rope_scaling=kind, rope_factor=float(source["factor"]))
            if kind == "llama3":
                found.update(rope_low_freq_factor=float(source["low_freq_factor"]),
                             rope_high_freq_factor=float(source["high_freq_factor"]),
                             rope_original_positions=int(source["original_max_position_embeddings"]))
    return found


def rope_theta(hf: dict) -> float:
    """The RoPE base. transformers 5 writes rope_parameters = {"rope_type": ..., "rope_theta": ...};
    older checkpoints write rope_theta and rope_scaling = {"type" or "rope_type": ...} or null."""
    params = hf.get("rope_parameters") or {}
    partial = params.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0))
    if partial != 1.0:
        raise ValueError(f"partial_rotary_factor={partial} is not supported: RoPE must turn every dimension")
    return float(params.get("rope_theta", hf.get("rope_theta", 10000.0)))


def sliding_window(config: TransformerConfig, hf: dict) -> Optional[int]:
    """Tokens each query may look back, if the model limits it (Mistral; Qwen2 when enabled).
    Within the window every token sees the whole past, so a trace cut at it is exact causal attention."""
    if hf.get("model_type") == "qwen2" and not hf.get("use_sliding_window", False):
        return None
    return hf.get("sliding_window")


def config_from_hf(hf: dict) -> TransformerConfig:
    family = hf.get("model_type")
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    head_dim = hf.get("head_dim")
    if head_dim not in (None, d // n_heads):
        raise ValueError(f"head_dim={head_dim} different from hidden_size / num_attention_heads = "
                         f"{d // n_heads} is not supported")
    act = hf.get("hidden_act", "silu")
    if act not in ACTIVATIONS:
        raise ValueError(f"{family} hidden_act {act!r} is not supported (supported: {sorted(ACTIVATIONS)})")
    if hf.get("pretraining_tp", 1) not in (1, None):
        raise ValueError(f"pretraining_tp={hf['pretraining_tp']} is not supported")
    kv_heads = hf.get("num_key_value_heads") or n_heads
    attention_bias = bool(hf.get("attention_bias", False))
    if family == "qwen2":          # Qwen2: biases on W_Q, W_K, W_V only
        qkv_bias, other_bias = True, False
    else:                          # Llama's attention_bias covers W_Q, W_K, W_V and W_O
        qkv_bias = other_bias = attention_bias
        if bool(hf.get("mlp_bias", False)) != attention_bias:
            raise ValueError("attention_bias and mlp_bias must be both true or both false "
                             f"(got {attention_bias} and {hf.get('mlp_bias')}): our blocks share one bias switch")
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=d, n_heads=n_heads, n_layers=hf["num_hidden_layers"],
        d_ff=hf["intermediate_size"], max_positions=hf.get("max_position_embeddings", 2048),
        positional="rotary", norm="pre", activation=ACTIVATIONS[act], eps=hf.get("rms_norm_eps", 1e-6),
        type_vocab_size=0, embed_norm=False, causal=True, lm_head=True,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)), pad_id=hf.get("pad_token_id") or 0,
        norm_kind="rmsnorm", n_kv_heads=kv_heads if kv_heads != n_heads else None, rope_theta=rope_theta(hf),
        mlp="gated", bias=other_bias, qkv_bias=qkv_bias, **rope_scaling(hf),
    )


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("model.",), "embed_tokens.weight")
    m: NameMap = {
        "embeddings.token.weight": (f"{p}embed_tokens.weight", None),
        "final_norm.weight": (f"{p}norm.weight", None),
    }
    parts = {
        "self_attn.q_proj": "attention.query", "self_attn.k_proj": "attention.key",
        "self_attn.v_proj": "attention.value", "self_attn.o_proj": "attention.output",
        "mlp.gate_proj": "mlp.gate", "mlp.up_proj": "mlp.up", "mlp.down_proj": "mlp.down",
    }
    biased = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"} if config.qkv_bias else set()
    if config.bias:
        biased |= {"self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
    norms = {"input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm"}   # RMSNorm: no bias
    for i in range(config.n_layers):
        layer, ours = f"{p}layers.{i}.", f"blocks.{i}."
        m.update(linears(layer, ours, parts, bias=biased))
        m.update(linears(layer, ours, norms, bias=False))
    # Old checkpoints store RoPE's frequencies as a buffer; we compute them from rope_theta.
    ignored = [rf"{p}layers\.\d+\.self_attn\.rotary_emb\.inv_freq"]
    ignored += unembedding(m, config, theirs, "lm_head.weight", f"{p}embed_tokens.weight", where)
    return m, ignored


FAMILY = Family("llama", {"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2"}, config_from_hf, hf_name_map,
                token_limit=sliding_window)
