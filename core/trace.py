"""The record a forward pass returns: every intermediate, for one sequence.

Arrays are numpy, float32, read-only, with the batch dimension removed.
A Trace is built fresh by each call and never stored on a module, so one cached
model can serve many browser sessions without leaking one person's sentence
into another's page.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import numpy as np
import torch


# -- what a block hands back while it runs (tensors, batch kept) --------------------------------
@dataclass(frozen=True)
class AttentionRecord:
    """One attention sublayer's intermediates as torch tensors, batch dimension B kept."""
    attn_in: torch.Tensor                     # (B, T_q, d_model)  what W_Q reads
    q: torch.Tensor                           # (B, H, T_q, d_head)  rotated by position with RoPE
    k: torch.Tensor                           # (B, H_kv, T_k, d_head)
    v: torch.Tensor                           # (B, H_kv, T_k, d_head)
    scores: torch.Tensor                      # (B, H, T_q, T_k)
    weights: torch.Tensor                     # (B, H, T_q, T_k)
    head_out: torch.Tensor                    # (B, H, T_q, d_head)
    attn_out: torch.Tensor                    # (B, T_q, d_model)
    q_raw: Optional[torch.Tensor] = None      # (B, H, T_q, d_head)  RoPE: before the rotation
    k_raw: Optional[torch.Tensor] = None      # (B, H_kv, T_k, d_head)  RoPE: before the rotation


@dataclass(frozen=True)
class BlockRecord:
    """One block's run: its input, its attention, its feed-forward and its output (tensors, batch kept).
    `LayerTrace` below is the same record for one sequence as read-only numpy arrays."""
    resid_pre: torch.Tensor                   # (B, T, d_model)
    attention: AttentionRecord                # self-attention
    resid_mid: torch.Tensor                   # (B, T, d_model)
    mlp_in: torch.Tensor                      # (B, T, d_model)
    mlp_pre: torch.Tensor                     # (B, T, d_ff)
    mlp_hidden: torch.Tensor                  # (B, T, d_ff)
    mlp_out: torch.Tensor                     # (B, T, d_model)
    resid_post: torch.Tensor                  # (B, T, d_model)
    mlp_up: Optional[torch.Tensor] = None     # (B, T, d_ff)  gated feed-forward only
    cross: Optional[AttentionRecord] = None   # decoder blocks: attention to the encoder's output


@dataclass(frozen=True)
class AttentionTrace:
    """One multi-head attention sublayer (self- or cross-attention)."""
    attn_in: np.ndarray      # (T, d_model)  the X that W_Q, W_K, W_V read
    q: np.ndarray            # (H, T_q, d_head)
    k: np.ndarray            # (H, T_k, d_head)
    v: np.ndarray            # (H, T_k, d_head)
    scores: np.ndarray       # (H, T_q, T_k)  q·kᵀ/√d_head with the mask applied (-inf where hidden)
    weights: np.ndarray      # (H, T_q, T_k)  softmax of scores; each row sums to 1
    head_out: np.ndarray     # (H, T_q, d_head)  weights·v
    attn_out: np.ndarray     # (T_q, d_model)  heads concatenated, then W_O

    @property
    def heads_concat(self) -> np.ndarray:
        """The heads' outputs side by side, (T_q, H * d_head): what W_O reads."""
        h, t, dh = self.head_out.shape
        return self.head_out.transpose(1, 0, 2).reshape(t, h * dh)  # (T, H*d_head)


@dataclass(frozen=True)
class LayerTrace:
    """One transformer block. Self-attention fields sit at the top level.

    Grouped-query attention (Llama-style, n_kv_heads < n_heads): q, scores, weights and
    head_out have all H query heads, but k and v have only H_kv heads; query head h reads
    key/value head `kv_head_of(h)`. Without it H_kv == H and kv_head_of(h) == h.
    """
    resid_pre: np.ndarray    # (T, d_model)  the block's input
    attn_in: np.ndarray      # (T, d_model)  resid_pre (post-LN) or LN1(resid_pre) (pre-LN)
    q: np.ndarray            # (H, T, d_head)  rotated by position in RoPE models (what the scores use)
    k: np.ndarray            # (H_kv, T, d_head)  one per key/value head; rotated in RoPE models
    v: np.ndarray            # (H_kv, T, d_head)
    scores: np.ndarray       # (H, T, T)
    weights: np.ndarray      # (H, T, T)
    head_out: np.ndarray     # (H, T, d_head)
    attn_out: np.ndarray     # (T, d_model)
    resid_mid: np.ndarray    # (T, d_model)  LN(resid_pre + attn_out) post-LN; resid_pre + attn_out pre-LN
    mlp_in: np.ndarray       # (T, d_model)  what the feed-forward reads
    mlp_pre: np.ndarray      # (T, d_ff)  first linear, before the activation (the gate, if gated)
    mlp_hidden: np.ndarray   # (T, d_ff)  after the activation (gated: act(gate) * up), what W_down reads
    mlp_out: np.ndarray      # (T, d_model)
    resid_post: np.ndarray   # (T, d_model)  the block's output, the next block's resid_pre
    cross: Optional[AttentionTrace] = None   # decoder blocks: attention to the encoder's output
    q_raw: Optional[np.ndarray] = None       # (H, T, d_head)  RoPE models: q before the rotation
    k_raw: Optional[np.ndarray] = None       # (H_kv, T, d_head)  RoPE models: k before the rotation
    mlp_up: Optional[np.ndarray] = None      # (T, d_ff)  gated feed-forward: up(x), multiplied by the gate

    def kv_head_of(self, head: int) -> int:
        """The key/value head (index into k and v) that query head `head` reads."""
        n_heads, n_kv = self.q.shape[0], self.k.shape[0]
        if not 0 <= head < n_heads:
            raise ValueError(f"head must be in [0, {n_heads}), got {head}.")
        return head // (n_heads // n_kv)

    @property
    def self_attention(self) -> AttentionTrace:
        return AttentionTrace(self.attn_in, self.q, self.k, self.v, self.scores,
                              self.weights, self.head_out, self.attn_out)

    @property
    def heads_concat(self) -> np.ndarray:
        return self.self_attention.heads_concat


@dataclass(frozen=True)
class Trace:
    tokens: list[str]
    ids: list[int]
    offsets: list[tuple[int, int]]       # character span of each token in the text; (0, 0) for specials
    special_mask: list[bool]             # True for [CLS], [SEP] and other added tokens
    token_embed: np.ndarray              # (T, d_model)  rows of the token table
    pos_embed: np.ndarray                # (T, d_model)  learned rows, the sinusoids, or zeros (RoPE / none:
                                         # nothing is added; rotary positions act inside attention)
    type_embed: Optional[np.ndarray]     # (T, d_model)  segment embedding, BERT only
    embed: np.ndarray                    # (T, d_model)  the input of layer 0
    layers: tuple[LayerTrace, ...]
    truncated: bool = False              # the text was cut to the model's max positions
    text: str = ""
    n_input_tokens: int = 0              # tokens before truncation (== len(tokens) when not truncated)
    causal: bool = False
    final: Optional[np.ndarray] = None   # (T, d_model)  after the final norm (pre-LN LMs)
    logits: Optional[np.ndarray] = None  # (T, vocab)  next-token scores (LMs)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_heads(self) -> int:
        return self.layers[0].weights.shape[0] if self.layers else 0

    @property
    def n_kv_heads(self) -> int:
        """Key/value heads per layer: fewer than n_heads with grouped-query attention."""
        return self.layers[0].k.shape[0] if self.layers else 0

    def kv_head_of(self, head: int) -> int:
        """The key/value head that query head `head` reads (the same in every layer)."""
        return self.layers[0].kv_head_of(head)

    def __len__(self) -> int:
        return len(self.tokens)

    # Stacked views are built on first use: a page that shows one head never pays
    # for copying all of them.
    @cached_property
    def attentions(self) -> np.ndarray:
        """(n_layers, H, T, T): every layer's weights, as transformers returns them."""
        return _stack([layer.weights for layer in self.layers])

    @cached_property
    def hidden_states(self) -> np.ndarray:
        """(n_layers + 1, T, d_model): the embedding output, then each block's output.

        As transformers' hidden_states for encoders. For pre-LN LMs (GPT-2, Llama) transformers'
        last entry has the final norm applied: that one is `final` here; ours is the raw output.
        """
        return _stack([self.embed] + [layer.resid_post for layer in self.layers])


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    """The parts as one read-only array: the array they are views of when the model built them
    that way (no copy), else a new stack."""
    base = parts[0].base
    if (isinstance(base, np.ndarray) and base.shape == (len(parts), *parts[0].shape)
            and all(p.base is base for p in parts)
            and all(p.__array_interface__["data"][0] == base[i].__array_interface__["data"][0]
                    for i, p in enumerate(parts))):
        return base
    out = np.stack(parts)
    out.flags.writeable = False
    return out
