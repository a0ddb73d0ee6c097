"""BART checkpoints (model_type "bart") -> our core's EncoderDecoder; Marian (models/marian.py) shares the layout.

BART is a post-LN encoder–decoder (LN(x + Sublayer(x)) after each of self-attention, cross-attention and
the feed-forward), with biases everywhere and no final norm after either stack. Its pieces:
- learned positions with an offset of 2: the table has max_position_embeddings + 2 rows and the
  token at position i reads row i + 2 (fairseq kept the first rows for padding); the two unused rows
  are cut off when the table is read, so our row i is theirs i + 2;
- `layernorm_embedding`: a LayerNorm on token + position before the first layer of each stack;
- token rows × √d_model when scale_embedding is true (false in the released BART models);
- one token table (`shared`) for both stacks and the tied unembedding, and `final_logits_bias`
  added to every logit.
"""
from __future__ import annotations

import math
import re

import torch

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears, unembedding
from .family import Family

ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "swish": "silu", "silu": "silu"}
# Fields of related configs (mBART, FSMT) that would change the arithmetic: refused when set.
REFUSED = ("normalize_before", "add_final_layer_norm", "add_bias_logits")


def seq2seq_config(hf: dict, name: str, **switches) -> TransformerConfig:
    """BART's and Marian's shared config.json fields -> our config; `switches` say the family's own."""
    for field in REFUSED:
        if hf.get(field):
            raise ValueError(f"{name} with {field}=true is not supported")
    act = hf.get("activation_function", "gelu")
    if act not in ACTIVATIONS:
        raise ValueError(f"{name} activation_function {act!r} is not supported (supported: {sorted(ACTIVATIONS)})")
    sizes = {}
    for what, default in (("layers", 12), ("attention_heads", 16), ("ffn_dim", 4096)):
        enc, dec = hf.get(f"encoder_{what}", default), hf.get(f"decoder_{what}", default)
        if enc != dec:
            raise ValueError(f"{name} encoder_{what} {enc} differs from decoder_{what} {dec}: encoder and "
                             "decoder of different shapes are not supported")
        sizes[what] = enc
    d = hf.get("d_model", 1024)
    return TransformerConfig(
        vocab_size=hf.get("vocab_size", 50265), d_model=d, n_heads=sizes["attention_heads"], n_layers=sizes["layers"],
        d_ff=sizes["ffn_dim"], max_positions=hf.get("max_position_embeddings", 1024), norm="post",
        activation=ACTIVATIONS[act], eps=1e-5, lm_head=True, encoder_decoder=True, logits_bias=True,
        embed_scale=math.sqrt(d) if hf.get("scale_embedding", False) else 1.0,
        tie_embeddings=hf.get("tie_word_embeddings", True) is not False, pad_id=hf.get("pad_token_id") or 0,
        **switches)


def config_from_hf(hf: dict) -> TransformerConfig:
    return seq2seq_config(hf, "BART", positional="learned", embed_norm=True)


ATTENTION = {"q_proj": "query", "k_proj": "key", "v_proj": "value", "out_proj": "output"}
# An encoder block's modules: theirs -> ours.
ENCODER_BLOCK = {**{f"self_attn.{x}": f"attention.{y}" for x, y in ATTENTION.items()},
                 "self_attn_layer_norm": "attn_norm", "fc1": "mlp.up", "fc2": "mlp.down",
                 "final_layer_norm": "mlp_norm"}
# The step pages' names for them (post-LN: each norm comes after its sublayer's residual add).
PAGE_NAMES = {"attention.query": "W_Q", "attention.key": "W_K", "attention.value": "W_V", "attention.output": "W_O",
              "attn_norm": "norm after attention", "mlp_norm": "norm after feed-forward",
              "mlp.up": "W_up", "mlp.down": "W_down"}


def checkpoint_names(config: TransformerConfig) -> dict[str, str]:
    """The step pages' names of an encoder block's weights -> the checkpoint's, within the block
    ("W_Q" -> "self_attn.q_proj"), read from the weight map itself (BART's and Marian's)."""
    return {PAGE_NAMES[ours]: theirs for theirs, ours in ENCODER_BLOCK.items()}


def layers(p: str, config: TransformerConfig) -> NameMap:
    """Both stacks' blocks (post-LN: each norm after its sublayer's residual add)."""
    m: NameMap = {}
    for i in range(config.n_layers):
        e, d = f"{p}encoder.layers.{i}.", f"{p}decoder.layers.{i}."
        m.update(linears(e, f"encoder.{i}.", ENCODER_BLOCK))
        m.update(linears(d, f"decoder.{i}.", {
            **{f"self_attn.{x}": f"self_attention.{y}" for x, y in ATTENTION.items()},
            **{f"encoder_attn.{x}": f"cross_attention.{y}" for x, y in ATTENTION.items()},
            "self_attn_layer_norm": "self_norm", "encoder_attn_layer_norm": "cross_norm",
            "fc1": "mlp.up", "fc2": "mlp.down", "final_layer_norm": "mlp_norm"}))
    return m


def shared_table(theirs: dict, p: str, where: str) -> tuple[str, list[str]]:
    """The one token table (`shared`, or a stack's copy when only that was saved) and the copies to
    ignore, each checked equal to it."""
    names = [f"{p}shared.weight", f"{p}encoder.embed_tokens.weight", f"{p}decoder.embed_tokens.weight"]
    table = next((n for n in names if n in theirs), names[0])
    ignored = []
    for name in names:
        if name != table and name in theirs:
            if not torch.equal(theirs[name], theirs[table]):
                raise ValueError(f"{where}: tensor {name!r} differs from {table!r}: the stacks share one token table")
            ignored.append(re.escape(name))
    return table, ignored


def embeddings_and_head(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str], str]:
    """The token tables, the unembedding and final_logits_bias, shared by BART and Marian; returns the
    prefix ("model." when saved from the generation model) too."""
    p = common_prefix(theirs, ("model.",), "encoder.layers.0.fc1.weight")
    table, ignored = shared_table(theirs, p, where)
    m: NameMap = {"source_embed.token.weight": (table, None), "target_embed.token.weight": (table, None),
                  "logits_bias": ("final_logits_bias", lambda b: b.reshape(-1))}     # (1, vocab) -> (vocab,)
    ignored += unembedding(m, config, theirs, "lm_head.weight", table, where)
    m.update(layers(p, config))
    return m, ignored, p


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    m, ignored, p = embeddings_and_head(config, theirs, where)
    for stack, ours in (("encoder", "source_embed"), ("decoder", "target_embed")):
        # Row i + 2 of theirs is our row i: the first two rows are never read.
        m[f"{ours}.position.weight"] = (f"{p}{stack}.embed_positions.weight", lambda w: w[2:])
        m.update(linears(f"{p}{stack}.", f"{ours}.", {"layernorm_embedding": "norm"}))
    return m, ignored


# Steps 3 and 4 recompute the encoder's blocks (the pages' trace is the encoder's): post-LN, scaled
# scores, biases and GELU, all followed by analysis/recompute.py.
FAMILY = Family("bart", {"bart": "BART"}, config_from_hf, hf_name_map, encoder_decoder=True,
                step_pages=("step_head", "step_layer"), checkpoint_names=checkpoint_names)
