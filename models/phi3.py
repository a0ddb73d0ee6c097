"""Phi-3 checkpoints (model_type "phi3": Phi-3-mini, Phi-3-medium, Phi-3.5-mini) -> our core.

The same mathematics as Llama (pre-norm RMSNorm decoder, RoPE, grouped-query attention, SwiGLU,
no biases), with two fused matrices in the checkpoint:
- `self_attn.qkv_proj` holds W_Q, W_K and W_V one after the other: its first H·d_head rows are the
  queries, the next H_kv·d_head the keys, the last H_kv·d_head the values (not per head, unlike
  GPT-NeoX). We cut the three out of it;
- `mlp.gate_up_proj` holds W_gate (first d_ff rows) and W_up (last d_ff rows).
Only plain RoPE (with an optional partial_rotary_factor): the long-context variants (-128k) use
"su"/"longrope" scaling with per-pair factors, which our core does not compute: refused by name.
Phi-3's sliding_window (2047 in -mini) caps one trace, as Mistral's does.
"""
from __future__ import annotations

from typing import Optional

import torch

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears, unembedding
from .family import Family

ACTIVATIONS = {"silu": "silu", "swish": "silu"}
PLAIN_ROPE = (None, "default")
LONG_ROPE = ("su", "longrope", "yarn")


def rope(hf: dict) -> tuple[float, float]:
    """(rope_theta, the share of each head's dimensions turned), refusing any scaling scheme by name.
    transformers 5 writes rope_parameters; Phi-3's own config.json writes rope_theta and rope_scaling."""
    params = hf.get("rope_parameters") or {}
    for source in (params, hf.get("rope_scaling") or {}):
        kind = source.get("rope_type", source.get("type"))
        if kind in LONG_ROPE:
            raise ValueError(f"Phi-3's long-context rope scaling {kind!r} (the -128k models) is not supported: "
                             "only plain rotary positions (rope_type 'default' or none) are")
        if kind not in PLAIN_ROPE:
            raise ValueError(f"rope scaling {kind!r} is not supported: only plain rotary positions "
                             f"(rope_type 'default' or none) are")
    theta = params.get("rope_theta", hf.get("rope_theta", 10000.0))
    share = params.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0))
    return float(theta), float(share)


def config_from_hf(hf: dict) -> TransformerConfig:
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    head_dim = hf.get("head_dim")
    if head_dim not in (None, d // n_heads):
        raise ValueError(f"head_dim={head_dim} different from hidden_size / num_attention_heads = "
                         f"{d // n_heads} is not supported")
    act = hf.get("hidden_act", "silu")
    if act not in ACTIVATIONS:
        raise ValueError(f"phi3 hidden_act {act!r} is not supported (supported: {sorted(ACTIVATIONS)})")
    theta, share = rope(hf)
    d_head = d // n_heads if n_heads and d % n_heads == 0 else 0
    rotary_dims = int(d_head * share)       # as transformers rounds it: down
    if d_head and (rotary_dims < 2 or rotary_dims % 2):
        raise ValueError(f"partial_rotary_factor={share} turns {rotary_dims} of {d_head} dimensions per head; "
                         "RoPE turns pairs, so that must be an even number of at least 2")
    kv_heads = hf.get("num_key_value_heads") or n_heads
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=d, n_heads=n_heads, n_layers=hf["num_hidden_layers"],
        d_ff=hf["intermediate_size"], max_positions=hf.get("max_position_embeddings", 4096),
        positional="rotary", norm="pre", activation=ACTIVATIONS[act], eps=hf.get("rms_norm_eps", 1e-5),
        type_vocab_size=0, embed_norm=False, causal=True, lm_head=True,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)), pad_id=hf.get("pad_token_id") or 0,
        norm_kind="rmsnorm", n_kv_heads=kv_heads if kv_heads != n_heads else None, rope_theta=theta,
        rotary_dims=None if rotary_dims == d_head else rotary_dims, mlp="gated", bias=False, qkv_bias=False,
    )


def sliding_window(config: TransformerConfig, hf: dict) -> Optional[int]:
    """Tokens each query may look back (2047 in Phi-3-mini): within it a trace is exact causal attention."""
    return hf.get("sliding_window")


def _rows(start: int, stop: int):
    """A fused weight (rows, d_model) -> its rows start..stop: one of the matrices stacked in it."""
    def cut(tensor: torch.Tensor) -> torch.Tensor:
        return tensor[start:stop]                       # (stop - start, d_model)
    return cut


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("model.",), "embed_tokens.weight")
    m: NameMap = {
        "embeddings.token.weight": (f"{p}embed_tokens.weight", None),
        "final_norm.weight": (f"{p}norm.weight", None),
    }
    d_q, d_kv, d_ff = config.d_model, config.kv_heads * config.d_head, config.d_ff
    fused_qkv = {"query": _rows(0, d_q), "key": _rows(d_q, d_q + d_kv), "value": _rows(d_q + d_kv, d_q + 2 * d_kv)}
    fused_mlp = {"gate": _rows(0, d_ff), "up": _rows(d_ff, 2 * d_ff)}
    parts = {"self_attn.o_proj": "attention.output", "mlp.down_proj": "mlp.down",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm"}
    for i in range(config.n_layers):
        layer, ours = f"{p}layers.{i}.", f"blocks.{i}."
        for part, cut in fused_qkv.items():
            m[f"{ours}attention.{part}.weight"] = (f"{layer}self_attn.qkv_proj.weight", cut)
        for part, cut in fused_mlp.items():
            m[f"{ours}mlp.{part}.weight"] = (f"{layer}mlp.gate_up_proj.weight", cut)
        m.update(linears(layer, ours, parts, bias=False))
    # Old checkpoints store RoPE's frequencies as a buffer; we compute them from rope_theta.
    ignored = [rf"{p}layers\.\d+\.self_attn\.rotary_emb\.inv_freq"]
    ignored += unembedding(m, config, theirs, "lm_head.weight", f"{p}embed_tokens.weight", where)
    return m, ignored


FAMILY = Family("phi3", {"phi3": "Phi-3"}, config_from_hf, hf_name_map, token_limit=sliding_window)
