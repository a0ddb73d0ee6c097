"""Transformer blocks: attention and feed-forward, joined by residual adds and LayerNorm.

Post-LN (BERT, the original paper):   mid = LN(x + Attn(x));      out = LN(mid + FFN(mid))
Pre-LN  (GPT-2):                      mid = x + Attn(LN(x));      out = mid + FFN(LN(mid))
Parallel (GPT-NeoX, Pythia):          mid = x + Attn(LN1(x));     out = mid + FFN(LN2(x))
                                      both sublayers read the block's input x, so neither waits
                                      for the other; mid is the residual between the two adds.
Post-sublayer (OLMo 2):               mid = x + LN1(Attn(x));     out = mid + LN2(FFN(mid))
                                      the norm sits on each sublayer's output, before the add, so
                                      the residual stream itself is never normalised.
Sandwich (Gemma 2, 3):                mid = x + LN2(Attn(LN1(x)));  out = mid + LN4(FFN(LN3(mid)))
                                      a norm before and after each sublayer.
Decoder (encoder-decoder):            masked self-attention, then cross-attention to the
                                      encoder's output, then the feed-forward; each of the three
                                      pre-LN (the toy, T5: x + Sub(LN(x))) or post-LN (BART, Marian:
                                      LN(x + Sub(x))).
Llama, Mistral and Qwen2 are pre-LN blocks whose "LN" is RMSNorm (config.norm_kind) and
whose feed-forward is gated (config.mlp): the same block, other switches.
Each block returns its output and a BlockRecord of its intermediates (core/trace.py; tensors, batch kept).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from .attention import KnockOut, MultiHeadAttention, Patch, Scratch
from .config import TransformerConfig
from .norms import RMSNorm
from .trace import AttentionRecord, BlockRecord


def make_norm(config: TransformerConfig) -> nn.Module:
    """The normalisation every block (and the final norm) uses: LayerNorm or RMSNorm."""
    if config.norm_kind == "rmsnorm":
        return RMSNorm(config.d_model, config.eps)
    return nn.LayerNorm(config.d_model, eps=config.eps)


ACTIVATIONS = {
    "gelu": F.gelu,                                          # exact (erf), as BERT
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),    # GPT-2's "gelu_new"
    "relu": F.relu,                                          # the original paper
    "silu": F.silu,                                          # x·sigmoid(x), Llama's SwiGLU gate
}


class FeedForward(nn.Module):
    """d_model -> d_ff -> d_model, applied to each position on its own.

    standard: down(act(up(x)))
    gated:    down(act(gate(x)) * up(x))   the gate decides, per hidden unit, how much of up(x) passes
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.gate = nn.Linear(config.d_model, config.d_ff, bias=config.bias) if config.mlp == "gated" else None
        self.up = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.down = nn.Linear(config.d_ff, config.d_model, bias=config.bias)
        self.activation = ACTIVATIONS[config.activation]

    def forward(self, x: torch.Tensor):
        """Returns (mlp_pre, mlp_hidden, mlp_out, mlp_up); mlp_up is None unless gated."""
        if self.gate is None:
            mlp_pre = self.up(x)                                 # (B, T, d_ff)
            mlp_hidden = self.activation(mlp_pre)
            return mlp_pre, mlp_hidden, self.down(mlp_hidden), None
        mlp_pre = self.gate(x)                                   # (B, T, d_ff)  the gate, before act
        mlp_up = self.up(x)                                      # (B, T, d_ff)
        mlp_hidden = self.activation(mlp_pre) * mlp_up           # (B, T, d_ff)  what W_down reads
        return mlp_pre, mlp_hidden, self.down(mlp_hidden), mlp_up


def attention_record(attn_in: torch.Tensor, a) -> AttentionRecord:
    """An AttentionResult and the input it read, as the record a trace is made from."""
    return AttentionRecord(attn_in, a.q, a.k, a.v, a.scores, a.weights, a.head_out, a.attn_out,
                           a.q_raw, a.k_raw)


class EncoderBlock(nn.Module):
    """One block with self-attention; `config.norm` picks the layout: post-LN (BERT), pre-LN (GPT),
    parallel (GPT-NeoX), post-sublayer (OLMo 2) or sandwich (Gemma 2, 3). `layer`: its place in the
    stack (sliding-window layers differ from the global ones)."""

    def __init__(self, config: TransformerConfig, layer: int = 0):
        super().__init__()
        self.layout = config.norm
        self.pre_ln = config.norm in ("pre", "parallel", "sandwich")   # these normalise before each sublayer
        self.attention = MultiHeadAttention(config, layer)
        self.attn_norm = make_norm(config)
        self.mlp = FeedForward(config)
        self.mlp_norm = make_norm(config)
        # Sandwich: the norms on the sublayers' outputs, beside those on their inputs. None otherwise.
        sandwich = config.norm == "sandwich"
        self.attn_out_norm = make_norm(config) if sandwich else None
        self.mlp_out_norm = make_norm(config) if sandwich else None

    def forward(self, x: torch.Tensor, allowed: Optional[torch.Tensor] = None,
                positions: Optional[torch.Tensor] = None, position_bias: Optional[torch.Tensor] = None,
                knock_out: Optional[KnockOut] = None, patch: Optional[Patch] = None,
                scratch: Optional[Scratch] = None):
        """x: (B, T, d_model); allowed: bool mask broadcastable to (B, H, T, T);
        positions: (T,) for rotary models; position_bias: (1, H, T, T) added to the scores (T5);
        knock_out: heads of this block to knock out;
        patch: another run's activations written into this block (resid_pre, head_out, attn_out, mlp_out);
        scratch: memory the attention's scores and weights reuse (a trace's forward pass; see Scratch)."""
        if patch is not None:
            x = patch.apply("resid_pre", x)
        attn_in = self.attn_norm(x) if self.pre_ln else x
        a = self.attention(attn_in, allowed=allowed, positions=positions, knock_out=knock_out, patch=patch,
                           bias=position_bias, scratch=scratch)
        if patch is not None:
            a = a._replace(attn_out=patch.apply("attn_out", a.attn_out))
        if self.layout == "post_sublayer":
            # OLMo 2: each sublayer reads the raw residual and its output is normalised before the add.
            resid_mid = x + self.attn_norm(a.attn_out)
            mlp_in = resid_mid
        elif self.pre_ln:
            resid_mid = x + (a.attn_out if self.attn_out_norm is None else self.attn_out_norm(a.attn_out))
            # Parallel: the feed-forward reads the block's input, not what attention added to it.
            mlp_in = self.mlp_norm(x if self.layout == "parallel" else resid_mid)
        else:
            resid_mid = self.attn_norm(x + a.attn_out)
            mlp_in = resid_mid
        mlp_pre, mlp_hidden, mlp_out, mlp_up = self.mlp(mlp_in)
        if patch is not None:
            mlp_out = patch.apply("mlp_out", mlp_out)
        if self.layout == "post_sublayer":
            resid_post = resid_mid + self.mlp_norm(mlp_out)
        elif self.mlp_out_norm is not None:
            resid_post = resid_mid + self.mlp_out_norm(mlp_out)
        else:
            resid_post = resid_mid + mlp_out if self.pre_ln else self.mlp_norm(resid_mid + mlp_out)
        return resid_post, BlockRecord(x, attention_record(attn_in, a), resid_mid, mlp_in, mlp_pre,
                                       mlp_hidden, mlp_out, resid_post, mlp_up)


    def one_head(self, x: torch.Tensor, head: int, allowed: Optional[torch.Tensor] = None,
                 positions: Optional[torch.Tensor] = None, position_bias: Optional[torch.Tensor] = None,
                 knock_out: Optional[KnockOut] = None, patch: Optional[Patch] = None) -> AttentionRecord:
        """Query head `head` of this block's self-attention alone, from the block's input x (see
        MultiHeadAttention.one_head): the norm before attention as `forward` runs it, then one head."""
        if patch is not None:
            x = patch.apply("resid_pre", x)
        attn_in = self.attn_norm(x) if self.pre_ln else x
        a = self.attention.one_head(attn_in, head, allowed=allowed, positions=positions, knock_out=knock_out,
                                    patch=patch, bias=position_bias)
        return attention_record(attn_in, a)


class OneHead(nn.Module):
    """A block's `one_head` as a module's forward, so that core.model.in_float32 can run it with a
    bf16/fp16 block's weights in float32 (the block is this module's only child: same parameters)."""

    def __init__(self, block: EncoderBlock, head: int):
        super().__init__()
        self.block, self.head = block, head

    def forward(self, x: torch.Tensor, *args, **kwargs) -> AttentionRecord:
        return self.block.one_head(x, self.head, *args, **kwargs)


class DecoderBlock(nn.Module):
    """Decoder block: masked self-attention, cross-attention to the encoder, feed-forward; pre-LN (the
    toy, T5) or post-LN (BART, Marian) by `config.norm`."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.pre_ln = config.norm != "post"
        self.self_norm = make_norm(config)
        self.self_attention = MultiHeadAttention(config)
        self.cross_norm = make_norm(config)
        self.cross_attention = MultiHeadAttention(config)
        self.mlp_norm = make_norm(config)
        self.mlp = FeedForward(config)

    def forward(self, x: torch.Tensor, memory: torch.Tensor,
                self_allowed: Optional[torch.Tensor] = None,
                cross_allowed: Optional[torch.Tensor] = None,
                position_bias: Optional[torch.Tensor] = None, scratch: Optional[Scratch] = None):
        """x: (B, T_target, d_model); memory: the encoder's output (B, T_source, d_model).

        self_allowed should include the causal mask; cross_allowed hides padded source keys;
        position_bias: (1, H, T_target, T_target) added to the self-attention's scores (T5);
        scratch: memory the self-attention's scores and weights reuse (a trace's forward pass).
        """
        if self.pre_ln:
            attn_in = self.self_norm(x)
            a = self.self_attention(attn_in, allowed=self_allowed, bias=position_bias, scratch=scratch)
            after_self = x + a.attn_out
            cross_in = self.cross_norm(after_self)
            c = self.cross_attention(cross_in, source=memory, allowed=cross_allowed)
            resid_mid = after_self + c.attn_out
            mlp_in = self.mlp_norm(resid_mid)
        else:   # post-LN: each sublayer reads the stream as it is, and the sum is normalised
            attn_in = x
            a = self.self_attention(attn_in, allowed=self_allowed, bias=position_bias, scratch=scratch)
            cross_in = self.self_norm(x + a.attn_out)
            c = self.cross_attention(cross_in, source=memory, allowed=cross_allowed)
            resid_mid = mlp_in = self.cross_norm(cross_in + c.attn_out)
        mlp_pre, mlp_hidden, mlp_out, mlp_up = self.mlp(mlp_in)
        resid_post = resid_mid + mlp_out if self.pre_ln else self.mlp_norm(resid_mid + mlp_out)
        return resid_post, BlockRecord(x, attention_record(attn_in, a), resid_mid, mlp_in, mlp_pre,
                                       mlp_hidden, mlp_out, resid_post, mlp_up=mlp_up,
                                       cross=attention_record(cross_in, c))
