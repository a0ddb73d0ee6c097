"""Transformer blocks: attention and feed-forward, joined by residual adds and LayerNorm.

Post-LN (BERT, the original paper):   mid = LN(x + Attn(x));      out = LN(mid + FFN(mid))
Pre-LN  (GPT-2):                      mid = x + Attn(LN(x));      out = mid + FFN(LN(mid))
Decoder (encoder-decoder, pre-LN):    masked self-attention, then cross-attention to the
                                      encoder's output, then the feed-forward.
Each block returns its output and a dict of its intermediates (tensors, batch kept).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from .attention import MultiHeadAttention
from .config import TransformerConfig


class FeedForward(nn.Module):
    """d_model -> d_ff -> d_model, applied to each position on its own."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.up = nn.Linear(config.d_model, config.d_ff)
        self.down = nn.Linear(config.d_ff, config.d_model)
        # Exact (erf) GELU, as BERT uses; ReLU as in the original paper.
        self.activation = F.gelu if config.activation == "gelu" else F.relu

    def forward(self, x: torch.Tensor):
        mlp_pre = self.up(x)                  # (B, T, d_ff)
        mlp_hidden = self.activation(mlp_pre)
        mlp_out = self.down(mlp_hidden)       # (B, T, d_model)
        return mlp_pre, mlp_hidden, mlp_out


def _self_attention_record(a) -> dict:
    return dict(q=a.q, k=a.k, v=a.v, scores=a.scores, weights=a.weights,
                head_out=a.head_out, attn_out=a.attn_out)


class EncoderBlock(nn.Module):
    """One block with self-attention; `config.norm` picks post-LN (BERT) or pre-LN (GPT)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.pre_ln = config.norm == "pre"
        self.attention = MultiHeadAttention(config)
        self.attn_norm = nn.LayerNorm(config.d_model, eps=config.eps)
        self.mlp = FeedForward(config)
        self.mlp_norm = nn.LayerNorm(config.d_model, eps=config.eps)

    def forward(self, x: torch.Tensor, allowed: Optional[torch.Tensor] = None):
        """x: (B, T, d_model); allowed: bool mask broadcastable to (B, H, T, T)."""
        attn_in = self.attn_norm(x) if self.pre_ln else x
        a = self.attention(attn_in, allowed=allowed)
        if self.pre_ln:
            resid_mid = x + a.attn_out
            mlp_in = self.mlp_norm(resid_mid)
        else:
            resid_mid = self.attn_norm(x + a.attn_out)
            mlp_in = resid_mid
        mlp_pre, mlp_hidden, mlp_out = self.mlp(mlp_in)
        resid_post = resid_mid + mlp_out if self.pre_ln else self.mlp_norm(resid_mid + mlp_out)
        record = dict(resid_pre=x, attn_in=attn_in, **_self_attention_record(a),
                      resid_mid=resid_mid, mlp_in=mlp_in, mlp_pre=mlp_pre,
                      mlp_hidden=mlp_hidden, mlp_out=mlp_out, resid_post=resid_post)
        return resid_post, record


class DecoderBlock(nn.Module):
    """Pre-LN decoder block: masked self-attention, cross-attention to the encoder, feed-forward."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.self_norm = nn.LayerNorm(config.d_model, eps=config.eps)
        self.self_attention = MultiHeadAttention(config)
        self.cross_norm = nn.LayerNorm(config.d_model, eps=config.eps)
        self.cross_attention = MultiHeadAttention(config)
        self.mlp_norm = nn.LayerNorm(config.d_model, eps=config.eps)
        self.mlp = FeedForward(config)

    def forward(self, x: torch.Tensor, memory: torch.Tensor,
                self_allowed: Optional[torch.Tensor] = None,
                cross_allowed: Optional[torch.Tensor] = None):
        """x: (B, T_target, d_model); memory: the encoder's output (B, T_source, d_model).

        self_allowed should include the causal mask; cross_allowed hides padded source keys.
        """
        attn_in = self.self_norm(x)
        a = self.self_attention(attn_in, allowed=self_allowed)
        after_self = x + a.attn_out
        cross_in = self.cross_norm(after_self)
        c = self.cross_attention(cross_in, source=memory, allowed=cross_allowed)
        resid_mid = after_self + c.attn_out
        mlp_in = self.mlp_norm(resid_mid)
        mlp_pre, mlp_hidden, mlp_out = self.mlp(mlp_in)
        resid_post = resid_mid + mlp_out
        cross = dict(attn_in=cross_in, **_self_attention_record(c))
        record = dict(resid_pre=x, attn_in=attn_in, **_self_attention_record(a),
                      resid_mid=resid_mid, mlp_in=mlp_in, mlp_pre=mlp_pre,
                      mlp_hidden=mlp_hidden, mlp_out=mlp_out, resid_post=resid_post,
                      cross=cross)
        return resid_post, record
