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

from .attention import KnockOut, Patch, causal_mask
from .blocks import EncoderBlock, make_norm
from .config import TransformerConfig
from .embeddings import Embeddings, sinusoidal_encoding
from .trace import AttentionTrace, LayerTrace, Trace


def to_numpy(t: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    """First batch element as a read-only float32 array (no copy when already contiguous)."""
    if t is None:
        return None
    out = t.detach()[0].to(torch.float32).contiguous().numpy()
    out.flags.writeable = False
    return out


def attention_trace(record: dict) -> AttentionTrace:
    return AttentionTrace(**{name: to_numpy(value) for name, value in record.items()})


def layer_trace(record: dict, shared: Optional[dict[int, np.ndarray]] = None) -> LayerTrace:
    """One block's record as arrays; `shared` maps a tensor (by id) to a view already made of it."""
    shared = shared or {}
    fields = {name: shared[id(value)] if id(value) in shared else to_numpy(value)
              for name, value in record.items() if name != "cross"}
    cross = attention_trace(record["cross"]) if record.get("cross") is not None else None
    return LayerTrace(**fields, cross=cross)


def stacked_views(emb, records: list[dict]) -> dict[int, np.ndarray]:
    """Every layer's weights as views into one (L, H, T, T) array, and the residual stream (the
    embedding, each block's input and output) as views into one (L + 1, T, d_model) array.
    `trace.attentions` and `trace.hidden_states` are then those arrays, not second copies:
    at 512 tokens that is 75 MB less for MiniLM, and what a trace weighs no longer grows with use."""
    if not records:
        return {}
    weights = to_numpy(torch.stack([r["weights"] for r in records], dim=1))           # (L, H, T, T)
    hidden = to_numpy(torch.stack([emb.embed] + [r["resid_post"] for r in records], dim=1))  # (L+1, T, d)
    shared = {id(emb.embed): hidden[0]}
    for layer, record in enumerate(records):
        shared[id(record["weights"])] = weights[layer]
        shared[id(record["resid_post"])] = hidden[layer + 1]
    return shared


def run_blocks(blocks, x: torch.Tensor, *args,
               knock_outs: Optional[dict[int, KnockOut]] = None,
               patches: Optional[dict[int, Patch]] = None) -> tuple[torch.Tensor, list[dict]]:
    """x through every block in turn; returns the last output and each block's record.
    knock_outs: block index -> the heads knocked out in that block (for this call only).
    patches: block index -> another run's activations written into that block (for this call only)."""
    records = []
    for i, block in enumerate(blocks):
        extra = {}
        if knock_outs and i in knock_outs:
            extra["knock_out"] = knock_outs[i]
        if patches and i in patches:
            extra["patch"] = patches[i]
        x, record = block(x, *args, **extra)
        records.append(record)
    return x, records


def build_trace(ids: Sequence[int], emb, records: list[dict], *, causal: bool,
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


PATCH_SITES = {"resid_pre": "resid_pre", "attn_out": "attn_out", "mlp_out": "mlp_out", "head": "head_out"}


def patches_for(config: TransformerConfig, clean: Trace, sites: Sequence[tuple], t: int) -> Optional[dict[int, Patch]]:
    """Sites -> one Patch per layer (batch of 1) carrying the clean trace's activations there.

    A site is ("resid_pre" | "attn_out" | "mlp_out", layer, position), ("head", layer, head) for
    every position, or ("head", layer, head, position). Names a site that does not exist."""
    if not sites:
        return None
    if len(clean) != t:
        raise ValueError(f"the clean run has {len(clean)} tokens and this one {t}: patching copies "
                         "activations position by position, so both need the same number of tokens.")
    where: dict[int, dict[str, torch.Tensor]] = {}
    for site in sites:
        kind = site[0] if isinstance(site, (tuple, list)) and site else None
        if kind not in PATCH_SITES or len(site) not in ((3, 4) if kind == "head" else (3,)):
            raise ValueError(f"unknown site {site!r}: use (resid_pre|attn_out|mlp_out, layer, position), "
                             "(head, layer, head) or (head, layer, head, position).")
        layer, *rest = (int(i) for i in site[1:])
        if not 0 <= layer < config.n_layers:
            raise ValueError(f"no layer {layer}: this model has {config.n_layers}, numbered from 0.")
        if kind == "head" and not 0 <= rest[0] < config.n_heads:
            raise ValueError(f"no head {rest[0]}: this model has {config.n_heads} per layer, numbered from 0.")
        position = rest[-1] if kind != "head" or len(rest) == 2 else None
        if position is not None and not 0 <= position < t:
            raise ValueError(f"no position {position}: the text has {t} tokens, numbered from 0.")
        name = PATCH_SITES[kind]
        shape = (1, config.n_heads, t) if kind == "head" else (1, t)
        mask = where.setdefault(layer, {}).setdefault(name, torch.zeros(shape, dtype=torch.bool))
        places = slice(None) if position is None else position
        if kind == "head":
            mask[0, rest[0], places] = True                   # (1, H, T)
        else:
            mask[0, places] = True                            # (1, T)
    patches = {}
    for layer, masks in where.items():
        values = {name: torch.from_numpy(np.array(getattr(clean.layers[layer], name)))[None] for name in masks}
        patches[layer] = Patch(masks, values)                 # values: (1, T, d_model) or (1, H, T, d_head)
    return patches


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
            token_embed: Optional[torch.Tensor] = None, patches: Optional[dict[int, Patch]] = None):
        """ids: (B, T). Returns (embedding result, layer records, final, logits).
        knock_outs: layer -> heads knocked out there (see analysis/ablation.py).
        patches: layer -> another run's activations written there (see analysis/patching.py).
        token_embed: (B, T, d_model) token rows to use instead of the table's (see analysis/attribution.py)."""
        emb = self.embeddings(ids, type_ids, token_embed=token_embed)
        allowed = build_allowed(self.config, ids.shape[1], key_mask, ids.device)
        # Rotary models turn q and k by these positions inside every attention layer.
        positions = torch.arange(ids.shape[1], device=ids.device) if self.config.positional == "rotary" else None
        x, records = run_blocks(self.blocks, emb.embed, allowed, positions, knock_outs=knock_outs, patches=patches)
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
        return records[-1]["resid_post"] if records else emb.embed

    @torch.inference_mode()
    def trace(self, ids: Sequence[int], tokens: Optional[Sequence[str]] = None,
              offsets: Optional[Sequence[tuple[int, int]]] = None,
              special_mask: Optional[Sequence[bool]] = None, *,
              key_mask: Optional[Sequence[bool]] = None, truncated: bool = False,
              text: str = "", n_input_tokens: Optional[int] = None,
              ablate: Sequence[tuple[int, int]] = (), mode: str = "zero",
              patch_from: Optional[Trace] = None, sites: Sequence[tuple] = ()) -> Trace:
        """Run one sequence and return every intermediate.
        ablate: (layer, head) pairs whose outputs are replaced ("zero" or their "mean") before W_O.
        patch_from, sites: the clean trace's activations written at those sites of this run
        (activation patching; see core.model.patches_for for the sites)."""
        ids = [int(i) for i in ids]
        if not ids:
            raise ValueError("cannot trace an empty sequence of tokens.")
        id_tensor = torch.tensor([ids], dtype=torch.long)                # (1, T)
        mask_tensor = None if key_mask is None else torch.tensor([list(key_mask)], dtype=torch.bool)
        knock_outs = knock_outs_for(self.config, ablate, mode)
        if sites and patch_from is None:
            raise ValueError("sites to patch need patch_from, the clean trace their values come from.")
        patches = patches_for(self.config, patch_from, sites, len(ids)) if patch_from is not None else None
        emb, records, final, logits = self.run(id_tensor, key_mask=mask_tensor, knock_outs=knock_outs,
                                               patches=patches)
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
