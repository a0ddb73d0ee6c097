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

from .checkpoint import NameMap
from .family import Family
from .llama_style import activation, decoder_config, layers_map, read_rope, require_plain_heads, rotary_dims

ACTIVATIONS = {"silu": "silu", "swish": "silu"}
# The long-context models (-128k) scale with per-pair factors, which core does not compute.
LONG_ROPE = {kind: "Phi-3's long-context" for kind in ("su", "longrope", "yarn")}


def config_from_hf(hf: dict) -> TransformerConfig:
    require_plain_heads(hf)
    act = activation(hf, ACTIVATIONS, "phi3", "silu")
    rope = read_rope(hf, scalings=(), refused=LONG_ROPE)
    return decoder_config(hf, act=act, rope=rope, eps=1e-5, positions=4096,
                          rotary_dims=rotary_dims(hf, rope.share))


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
    d_q, d_kv, d_ff = config.d_model, config.kv_heads * config.d_head, config.d_ff
    fused_qkv = {"query": _rows(0, d_q), "key": _rows(d_q, d_q + d_kv), "value": _rows(d_q + d_kv, d_q + 2 * d_kv)}
    fused_mlp = {"gate": _rows(0, d_ff), "up": _rows(d_ff, 2 * d_ff)}

    def fused(layer: str, ours: str) -> NameMap:
        m = {f"{ours}attention.{part}.weight": (f"{layer}self_attn.qkv_proj.weight", cut)
             for part, cut in fused_qkv.items()}
        m.update({f"{ours}mlp.{part}.weight": (f"{layer}mlp.gate_up_proj.weight", cut)
                  for part, cut in fused_mlp.items()})
        return m

    parts = {"self_attn.o_proj": "attention.output", "mlp.down_proj": "mlp.down"}
    return layers_map(config, theirs, where, parts, extra=fused)


FAMILY = Family("phi3", {"phi3": "Phi-3"}, config_from_hf, hf_name_map, token_limit=sliding_window)
