"""An encoder–decoder transformer on our core blocks, for a toy task: reverse a string.

    source  "c a f e"  ──encoder (self-attention, sees every letter)──> memory
    target  <bos> e f a c  ──decoder (masked self-attention, then cross-attention
                              to the memory)──> next letters  e f a c <eos>

To write the i-th output letter the decoder must look at source letter n-1-i, so a
trained model's cross-attention draws an anti-diagonal: the alignment made visible.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .attention import causal_mask
from .blocks import DecoderBlock, EncoderBlock
from .config import TransformerConfig
from .embeddings import Embeddings
from .model import layer_trace, to_numpy
from .trace import Trace

PAD, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>"]


@dataclass(frozen=True)
class ReversalTask:
    """Strings of `min_len`..`max_len` letters drawn from the first `n_letters` of the alphabet."""
    n_letters: int = 10
    min_len: int = 3
    max_len: int = 8

    def __post_init__(self) -> None:
        if not 2 <= self.n_letters <= 26:
            raise ValueError("use between 2 and 26 letters.")
        if not 1 <= self.min_len <= self.max_len <= 24:
            raise ValueError("lengths must satisfy 1 <= min_len <= max_len <= 24.")

    @property
    def letters(self) -> str:
        return "abcdefghijklmnopqrstuvwxyz"[: self.n_letters]

    @property
    def vocabulary(self) -> list[str]:
        return SPECIAL_TOKENS + list(self.letters)

    def encode(self, text: str) -> list[int]:
        bad = sorted({ch for ch in text if ch not in self.letters})
        if bad:
            raise ValueError(f"only the letters {self.letters!r} are known to this model; "
                             f"not {''.join(bad)!r}.")
        return [self.letters.index(ch) + len(SPECIAL_TOKENS) for ch in text]

    def decode(self, ids) -> str:
        return "".join(self.vocabulary[i] for i in ids if i >= len(SPECIAL_TOKENS))

    def sample(self, rng: random.Random) -> str:
        return "".join(rng.choice(self.letters) for _ in range(rng.randint(self.min_len, self.max_len)))

    def split(self, n_test: int = 200, seed: int = 0) -> tuple[set[str], list[str]]:
        """Held-out test strings (never used for training) and the set to exclude from training."""
        rng = random.Random(seed + 10_000)
        test = []
        while len(test) < n_test:
            s = self.sample(rng)
            if s not in test:
                test.append(s)
        return set(test), test


def seq2seq_config(task: ReversalTask, d_model: int = 64, n_heads: int = 4, n_layers: int = 2) -> TransformerConfig:
    """Pre-LN blocks, learned positions; the same config serves encoder and decoder."""
    return TransformerConfig(
        vocab_size=len(task.vocabulary), d_model=d_model, n_heads=n_heads, n_layers=n_layers,
        d_ff=4 * d_model, max_positions=task.max_len + 2, positional="learned", norm="pre",
        eps=1e-5, type_vocab_size=0, embed_norm=False, causal=False, lm_head=True, pad_id=PAD)


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
        keys = source != PAD                                         # (B, S)
        allowed = keys[:, None, None, :]                             # (B, 1, 1, S)
        emb = self.source_embed(source)
        x, records = emb.embed, []
        for block in self.encoder:
            x, record = block(x, allowed)
            records.append(record)
        return emb, records, self.encoder_norm(x), keys

    def decode(self, target_in: torch.Tensor, memory: torch.Tensor, source_keys: torch.Tensor):
        """target_in: (B, T) ids starting with <bos>. Returns (embedding result, records, final, logits)."""
        t = target_in.shape[1]
        self_allowed = causal_mask(t, t, target_in.device)[None, None]       # (1, 1, T, T)
        cross_allowed = source_keys[:, None, None, :]                         # (B, 1, 1, S)
        emb = self.target_embed(target_in)
        x, records = emb.embed, []
        for block in self.decoder:
            x, record = block(x, memory, self_allowed, cross_allowed)
            records.append(record)
        final = self.final_norm(x)
        logits = final @ self.target_embed.token.weight.T                     # (B, T, vocab), tied
        return emb, records, final, logits

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        _, _, memory, keys = self.encode(source)
        return self.decode(target_in, memory, keys)[3]

    @torch.no_grad()
    def greedy(self, source: torch.Tensor, max_len: int) -> torch.Tensor:
        """Write the output one token at a time, always taking the most likely; (B, ≤ max_len)."""
        _, _, memory, keys = self.encode(source)
        out = torch.full((source.shape[0], 1), BOS, dtype=torch.long)
        for _ in range(max_len):
            logits = self.decode(out, memory, keys)[3][:, -1]                  # (B, vocab)
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
        return out[:, 1:]


def new_seq2seq(config: TransformerConfig, seed: int = 0) -> EncoderDecoder:
    """Random initial weights from `seed` alone (no global random state, so sessions cannot interfere)."""
    gen = torch.Generator().manual_seed(seed)
    model = EncoderDecoder(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() >= 2:
                p.normal_(0.0, 0.02, generator=gen)
    return model


# -- data -----------------------------------------------------------------------------------------
def batch_of(task: ReversalTask, strings: list[str]):
    """Padded (source, target_in, target_out) id tensors for a list of strings."""
    s_len = max(len(s) for s in strings)
    source = torch.full((len(strings), s_len), PAD, dtype=torch.long)
    target_in = torch.full((len(strings), s_len + 1), PAD, dtype=torch.long)
    target_out = torch.full((len(strings), s_len + 1), PAD, dtype=torch.long)
    for row, s in enumerate(strings):
        ids = task.encode(s)
        rev = ids[::-1]
        source[row, : len(ids)] = torch.tensor(ids)
        target_in[row, : len(ids) + 1] = torch.tensor([BOS] + rev)
        target_out[row, : len(ids) + 1] = torch.tensor(rev + [EOS])
    return source, target_in, target_out


def predictions(model: EncoderDecoder, task: ReversalTask, strings: list[str]) -> list[str]:
    """What the model writes (greedy, up to <eos>) for each string."""
    model.eval()
    source, _, target_out = batch_of(task, strings)
    guess = model.greedy(source, target_out.shape[1]).tolist()
    return [task.decode(row[: row.index(EOS)] if EOS in row else row) for row in guess]


def accuracy(model: EncoderDecoder, task: ReversalTask, strings: list[str]) -> float:
    """Exact match: the whole reversed string right, then <eos>."""
    model.eval()
    source, _, target_out = batch_of(task, strings)
    guess = model.greedy(source, target_out.shape[1])
    right = 0
    for row, s in enumerate(strings):
        n = len(s)
        right += bool(torch.equal(guess[row, : n + 1], target_out[row, : n + 1]))
    return right / len(strings)


@dataclass(frozen=True)
class Seq2SeqProgress:
    step: int
    total: int
    loss: float
    accuracy: Optional[float]     # exact match on held-out strings (at reports only)
    elapsed: float


def train_seq2seq(model: EncoderDecoder, task: ReversalTask, steps: int = 1500, batch_size: int = 64,
                  lr: float = 2e-3, seed: int = 0, report_every: int = 100,
                  test: Optional[list[str]] = None) -> Iterator[Seq2SeqProgress]:
    """Train on fresh random strings (never the held-out ones); yields progress."""
    held_out, test_list = task.split(seed=seed)
    test = test if test is not None else test_list
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    start, running = time.perf_counter(), []
    for step in range(steps):
        model.train()
        strings = []
        while len(strings) < batch_size:
            s = task.sample(rng)
            if s not in held_out:
                strings.append(s)
        source, target_in, target_out = batch_of(task, strings)
        logits = model(source, target_in)                                # (B, T, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_out.reshape(-1), ignore_index=PAD)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        running.append(loss.item())
        if (step + 1) % report_every == 0 or step + 1 == steps:
            acc = accuracy(model, task, test)
            yield Seq2SeqProgress(step + 1, steps, float(np.mean(running)), acc, time.perf_counter() - start)
            running = []
    model.eval()


# -- the trace: what each attention looked at -------------------------------------------------------
@dataclass(frozen=True)
class Seq2SeqTrace:
    source: str
    output: str                   # what the model wrote (greedy)
    encoder: Trace                # source tokens; encoder self-attention in .layers[l].weights
    decoder: Trace                # <bos> + output; masked self-attention in .layers[l].weights,
                                  # cross-attention (T_target, T_source) in .layers[l].cross.weights


@torch.no_grad()
def trace_reversal(model: EncoderDecoder, task: ReversalTask, text: str) -> Seq2SeqTrace:
    """Reverse `text` greedily, then trace the encoder and the decoder on that output."""
    if not text:
        raise ValueError("type at least one letter.")
    if len(text) > task.max_len:
        raise ValueError(f"the model was trained on strings of up to {task.max_len} letters.")
    model.eval()
    source = torch.tensor([task.encode(text)])                           # (1, S)
    written = model.greedy(source, len(text) + 1)[0].tolist()
    if EOS in written:
        written = written[: written.index(EOS)]
    target_in = torch.tensor([[BOS] + written])                          # (1, T)
    enc_emb, enc_records, memory, keys = model.encode(source)
    dec_emb, dec_records, final, logits = model.decode(target_in, memory, keys)
    vocab = task.vocabulary

    def make(ids, emb, records, causal, final=None, logits=None) -> Trace:
        t = len(ids)
        return Trace(tokens=[vocab[i] for i in ids], ids=list(ids), offsets=[(0, 0)] * t,
                     special_mask=[i < len(SPECIAL_TOKENS) for i in ids],
                     token_embed=to_numpy(emb.token_embed), pos_embed=to_numpy(emb.pos_embed),
                     type_embed=None, embed=to_numpy(emb.embed),
                     layers=tuple(layer_trace(r) for r in records), text=text, n_input_tokens=t,
                     causal=causal, final=to_numpy(final), logits=to_numpy(logits))

    return Seq2SeqTrace(
        source=text, output=task.decode(written),
        encoder=make(source[0].tolist(), enc_emb, enc_records, False),
        decoder=make(target_in[0].tolist(), dec_emb, dec_records, True, final, logits))


def anti_diagonal_share(trace: Seq2SeqTrace, layer: int = -1) -> float:
    """Mean cross-attention weight (over heads) that output letter i puts on source letter n-1-i."""
    weights = trace.decoder.layers[layer].cross.weights.mean(axis=0)     # (T_target, S)
    n = weights.shape[1]
    rows = [weights[i, n - 1 - i] for i in range(min(n, weights.shape[0]))]
    return float(np.mean(rows))
