"""A stack of blocks over the embeddings: BERT-style encoders and GPT-style decoders.

`forward` is for training (batched tensors in, logits out); `trace` runs one sequence
and returns a fresh, frozen Trace of every intermediate. Nothing is stored on the
module during a forward, so one instance can serve many threads at once.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .attention import KnockOut, causal_mask
from .blocks import EncoderBlock, make_norm
from .config import TransformerConfig
from .embeddings import Embeddings, sinusoidal_encoding
from .trace import AttentionRecord, AttentionTrace, BlockRecord, LayerTrace, Trace


def to_numpy(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    """First batch element as a read-only float32 array (no copy when already contiguous)."""
    if t is None:
        return None
    out = t.detach()[0].to(torch.float32).contiguous().numpy()
    out.flags.writeable = False
    return out


def attention_trace(record: AttentionRecord, shared: Optional[dict[int, np.ndarray]] = None) -> AttentionTrace:
    shared = shared or {}
    arrays = {name: shared[id(value)] if id(value) in shared else to_numpy(value)
              for name, value in vars(record).items() if name not in ("q_raw", "k_raw")}
    return AttentionTrace(**arrays)


def layer_trace(record: BlockRecord, shared: Optional[dict[int, np.ndarray]] = None) -> LayerTrace:
    """One block's record as arrays; `shared` maps a tensor (by id) to a view already made of it."""
    shared = shared or {}

    def array(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
        return shared[id(t)] if id(t) in shared else to_numpy(t)

    a = record.attention
    cross = attention_trace(record.cross) if record.cross is not None else None
    return LayerTrace(resid_pre=array(record.resid_pre), attn_in=array(a.attn_in), q=array(a.q), k=array(a.k),
                      v=array(a.v), scores=array(a.scores), weights=array(a.weights), head_out=array(a.head_out),
                      attn_out=array(a.attn_out), resid_mid=array(record.resid_mid), mlp_in=array(record.mlp_in),
                      mlp_pre=array(record.mlp_pre), mlp_hidden=array(record.mlp_hidden),
                      mlp_out=array(record.mlp_out), resid_post=array(record.resid_post), cross=cross,
                      q_raw=array(a.q_raw), k_raw=array(a.k_raw), mlp_up=array(record.mlp_up))


def stacked_views(emb, records: list[BlockRecord]) -> dict[int, np.ndarray]:
    """Every layer's weights as views into one (L, H, T, T) array, and the residual stream (the
    embedding, each block's input and output) as views into one (L + 1, T, d_model) array.
    `trace.attentions` and `trace.hidden_states` are then those arrays, not second copies:
    at 512 tokens that is 75 MB less for MiniLM, and what a trace weighs no longer grows with use."""
    if not records:
        return {}
    weights = to_numpy(torch.stack([r.attention.weights for r in records], dim=1))       # (L, H, T, T)
    hidden = to_numpy(torch.stack([emb.embed] + [r.resid_post for r in records], dim=1))  # (L+1, T, d)
    shared = {id(emb.embed): hidden[0]}
    for layer, record in enumerate(records):
        shared[id(record.attention.weights)] = weights[layer]
        shared[id(record.resid_post)] = hidden[layer + 1]
    return shared


def run_blocks(blocks, x: torch.Tensor, *args,
               knock_outs: Optional[dict[int, KnockOut]] = None) -> tuple[torch.Tensor, list[BlockRecord]]:
    """x through every block in turn; returns the last output and each block's record.
    knock_outs: block index -> the heads knocked out in that block (for this call only)."""
    records = []
    for i, block in enumerate(blocks):
        if knock_outs and i in knock_outs:
            x, record = block(x, *args, knock_out=knock_outs[i])
        else:
            x, record = block(x, *args)
        records.append(record)
    return x, records


def build_trace(ids: Sequence[int], emb, records: list[BlockRecord], *, causal: bool,
                tokens: Optional[Sequence[str]] = None, offsets: Optional[Sequence[tuple[int, int]]] = None,
                special_mask: Optional[Sequence[bool]] = None, truncated: bool = False, text: str = "",
                n_input_tokens: Optional[int] = None, final: Optional[torch.Tensor] = None,
                logits: Optional[torch.Tensor] = None) -> Trace:
    """The frozen record of one sequence's run (batch of 1): the one place a Trace is made."""
    t = len(ids)
    pos_embed = emb.pos_embed.expand(1, t, -1)                       # (1, T, d_model)
    shared = stacked_views(emb, records)
    return Trace(
        tokens=list(tokens) if tokens is not None else [str(i) for i in ids],
        ids=[int(i) for i in ids],
        offsets=[tuple(o) for o in offsets] if offsets is not None else [(0, 0)] * t,
        special_mask=list(special_mask) if special_mask is not None else [False] * t,
        token_embed=to_numpy(emb.token_embed),
        pos_embed=to_numpy(pos_embed),
        type_embed=to_numpy(emb.type_embed),
        embed=shared.get(id(emb.embed), to_numpy(emb.embed)),
        layers=tuple(layer_trace(r, shared) for r in records),
        truncated=truncated,
        text=text,
        n_input_tokens=t if n_input_tokens is None else n_input_tokens,
        causal=causal,
        final=to_numpy(final),
        logits=to_numpy(logits),
    )


def knock_outs_for(config: TransformerConfig, ablate: Sequence[tuple[int, int]],
                   mode: str = "zero") -> Optional[dict[int, KnockOut]]:
    """(layer, head) pairs -> one KnockOut per layer (batch of 1); names a pair out of range."""
    if not ablate:
        return None
    heads = torch.zeros(config.n_layers, 1, config.n_heads, dtype=torch.bool)   # (L, B=1, H)
    for layer, head in ablate:
        if not (0 <= int(layer) < config.n_layers and 0 <= int(head) < config.n_heads):
            raise ValueError(f"no head ({layer}, {head}): this model has {config.n_layers} layers × "
                             f"{config.n_heads} heads, numbered from 0.")
        heads[int(layer), 0, int(head)] = True
    return {layer: KnockOut(heads[layer], mode) for layer in range(config.n_layers) if heads[layer].any()}


def build_allowed(config: TransformerConfig, t: int, key_mask: Optional[torch.Tensor],
                  device=None) -> Optional[torch.Tensor]:
    """Bool mask broadcastable to (B, H, T, T): causal triangle and/or padded keys hidden."""
    allowed = None
    if config.causal:
        allowed = causal_mask(t, t, device)[None, None]          # (1, 1, T, T)
    if key_mask is not None:
        keys = key_mask.bool()[:, None, None, :]                  # (B, 1, 1, T)
        allowed = keys if allowed is None else (allowed & keys)
    return allowed


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.n_layers))
        self.final_norm = make_norm(config) if config.lm_head else None
        untied = config.lm_head and not config.tie_embeddings
        self.unembed = nn.Linear(config.d_model, config.vocab_size, bias=False) if untied else None

    # -- the weights a learner asks about ---------------------------------------------
    @property
    def token_table(self) -> torch.Tensor:
        """(vocab, d_model): the embedding matrix; tied LMs also use it as the unembedding."""
        return self.embeddings.token.weight

    def unembedding(self) -> torch.Tensor:
        """(vocab, d_model) matrix whose rows score each next token."""
        return self.token_table if self.unembed is None else self.unembed.weight

    # -- running ----------------------------------------------------------------------
    def run(self, ids: torch.Tensor, type_ids: Optional[torch.Tensor] = None,
            key_mask: Optional[torch.Tensor] = None, knock_outs: Optional[dict[int, KnockOut]] = None,
            token_embed: Optional[torch.Tensor] = None):
        """ids: (B, T). Returns (embedding result, layer records, final, logits).
        knock_outs: layer -> heads knocked out there (see analysis/ablation.py).
        token_embed: (B, T, d_model) token rows to use instead of the table's (see analysis/attribution.py)."""
        emb = self.embeddings(ids, type_ids, token_embed=token_embed)
        allowed = build_allowed(self.config, ids.shape[1], key_mask, ids.device)
        # Rotary models turn q and k by these positions inside every attention layer.
        positions = torch.arange(ids.shape[1], device=ids.device) if self.config.positional == "rotary" else None
        x, records = run_blocks(self.blocks, emb.embed, allowed, positions, knock_outs=knock_outs)
        final = logits = None
        if self.config.lm_head:
            final = self.final_norm(x)
            logits = final @ self.unembedding().T                  # (B, T, vocab)
        return emb, records, final, logits

    def forward(self, ids: torch.Tensor, type_ids: Optional[torch.Tensor] = None,
                key_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits (B, T, vocab) for an LM; otherwise the last hidden states (B, T, d_model)."""
        emb, records, final, logits = self.run(ids, type_ids, key_mask)
        if logits is not None:
            return logits
        return records[-1].resid_post if records else emb.embed

    @torch.inference_mode()
    def trace(self, ids: Sequence[int], tokens: Optional[Sequence[str]] = None,
              offsets: Optional[Sequence[tuple[int, int]]] = None,
              special_mask: Optional[Sequence[bool]] = None, *,
              key_mask: Optional[Sequence[bool]] = None, truncated: bool = False,
              text: str = "", n_input_tokens: Optional[int] = None,
              ablate: Sequence[tuple[int, int]] = (), mode: str = "zero") -> Trace:
        """Run one sequence and return every intermediate.
        ablate: (layer, head) pairs whose outputs are replaced ("zero" or their "mean") before W_O."""
        ids = [int(i) for i in ids]
        if not ids:
            raise ValueError("cannot trace an empty sequence of tokens.")
        id_tensor = torch.tensor([ids], dtype=torch.long)                # (1, T)
        mask_tensor = None if key_mask is None else torch.tensor([list(key_mask)], dtype=torch.bool)
        knock_outs = knock_outs_for(self.config, ablate, mode)
        emb, records, final, logits = self.run(id_tensor, key_mask=mask_tensor, knock_outs=knock_outs)
        return build_trace(ids, emb, records, causal=self.config.causal, tokens=tokens, offsets=offsets,
                           special_mask=special_mask, truncated=truncated, text=text,
                           n_input_tokens=n_input_tokens, final=final, logits=logits)


def from_state_dict(config: TransformerConfig, state: dict[str, torch.Tensor]) -> Transformer:
    """Build a Transformer whose parameters are exactly `state` (strict: no missing, no extra).

    The module is created on the meta device so no time is spent on a random
    initialisation that would be overwritten at once.
    """
    with torch.device("meta"):
        net = Transformer(config)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"weights do not fit the config: missing {missing[:5]}, unexpected {extra[:5]}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(f"weight {name} has shape {tuple(tensor.shape)}, "
                             f"the config needs {tuple(expected[name].shape)}")
    net.load_state_dict(state, strict=True, assign=True)
    if config.positional == "sinusoidal":  # a computed, non-persistent table
        net.embeddings.sinusoid = torch.from_numpy(sinusoidal_encoding(config.max_positions, config.d_model))
    return net.eval()
