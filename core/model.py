"""A stack of blocks over the embeddings: BERT-style encoders and GPT-style decoders.

`forward` is for training (batched tensors in, logits out); `trace` runs one sequence and
returns a fresh, frozen Trace: the residual stream, streamed head summaries and the top next
tokens, with every other intermediate recomputed on access by the same blocks (core/trace.py).
Nothing is stored on the module during a forward, so one instance can serve many threads at once.

Weights may be stored in bf16 or fp16 (a checkpoint's own dtype): every block is still computed
in float32, with float32 copies of one block's weights at a time (`in_float32`).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .attention import KnockOut, Patch, Scratch, causal_mask, soft_cap
from .blocks import EncoderBlock, OneHead, make_norm
from .config import TransformerConfig
from .embeddings import Embeddings, sinusoidal_encoding
from .trace import AttentionRecord, BlockRecord, SummaryBuilder, Trace, to_numpy

TOP_K = 20            # next tokens kept per position in a language model's trace
LOGIT_BYTES = 64 * 2**20   # positions unembedded at once: as many as fill this (at least 16, at most 256).
                           # Each chunk reads the whole (vocab, d) table: 64-row chunks made a 128-token
                           # GPT-2 trace read it twice, 8 ms more than one product of all the rows.


def device_from_env() -> torch.device:
    """The torch device the operator asked for (ATTENTION_EXPLORER_DEVICE, e.g. cuda), else the CPU."""
    return torch.device(os.environ.get("ATTENTION_EXPLORER_DEVICE", "cpu") or "cpu")


HALF = (torch.bfloat16, torch.float16)


def computed(t: torch.Tensor) -> torch.Tensor:
    """A weight as computed: bf16/fp16 copied to float32; float32 (and float64) as they are."""
    return t.float() if t.dtype in HALF else t


UPCAST_BYTES = 64 * 2**20   # a bf16/fp16 unembedding is upcast to float32 this many bytes at a time


def unembed(final: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(…, d_model) float32 rows · tableᵀ -> (…, vocab) float32 scores. A float32 table is read as it is;
    a bf16/fp16 one a slice of its rows at a time, upcast for that product only: never a float32 copy of
    the whole vocabulary (1 GB for Llama 3.2 1B's 128,256 × 2,048 table)."""
    if table.dtype not in HALF:
        return final @ table.T
    vocab, d = table.shape
    out = torch.empty(*final.shape[:-1], vocab, dtype=torch.float32, device=final.device)   # (…, vocab)
    step = max(1, UPCAST_BYTES // (4 * d))
    for start in range(0, vocab, step):
        out[..., start:start + step] = final @ table[start:start + step].float().T
    return out


def computed_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype a weight is computed in: float32 for bf16/fp16, else its own."""
    return torch.float32 if t.dtype in HALF else t.dtype


def in_float32(module: nn.Module, *args, as_stored: Sequence[str] = (), **kwargs):
    """module(*args, **kwargs) with weights stored in bf16/fp16 computed in float32: copied to float32
    for this call only (one block at a time: a bf16 model never needs a float32 copy of itself).
    Other weights (float32, or float64 in the attribution checks) are used as they are, and so are
    those named in `as_stored` (ones this call does not read: no copy is made of them)."""
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    if not any(t.dtype in HALF for t in tensors.values()):
        return module(*args, **kwargs)
    return functional_call(module, {name: t if name in as_stored else computed(t) for name, t in tensors.items()},
                           args, kwargs)


def block_extras(i: int, knock_outs: Optional[dict[int, KnockOut]],
                 patches: Optional[dict[int, Patch]]) -> dict:
    """What block i is handed for this call only: heads knocked out, another run's activations."""
    extra = {}
    if knock_outs and i in knock_outs:
        extra["knock_out"] = knock_outs[i]
    if patches and i in patches:
        extra["patch"] = patches[i]
    return extra


def run_blocks(blocks, x: torch.Tensor, *args, knock_outs: Optional[dict[int, KnockOut]] = None,
               patches: Optional[dict[int, Patch]] = None,
               keep: Optional[Callable[[int, BlockRecord], Any]] = None,
               stream: Optional[torch.Tensor] = None, scratch: Optional[Scratch] = None) -> tuple[torch.Tensor, list]:
    """x through every block in turn; returns the last output and what was kept of each block's record.

    knock_outs: block index -> the heads knocked out in that block (for this call only).
    patches: block index -> another run's activations written into that block (for this call only).
    keep: (index, record) -> what to keep of each record (default: the whole record). A trace keeps
      only small summaries, so one layer's T×T scores and weights are let go before the next runs.
    stream: (n_blocks + 1, *x.shape) CPU buffer of x's dtype: x goes to stream[0], block i's output to
      stream[i + 1], and each block reads its input from there. A layer recomputed later from the
      stored stream then reads the very same memory as the forward pass did.
    scratch: memory every block's self-attention writes its scores and weights into (see Scratch): only
      with a `keep` that lets them go, since the next block writes over them.
    """
    kept = []
    if stream is not None:
        stream[0] = x
    for i, block in enumerate(blocks):
        if stream is not None:
            x = stream[i].to(x.device)          # the buffer itself on the CPU (no copy)
        extra = block_extras(i, knock_outs, patches)
        if scratch is not None:
            extra["scratch"] = scratch
        x, record = in_float32(block, x, *args, **extra)
        kept.append(record if keep is None else keep(i, record))
        del record
        if stream is not None:
            stream[i + 1] = x
    return x, kept


class BlockRerun:
    """Runs one block of a traced sequence again, from its stored input, by the forward pass's code:
    the same module, the same masks and positions, the same knocked-out heads.

    It refuses when the weights have changed since the trace was made (a model being trained, or
    reloaded in place), instead of showing the new weights' attention beside the old stream.
    """

    def __init__(self, blocks, make_args: Callable[[], tuple], knock_outs: Optional[dict[int, KnockOut]],
                 unembedding: Optional[Callable[[], torch.Tensor]] = None,
                 patches: Optional[dict[int, Patch]] = None,
                 logits_bias: Optional[Callable[[], Optional[torch.Tensor]]] = None,
                 final_softcap: Optional[float] = None):
        self.blocks = blocks
        self.make_args = make_args            # the masks are rebuilt, not kept: a T×T mask per cached trace
        self.knock_outs = knock_outs or {}
        self.patches = patches or {}          # a patched run's layers are recomputed with the same patch
        self.unembedding = unembedding
        self.logits_bias = logits_bias        # BART's and Marian's bias on every logit (None: none)
        self.final_softcap = final_softcap    # Gemma 2: logits <- cap · tanh(logits / cap)
        self.device = next(blocks.parameters()).device if len(blocks) else torch.device("cpu")
        self.params = [(p, p._version) for p in blocks.parameters()]
        self.stream: Optional[torch.Tensor] = None   # (L + 1, 1, T, d_model), set by build_trace

    def check(self) -> None:
        if any(p._version != version for p, version in self.params) or \
                [id(p) for p, _ in self.params] != [id(p) for p in self.blocks.parameters()]:
            raise RuntimeError("the model's weights changed after this text was traced (it was trained "
                               "or reloaded): trace the text again to see its layers.")

    @torch.inference_mode()
    def block(self, layer: int) -> BlockRecord:
        """Block `layer` from its input in the stored stream: the memory the forward pass read."""
        self.check()
        extra = block_extras(layer, self.knock_outs, self.patches)
        resid_pre = self.stream[layer].to(self.device)                         # (1, T, d_model)
        _, record = in_float32(self.blocks[layer], resid_pre, *self.make_args(), **extra)
        return record

    @torch.inference_mode()
    def head(self, layer: int, head: int) -> AttentionRecord:
        """Query head `head` of block `layer` alone (q, k, v, scores, weights, head_out of that head),
        from the same stored input, masks, knock-outs and patches as `block`."""
        self.check()
        extra = block_extras(layer, self.knock_outs, self.patches)
        resid_pre = self.stream[layer].to(self.device)                         # (1, T, d_model)
        return in_float32(OneHead(self.blocks[layer], head), resid_pre, *self.make_args(), **extra)

    def table(self) -> torch.Tensor:
        """(vocab, d_model) the unembedding: float32, or a language model's bf16/fp16 table as stored (the
        products upcast it a slice at a time: core.model.unembed)."""
        return self.unembedding()

    def finish(self, logits: torch.Tensor, start: int = 0, stop: Optional[int] = None) -> torch.Tensor:
        """Scores of the vocabulary's columns start:stop -> the model's logits there, in place: BART's and
        Marian's bias on every logit, Gemma 2's soft cap (cap · tanh(x / cap))."""
        bias = self.logits_bias() if self.logits_bias is not None else None
        if bias is not None:
            logits = logits.add_(computed(bias[start:stop]))
        if self.final_softcap is not None:
            logits = logits.div_(self.final_softcap).tanh_().mul_(self.final_softcap)
        return logits

    @torch.inference_mode()
    def logits(self, final: np.ndarray | torch.Tensor, out: Optional[torch.Tensor] = None,
               table: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(N, d_model) final-norm rows -> (N, vocab) next-token scores, in float32.
        out: an (N, vocab) float32 buffer to write them into (the bias and soft-cap act in place; a
        float32 table only); table: self.table(), when the caller already holds it."""
        self.check()
        final = torch.tensor(final) if isinstance(final, np.ndarray) else final   # a copy: T × d_model only
        table = self.table() if table is None else table
        final = final.to(self.device, computed_dtype(table))
        logits = unembed(final, table) if out is None else torch.matmul(final, table.T, out=out)   # (N, vocab)
        return self.finish(logits)


class Streamed:
    """What a trace keeps of each block while the forward pass runs: its middle and its summary."""

    def __init__(self, n_layers: int, n_heads: int, x: torch.Tensor, causal: bool):
        b, t, d = x.shape
        self.stream = torch.empty(n_layers + 1, b, t, d, dtype=x.dtype)     # (L + 1, 1, T, d_model)
        self.mid = torch.empty(n_layers, b, t, d, dtype=x.dtype)            # (L, 1, T, d_model)
        self.summary = SummaryBuilder(n_layers, n_heads, t, causal)

    def keep(self, layer: int, record: BlockRecord) -> None:
        self.mid[layer] = record.resid_mid
        self.summary.add(layer, record.attention.weights[0])     # (H, T, T)


def trace_blocks(blocks, n_heads: int, causal: bool, x: torch.Tensor, *args,
                 knock_outs: Optional[dict[int, KnockOut]] = None,
                 patches: Optional[dict[int, Patch]] = None) -> tuple[torch.Tensor, Streamed]:
    """The forward pass of a trace: every block once, keeping the stream, middles and summaries.
    causal: the blocks' self-attention hides the future (the summary then measures distance faster)."""
    kept = Streamed(len(blocks), n_heads, x, causal)
    # Each layer's scores and weights are summarised and let go before the next layer runs, so
    # every layer writes them into the same memory.
    x, _ = run_blocks(blocks, x, *args, knock_outs=knock_outs, patches=patches, keep=kept.keep,
                      stream=kept.stream, scratch=Scratch())
    return x, kept


def logit_rows(vocab: int) -> int:
    """How many positions are unembedded at once for a vocabulary of this size (LOGIT_BYTES of float32)."""
    return int(min(256, max(16, LOGIT_BYTES // (4 * vocab))))


def top_k(logits: torch.Tensor, k: int, block: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, vocab) -> the k largest values of each row, largest first, and their columns: torch.topk's
    values, found from far fewer candidates. Each k-th largest value sits in one of the k blocks of
    `block` columns with the largest maxima (a block whose maximum is smaller holds nothing above it,
    and at most k - 1 blocks hold a larger value), so one max per block, a top k of the blocks and
    a top k of their k · block columns (with the columns after the last whole block) give the answer.
    torch.topk over 50,000 columns is a partial sort per row; a max over blocks is one plain pass."""
    rows, vocab = logits.shape
    n_blocks = vocab // block
    if n_blocks < 4 * k:                  # a small vocabulary: nothing to gain
        return logits.topk(k, dim=-1)
    body = logits[:, :n_blocks * block].view(rows, n_blocks, block)             # (rows, blocks, block)
    best = body.amax(-1).topk(k, dim=-1).indices                                 # (rows, k) blocks
    offsets = torch.arange(block, device=logits.device)
    columns = (best[..., None] * block + offsets).view(rows, k * block)          # (rows, k · block)
    tail = torch.arange(n_blocks * block, vocab, device=logits.device).expand(rows, -1)
    columns = torch.cat((columns, tail), dim=-1)                                 # (rows, candidates)
    top = logits.gather(-1, columns).topk(k, dim=-1)
    return top.values, columns.gather(-1, top.indices)


def next_tokens(final: torch.Tensor, rerun: BlockRerun, k: int = TOP_K):
    """final (T, d_model) -> top ids (T, k), their log-probabilities (T, k), log-sum-exp (T,).

    logit_rows(vocab) positions at a time into one reused (rows, vocab) buffer, so the (T, vocab)
    logits never exist whole and no second copy of a chunk is made: the top k are read first, then
    the chunk is turned in place into exp(logit - max), whose row sums give the log-sum-exp
    (max + log Σ exp(logit - max), stable; the max is the top-1 logit, so no pass looks for it)."""
    t = final.shape[0]
    table = rerun.table()                                         # once per trace, not per chunk
    k = min(k, table.shape[0])
    if table.dtype in HALF:
        return freeze(*next_tokens_by_slices(final, rerun, table, k))
    rows = logit_rows(table.shape[0])
    buffer = torch.empty(min(t, rows), table.shape[0], dtype=table.dtype, device=rerun.device)  # (rows, vocab)
    ids = torch.empty(t, k, dtype=torch.long)
    logprobs, lse = torch.empty(t, k, dtype=table.dtype), torch.empty(t, dtype=table.dtype)
    for start in range(0, t, rows):
        stop = min(t, start + rows)
        logits = rerun.logits(final[start:stop], out=buffer[:stop - start], table=table)   # (rows, vocab)
        values, indices = top_k(logits, k)                                                # sorted: top-1 first
        largest = values[:, :1]                                                           # (rows, 1)
        total = logits.sub_(largest).exp_().sum(-1).log_().add_(largest[:, 0])            # (rows,)
        ids[start:stop] = indices.cpu()
        logprobs[start:stop] = (values - total[:, None]).cpu()
        lse[start:stop] = total.cpu()
    return freeze(ids, logprobs, lse)


def freeze(*parts: torch.Tensor) -> list[np.ndarray]:
    frozen = [part.numpy() for part in parts]
    for array in frozen:
        array.flags.writeable = False
    return frozen


def next_tokens_by_slices(final: torch.Tensor, rerun: BlockRerun, table: torch.Tensor, k: int):
    """next_tokens for a bf16/fp16 table, read a slice of the vocabulary at a time (each slice upcast
    once, for every position), so no float32 copy of the whole table is made. Each position keeps its
    best k so far and a running log-sum-exp: the running maximum m and Σ exp(logit - m), rescaled
    when a later slice raises m."""
    t, (vocab, d) = final.shape[0], table.shape
    cols = max(k, UPCAST_BYTES // (4 * d))                       # vocabulary rows upcast at once
    rows = max(1, min(t, LOGIT_BYTES // (4 * min(cols, vocab))))  # positions scored at once
    final = final.to(rerun.device, torch.float32)
    best = torch.full((t, k), float("-inf"))                     # (T, k)  the best logits so far
    ids = torch.zeros(t, k, dtype=torch.long)
    top, total = torch.full((t,), float("-inf")), torch.zeros(t)   # running max, Σ exp(logit - max)
    for start in range(0, vocab, cols):
        stop = min(vocab, start + cols)
        piece = table[start:stop].float()                        # (cols, d_model), upcast once
        for first in range(0, t, rows):
            last = min(t, first + rows)
            logits = rerun.finish(final[first:last] @ piece.T, start, stop).cpu()   # (rows, cols)
            values, indices = logits.topk(min(k, stop - start), dim=-1)
            merged = torch.cat((best[first:last], values), -1)                        # (rows, k + k')
            merged_ids = torch.cat((ids[first:last], indices + start), -1)
            keep = merged.topk(k, dim=-1)
            best[first:last], ids[first:last] = keep.values, merged_ids.gather(-1, keep.indices)
            new_top = torch.maximum(top[first:last], values[:, 0])                    # (rows,)
            total[first:last] = (total[first:last] * torch.exp(top[first:last] - new_top)
                                 + logits.sub_(new_top[:, None]).exp_().sum(-1))
            top[first:last] = new_top
    lse = top + total.log()
    return ids, best - lse[:, None], lse


def build_trace(ids: Sequence[int], emb, kept: Streamed, rerun: BlockRerun, *, causal: bool,
                n_heads: int, n_kv_heads: int, tokens: Optional[Sequence[str]] = None,
                offsets: Optional[Sequence[tuple[int, int]]] = None,
                special_mask: Optional[Sequence[bool]] = None, truncated: bool = False, text: str = "",
                n_input_tokens: Optional[int] = None, final: Optional[torch.Tensor] = None) -> Trace:
    """The frozen record of one sequence's run (batch of 1): the one place a Trace is made."""
    t = len(ids)
    pos_embed = emb.pos_embed.expand(1, t, -1)                       # (1, T, d_model)
    # Views of the buffers the forward pass read (a float32 copy only for a float64 model).
    resid = kept.stream[:, 0].to(torch.float32).numpy()              # (L + 1, T, d_model)
    mid = kept.mid[:, 0].to(torch.float32).numpy()                   # (L, T, d_model)
    resid.flags.writeable = mid.flags.writeable = False
    rerun.stream = kept.stream
    top_ids = top_logprobs = lse = None
    if final is not None:
        top_ids, top_logprobs, lse = next_tokens(final[0], rerun)
    return Trace(
        tokens=list(tokens) if tokens is not None else [str(i) for i in ids],
        ids=[int(i) for i in ids],
        offsets=[tuple(o) for o in offsets] if offsets is not None else [(0, 0)] * t,
        special_mask=list(special_mask) if special_mask is not None else [False] * t,
        token_embed=to_numpy(emb.token_embed),
        pos_embed=to_numpy(pos_embed),
        type_embed=to_numpy(emb.type_embed),
        resid=resid, resid_mid=mid, n_heads=n_heads, n_kv_heads=n_kv_heads, rerun=rerun,
        truncated=truncated,
        text=text,
        n_input_tokens=t if n_input_tokens is None else n_input_tokens,
        causal=causal,
        final=to_numpy(final),
        top_ids=top_ids, top_logprobs=top_logprobs, log_sum_exp=lse,
        summary=kept.summary.result(),
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
        self.blocks = nn.ModuleList(EncoderBlock(config, i) for i in range(config.n_layers))
        self.final_norm = make_norm(config) if config.lm_head else None
        untied = config.lm_head and not config.tie_embeddings
        self.unembed = nn.Linear(config.d_model, config.vocab_size, bias=False) if untied else None

    # -- the weights a learner asks about ---------------------------------------------
    # Code outside core reads weights through these (or copies them to float64), never a bf16/fp16
    # parameter directly: a model loaded in its checkpoint's dtype is computed in float32 everywhere.
    @property
    def token_table(self) -> torch.Tensor:
        """(vocab, d_model): the embedding matrix as stored (bf16/fp16 stays so: `computed` upcasts it);
        tied LMs also use it as the unembedding."""
        return self.embeddings.token.weight

    def unembedding(self) -> torch.Tensor:
        """(vocab, d_model) matrix whose rows score each next token, as computed: float32 (a copy for
        this call) when stored in bf16/fp16, else the parameter itself."""
        return computed(self.stored_unembedding())

    def stored_unembedding(self) -> torch.Tensor:
        """(vocab, d_model) the unembedding as stored (bf16/fp16 stays so: `unembed` upcasts a slice at a time)."""
        return self.token_table if self.unembed is None else self.unembed.weight

    def unembedding_rows(self, ids: Sequence[int]) -> torch.Tensor:
        """(len(ids), d_model) the unembedding's rows of these tokens, as computed (only they are upcast)."""
        return computed(self.stored_unembedding()[torch.as_tensor(list(ids), dtype=torch.long)])

    def apply_final_norm(self, x: torch.Tensor) -> torch.Tensor:
        """(…, d_model) -> (…, d_model): the final norm, computed in float32 (language models only)."""
        return in_float32(self.final_norm, x)

    def next_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(…, d_model) residual stream -> (…, vocab) next-token scores: final norm, unembedding and
        (Gemma 2) the soft cap, as the model's own last layer computes them."""
        return soft_cap(unembed(self.apply_final_norm(hidden), self.stored_unembedding()), self.config.final_softcap)

    def embed(self, ids: torch.Tensor, type_ids: Optional[torch.Tensor] = None,
              token_embed: Optional[torch.Tensor] = None):
        """The embeddings in float32. A bf16/fp16 token table is not copied whole: only the rows of
        `ids` are read and upcast (the same numbers as upcasting the table, then reading them)."""
        table = self.embeddings.token.weight
        if token_embed is None and table.dtype in HALF:
            token_embed = computed(table[ids])                              # (B, T, d_model)
        return in_float32(self.embeddings, ids, type_ids, token_embed=token_embed,
                          as_stored=("token.weight",) if token_embed is not None else ())

    # -- running ----------------------------------------------------------------------
    def run(self, ids: torch.Tensor, type_ids: Optional[torch.Tensor] = None,
            key_mask: Optional[torch.Tensor] = None, knock_outs: Optional[dict[int, KnockOut]] = None,
            token_embed: Optional[torch.Tensor] = None, patches: Optional[dict[int, Patch]] = None,
            last_only: bool = False):
        """ids: (B, T). Returns (embedding result, layer records, final, logits).
        last_only: logits of the last position only, (B, 1, vocab): what a next-token target reads, without
        the (B, T, vocab) product and its gradient graph.
        knock_outs: layer -> heads knocked out there (see analysis/ablation.py).
        patches: layer -> another run's activations written there (see analysis/patching.py).
        token_embed: (B, T, d_model) token rows to use instead of the table's (see analysis/attribution.py)."""
        emb = self.embed(ids, type_ids, token_embed)
        allowed, positions = self.block_args(ids.shape[1], key_mask, ids.device)
        x, records = run_blocks(self.blocks, emb.embed, allowed, positions, knock_outs=knock_outs, patches=patches)
        final = logits = None
        if self.config.lm_head:
            final = self.apply_final_norm(x)
            rows = final[:, -1:] if last_only else final
            logits = soft_cap(rows @ self.unembedding().T, self.config.final_softcap)   # (B, T or 1, vocab)
        return emb, records, final, logits

    def block_args(self, t: int, key_mask: Optional[torch.Tensor], device=None) -> tuple:
        """What every block reads beside its input: the allowed mask and (rotary models) the positions."""
        allowed = build_allowed(self.config, t, key_mask, device)
        # Rotary models turn q and k by these positions inside every attention layer.
        positions = torch.arange(t, device=device) if self.config.positional == "rotary" else None
        return allowed, positions

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
              ablate: Sequence[tuple[int, int]] = (), mode: str = "zero",
              patch_from: Optional[Trace] = None, sites: Sequence[tuple] = ()) -> Trace:
        """Run one sequence and return its Trace (the residual stream; layers recomputed on access).
        ablate: (layer, head) pairs whose outputs are replaced ("zero" or their "mean") before W_O.
        patch_from, sites: the clean trace's activations written at those sites of this run
        (activation patching; see patches_for for the sites); recomputed layers repeat the patch."""
        ids = [int(i) for i in ids]
        if not ids:
            raise ValueError("cannot trace an empty sequence of tokens.")
        device = self.token_table.device
        id_tensor = torch.tensor([ids], dtype=torch.long, device=device)                # (1, T)
        mask_tensor = None if key_mask is None else torch.tensor([list(key_mask)], dtype=torch.bool, device=device)
        knock_outs = knock_outs_for(self.config, ablate, mode)
        if sites and patch_from is None:
            raise ValueError("sites to patch need patch_from, the clean trace their values come from.")
        patches = patches_for(self.config, patch_from, sites, len(ids)) if patch_from is not None else None
        emb = self.embed(id_tensor)
        rerun = BlockRerun(self.blocks, lambda: self.block_args(len(ids), mask_tensor, device), knock_outs,
                           self.stored_unembedding if self.config.lm_head else None, patches,
                           final_softcap=self.config.final_softcap)
        x, kept = trace_blocks(self.blocks, self.config.n_heads, self.config.causal, emb.embed.cpu(),
                               *self.block_args(len(ids), mask_tensor, device), knock_outs=knock_outs,
                               patches=patches)
        final = self.apply_final_norm(x) if self.config.lm_head else None
        return build_trace(ids, emb, kept, rerun, causal=self.config.causal, n_heads=self.config.n_heads,
                           n_kv_heads=self.config.kv_heads, tokens=tokens, offsets=offsets,
                           special_mask=special_mask, truncated=truncated, text=text,
                           n_input_tokens=n_input_tokens, final=final)


def from_state_dict(config: TransformerConfig, state: dict[str, torch.Tensor], net_class=None) -> nn.Module:
    """Build a Transformer (or `net_class`, core/seq2seq.py's EncoderDecoder) whose parameters are
    exactly `state` (strict: no missing, no extra).

    The module is created on the meta device so no time is spent on a random
    initialisation that would be overwritten at once.
    """
    with torch.device("meta"):
        net = (net_class or Transformer)(config)
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
    if config.positional == "sinusoidal":  # a computed, non-persistent table (one per Embeddings)
        for module in net.modules():
            if isinstance(module, Embeddings):
                module.sinusoid = torch.from_numpy(sinusoidal_encoding(config.max_positions, config.d_model,
                                                                       config.sinusoid_layout))
    return net.eval()
