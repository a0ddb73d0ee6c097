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

from .checkpoint import NameMap
from .family import Family
from .llama_style import activation, decoder_config, layers_map, read_rope, refuse_output_bias, wide_heads

# transformers 5 reads hidden_act ("gelu_pytorch_tanh" by default); "gelu" is the exact GELU there.
ACTIVATIONS = {"gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu": "gelu"}


def config_from_hf(hf: dict) -> TransformerConfig:
    act = activation(hf, ACTIVATIONS, "gemma", "gelu_pytorch_tanh")
    refuse_output_bias(hf, "gemma")
    if hf.get("use_bidirectional_attention"):
        raise ValueError("gemma with use_bidirectional_attention=true is not supported: only causal decoders")
    rope = read_rope(hf)
    if rope.share != 1.0:
        raise ValueError(f"partial_rotary_factor={rope.share} is not supported: RoPE must turn every dimension")
    # GemmaConfig's head_dim defaults to 256, not d / H (gemma-7b: 256 for 3072 / 16).
    return decoder_config(hf, act=act, rope=rope, eps=1e-6, positions=8192, tied=True,
                          embed_scale=math.sqrt(hf["hidden_size"]), head_dim=wide_heads(hf, default=256))


def plus_one(weight: torch.Tensor) -> torch.Tensor:
    """Gemma's RMSNorm multiplies by (1 + w): our RMSNorm's γ is that sum, in float32."""
    return weight.to(torch.float32) + 1.0            # (d_model,)


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """Llama's names; every RMSNorm's weight (the final one too) read as 1 + w."""
    return layers_map(config, theirs, where, norm_change=plus_one)


FAMILY = Family("gemma", {"gemma": "Gemma"}, config_from_hf, hf_name_map)
