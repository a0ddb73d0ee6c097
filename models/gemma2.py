"""Gemma 2 and Gemma 3 checkpoints (model_type "gemma2": gemma-2-2b/9b/27b; "gemma3_text": gemma-3-1b
and the text part of the larger Gemma 3) -> our core.

Gemma's pieces ((1 + w) RMSNorms, token rows × √d_model, GeGLU, wide heads; models/gemma.py) and:
- a norm before *and* after each sublayer (core's norm="sandwich"): input_layernorm and
  post_attention_layernorm around attention, pre_ and post_feedforward_layernorm around the MLP;
- scores divided by √query_pre_attn_scalar, not √d_head (core's attn_scale);
- alternating sliding-window and global layers (core's sliding_window, sliding_layers): in a sliding
  layer a query sees only the last `sliding_window` keys. config.json's layer_types, else the rule
  transformers uses: Gemma 2 slides in layers 0, 2, 4, ...; Gemma 3 in all but every
  sliding_window_pattern-th (6: layers 5, 11, ... are global);
- Gemma 2: soft-capping, scores <- 50 · tanh(scores / 50) before the softmax and the logits
  <- 30 · tanh(logits / 30) (core's attn_softcap, final_softcap);
- Gemma 3: a q/k norm per head ((1 + w) too), and its sliding layers turn q and k with their own
  RoPE base (rope_local_base_freq, 10,000, unscaled; core's rope_local_theta) while the global layers
  use rope_theta (1,000,000) and its scaling (linear in gemma-3-4b and larger). transformers' Gemma 3
  attention never applies attn_logit_softcapping (the field exists, the eager code ignores it): we
  follow it; final_logit_softcapping is applied when set.
"""
from __future__ import annotations

import math

from core import TransformerConfig

from .checkpoint import NameMap
from .family import Family
from .gemma import ACTIVATIONS, plus_one
from .llama_style import (QK_NORMS, activation, decoder_config, layers_map, read_rope,
                          refuse_output_bias, wide_heads)

# Four (1 + w) norms per layer: before and after attention, before and after the feed-forward.
SANDWICH_NORMS = {"input_layernorm": "attn_norm", "post_attention_layernorm": "attn_out_norm",
                  "pre_feedforward_layernorm": "mlp_norm", "post_feedforward_layernorm": "mlp_out_norm"}
LAYER_TYPES = ("sliding_attention", "full_attention")


def sliding_layers(hf: dict, gemma3: bool) -> tuple[int, ...]:
    """The layers with a sliding window, as transformers decides them."""
    n = hf["num_hidden_layers"]
    types = hf.get("layer_types")
    if types is None:
        every = int(hf.get("sliding_window_pattern", 6)) if gemma3 else 2
        types = ["sliding_attention" if (i + 1) % every else "full_attention" for i in range(n)]
    unknown = sorted(set(types) - set(LAYER_TYPES))
    if unknown or len(types) != n:
        raise ValueError(f"layer_types must give one of {list(LAYER_TYPES)} for each of the {n} layers, "
                         f"got {types!r}")
    return tuple(i for i, kind in enumerate(types) if kind == "sliding_attention")


def gemma3_rope(hf: dict) -> tuple[dict, float]:
    """(the global layers' rope fields as read_rope reads them, the sliding layers' base). transformers 5
    writes rope_parameters = {"full_attention": {...}, "sliding_attention": {...}}; older files
    rope_theta, rope_scaling and rope_local_base_freq."""
    params = hf.get("rope_parameters") or {}
    if "full_attention" in params or "sliding_attention" in params:
        local = params.get("sliding_attention") or {}
        if local.get("rope_type", "default") != "default":
            raise ValueError(f"rope scaling {local.get('rope_type')!r} of the sliding layers is not supported: "
                             "only plain rotary positions are")
        full = dict(params.get("full_attention") or {})
        full.setdefault("rope_theta", 1_000_000.0)
        return {"rope_parameters": full}, float(local.get("rope_theta", 10_000.0))
    return ({"rope_parameters": params, "rope_theta": hf.get("rope_theta", 1_000_000.0),
             "rope_scaling": hf.get("rope_scaling")}, float(hf.get("rope_local_base_freq", 10_000.0)))


def config_from_hf(hf: dict) -> TransformerConfig:
    gemma3 = hf["model_type"] == "gemma3_text"
    family = hf["model_type"]
    act = activation({"hidden_act": hf.get("hidden_activation", hf.get("hidden_act", "gelu_pytorch_tanh"))},
                     ACTIVATIONS, family, "gelu_pytorch_tanh")
    refuse_output_bias(hf, family)
    if hf.get("use_bidirectional_attention"):
        raise ValueError(f"{family} with use_bidirectional_attention=true is not supported: only causal decoders")
    own: dict = {}
    if gemma3:
        rope_fields, own["rope_local_theta"] = gemma3_rope(hf)
        rope = read_rope(rope_fields, scalings=("linear",))
        own["qk_norm"] = "head"
    else:
        rope = read_rope(hf, scalings=())
        own["attn_softcap"] = hf.get("attn_logit_softcapping", 50.0)
    if rope.share != 1.0:
        raise ValueError(f"partial_rotary_factor={rope.share} is not supported: RoPE must turn every dimension")
    window = hf.get("sliding_window", 4096)
    layers = sliding_layers(hf, gemma3)
    return decoder_config(hf, act=act, rope=rope, eps=1e-6, positions=8192, tied=True,
                          embed_scale=math.sqrt(hf["hidden_size"]), head_dim=wide_heads(hf, default=256),
                          norm="sandwich", attn_scale=float(hf.get("query_pre_attn_scalar", 256)),
                          final_softcap=hf.get("final_logit_softcapping", None if gemma3 else 30.0),
                          sliding_window=window if window and layers else None,
                          sliding_layers=layers if window and layers else None, **own)


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """Llama's names, four norms per layer, Gemma 3's q/k norms; every RMSNorm's weight read as 1 + w."""
    norms = SANDWICH_NORMS if config.qk_norm is None else {**SANDWICH_NORMS, **QK_NORMS}   # q/k: (1 + w) too
    return layers_map(config, theirs, where, norms=norms, norm_change=plus_one)


FAMILY = Family("gemma2", {"gemma2": "Gemma 2", "gemma3_text": "Gemma 3"}, config_from_hf, hf_name_map)
