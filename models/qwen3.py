"""Qwen3 checkpoints (model_type "qwen3": the dense Qwen3 models) -> our core.

Qwen2's mathematics (a pre-norm RMSNorm decoder, RoPE, grouped-query attention, SwiGLU) without
its q/k/v biases, and one new piece: a q/k norm. Right after W_Q and W_K, each head's query and key
vector is RMS-normalised over its d_head dimensions with a learned γ (`self_attn.q_norm`,
`self_attn.k_norm`, one γ of d_head values shared by all heads), and only then turned by RoPE
(core's qk_norm="head"). The weight layout is Llama's plus those two norms.
The smaller Qwen3 models' heads are wider than hidden_size / num_attention_heads (Qwen3-0.6B: 16 heads
of 128 for 1024): core's head_dim.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from core import TransformerConfig

from . import llama
from .checkpoint import NameMap, linears
from .family import Family


def config_from_hf(hf: dict) -> TransformerConfig:
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    head_dim = hf.get("head_dim", 128)          # transformers' Qwen3Config default, not d / H
    if hf.get("attention_bias", False):
        raise ValueError("qwen3 with attention_bias=true is not supported: it puts biases on W_O but not on "
                         "the feed-forward, and our blocks share one bias switch for both")
    # Llama's reading of the same fields (RoPE refused unless plain, SiLU, grouped-query attention).
    base = llama.config_from_hf({**hf, "model_type": "llama", "head_dim": None, "attention_bias": False,
                                 "mlp_bias": False})
    # The smaller Qwen3 models' heads are wider than d / H (0.6B: 128 for 1024 / 16): core's head_dim.
    return replace(base, qk_norm="head", head_dim=None if n_heads and head_dim * n_heads == d else head_dim)


def sliding_window(config: TransformerConfig, hf: dict) -> Optional[int]:
    """With use_sliding_window, some layers look back only sliding_window tokens; a trace no longer than
    the window is exact causal attention in every layer."""
    return hf.get("sliding_window") if hf.get("use_sliding_window", False) else None


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """Llama's map, and each layer's q/k norm (a γ of d_head values, no β)."""
    m, ignored = llama.hf_name_map(config, theirs, where)
    p = m["embeddings.token.weight"][0].removesuffix("embed_tokens.weight")
    norms = {"self_attn.q_norm": "attention.q_norm", "self_attn.k_norm": "attention.k_norm"}
    for i in range(config.n_layers):
        m.update(linears(f"{p}layers.{i}.", f"blocks.{i}.", norms, bias=False))
    return m, ignored


FAMILY = Family("qwen3", {"qwen3": "Qwen3"}, config_from_hf, hf_name_map, token_limit=sliding_window)
