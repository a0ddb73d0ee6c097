"""GPT-2 checkpoints (model_type "gpt2") -> our core, one tensor at a time.

GPT-2 is a pre-LN decoder with learned positions, tanh GELU ("gelu_new") and an
unembedding tied to the token table. Two things differ from our layout:
- its linears are `Conv1D`, which store the weight as (in, out): we transpose them;
- `attn.c_attn` holds W_Q, W_K and W_V side by side, (d_model, 3·d_model): we cut it in three.
"""
from __future__ import annotations

import torch  # noqa: F401  (conversions below act on tensors)

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears, unembedding
from .family import Family

ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


def config_from_hf(hf: dict) -> TransformerConfig:
    act = hf.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise ValueError(f"GPT-2 activation_function {act!r} is not supported (supported: {sorted(ACTIVATIONS)})")
    if not hf.get("scale_attn_weights", True) or hf.get("scale_attn_by_inverse_layer_idx", False):
        raise ValueError("GPT-2 attention scaling other than 1/√d_head (scale_attn_weights=false or "
                         "scale_attn_by_inverse_layer_idx=true) is not supported")
    if hf.get("add_cross_attention", False):
        raise ValueError("GPT-2 with add_cross_attention=true (an encoder-decoder part) is not supported")
    d = hf.get("n_embd", 768)
    return TransformerConfig(
        vocab_size=hf.get("vocab_size", 50257), d_model=d, n_heads=hf.get("n_head", 12),
        n_layers=hf.get("n_layer", 12), d_ff=hf.get("n_inner") or 4 * d,
        max_positions=hf.get("n_positions", 1024), positional="learned", norm="pre",
        activation=ACTIVATIONS[act], eps=hf.get("layer_norm_epsilon", 1e-5),
        type_vocab_size=0, embed_norm=False, causal=True, lm_head=True,
        tie_embeddings=hf.get("tie_word_embeddings", True), pad_id=hf.get("pad_token_id") or 0,
    )


def _columns(start: int, stop: int):
    """Conv1D weight (in, 3·d) -> our Linear weight (out, in) for columns start:stop."""
    return lambda w: w[:, start:stop].T


def _slice(start: int, stop: int):
    return lambda b: b[start:stop]


def _transpose(w: torch.Tensor) -> torch.Tensor:
    return w.T


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("transformer.",), "wte.weight")
    d = config.d_model
    m: NameMap = {
        "embeddings.token.weight": (f"{p}wte.weight", None),
        "embeddings.position.weight": (f"{p}wpe.weight", None),
        **linears(p, "final_", {"ln_f": "norm"}),
    }
    for i in range(config.n_layers):
        h, ours = f"{p}h.{i}.", f"blocks.{i}."
        for k, part in enumerate(("query", "key", "value")):  # c_attn = [W_Q | W_K | W_V]
            m[f"{ours}attention.{part}.weight"] = (f"{h}attn.c_attn.weight", _columns(k * d, (k + 1) * d))
            m[f"{ours}attention.{part}.bias"] = (f"{h}attn.c_attn.bias", _slice(k * d, (k + 1) * d))
        m.update(linears(h, ours, {"attn.c_proj": "attention.output", "mlp.c_fc": "mlp.up",
                                   "mlp.c_proj": "mlp.down"}, change=_transpose))
        m.update(linears(h, ours, {"ln_1": "attn_norm", "ln_2": "mlp_norm"}))
    # Old checkpoints store the causal mask as buffers; we build the mask ourselves.
    ignored = [rf"{p}h\.\d+\.attn\.(bias|masked_bias)"]
    # Logits use wte when tied; a stored copy must equal it.
    ignored += unembedding(m, config, theirs, "lm_head.weight", f"{p}wte.weight", where)
    return m, ignored


FAMILY = Family("gpt2", {"gpt2": "GPT-2"}, config_from_hf, hf_name_map)
