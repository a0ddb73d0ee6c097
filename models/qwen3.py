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
from .checkpoint import NameMap
from .family import Family
from .llama_style import ATTENTION_AND_MLP, QK_NORMS, layers_map, refuse_output_bias, wide_heads


def config_from_hf(hf: dict) -> TransformerConfig:
    refuse_output_bias(hf, "qwen3")
    # Llama's reading of the same fields (RoPE refused unless plain, SiLU, grouped-query attention).
    base = llama.config_from_hf({**hf, "model_type": "llama", "head_dim": None, "attention_bias": False,
                                 "mlp_bias": False})
    # The smaller Qwen3 models' heads are wider than d / H (0.6B: 128 for 1024 / 16): core's head_dim,
    # with transformers' Qwen3Config default of 128.
    return replace(base, qk_norm="head", head_dim=wide_heads(hf, default=128))


def sliding_window(config: TransformerConfig, hf: dict) -> Optional[int]:
    """With use_sliding_window, some layers look back only sliding_window tokens; a trace no longer than
    the window is exact causal attention in every layer."""
    return hf.get("sliding_window") if hf.get("use_sliding_window", False) else None


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """Llama's map, and each layer's q/k norm (a γ of d_head values, no β)."""
    return layers_map(config, theirs, where, {**ATTENTION_AND_MLP, **QK_NORMS})


FAMILY = Family("qwen3", {"qwen3": "Qwen3"}, config_from_hf, hf_name_map, token_limit=sliding_window)
