"""Token, position and segment embeddings, and the sinusoidal encoding.

The input of layer 0 is  E_token[id] · scale + P[position] (+ E_type[segment]),
(scale = config.embed_scale: 1, or √d_model in Gemma)
LayerNorm-ed in BERT (embed_norm=True), passed on as is in GPT-2.
Rotary models (Llama) add no position here: P is zero and RoPE acts inside attention; nor does T5,
whose relative positions are a bias on the attention scores (core/attention.py).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from .config import TransformerConfig


def sinusoidal_encoding(n_positions: int, d_model: int, layout: str = "interleaved") -> np.ndarray:
    """The positional encoding of *Attention Is All You Need* (section 3.5).

    PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))
    Each pair of dimensions is a clock turning at its own speed; returns (n_positions, d_model).
    layout "halves" (Marian) puts the same numbers in another order: every sin first, then every
    cos (PE[pos, i] = sin(...), PE[pos, d_model/2 + i] = cos(...)).
    """
    if d_model % 2:
        raise ValueError("d_model must be even: dimensions come in sin/cos pairs.")
    position = np.arange(n_positions, dtype=np.float64)[:, None]            # (P, 1)
    rate = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2) / d_model)   # (d_model/2,)
    pe = np.zeros((n_positions, d_model), dtype=np.float64)
    if layout == "halves":
        pe[:, : d_model // 2] = np.sin(position * rate)
        pe[:, d_model // 2:] = np.cos(position * rate)
    else:
        pe[:, 0::2] = np.sin(position * rate)
        pe[:, 1::2] = np.cos(position * rate)
    return pe.astype(np.float32)


class EmbeddingResult(NamedTuple):
    token_embed: torch.Tensor           # (B, T, d_model)
    pos_embed: torch.Tensor             # (B, T, d_model) or (1, T, d_model)
    type_embed: Optional[torch.Tensor]  # (B, T, d_model)
    embed: torch.Tensor                 # (B, T, d_model)


class Embeddings(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.token = nn.Embedding(config.vocab_size, config.d_model)
        if config.positional == "learned":
            self.position = nn.Embedding(config.max_positions, config.d_model)
        elif config.positional == "sinusoidal":
            # A fixed table, not a parameter: saved with the model but never trained.
            table = torch.from_numpy(sinusoidal_encoding(config.max_positions, config.d_model,
                                                         config.sinusoid_layout))
            self.register_buffer("sinusoid", table, persistent=False)
        self.segment = nn.Embedding(config.type_vocab_size, config.d_model) if config.type_vocab_size else None
        self.norm = nn.LayerNorm(config.d_model, eps=config.eps) if config.embed_norm else None

    def position_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) row of the position table each token reads.

        Usually 0, 1, 2, ... RoBERTa (position_offset > 0) counts from pad_id + 1 and skips
        padding: a pad token reads row pad_id, the n-th other token row pad_id + n.
        """
        t = ids.shape[1]
        if self.config.position_offset == 0:
            return torch.arange(t, device=ids.device).expand(ids.shape[0], t)   # (B, T)
        not_pad = (ids != self.config.pad_id).long()                              # (B, T)
        return torch.cumsum(not_pad, dim=1) * not_pad + self.config.pad_id        # (B, T)

    def forward(self, ids: torch.Tensor, type_ids: Optional[torch.Tensor] = None,
                token_embed: Optional[torch.Tensor] = None) -> EmbeddingResult:
        """ids: (B, T) token ids. token_embed: (B, T, d_model) rows used instead of the table's
        (attribution scales them between a baseline and the real rows); positions and segments
        are still read from ids."""
        t = ids.shape[1]
        if t > self.config.n_positions:
            raise ValueError(f"{t} tokens is more than the model's {self.config.n_positions} positions.")
        token_embed = self.token(ids) if token_embed is None else token_embed   # (B, T, d_model)
        if self.config.positional == "learned" and self.config.position_offset:
            pos_embed = self.position(self.position_ids(ids))           # (B, T, d_model)
        elif self.config.positional == "learned":
            pos_embed = self.position.weight[:t].unsqueeze(0)           # (1, T, d_model)
        elif self.config.positional == "sinusoidal":
            pos_embed = self.sinusoid[:t].unsqueeze(0)                  # (1, T, d_model)
        else:  # rotary, relative (T5: a bias on the scores) or none: nothing is added to the tokens
            pos_embed = token_embed.new_zeros(1, t, self.config.d_model)  # (1, T, d_model)
        # Gemma scales the token rows by √d_model (config.embed_scale); token_embed stays the table's rows.
        x = (token_embed * self.config.embed_scale if self.config.embed_scale != 1.0 else token_embed) + pos_embed
        type_embed = None
        if self.segment is not None:
            type_ids = torch.zeros_like(ids) if type_ids is None else type_ids
            type_embed = self.segment(type_ids)                         # (B, T, d_model)
            x = x + type_embed
        embed = self.norm(x) if self.norm is not None else x
        return EmbeddingResult(token_embed, pos_embed, type_embed, embed)
