"""Heads forming during training: one fixed probe, run every few steps, kept within a bound.

The other pages show how attention changes across layers; this records how it changes
across training time. Every `every` steps the recorder runs the model on one fixed probe
(a sentence of the corpus for the language model, a fixed string for the reversal task)
and keeps its attention weights (L, H, T_q, T_k) and a few rows of the embedding table.

Memory is bounded twice: at most `limit` snapshots (40), and at most `max_bytes` (8 MB)
for all of them together (a large model keeps fewer). When the list is full, every other
snapshot is dropped and `every` doubles, so the kept steps stay evenly spaced
(0, every, 2·every, …) however long the run; the last step is always kept as well.

Snapshots are taken here, not in core: the model's own `trace` runs in inference mode
(no gradients) and the model goes back to training mode after.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from core import Transformer
from analysis.pca import fit_pca
from core.seq2seq import EncoderDecoder

from .bpe import BPETokenizer
from .corpus import CAPITALS, PAIRS
from .reversal import BOS, SPECIAL_TOKENS, ReversalTask

DEFAULT_LIMIT = 40               # snapshots kept per run
DEFAULT_MAX_BYTES = 8_000_000    # 8 MB per run, whatever the model's size
PROBE_TOKENS = 16                # the language model's probe is cut to this many tokens
PROBE_LETTERS = 8                # the reversal probe's length (at most the task's longest string)
FREQUENT_WORDS = 30              # embedding rows kept for a person's own text

# Word groups whose embeddings are drawn (built-in corpus): a trained model puts each group together.
WORD_GROUPS = {"royalty & people": [w for pair in PAIRS for w in pair],
               "animals & food": ["cat", "cow", "dog", "bird", "fish", "grass", "meat", "seeds"],
               "places": list(CAPITALS)[:5] + list(CAPITALS.values())[:5]}


@dataclass(frozen=True)
class Probe:
    """What is probed: the tokens on each axis of the attention, and the embedding rows kept."""
    text: str
    query_tokens: list[str]         # attention rows (the LM's tokens; the reversal decoder's <bos> + output)
    key_tokens: list[str]           # attention columns (the same tokens, or the reversal encoder's letters)
    words: list[str]                # labels of the embedding rows kept
    groups: list[str]               # each word's group (the colour of its point)
    statistic: str                  # what `statistic` measures, in words


@dataclass(frozen=True)
class Snapshot:
    step: int
    attentions: np.ndarray          # (L, H, T_q, T_k) the probe's attention at this step
    embeddings: np.ndarray          # (W, d_model) rows of the token table for the probe's words
    scores: Optional[np.ndarray] = None   # (L, H) the statistic, when measured on more than the drawn probe
    loss: Optional[float] = None          # a loss the task follows (induction: on the repeated tokens)

    @property
    def nbytes(self) -> int:
        return self.attentions.nbytes + self.embeddings.nbytes


def previous_token_share(attentions: np.ndarray) -> np.ndarray:
    """(L, H, T, T) -> (L, H): mean weight a token puts on the token just before it (tokens 1…T-1).
    A previous-token head, one of the first heads a language model forms, scores near 1."""
    below = np.diagonal(attentions, offset=-1, axis1=-2, axis2=-1)          # (L, H, T-1)
    return below.mean(axis=-1) if below.shape[-1] else np.zeros(attentions.shape[:2], np.float32)


def anti_diagonal_share(cross: np.ndarray) -> np.ndarray:
    """(L, H, T_target, S) -> (L, H): mean weight output step i puts on source letter S-1-i, the
    mirror position a reversing model must read (Seq2SeqTrace.anti_diagonal_share, per head)."""
    n = cross.shape[-1]
    rows = range(min(n, cross.shape[-2]))
    return np.mean([cross[..., i, n - 1 - i] for i in rows], axis=0)


class ProbeRecorder:
    """Snapshots of one probe during one run; `on_step(step)` after every update."""

    def __init__(self, probe: Probe, take: Callable[[int], Snapshot], measure: Callable[[np.ndarray], np.ndarray],
                 total_steps: int, limit: int = DEFAULT_LIMIT, max_bytes: int = DEFAULT_MAX_BYTES):
        self.probe, self.total = probe, int(total_steps)
        self._take, self._measure = take, measure
        first = take(0)                                  # the random start
        self.limit = int(max(2, min(limit, max_bytes // max(first.nbytes, 1))))
        self.every = max(1, math.ceil(self.total / (self.limit - 1)))
        self.snapshots: list[Snapshot] = [first]

    def on_step(self, step: int) -> None:
        if self._take is not None and (step % self.every == 0 or step == self.total):
            self.add(self._take(step))

    def close(self) -> None:
        """The run is over: let go of the model (the snapshot function holds it), keep the snapshots."""
        self._take = None

    def add(self, snapshot: Snapshot) -> None:
        if not (np.isfinite(snapshot.attentions).all() and np.isfinite(snapshot.embeddings).all()):
            return                                       # a blown-up step: nothing worth drawing
        if self.snapshots[-1].step % self.every:         # an off-grid last step, overtaken by a later one
            self.snapshots.pop()
        if len(self.snapshots) >= self.limit:            # full: keep every other one, twice as far apart
            self.every *= 2
            self.snapshots = [s for s in self.snapshots if s.step % self.every == 0]
        self.snapshots.append(snapshot)

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.snapshots)

    def at(self, step: int) -> Snapshot:
        """The snapshot kept at `step`, or the nearest one before it."""
        earlier = [s for s in self.snapshots if s.step <= step]
        return earlier[-1] if earlier else self.snapshots[0]

    def statistic(self) -> np.ndarray:
        """(N, L, H): the probe's statistic (previous-token or anti-diagonal share) at each kept step."""
        return np.stack([self._measure(s.attentions) if s.scores is None else s.scores for s in self.snapshots])

    def losses(self) -> Optional[np.ndarray]:
        """(N,) the followed loss at each kept step, or None when the task follows none."""
        values = [s.loss for s in self.snapshots]
        return None if any(v is None for v in values) else np.asarray(values, dtype=np.float64)

    def embedding_map(self) -> tuple[np.ndarray, np.ndarray]:
        """Every kept step's embedding rows in ONE 2-D basis, that of the last step (N, W, 2), and
        its explained-variance ratios: a point that moves on the map has really moved."""
        pca = fit_pca(self.snapshots[-1].embeddings, 2)
        points = np.stack([pca.project(s.embeddings) for s in self.snapshots])        # (N, W, 2)
        return points, pca.explained_variance_ratio


def _take(net: nn.Module, run: Callable[[], np.ndarray], rows: Callable[[], np.ndarray]) -> Callable[[int], Snapshot]:
    """A snapshot function: the model in eval mode, no gradients, its training mode put back after."""
    def take(step: int) -> Snapshot:
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                attentions = np.array(run(), dtype=np.float32)      # a copy: the trace itself is let go
                embeddings = np.array(rows(), dtype=np.float32)
        finally:
            net.train(was_training)
        return Snapshot(step, attentions, embeddings)
    return take


# -- the language model: a corpus sentence and the corpus's word groups ------------------------------
def probe_sentence(lines: Sequence[str], tokenizer: BPETokenizer, min_tokens: int = 6) -> str:
    """The first training line of at least `min_tokens` tokens (else the longest of the first hundred)."""
    head = [line for line in lines[:100] if line.strip()] or ["."]
    for line in head:
        if len(tokenizer.encode(line)) >= min_tokens:
            return line
    return max(head, key=lambda line: len(tokenizer.encode(line)))


def probe_words(tokenizer: BPETokenizer, stream_ids: np.ndarray) -> tuple[list[str], list[str], list[int]]:
    """(words, groups, token ids) whose embeddings are drawn: the built-in word groups that are single
    tokens here, else the most frequent tokens of the training text."""
    index = {t: i for i, t in enumerate(tokenizer.vocabulary())}
    found = [(w, g, index["▁" + w]) for g, ws in WORD_GROUPS.items() for w in ws if "▁" + w in index]
    if len(found) < 3:
        counts = np.bincount(np.asarray(stream_ids, dtype=np.int64), minlength=tokenizer.vocab_size)
        counts[:3] = 0                                                       # not <pad>, <unk>, <eos>
        top = [int(i) for i in np.argsort(-counts)[:FREQUENT_WORDS] if counts[i] > 0]
        found = [(tokenizer.vocabulary()[i], "most frequent tokens", i) for i in top]
    return [w for w, _, _ in found], [g for _, g, _ in found], [i for _, _, i in found]


def lm_recorder(net: Transformer, tokenizer: BPETokenizer, lines: Sequence[str], stream_ids: np.ndarray,
                total_steps: int, **bounds) -> Optional[ProbeRecorder]:
    """A recorder of a corpus sentence's self-attention and the word groups' embeddings (None when the
    text gives fewer than two probe tokens or two words)."""
    text = probe_sentence(lines, tokenizer)
    ids = tokenizer.encode(text)[: min(PROBE_TOKENS, net.config.max_positions)]
    words, groups, rows = probe_words(tokenizer, stream_ids)
    if len(ids) < 2 or len(rows) < 2:
        return None
    tokens = [tokenizer.vocabulary()[i] for i in ids]
    probe = Probe(text, tokens, tokens, words, groups, "previous-token share")
    take = _take(net, lambda: net.trace(ids, tokens).attentions, lambda: net.token_table[rows].detach().numpy())
    return ProbeRecorder(probe, take, previous_token_share, total_steps, **bounds)


# -- the reversal task: a fixed string and the letters' embeddings --------------------------------------
def probe_string(task: ReversalTask) -> str:
    """A fixed string of different letters where possible: abcdefgh for the default task."""
    n = min(task.max_len, PROBE_LETTERS)
    return (task.letters * n)[:n]


def reversal_trace(model: EncoderDecoder, task: ReversalTask, text: str):
    """The decoder given the correct reverse (teacher forcing): the same rows at every step, whatever
    the model would write."""
    source = task.encode(text)
    target = [BOS] + source[::-1]
    vocab = task.vocabulary
    return model.trace(source, target, [vocab[i] for i in source], [vocab[i] for i in target],
                       special=set(range(len(SPECIAL_TOKENS))), text=text)


def reversal_recorder(model: EncoderDecoder, task: ReversalTask, total_steps: int, **bounds) -> ProbeRecorder:
    """A recorder of the fixed string's cross-attention and the letters' (encoder) embeddings."""
    text = probe_string(task)
    letters = task.encode(task.letters)
    probe = Probe(text, ["<bos>"] + list(text[::-1]), list(text), list(task.letters), ["letters"] * len(letters),
                  "anti-diagonal share")

    def cross() -> np.ndarray:
        decoder = reversal_trace(model, task, text)[1]
        return np.stack([layer.cross.weights for layer in decoder.layers])          # (L, H, T_target, S)

    take = _take(model, cross, lambda: model.source_embed.token.weight[letters].detach().numpy())
    return ProbeRecorder(probe, take, anti_diagonal_share, total_steps, **bounds)
