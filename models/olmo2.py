"""OLMo 2 checkpoints (model_type "olmo2": OLMo-2-1124-7B, -13B, OLMo-2-0425-1B, ...) -> our core.

Llama's pieces (RMSNorm, RoPE, SwiGLU, no biases) in another arrangement:
- the norms sit on each sublayer's *output*, before the residual add, and nothing normalises the
  sublayer's input: mid = x + RMSNorm(Attn(x)), out = mid + RMSNorm(FFN(mid)) (core's
  norm="post_sublayer"). Their names keep Llama's: `post_attention_layernorm` is the norm on
  attention's output (our attn_norm), `post_feedforward_layernorm` the one on the feed-forward's
  (our mlp_norm); there is no `input_layernorm`;
- a q/k norm over the whole projection: x·W_Q (all heads, H·d_head values) and x·W_K are each
  RMS-normalised as one vector before being split into heads and turned by RoPE (core's
  qk_norm="full"; Qwen3 normalises each head on its own instead).
The final norm and the unembedding (`lm_head`, untied) are Llama's.
"""
from __future__ import annotations

from dataclasses import replace

from core import TransformerConfig

from . import llama
from .checkpoint import NameMap
from .family import Family
from .llama_style import ATTENTION_AND_MLP, QK_NORMS, layers_map, refuse_output_bias

# The norms on the sublayers' outputs (RMSNorm: no bias); there is no input_layernorm.
OUTPUT_NORMS = {"post_attention_layernorm": "attn_norm", "post_feedforward_layernorm": "mlp_norm"}


def config_from_hf(hf: dict) -> TransformerConfig:
    refuse_output_bias(hf, "olmo2")
    # Llama's reading of the same fields (RoPE refused unless plain, SiLU, grouped-query attention).
    base = llama.config_from_hf({**hf, "model_type": "llama", "attention_bias": False, "mlp_bias": False,
                                 "rms_norm_eps": hf.get("rms_norm_eps", 1e-5)})
    return replace(base, norm="post_sublayer", qk_norm="full")


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    return layers_map(config, theirs, where, {**ATTENTION_AND_MLP, **QK_NORMS}, norms=OUTPUT_NORMS)


FAMILY = Family("olmo2", {"olmo2": "OLMo 2"}, config_from_hf, hf_name_map)
