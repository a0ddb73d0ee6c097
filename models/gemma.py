"""Gemma checkpoints (model_type "gemma": Gemma 1, gemma-2b, CodeGemma) -> our core.

Llama's arrangement (a pre-norm RMSNorm decoder, RoPE, a gated feed-forward, no biases) with three
differences:
- the RMSNorms scale by (1 + w), not w: the checkpoint stores w around 0. We add the 1 once, when
  the weights are read (a conversion in the weight map, in float32 as Gemma computes it), so the
  core's RMSNorm is unchanged;
- the token rows are multiplied by √d_model before layer 0 (core's embed_scale): the table is shared
  with the unembedding (tied), so its rows are small, and the scale brings them to the residual's size;
- the gate's activation is GELU (tanh approximation): GeGLU, core's mlp="gated" with gelu_tanh.
gemma-7b's heads are wider than hidden_size / num_attention_heads (16 of 256 for 3072): core's head_dim.
"""
from __future__ import annotations

import math

import torch

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears, unembedding
from .family import STEP_PAGES, Family
from .llama import rope_scaling, rope_theta

# transformers 5 reads hidden_act ("gelu_pytorch_tanh" by default); "gelu" is the exact GELU there.
ACTIVATIONS = {"gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu": "gelu"}


def config_from_hf(hf: dict) -> TransformerConfig:
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    head_dim = hf.get("head_dim", 256)            # GemmaConfig's default, not d / H (gemma-7b: 256 for 3072 / 16)
    act = hf.get("hidden_act", "gelu_pytorch_tanh")
    if act not in ACTIVATIONS:
        raise ValueError(f"gemma hidden_act {act!r} is not supported (supported: {sorted(ACTIVATIONS)})")
    if hf.get("attention_bias", False):
        raise ValueError("gemma with attention_bias=true is not supported: it puts biases on W_O but not on "
                         "the feed-forward, and our blocks share one bias switch for both")
    if hf.get("use_bidirectional_attention"):
        raise ValueError("gemma with use_bidirectional_attention=true is not supported: only causal decoders")
    kv_heads = hf.get("num_key_value_heads") or n_heads
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=d, n_heads=n_heads, n_layers=hf["num_hidden_layers"],
        d_ff=hf["intermediate_size"], max_positions=hf.get("max_position_embeddings", 8192),
        positional="rotary", norm="pre", activation=ACTIVATIONS[act], eps=hf.get("rms_norm_eps", 1e-6),
        type_vocab_size=0, embed_norm=False, causal=True, lm_head=True,
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)), pad_id=hf.get("pad_token_id") or 0,
        norm_kind="rmsnorm", n_kv_heads=kv_heads if kv_heads != n_heads else None,
        rope_theta=rope_theta(hf), **rope_scaling(hf), mlp="gated", bias=False, qkv_bias=False,
        embed_scale=math.sqrt(d),
        head_dim=None if n_heads and head_dim * n_heads == d else head_dim,
    )


def plus_one(weight: torch.Tensor) -> torch.Tensor:
    """Gemma's RMSNorm multiplies by (1 + w): our RMSNorm's γ is that sum, in float32."""
    return weight.to(torch.float32) + 1.0            # (d_model,)


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("model.",), "embed_tokens.weight")
    m: NameMap = {
        "embeddings.token.weight": (f"{p}embed_tokens.weight", None),
        "final_norm.weight": (f"{p}norm.weight", plus_one),
    }
    parts = {
        "self_attn.q_proj": "attention.query", "self_attn.k_proj": "attention.key",
        "self_attn.v_proj": "attention.value", "self_attn.o_proj": "attention.output",
        "mlp.gate_proj": "mlp.gate", "mlp.up_proj": "mlp.up", "mlp.down_proj": "mlp.down",
    }
    norms = {"input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm"}
    for i in range(config.n_layers):
        layer, ours = f"{p}layers.{i}.", f"blocks.{i}."
        m.update(linears(layer, ours, parts, bias=False))
        m.update(linears(layer, ours, norms, bias=False, change=plus_one))
    # Old checkpoints store RoPE's frequencies as a buffer; we compute them from rope_theta.
    ignored = [rf"{p}layers\.\d+\.self_attn\.rotary_emb\.inv_freq"]
    ignored += unembedding(m, config, theirs, "lm_head.weight", f"{p}embed_tokens.weight", where)
    return m, ignored


# The embeddings step page's words do not name the √d_model scale yet: it says it does not apply
# (analysis/recompute.py's embedding_steps does scale, and its numbers are checked).
FAMILY = Family("gemma", {"gemma": "Gemma"}, config_from_hf, hf_name_map,
                step_pages=tuple(page for page in STEP_PAGES if page != "step_embeddings"))
