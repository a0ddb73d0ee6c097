"""How much memory a model and one traced sentence take, before anything is loaded.

Everything is stored as float32 (4 bytes), whatever the checkpoint's own dtype.
"""
from __future__ import annotations

from .config import TransformerConfig

FLOAT32 = 4  # bytes


def count_parameters(config: TransformerConfig) -> int:
    """Weights the config implies (tied unembedding counted once)."""
    d, d_ff, d_kv, d_q = config.d_model, config.d_ff, config.kv_heads * config.d_head, config.d_attention
    attention = d * d_q + 2 * d * d_kv + d_q * d                    # W_Q, W_K, W_V, W_O
    attention += (d_q + 2 * d_kv) * config.qkv_bias + d * config.bias
    attention += {None: 0, "head": 2 * config.d_head, "full": d_q + d_kv}[config.qk_norm]   # q/k norm weights
    n_linears = 3 if config.mlp == "gated" else 2
    mlp = n_linears * d * d_ff + (2 * d_ff + d if config.mlp == "gated" else d_ff + d) * config.bias
    norm = d if config.norm_kind == "rmsnorm" else 2 * d
    block = attention + mlp + 2 * norm
    embed = config.vocab_size * d + config.type_vocab_size * d
    embed += config.max_positions * d if config.positional == "learned" else 0
    embed += norm if config.embed_norm else 0
    head = 0
    if config.lm_head:
        head = norm + (0 if config.tie_embeddings else config.vocab_size * d)
    return embed + config.n_layers * block + head


def estimate_model_bytes(config: TransformerConfig) -> int:
    return count_parameters(config) * FLOAT32


def estimate_trace_bytes(config: TransformerConfig, t: int) -> int:
    """Rough size of one Trace of t tokens (float32), the arrays of core/trace.py added up.

    Per layer: q, head_out (H·T·d_head each), k, v (H_kv·T·d_head each; raw q and k again
    with RoPE), scores and weights (2·H·T·T, the part that grows with T²), about eight
    (T, d_model) residual-sized arrays, and two or three (T, d_ff) feed-forward arrays.
    Plus the embeddings and, for an LM, the final norm and the (T, vocab) logits.
    """
    h, h_kv, dh, d = config.n_heads, config.kv_heads, config.d_head, config.d_model
    qkv = (2 * h + 2 * h_kv) * t * dh
    if config.positional == "rotary":
        qkv += (h + h_kv) * t * dh
    per_layer = qkv + 2 * h * t * t + 8 * t * d + (3 if config.mlp == "gated" else 2) * t * config.d_ff
    total = config.n_layers * per_layer + 4 * t * d
    if config.lm_head:
        total += t * d + t * config.vocab_size
    return total * FLOAT32
