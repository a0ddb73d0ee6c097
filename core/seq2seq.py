"""An encoder–decoder transformer on our core blocks (the original paper's shape).

    source ──encoder (self-attention, every token sees every token)──> memory
    target ──decoder (masked self-attention, then cross-attention to the memory)──> next tokens

`trace` runs one source and one target and returns a Trace for each side, built as the
decoder-only model builds its own: the decoder's Trace holds cross-attention in
`.layers[l].cross`. The toy task it is trained on lives in training/reversal.py; the real
encoder–decoders (T5, BART, Marian) are loaded by models/seq2seq.py onto this same class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .attention import RelativePositionBias, causal_mask
from .blocks import DecoderBlock, EncoderBlock, make_norm
from .config import TransformerConfig
from .embeddings import Embeddings
from .model import BlockRerun, build_trace, computed, from_state_dict, in_float32, run_blocks, trace_blocks
from .trace import Trace


class EncoderDecoder(nn.Module):
    """Encoder (self-attention) + decoder (masked self-attention, cross-attention); one vocabulary.

    The same switches as the decoder-only Transformer pick the family: the toy and T5 are pre-LN with a
    final norm after each stack (T5: RMSNorm, relative position bias, unscaled scores); BART and Marian
    are post-LN, with no final norm (BART: learned positions, a LayerNorm on the embeddings; Marian:
    sinusoids, token rows × √d_model) and a bias on the logits. The logits read the target table
    (tied) or their own matrix (`unembed`, T5 v1.1).
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.source_embed = Embeddings(config)
        self.target_embed = Embeddings(config)
        pre_ln = config.norm != "post"          # post-LN stacks end in their last block's own norm
        self.encoder = nn.ModuleList(EncoderBlock(config) for _ in range(config.n_layers))
        self.encoder_norm = make_norm(config) if pre_ln else None
        self.decoder = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layers))
        self.final_norm = make_norm(config) if pre_ln else None
        relative = config.positional == "relative"
        self.encoder_bias = RelativePositionBias(config, bidirectional=True) if relative else None
        self.decoder_bias = RelativePositionBias(config, bidirectional=False) if relative else None
        self.unembed = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.logits_bias = nn.Parameter(torch.zeros(config.vocab_size)) if config.logits_bias else None

    def unembedding(self) -> torch.Tensor:
        """(vocab, d_model) matrix whose rows score each next token, in float32 for a bf16/fp16 model;
        with the original T5's output scale folded in (final · s) · Eᵀ = final · (s · E)ᵀ, a scaled
        copy made for this call."""
        table = computed(self.target_embed.token.weight if self.unembed is None else self.unembed.weight)
        return table if self.config.output_scale == 1.0 else table * self.config.output_scale

    def output_bias(self) -> Optional[torch.Tensor]:
        """(vocab,) added to every logit (BART, Marian), or None."""
        return self.logits_bias

    def encoder_args(self, keys: torch.Tensor) -> tuple:
        """What every encoder block reads besides its input: the mask of real source keys (B, S)
        as (B, 1, 1, S), no rotary positions, and T5's bias."""
        s = keys.shape[1]
        bias = self.encoder_bias(s, s) if self.encoder_bias is not None else None
        return keys[:, None, None, :], None, bias

    def decoder_args(self, t: int, memory: torch.Tensor, keys: torch.Tensor) -> tuple:
        """What every decoder block reads besides its input: the memory, the causal mask, the source
        keys' mask and T5's (causal) bias."""
        bias = self.decoder_bias(t, t) if self.decoder_bias is not None else None
        return memory, causal_mask(t, t, memory.device)[None, None], keys[:, None, None, :], bias

    def final(self, x: torch.Tensor, norm: Optional[nn.Module]) -> torch.Tensor:
        return in_float32(norm, x) if norm is not None else x

    def logits_of(self, final: torch.Tensor) -> torch.Tensor:
        logits = final @ self.unembedding().T                              # (B, T, vocab)
        return logits if self.logits_bias is None else logits + computed(self.logits_bias)

    def encode(self, source: torch.Tensor):
        """source: (B, S) ids. Returns (embedding result, records, memory (B, S, d_model), key mask (B, S))."""
        keys = source != self.config.pad_id                          # (B, S) padding is never looked at
        emb = in_float32(self.source_embed, source)
        x, records = run_blocks(self.encoder, emb.embed, *self.encoder_args(keys))
        return emb, records, self.final(x, self.encoder_norm), keys

    def decode(self, target_in: torch.Tensor, memory: torch.Tensor, source_keys: torch.Tensor):
        """target_in: (B, T) ids starting with the start token. Returns (embedding result, records, final, logits)."""
        emb = in_float32(self.target_embed, target_in)
        x, records = run_blocks(self.decoder, emb.embed, *self.decoder_args(target_in.shape[1], memory, source_keys))
        final = self.final(x, self.final_norm)
        return emb, records, final, self.logits_of(final)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        _, _, memory, keys = self.encode(source)
        return self.decode(target_in, memory, keys)[3]

    @torch.no_grad()
    def greedy(self, source: torch.Tensor, max_len: int, start_id: int, stop_id: Optional[int] = None,
               banned: Sequence[int] = (), first_id: Optional[int] = None) -> torch.Tensor:
        """Write the output one token at a time, always taking the most likely; (B, ≤ max_len).

        stop_id: the end token, after which a row writes nothing more (it is kept; a batch of one stops
        there). banned: tokens never written. first_id: the token forced first (some BART checkpoints'
        forced_bos_token_id). The same rules as transformers' greedy generate."""
        _, _, memory, keys = self.encode(source)
        out = torch.full((source.shape[0], 1), start_id, dtype=torch.long, device=source.device)
        for step in range(max_len):
            logits = self.decode(out, memory, keys)[3][:, -1]                  # (B, vocab)
            if banned:
                logits[:, list(banned)] = float("-inf")
            if step == 0 and first_id is not None:
                logits[:, :] = float("-inf")
                logits[:, first_id] = 0.0
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
            if stop_id is not None and source.shape[0] == 1 and int(out[0, -1]) == stop_id:
                break
        return out[:, 1:]

    @torch.inference_mode()
    def trace(self, source_ids: Sequence[int], target_ids: Sequence[int], source_tokens: Sequence[str],
              target_tokens: Sequence[str], special: Optional[set[int]] = None, text: str = "",
              source_offsets: Optional[Sequence[tuple[int, int]]] = None,
              source_special: Optional[Sequence[bool]] = None, truncated: bool = False,
              n_input_tokens: Optional[int] = None) -> tuple[Trace, Trace]:
        """One source and one target (starting with the start token) -> (encoder Trace, decoder Trace).
        special: ids marked special (or source_special: the source tokenizer's own mask)."""
        special = special or set()
        h, h_kv = self.config.n_heads, self.config.kv_heads
        device = self.source_embed.token.weight.device
        source = torch.tensor([list(source_ids)], device=device)           # (1, S)
        target_in = torch.tensor([list(target_ids)], device=device)        # (1, T)
        keys = source != self.config.pad_id                                 # (1, S)
        t = target_in.shape[1]

        enc_emb = in_float32(self.source_embed, source)
        x, enc_kept = trace_blocks(self.encoder, h, False, enc_emb.embed.cpu(), *self.encoder_args(keys))
        memory = self.final(x, self.encoder_norm)                           # (1, S, d_model)
        dec_emb = in_float32(self.target_embed, target_in)
        x, dec_kept = trace_blocks(self.decoder, h, True, dec_emb.embed.cpu(), *self.decoder_args(t, memory, keys))
        final = self.final(x, self.final_norm)
        encoder = build_trace(source_ids, enc_emb, enc_kept, BlockRerun(self.encoder, lambda: self.encoder_args(keys),
                                                                        None),
                              causal=False, n_heads=h, n_kv_heads=h_kv, tokens=source_tokens, offsets=source_offsets,
                              special_mask=list(source_special) if source_special is not None
                              else [i in special for i in source_ids], text=text, truncated=truncated,
                              n_input_tokens=n_input_tokens)
        decoder = build_trace(target_ids, dec_emb, dec_kept,
                              BlockRerun(self.decoder, lambda: self.decoder_args(t, memory, keys), None,
                                         self.unembedding, logits_bias=self.output_bias),
                              causal=True, n_heads=h, n_kv_heads=h_kv, tokens=target_tokens,
                              special_mask=[i in special for i in target_ids], text=text, final=final)
        return encoder, decoder


def seq2seq_from_state_dict(config: TransformerConfig, state: dict[str, torch.Tensor]) -> EncoderDecoder:
    """An EncoderDecoder whose parameters are exactly `state` (strict, as core.model.from_state_dict)."""
    return from_state_dict(config, state, EncoderDecoder)


@dataclass(frozen=True)
class Seq2SeqTrace:
    source: str
    output: str                   # what the model wrote (greedy)
    encoder: Trace                # source tokens; encoder self-attention in .layers[l].weights
    decoder: Trace                # start token + output; masked self-attention in .layers[l].weights,
                                  # cross-attention (T_target, T_source) in .layers[l].cross.weights
    typed: bool = False           # the target was given (forced decoding), not the model's own output
    truncated: bool = False       # the source was cut to the model's token limit
    last_guess: str = ""          # the token the decoder's last row finds likeliest (the end token, when done)

    def anti_diagonal_share(self, layer: int = -1) -> float:
        """Mean cross-attention weight (over heads) that output token i puts on source token n-1-i:
        how much the decoder reads the source back to front."""
        weights = self.decoder.layers[layer].cross.weights.mean(axis=0)     # (T_target, S)
        n = weights.shape[1]
        return float(np.mean([weights[i, n - 1 - i] for i in range(min(n, weights.shape[0]))]))

    def cross_weights(self, layer: int = -1, head: Optional[int] = None) -> np.ndarray:
        """(T_target, T_source) cross-attention of one head, or the mean of the layer's heads (head None)."""
        weights = self.decoder.layers[layer].cross.weights                  # (H, T_target, S)
        return weights.mean(axis=0) if head is None else weights[head]

    def alignment(self, layer: int = -1, head: Optional[int] = None) -> list[tuple[str, str, float]]:
        """For each decoder row: the token it writes (the next one it reads; for the last row, the model's
        own likeliest next token), the source token its cross-attention weighs most, and that weight."""
        weights = self.cross_weights(layer, head)
        rows = []
        for i in range(len(self.decoder)):
            written = self.decoder.tokens[i + 1] if i + 1 < len(self.decoder) else None
            if written is None:
                written = f"({self.last_guess})" if self.last_guess else ""
            j = int(weights[i].argmax())
            rows.append((written or "", self.encoder.tokens[j], float(weights[i, j])))
        return rows
