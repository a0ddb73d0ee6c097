"""T5 checkpoints (model_type "t5": T5, T5 v1.1, Flan-T5) -> our core's EncoderDecoder.

T5 is a pre-LN encoder–decoder with four pieces of its own:
- positions are not added to the tokens: each head adds a learned number for the bucket of the
  distance key − query to its scores (core/attention.py's RelativePositionBias); the table sits in the
  first layer of each stack (`block.0.layer.0.SelfAttention.relative_attention_bias`) and every
  layer uses it; the cross-attention has none;
- the scores are not divided by √d_head;
- its norms are RMSNorm (no mean, no β) and its linears have no biases;
- the feed-forward is ReLU (T5) or gated GELU, tanh form (`feed_forward_proj: "gated-gelu"`, v1.1
  and Flan-T5: W_gate = wi_0, W_up = wi_1).
The token table `shared` serves both stacks. The original T5 reads its logits from that table after
multiplying the decoder's output by d_model^-0.5 (config.output_scale); v1.1 and Flan-T5 have their
own `lm_head` (tie_word_embeddings false) and no scaling (transformers 5 writes scale_decoder_outputs).
"""
from __future__ import annotations

import re

import torch

from core import TransformerConfig

from .checkpoint import NameMap, linears, unembedding
from .family import Family

FEED_FORWARD = {"relu": ("standard", "relu"), "gated-gelu": ("gated", "gelu_tanh"),
                "gated-relu": ("gated", "relu"), "gated-silu": ("gated", "silu")}


def scales_output(hf: dict) -> bool:
    """The original T5 scales the decoder's output by d_model^-0.5 before its tied unembedding;
    v1.1 and Flan-T5 (tie_word_embeddings false; transformers 5 writes scale_decoder_outputs) do not."""
    return bool(hf.get("scale_decoder_outputs", hf.get("tie_word_embeddings", True) is not False))


def config_from_hf(hf: dict) -> TransformerConfig:
    ff = hf.get("feed_forward_proj", "relu")
    if ff not in FEED_FORWARD:
        raise ValueError(f"T5 feed_forward_proj {ff!r} is not supported (supported: {sorted(FEED_FORWARD)})")
    layers = hf.get("num_layers", 6)
    if hf.get("num_decoder_layers") not in (None, layers):
        raise ValueError(f"T5 num_decoder_layers {hf['num_decoder_layers']} differs from num_layers {layers}: "
                         "encoder and decoder of different depths are not supported")
    mlp, act = FEED_FORWARD[ff]
    return TransformerConfig(
        vocab_size=hf.get("vocab_size", 32128), d_model=hf.get("d_model", 512), n_heads=hf.get("num_heads", 8),
        n_layers=layers, d_ff=hf.get("d_ff", 2048), head_dim=hf.get("d_kv", 64),
        max_positions=1_048_576,           # relative positions: no table caps the length
        positional="relative", norm="pre", norm_kind="rmsnorm", mlp=mlp, activation=act,
        eps=hf.get("layer_norm_epsilon", 1e-6), embed_norm=False, lm_head=True, encoder_decoder=True,
        bias=False, qkv_bias=False, scale_attention=False,
        relative_buckets=hf.get("relative_attention_num_buckets", 32),
        relative_max_distance=hf.get("relative_attention_max_distance", 128),
        tie_embeddings=hf.get("tie_word_embeddings", True) is not False,
        output_scale=hf.get("d_model", 512) ** -0.5 if scales_output(hf) else 1.0,
        pad_id=hf.get("pad_token_id") or 0,
    )


BIAS_TABLE = "block.0.layer.0.SelfAttention.relative_attention_bias.weight"
PROJECTIONS = ("query", "key", "value", "output")      # ours for T5's q, k, v, o


def stack(theirs: str, ours: str, n_layers: int, decoder: bool, mlp: str) -> NameMap:
    """One stack's blocks: layer.0 self-attention, (decoder) layer.1 cross-attention, then the feed-forward."""
    m: NameMap = {}
    ff = 2 if decoder else 1
    for i in range(n_layers):
        b, o = f"{theirs}block.{i}.layer.", f"{ours}.{i}."
        attention = "self_attention" if decoder else "attention"
        parts = {f"0.SelfAttention.{x}": f"{attention}.{y}" for x, y in zip("qkvo", PROJECTIONS)}
        parts["0.layer_norm"] = "self_norm" if decoder else "attn_norm"
        if decoder:
            parts.update({f"1.EncDecAttention.{x}": f"cross_attention.{y}" for x, y in zip("qkvo", PROJECTIONS)})
            parts["1.layer_norm"] = "cross_norm"
        parts[f"{ff}.layer_norm"] = "mlp_norm"
        if mlp == "gated":
            parts.update({f"{ff}.DenseReluDense.wi_0": "mlp.gate", f"{ff}.DenseReluDense.wi_1": "mlp.up"})
        else:
            parts[f"{ff}.DenseReluDense.wi"] = "mlp.up"
        parts[f"{ff}.DenseReluDense.wo"] = "mlp.down"
        m.update(linears(b, o, parts, bias=False))
    return m


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    table = next((n for n in ("shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
                  if n in theirs), "shared.weight")
    m: NameMap = {"source_embed.token.weight": (table, None), "target_embed.token.weight": (table, None),
                  # the relative-position table of each stack sits in its first layer
                  "encoder_bias.buckets.weight": (f"encoder.{BIAS_TABLE}", None),
                  "decoder_bias.buckets.weight": (f"decoder.{BIAS_TABLE}", None),
                  "encoder_norm.weight": ("encoder.final_layer_norm.weight", None),
                  "final_norm.weight": ("decoder.final_layer_norm.weight", None)}
    m.update(stack("encoder.", "encoder", config.n_layers, False, config.mlp))
    m.update(stack("decoder.", "decoder", config.n_layers, True, config.mlp))
    # Copies of the shared table that a checkpoint may also store under the stacks' names; and a
    # cross-attention position table the original checkpoints (t5-small, ...) carry but T5 never uses
    # (transformers ignores it on load too: cross-attention has no position bias).
    ignored = [re.escape("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight")]
    for name in ("shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
        if name != table and name in theirs:
            if not torch.equal(theirs[name], theirs[table]):
                raise ValueError(f"{where}: tensor {name!r} differs from {table!r}: T5's stacks share one token table")
            ignored.append(re.escape(name))
    # v1.1 and Flan-T5 have their own lm_head; the original T5 reads the (scaled) shared table.
    ignored += unembedding(m, config, theirs, "lm_head.weight", table, where)
    return m, ignored


# The step pages' names for the block's weights (analysis/recompute.py) -> ours in the block.
PAGE_NAMES = {"attention.query": "W_Q", "attention.key": "W_K", "attention.value": "W_V", "attention.output": "W_O",
              "attn_norm": "norm before attention", "mlp_norm": "norm before feed-forward",
              "mlp.gate": "W_gate", "mlp.up": "W_up", "mlp.down": "W_down"}


def checkpoint_names(config: TransformerConfig) -> dict[str, str]:
    """The step pages' names of an encoder block's weights -> the checkpoint's, within the block
    ("W_gate" -> "layer.1.DenseReluDense.wi_0"), read from the weight map itself."""
    names = {}
    for ours, (theirs, _) in stack("encoder.", "encoder", 1, False, config.mlp).items():
        part = ours.removeprefix("encoder.0.").removesuffix(".weight")
        names[PAGE_NAMES[part]] = theirs.removeprefix("encoder.block.0.").removesuffix(".weight")
    return names


# Steps 3 and 4 recompute the encoder's blocks (the pages' trace is the encoder's): unscaled scores plus
# the relative bias, RMSNorm, ReLU or gated GELU, all followed by analysis/recompute.py.
FAMILY = Family("t5", {"t5": "T5"}, config_from_hf, hf_name_map, encoder_decoder=True,
                step_pages=("step_head", "step_layer"), checkpoint_names=checkpoint_names)
