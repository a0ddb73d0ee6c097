"""What the Llama-style decoder families share, written once: reading RoPE, the activation and the
head width from config.json, the config of a pre-norm RMSNorm decoder with a gated feed-forward, and
the name map of a `model.layers.N.{self_attn, mlp}` checkpoint.

Llama, Mistral, Qwen2, Qwen3, Phi-3, OLMo 2 and Gemma store their weights under the same names and
differ in a few pieces; each family file (models/<family>.py) calls these helpers and says only what
is its own (a fused matrix, a q/k norm, norms on the sublayers' outputs, (1 + w) norms). GPT-NeoX
has other names and LayerNorm, but reads its rotary positions with `read_rope` too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping, Optional, Union

from core import TransformerConfig

from .checkpoint import Conversion, NameMap, common_prefix, linears, unembedding

PLAIN_ROPE = (None, "default")
SCALED_ROPE = ("linear", "llama3")          # the frequency scalings core computes exactly

# Their part of a layer -> ours: the attention's and the gated feed-forward's linears.
ATTENTION_AND_MLP = {
    "self_attn.q_proj": "attention.query", "self_attn.k_proj": "attention.key",
    "self_attn.v_proj": "attention.value", "self_attn.o_proj": "attention.output",
    "mlp.gate_proj": "mlp.gate", "mlp.up_proj": "mlp.up", "mlp.down_proj": "mlp.down",
}
QK_NORMS = {"self_attn.q_norm": "attention.q_norm", "self_attn.k_norm": "attention.k_norm"}
PRE_NORMS = {"input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm"}   # RMSNorm: no bias


@dataclass(frozen=True)
class Rope:
    theta: float                                  # the base of the frequencies
    share: float                                  # the share of each head's dimensions turned
    scaling: dict = field(default_factory=dict)   # our config's rope_scaling fields, if scaled


def read_rope(hf: dict, *, scalings: tuple[str, ...] = SCALED_ROPE, theta_key: str = "rope_theta",
              share_key: str = "partial_rotary_factor", share_default: float = 1.0,
              refused: Mapping[str, str] = {}) -> Rope:
    """RoPE's base, partial share and scaling, refusing by name a scheme core does not compute.

    transformers 5 writes rope_parameters = {"rope_type", "rope_theta", "partial_rotary_factor", ...};
    older config.json files write rope_theta and rope_scaling = {"type" or "rope_type": ...} or null.
    refused: a scheme -> the words that explain its refusal (Phi-3's long-context models)."""
    params = hf.get("rope_parameters") or {}
    scaling: dict = {}
    for source in (params, hf.get("rope_scaling") or {}):
        kind = source.get("rope_type", source.get("type"))
        if kind in PLAIN_ROPE:
            continue
        if kind in refused:
            raise ValueError(f"{refused[kind]} rope scaling {kind!r} is not supported: only plain rotary "
                             "positions (rope_type 'default' or none) are")
        if kind not in scalings:
            also = f" and the scalings {', '.join(scalings)}" if scalings else ""
            raise ValueError(f"rope scaling {kind!r} is not supported: only plain rotary positions "
                             f"(rope_type 'default' or none){also} are")
        scaling = dict(rope_scaling=kind, rope_factor=float(source["factor"]))
        if kind == "llama3":
            scaling.update(rope_low_freq_factor=float(source["low_freq_factor"]),
                           rope_high_freq_factor=float(source["high_freq_factor"]),
                           rope_original_positions=int(source["original_max_position_embeddings"]))
    theta = params.get("rope_theta", hf.get(theta_key, 10000.0))
    share = params.get("partial_rotary_factor", hf.get(share_key, share_default))
    return Rope(float(theta), float(share), scaling)


def rotary_dims(hf: dict, share: float, field_name: str = "partial_rotary_factor") -> Optional[int]:
    """How many of each head's dimensions RoPE turns (None: all), rounded down as transformers does."""
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    d_head = d // n_heads if n_heads and d % n_heads == 0 else 0
    dims = int(d_head * share)
    if d_head and (dims < 2 or dims % 2):
        raise ValueError(f"{field_name}={share} turns {dims} of {d_head} dimensions per head; "
                         "RoPE turns pairs, so that must be an even number of at least 2")
    return None if dims == d_head else dims


def activation(hf: dict, table: Mapping[str, str], family: str, default: str) -> str:
    """config.json's hidden_act -> core's activation, refusing the others by name."""
    act = hf.get("hidden_act", default)
    if act not in table:
        raise ValueError(f"{family} hidden_act {act!r} is not supported (supported: {sorted(table)})")
    return table[act]


def require_plain_heads(hf: dict) -> None:
    """Llama and Phi-3 read every head as hidden_size / num_attention_heads wide."""
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    head_dim = hf.get("head_dim")
    if head_dim not in (None, d // n_heads):
        raise ValueError(f"head_dim={head_dim} different from hidden_size / num_attention_heads = "
                         f"{d // n_heads} is not supported")


def wide_heads(hf: dict, default: Optional[int]) -> Optional[int]:
    """core's head_dim when heads are wider (or narrower) than d / H (Gemma, Qwen3), else None."""
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    head_dim = hf.get("head_dim", default)
    return None if head_dim is None or not n_heads or head_dim * n_heads == d else head_dim


def refuse_output_bias(hf: dict, family: str) -> None:
    """These families' attention_bias puts a bias on W_O but none on the feed-forward."""
    if hf.get("attention_bias", False):
        raise ValueError(f"{family} with attention_bias=true is not supported: it puts biases on W_O but not on "
                         "the feed-forward, and our blocks share one bias switch for both")


def decoder_config(hf: dict, *, act: str, rope: Rope, eps: float, positions: int, tied: bool = False,
                   **own) -> TransformerConfig:
    """A pre-norm RMSNorm decoder with RoPE, grouped-query attention and a gated feed-forward, no biases;
    `own` overrides or adds the family's own fields (norm layout, q/k norm, embed_scale, biases, ...)."""
    n_heads = hf["num_attention_heads"]
    kv_heads = hf.get("num_key_value_heads") or n_heads
    fields = dict(
        vocab_size=hf["vocab_size"], d_model=hf["hidden_size"], n_heads=n_heads, n_layers=hf["num_hidden_layers"],
        d_ff=hf["intermediate_size"], max_positions=hf.get("max_position_embeddings", positions),
        positional="rotary", norm="pre", activation=act, eps=hf.get("rms_norm_eps", eps),
        type_vocab_size=0, embed_norm=False, causal=True, lm_head=True,
        tie_embeddings=bool(hf.get("tie_word_embeddings", tied)), pad_id=hf.get("pad_token_id") or 0,
        norm_kind="rmsnorm", n_kv_heads=kv_heads if kv_heads != n_heads else None, rope_theta=rope.theta,
        mlp="gated", bias=False, qkv_bias=False, **rope.scaling,
    )
    fields.update(own)
    return TransformerConfig(**fields)


def layers_map(config: TransformerConfig, theirs: dict, where: str, parts: Mapping[str, str] = ATTENTION_AND_MLP,
               *, norms: Mapping[str, str] = PRE_NORMS, bias: Union[bool, Collection[str]] = False,
               norm_change: Optional[Conversion] = None,
               extra: Optional[Callable[[str, str], NameMap]] = None) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore.

    parts: each layer's linears (bias: which have one); norms: each layer's norms (norm_change: a
    conversion of their weights, Gemma's 1 + w, applied to the final norm too); extra(their layer
    prefix, our layer prefix): the family's own entries (a fused matrix cut into ours)."""
    p = common_prefix(theirs, ("model.",), "embed_tokens.weight")
    m: NameMap = {
        "embeddings.token.weight": (f"{p}embed_tokens.weight", None),
        "final_norm.weight": (f"{p}norm.weight", norm_change),
    }
    for i in range(config.n_layers):
        layer, ours = f"{p}layers.{i}.", f"blocks.{i}."
        m.update(linears(layer, ours, parts, bias=bias))
        m.update(linears(layer, ours, norms, bias=False, change=norm_change))
        if extra is not None:
            m.update(extra(layer, ours))
    # Old checkpoints store RoPE's frequencies as a buffer; we compute them from rope_theta.
    ignored = [rf"{p}layers\.\d+\.self_attn\.rotary_emb\.inv_freq"]
    ignored += unembedding(m, config, theirs, "lm_head.weight", f"{p}embed_tokens.weight", where)
    return m, ignored
