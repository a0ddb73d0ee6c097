"""An encoder–decoder transformer on our core blocks (the original paper's shape).

    source ──encoder (self-attention, every token sees every token)──> memory
    target ──decoder (masked self-attention, then cross-attention to the memory)──> next tokens

`trace` runs one source and one target and returns a Trace for each side, built as the
decoder-only model builds its own: the decoder's Trace holds cross-attention in
`.layers[l].cross`. The toy task it is trained on lives in training/reversal.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .attention import causal_mask
from .blocks import DecoderBlock, EncoderBlock
from .config import TransformerConfig
from .embeddings import Embeddings
from .model import BlockRerun, build_trace, in_float32, run_blocks, trace_blocks
from .trace import Trace


class EncoderDecoder(nn.Module):
    """Encoder (self-attention) + decoder (masked self-attention, cross-attention); one shared vocabulary."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.source_embed = Embeddings(config)
        self.target_embed = Embeddings(config)
        self.encoder = nn.ModuleList(EncoderBlock(config) for _ in range(config.n_layers))
        self.encoder_norm = nn.LayerNorm(config.d_model, eps=config.eps)
        self.decoder = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.eps)

    def encode(self, source: torch.Tensor):
        """source: (B, S) ids. Returns (embedding result, records, memory (B, S, d_model), key mask (B, S))."""
        keys = source != self.config.pad_id                          # (B, S) padding is never looked at
        emb = self.source_embed(source)
        x, records = run_blocks(self.encoder, emb.embed, keys[:, None, None, :])   # mask (B, 1, 1, S)
        return emb, records, self.encoder_norm(x), keys

    def decode(self, target_in: torch.Tensor, memory: torch.Tensor, source_keys: torch.Tensor):
        """target_in: (B, T) ids starting with the start token. Returns (embedding result, records, final, logits)."""
        t = target_in.shape[1]
        self_allowed = causal_mask(t, t, target_in.device)[None, None]       # (1, 1, T, T)
        cross_allowed = source_keys[:, None, None, :]                         # (B, 1, 1, S)
        emb = self.target_embed(target_in)
        x, records = run_blocks(self.decoder, emb.embed, memory, self_allowed, cross_allowed)
        final = self.final_norm(x)
        logits = final @ self.target_embed.token.weight.T                     # (B, T, vocab), tied
        return emb, records, final, logits

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        _, _, memory, keys = self.encode(source)
        return self.decode(target_in, memory, keys)[3]

    @torch.no_grad()
    def greedy(self, source: torch.Tensor, max_len: int, start_id: int) -> torch.Tensor:
        """Write the output one token at a time, always taking the most likely; (B, ≤ max_len)."""
        _, _, memory, keys = self.encode(source)
        out = torch.full((source.shape[0], 1), start_id, dtype=torch.long)
        for _ in range(max_len):
            logits = self.decode(out, memory, keys)[3][:, -1]                  # (B, vocab)
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
        return out[:, 1:]

    @torch.inference_mode()
    def trace(self, source_ids: Sequence[int], target_ids: Sequence[int], source_tokens: Sequence[str],
              target_tokens: Sequence[str], special: Optional[set[int]] = None, text: str = "") -> tuple[Trace, Trace]:
        """One source and one target (starting with the start token) -> (encoder Trace, decoder Trace)."""
        special = special or set()
        h, h_kv = self.config.n_heads, self.config.kv_heads
        source = torch.tensor([list(source_ids)])                           # (1, S)
        target_in = torch.tensor([list(target_ids)])                        # (1, T)
        keys = source != self.config.pad_id                                 # (1, S)
        t = target_in.shape[1]

        def encoder_args() -> tuple:
            return (keys[:, None, None, :],)                                # (1, 1, 1, S)

        enc_emb = in_float32(self.source_embed, source)
        x, enc_kept = trace_blocks(self.encoder, h, False, enc_emb.embed, *encoder_args())
        memory = in_float32(self.encoder_norm, x)                           # (1, S, d_model)

        def decoder_args() -> tuple:
            return memory, causal_mask(t, t)[None, None], keys[:, None, None, :]

        dec_emb = in_float32(self.target_embed, target_in)
        x, dec_kept = trace_blocks(self.decoder, h, True, dec_emb.embed, *decoder_args())
        final = in_float32(self.final_norm, x)
        encoder = build_trace(source_ids, enc_emb, enc_kept, BlockRerun(self.encoder, encoder_args, None),
                              causal=False, n_heads=h, n_kv_heads=h_kv, tokens=source_tokens,
                              special_mask=[i in special for i in source_ids], text=text)
        decoder = build_trace(target_ids, dec_emb, dec_kept,
                              BlockRerun(self.decoder, decoder_args, None, lambda: self.target_embed.token.weight),
                              causal=True, n_heads=h, n_kv_heads=h_kv, tokens=target_tokens,
                              special_mask=[i in special for i in target_ids], text=text, final=final)
        return encoder, decoder


@dataclass(frozen=True)
class Seq2SeqTrace:
    source: str
    output: str                   # what the model wrote (greedy)
    encoder: Trace                # source tokens; encoder self-attention in .layers[l].weights
    decoder: Trace                # start token + output; masked self-attention in .layers[l].weights,
                                  # cross-attention (T_target, T_source) in .layers[l].cross.weights

    def anti_diagonal_share(self, layer: int = -1) -> float:
        """Mean cross-attention weight (over heads) that output token i puts on source token n-1-i:
        how much the decoder reads the source back to front."""
        weights = self.decoder.layers[layer].cross.weights.mean(axis=0)     # (T_target, S)
        n = weights.shape[1]
        return float(np.mean([weights[i, n - 1 - i] for i in range(min(n, weights.shape[0]))]))
