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

from .checkpoint import NameMap
from .family import Family
from .llama_style import (ATTENTION_AND_MLP, activation, decoder_config, layers_map, read_rope,
                          require_plain_heads)

ACTIVATIONS = {"silu": "silu", "swish": "silu"}


def sliding_window(config: TransformerConfig, hf: dict) -> Optional[int]:
    """Tokens each query may look back, if the model limits it (Mistral; Qwen2 when enabled).
    Within the window every token sees the whole past, so a trace cut at it is exact causal attention."""
    if hf.get("model_type") == "qwen2" and not hf.get("use_sliding_window", False):
        return None
    return hf.get("sliding_window")


def config_from_hf(hf: dict) -> TransformerConfig:
    family = hf.get("model_type")
    require_plain_heads(hf)
    act = activation(hf, ACTIVATIONS, family, "silu")
    if hf.get("pretraining_tp", 1) not in (1, None):
        raise ValueError(f"pretraining_tp={hf['pretraining_tp']} is not supported")
    rope = read_rope(hf)
    if rope.share != 1.0:
        raise ValueError(f"partial_rotary_factor={rope.share} is not supported: RoPE must turn every dimension")
    attention_bias = bool(hf.get("attention_bias", False))
    if family == "qwen2":          # Qwen2: biases on W_Q, W_K, W_V only
        qkv_bias, other_bias = True, False
    else:                          # Llama's attention_bias covers W_Q, W_K, W_V and W_O
        qkv_bias = other_bias = attention_bias
        if bool(hf.get("mlp_bias", False)) != attention_bias:
            raise ValueError("attention_bias and mlp_bias must be both true or both false "
                             f"(got {attention_bias} and {hf.get('mlp_bias')}): our blocks share one bias switch")
    return decoder_config(hf, act=act, rope=rope, eps=1e-6, positions=2048, bias=other_bias, qkv_bias=qkv_bias)


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    biased = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"} if config.qkv_bias else set()
    if config.bias:
        biased |= {"self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
    return layers_map(config, theirs, where, ATTENTION_AND_MLP, bias=biased)


FAMILY = Family("llama", {"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2"}, config_from_hf, hf_name_map,
                token_limit=sliding_window)
