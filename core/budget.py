"""How much memory a model and one traced sentence take, before anything is loaded.

A trace stores float32 (4 bytes); weights take their stored dtype's bytes (4 for float32, 2 for
bf16/fp16 checkpoints kept as they are; every block is still computed in float32).
"""
from __future__ import annotations

from .config import TransformerConfig
from .trace import MEAN_SIDE, THUMB_SIDE

FLOAT32 = 4  # bytes


def count_parameters(config: TransformerConfig) -> int:
    """Weights the config implies (tied unembedding counted once). An encoder–decoder's are counted
    on its module built without memory (both stacks, both embedding tables, cross-attention)."""
    if config.encoder_decoder:
        import torch

        from .seq2seq import EncoderDecoder   # here, not at the top: seq2seq builds on model, model on this
        with torch.device("meta"):
            return sum(p.numel() for p in EncoderDecoder(config).parameters())
    d, d_ff, d_kv, d_q = config.d_model, config.d_ff, config.kv_heads * config.d_head, config.d_attention
    attention = d * d_q + 2 * d * d_kv + d_q * d                    # W_Q, W_K, W_V, W_O
    attention += (d_q + 2 * d_kv) * config.qkv_bias + d * config.bias
    attention += {None: 0, "head": 2 * config.d_head, "full": d_q + d_kv}[config.qk_norm]   # q/k norm weights
    n_linears = 3 if config.mlp == "gated" else 2
    mlp = n_linears * d * d_ff + (2 * d_ff + d if config.mlp == "gated" else d_ff + d) * config.bias
    norm = d if config.norm_kind == "rmsnorm" else 2 * d
    block = attention + mlp + (4 if config.norm == "sandwich" else 2) * norm   # sandwich: 2 more
    embed = config.vocab_size * d + config.type_vocab_size * d
    embed += config.max_positions * d if config.positional == "learned" else 0
    embed += norm if config.embed_norm else 0
    head = 0
    if config.lm_head:
        head = norm + (0 if config.tie_embeddings else config.vocab_size * d)
    return embed + config.n_layers * block + head


def estimate_model_bytes(config: TransformerConfig, bytes_per_weight: int = FLOAT32) -> int:
    return count_parameters(config) * bytes_per_weight


def estimate_layer_bytes(config: TransformerConfig, t: int) -> int:
    """One block's intermediates at t tokens: what the forward pass holds at once, and what one
    recomputed layer (trace.layers[l]) takes. q, k, v, head_out (raw q and k again with RoPE),
    scores and weights (2·H·T², the part that grows with T²), a few (T, d_model) and two or three
    (T, d_ff) arrays."""
    h, h_kv, dh, d = config.n_heads, config.kv_heads, config.d_head, config.d_model
    qkv = (2 * h + 2 * h_kv) * t * dh
    if config.positional == "rotary":
        qkv += (h + h_kv) * t * dh
    return (qkv + 2 * h * t * t + 4 * t * d + (3 if config.mlp == "gated" else 2) * t * config.d_ff) * FLOAT32


def estimate_stored_bytes(config: TransformerConfig, t: int) -> int:
    """What one Trace keeps (core/trace.py): the residual stream at every layer boundary and block
    middle ((2L + 1)·T·d_model), the embeddings, for an LM the final norm's output and top next
    tokens, and the streamed summaries (per head: a few numbers, T key shares, a 64×64 thumbnail;
    per layer: the mean attention, exact up to 512 tokens and pooled to 512×512 beyond)."""
    d, layers, heads = config.d_model, config.n_layers, config.n_heads
    total = (2 * layers + 1) * t * d + 3 * t * d
    if config.lm_head:
        total += t * d + t * (3 * 20 + 1)          # final; top ids (int64), log-probs, log-sum-exp
    side, mean = min(t, THUMB_SIDE), min(t, MEAN_SIDE)
    total += layers * heads * (5 + t + side * side) + layers * mean * mean
    return total * FLOAT32


def estimate_trace_bytes(config: TransformerConfig, t: int) -> int:
    """Memory one traced sentence of t tokens needs: what it stores, plus one layer's intermediates
    (held by the forward pass while it runs, and by a page that reads a layer). An encoder–decoder
    keeps a trace of each stack (the decoder's up to as many tokens), and its cross-attention's layer more."""
    one = estimate_stored_bytes(config, t) + estimate_layer_bytes(config, t)
    return 3 * one if config.encoder_decoder else one
