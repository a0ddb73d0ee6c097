"""A toy task for the encoder–decoder: reverse a string of letters.

    source  "c a f e"  ──encoder──> memory
    target  <bos> e f a c  ──decoder──> next letters  e f a c <eos>

To write the i-th output letter the decoder must look at source letter n-1-i, so a
trained model's cross-attention draws an anti-diagonal: the alignment made visible.
The model is core's EncoderDecoder; training goes through the one loop (training/loop.py).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch
from torch.nn import functional as F

from core import TransformerConfig
from core.seq2seq import EncoderDecoder, Seq2SeqTrace

from .loop import train_steps
from .weights import seeded

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


def new_seq2seq(config: TransformerConfig, seed: int = 0) -> EncoderDecoder:
    """An encoder–decoder with random starting weights, the same for the same seed."""
    return seeded(lambda: EncoderDecoder(config), seed)


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


@torch.no_grad()
def write(model: EncoderDecoder, source: torch.Tensor, max_len: int) -> torch.Tensor:
    """Greedy decoding, one token at a time, choosing only among the letters and <eos>: <pad> and
    <bos> are never targets, so even an untrained model never writes them; (B, max_len)."""
    _, _, memory, keys = model.encode(source)
    out = torch.full((source.shape[0], 1), BOS, dtype=torch.long)
    for _ in range(max_len):
        logits = model.decode(out, memory, keys)[3][:, -1]                    # (B, vocab)
        logits[:, [PAD, BOS]] = float("-inf")
        out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
    return out[:, 1:]


def predictions(model: EncoderDecoder, task: ReversalTask, strings: list[str]) -> list[str]:
    """What the model writes (greedy, up to <eos>) for each string."""
    model.eval()
    source, _, target_out = batch_of(task, strings)
    guess = write(model, source, target_out.shape[1]).tolist()
    return [task.decode(row[: row.index(EOS)] if EOS in row else row) for row in guess]


def accuracy(model: EncoderDecoder, task: ReversalTask, strings: list[str]) -> float:
    """Exact match: the whole reversed string right, then <eos>."""
    model.eval()
    source, _, target_out = batch_of(task, strings)
    guess = write(model, source, target_out.shape[1])
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
                  lr: float = 2e-3, seed: int = 0, report_every: int = 100, test: Optional[list[str]] = None,
                  on_step: Optional[Callable[[int], None]] = None) -> Iterator[Seq2SeqProgress]:
    """Train on fresh random strings (never the held-out ones) through the one loop; yields progress."""
    held_out, test_list = task.split(seed=seed)
    test = test if test is not None else test_list
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)

    def batch_loss(step: int) -> tuple[torch.Tensor, int]:
        strings = []
        while len(strings) < batch_size:
            s = task.sample(rng)
            if s not in held_out:
                strings.append(s)
        source, target_in, target_out = batch_of(task, strings)
        logits = model(source, target_in)                                    # (B, T, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_out.reshape(-1), ignore_index=PAD)
        return loss, int((target_out != PAD).sum())

    for tick in train_steps(model, batch_loss, optimizer, steps, report_every, schedule, on_step=on_step):
        yield Seq2SeqProgress(tick.step, tick.total, tick.loss, accuracy(model, task, test), tick.elapsed)
        model.train()
    model.eval()


# -- the trace: what each attention looked at -------------------------------------------------------
@torch.no_grad()
def trace_reversal(model: EncoderDecoder, task: ReversalTask, text: str) -> Seq2SeqTrace:
    """Reverse `text` greedily, then trace the encoder and the decoder on that output."""
    if not text:
        raise ValueError("type at least one letter.")
    if len(text) > task.max_len:
        raise ValueError(f"the model was trained on strings of up to {task.max_len} letters.")
    model.eval()
    source_ids = task.encode(text)
    written = write(model, torch.tensor([source_ids]), len(text) + 1)[0].tolist()
    if EOS in written:
        written = written[: written.index(EOS)]
    target_ids = [BOS] + written
    vocab = task.vocabulary
    encoder, decoder = model.trace(source_ids, target_ids, [vocab[i] for i in source_ids],
                                   [vocab[i] for i in target_ids], special=set(range(len(SPECIAL_TOKENS))),
                                   text=text)
    return Seq2SeqTrace(source=text, output=task.decode(written), encoder=encoder, decoder=decoder)
