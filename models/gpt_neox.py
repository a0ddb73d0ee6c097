"""GPT-NeoX checkpoints (model_type "gpt_neox": Pythia, GPT-NeoX-20B) -> our core.

A decoder with LayerNorm (with bias), exact GELU and rotary positions, and three things of its own:
- the parallel layout (use_parallel_residual, Pythia's default): attention and the feed-forward
  both read the block's input, out = x + Attn(LN1(x)) + FFN(LN2(x)) (core's norm="parallel");
  with use_parallel_residual false it is an ordinary pre-LN block;
- partial rotary: RoPE turns only the first rotary_pct · d_head dimensions of each head (a
  quarter in Pythia), core's rotary_dims;
- `attention.query_key_value` holds W_Q, W_K and W_V fused and interleaved per head: its
  3·d_model rows are, head by head, that head's d_head query rows, then key rows, then value
  rows. We cut each of W_Q, W_K, W_V out of it.
The unembedding is `embed_out`, its own matrix unless tie_word_embeddings is true.
"""
from __future__ import annotations

import torch

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears, unembedding
from .family import Family
from .llama_style import activation, read_rope, rotary_dims

ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


def config_from_hf(hf: dict) -> TransformerConfig:
    d, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    act = activation(hf, ACTIVATIONS, "gpt_neox", "gelu")
    if not hf.get("attention_bias", True):
        raise ValueError("gpt_neox with attention_bias=false is not supported: its feed-forward keeps biases, "
                         "and our blocks share one bias switch for W_O and the feed-forward")
    # Pythia's own config.json writes rotary_emb_base and rotary_pct; transformers 5 rope_parameters.
    rope = read_rope(hf, scalings=(), theta_key="rotary_emb_base", share_key="rotary_pct", share_default=0.25)
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=d, n_heads=n_heads, n_layers=hf["num_hidden_layers"],
        d_ff=hf["intermediate_size"], max_positions=hf.get("max_position_embeddings", 2048),
        positional="rotary", norm="parallel" if hf.get("use_parallel_residual", True) else "pre",
        activation=act, eps=hf.get("layer_norm_eps", 1e-5),
        type_vocab_size=0, embed_norm=False, causal=True, lm_head=True,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)), pad_id=hf.get("pad_token_id") or 0,
        rope_theta=rope.theta, rotary_dims=rotary_dims(hf, rope.share, "rotary_pct"),
    )


def _head_rows(config: TransformerConfig, part: int):
    """query_key_value (3·d_model, ...) -> W_Q (part 0), W_K (1) or W_V (2): (d_model, ...).
    Works for the weight (3·d, d) and the bias (3·d,) alike."""
    h, dh = config.n_heads, config.d_head

    def cut(tensor: torch.Tensor) -> torch.Tensor:
        per_head = tensor.reshape(h, 3, dh, *tensor.shape[1:])        # (H, q/k/v, d_head, [d_model])
        return per_head[:, part].reshape(h * dh, *tensor.shape[1:])   # (d_model, [d_model])
    return cut


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("gpt_neox.",), "embed_in.weight")
    m: NameMap = {
        "embeddings.token.weight": (f"{p}embed_in.weight", None),
        **linears(p, "final_", {"final_layer_norm": "norm"}),
    }
    parts = {"attention.dense": "attention.output", "mlp.dense_h_to_4h": "mlp.up", "mlp.dense_4h_to_h": "mlp.down",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm"}
    for i in range(config.n_layers):
        layer, ours = f"{p}layers.{i}.", f"blocks.{i}."
        fused = f"{layer}attention.query_key_value"
        for k, part in enumerate(("query", "key", "value")):
            m[f"{ours}attention.{part}.weight"] = (f"{fused}.weight", _head_rows(config, k))
            m[f"{ours}attention.{part}.bias"] = (f"{fused}.bias", _head_rows(config, k))
        m.update(linears(layer, ours, parts))
    # Older checkpoints (Pythia's) store the causal mask and RoPE's frequencies as buffers; we
    # compute both.
    ignored = [rf"{p}layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)"]
    ignored += unembedding(m, config, theirs, "embed_out.weight", f"{p}embed_in.weight", where)
    return m, ignored


FAMILY = Family("gpt_neox", {"gpt_neox": "GPT-NeoX"}, config_from_hf, hf_name_map)
