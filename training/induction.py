"""A toy task where an induction head must form: random tokens with a segment repeated.

    … 17 4 29 [8 31 2 11] 40 6 … 23 [8 31 2 11] 5 …
                 first copy             repeat: after "8" comes "31" again

Only the repeat is predictable, and only one way: find the earlier copy of the current token and
copy the token that followed it (Olsson et al. 2022). Everything that could stand in for that is
drawn afresh for every sequence, so no shortcut survives:
- the tokens (a new random segment each time: no token pair can be memorised);
- the segment's length (`min_len`…`max_len`);
- where the first copy starts and how far later the repeat starts (no fixed offset: a head that
  always looks n places back, the shortcut of a fixed layout, is right only by chance).

The model is a 2-layer attention-only decoder: the usual Transformer with its feed-forward zeroed
and frozen, so each block adds only attention to the residual stream (core stays one model). An
induction head needs two layers: a previous-token head in layer 0 writes "the token before me was
A" into each position, and a head in layer 1 matches its query (the current token A) against
that, so it attends to the token after the earlier A and copies it.

Positions are rotary (RoPE), not a learned table. The previous-token head must attend "one place
back" from every position; RoPE scores a query against a key by their distance alone, so one
pattern learned anywhere holds everywhere, and the head forms within about 300 steps at every seed
tried (bench/induction_forming.py). With a learned table each position's "one back" must be learned
on its own, from the few repeats that happen to cover it: at these defaults the head formed only
at step ~700 at seed 0 and not within 1,200 steps at seed 1 (the reason a test once saw no head).
Learned positions stay on offer (`positional="learned"`) to show exactly that.

`fixed_offset=True` gives the shortcut's data (one segment length, the repeat always right after
the first copy at the start): a model trained on it learns to look a fixed distance back and
fails on the real task; the tests keep it as the baseline that must fail.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch.nn import functional as F

from core import Transformer, TransformerConfig

from .loop import train_steps
from .probe import Probe, ProbeRecorder, Snapshot
from .weights import seeded

PROBE_SEQUENCES = 32        # fixed probe sequences the induction score is averaged over
PROBE_SEED = 9_999          # the probe is never drawn from the training seed's stream


@dataclass(frozen=True)
class InductionTask:
    """Sequences of `context` random tokens from `n_symbols`, one segment of `min_len`…`max_len`
    tokens repeated at random places."""
    n_symbols: int = 64
    context: int = 32
    min_len: int = 3
    max_len: int = 15
    fixed_offset: bool = False     # the shortcut's data: segment of max_len at 0, repeated right after

    def __post_init__(self) -> None:
        if not 8 <= self.n_symbols <= 4096:
            raise ValueError("use between 8 and 4,096 symbols.")
        if not 2 <= self.min_len <= self.max_len:
            raise ValueError("segment lengths must satisfy 2 <= shortest <= longest.")
        if 2 * self.max_len + 2 > self.context:
            raise ValueError(f"two copies of a {self.max_len}-token segment need a context of at least "
                             f"{2 * self.max_len + 2} tokens; it is {self.context}.")

    def layout(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """(n, first, second): the segment's length and where its two copies start."""
        if self.fixed_offset:
            return self.max_len, 0, self.max_len
        n = int(rng.integers(self.min_len, self.max_len + 1))
        first = int(rng.integers(0, self.context - 2 * n + 1))
        second = int(rng.integers(first + n, self.context - n + 1))
        return n, first, second

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(ids, repeat): ids (batch, context); repeat (batch, context) True at the positions whose
        NEXT token is predictable by induction (the repeat's positions but its last)."""
        ids = rng.integers(0, self.n_symbols, size=(batch, self.context))
        repeat = np.zeros((batch, self.context), dtype=bool)
        for row in range(batch):
            n, first, second = self.layout(rng)
            ids[row, second: second + n] = ids[row, first: first + n]
            repeat[row, second: second + n - 1] = True
        return ids, repeat


def induction_targets(ids: np.ndarray, repeat: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, query, key) triples: each repeated position and the token after its earlier copy."""
    triples = []
    for row in range(ids.shape[0]):
        queries = np.flatnonzero(repeat[row])
        if not len(queries):
            continue
        second = int(queries[0])
        n = len(queries) + 1
        first = _first_copy(ids[row], second, n)
        triples += [(row, int(q), first + int(q) - second + 1) for q in queries]
    return triples


def _first_copy(ids: np.ndarray, second: int, n: int) -> int:
    """Where the earlier copy of ids[second:second+n] starts (the latest one before it)."""
    segment = ids[second: second + n]
    for start in range(second - n, -1, -1):
        if np.array_equal(ids[start: start + n], segment):
            return start
    raise ValueError("no earlier copy of the repeated segment.")


# -- the model -----------------------------------------------------------------------------------------
POSITIONS = ("rotary", "learned")   # how the model knows where a token is (rotary: the head forms sooner)


def induction_config(task: InductionTask, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                     positional: str = "rotary") -> TransformerConfig:
    """A pre-LN causal decoder with rotary (or learned) positions and an untied unembedding; its
    feed-forward (one unit wide) is zeroed and frozen by `new_attention_only`."""
    if positional not in POSITIONS:
        raise ValueError(f"positions must be one of {', '.join(POSITIONS)}, got {positional!r}.")
    return TransformerConfig(
        vocab_size=task.n_symbols, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=1,
        max_positions=task.context, positional=positional, norm="pre", activation="gelu", eps=1e-5,
        type_vocab_size=0, embed_norm=False, causal=True, lm_head=True, tie_embeddings=False)


def new_attention_only(config: TransformerConfig, seed: int = 0) -> Transformer:
    """Seeded random weights, then every feed-forward weight set to 0 and frozen: each block's MLP
    adds exactly 0, so the model is attention-only (and saves and loads as any decoder)."""
    net = seeded(lambda: Transformer(config), seed)
    for block in net.blocks:
        for p in block.mlp.parameters():
            p.requires_grad_(False)
            p.zero_()
    return net


# -- what is measured: the induction score and the loss on the repeat -----------------------------------
@dataclass(frozen=True)
class InductionProbeSet:
    """Fixed sequences scored at every snapshot (drawn once, from their own seed)."""
    ids: np.ndarray             # (B, T)
    repeat: np.ndarray          # (B, T) positions whose next token induction predicts
    targets: tuple              # (row, query, key) triples

    @classmethod
    def of(cls, task: InductionTask, batch: int = PROBE_SEQUENCES, seed: int = PROBE_SEED) -> "InductionProbeSet":
        real = InductionTask(task.n_symbols, task.context, task.min_len, task.max_len)   # never the shortcut's
        ids, repeat = real.sample(batch, np.random.default_rng(seed))
        return cls(ids, repeat, tuple(induction_targets(ids, repeat)))


@dataclass(frozen=True)
class InductionMeasure:
    scores: np.ndarray          # (L, H) mean weight from repeated tokens to the token after the earlier copy
    repeat_loss: float          # mean loss predicting the repeat's tokens (nats)
    other_loss: float           # mean loss on the random tokens (about ln n_symbols: unpredictable)
    attentions: np.ndarray      # (L, H, T, T) the first probe sequence's weights


@torch.no_grad()
def measure(net: Transformer, probe: InductionProbeSet) -> InductionMeasure:
    """One forward pass over the probe sequences: every head's induction score and the two losses."""
    was_training = net.training
    net.eval()
    try:
        ids = torch.from_numpy(probe.ids)
        _, records, _, logits = net.run(ids)
        weights = torch.stack([r.attention.weights for r in records], dim=1)        # (B, L, H, T, T)
        rows, queries, keys = (torch.tensor(x) for x in zip(*probe.targets))
        scores = weights[rows, :, :, queries, keys].mean(dim=0)                       # (L, H)
        losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")   # (B, T-1)
        repeat = torch.from_numpy(probe.repeat[:, :-1])
        return InductionMeasure(scores.float().numpy(), float(losses[repeat].mean()),
                                float(losses[~repeat].mean()), weights[0].float().numpy())
    finally:
        net.train(was_training)


def chance_score(probe: InductionProbeSet) -> float:
    """The induction score of a head spreading its attention evenly over the past."""
    return float(np.mean([1.0 / (q + 1) for _, q, _ in probe.targets]))


# -- training ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InductionTrainConfig:
    steps: int = 600            # about twice the step where the head forms at the defaults
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.01
    seed: int = 0
    report_every: int = 50

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "report_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"the learning rate must be a positive number, got {self.lr}.")


@dataclass(frozen=True)
class InductionProgress:
    step: int
    total: int
    loss: float                 # mean training loss (all tokens) since the last report
    repeat_loss: float          # probe: loss on the repeat
    best_score: float           # probe: the highest head's induction score
    elapsed: float


def induction_loss(net: Transformer, ids: torch.Tensor, repeat: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy at the positions whose next token can be known (the repeat's).
    The random tokens' loss is left out: it teaches nothing but noise, and it would drown the repeat's
    signal (most positions are random), lengthening the plateau before the head forms."""
    logits = net(ids)                                                            # (B, T, vocab)
    return F.cross_entropy(logits[:, :-1][repeat[:, :-1]], ids[:, 1:][repeat[:, :-1]])


def train_induction(net: Transformer, task: InductionTask, cfg: InductionTrainConfig,
                    probe: Optional[InductionProbeSet] = None,
                    on_step: Optional[Callable[[int], None]] = None) -> Iterator[InductionProgress]:
    """Train through the one loop on fresh sequences; yields progress with the probe's numbers."""
    probe = probe or InductionProbeSet.of(task)
    rng = np.random.default_rng(cfg.seed)
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    warm = max(1, cfg.warmup)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))

    def batch_loss(step: int) -> tuple[torch.Tensor, int]:
        ids, repeat = task.sample(cfg.batch_size, rng)
        return induction_loss(net, torch.from_numpy(ids), torch.from_numpy(repeat)), ids.size

    for tick in train_steps(net, batch_loss, optimizer, cfg.steps, cfg.report_every, schedule, on_step=on_step):
        m = measure(net, probe)
        yield InductionProgress(tick.step, tick.total, tick.loss, m.repeat_loss, float(m.scores.max()), tick.elapsed)
    net.eval()


# -- watching it form: snapshots for the training-step scrubber, and the phase change -------------------
def induction_recorder(net: Transformer, task: InductionTask, probe: InductionProbeSet, total_steps: int,
                       **bounds) -> ProbeRecorder:
    """Every few steps: the first probe sequence's attention (drawn), every head's induction score and the
    loss on the repeat (both over all probe sequences)."""
    tokens = [str(int(i)) for i in probe.ids[0]]
    shown = Probe(" ".join(tokens), tokens, tokens, [], [], "induction score")

    def take(step: int) -> Snapshot:
        m = measure(net, probe)
        return Snapshot(step, m.attentions, np.zeros((0, net.config.d_model), np.float32), m.scores, m.repeat_loss)

    return ProbeRecorder(shown, take, lambda attentions: np.zeros(attentions.shape[:2]), total_steps, **bounds)


@dataclass(frozen=True)
class PhaseChange:
    """The few steps in which the loss on the repeat fell most of its way, and the head that rose then."""
    start: int                  # step
    end: int                    # step
    loss_before: float
    loss_after: float
    layer: int
    head: int
    score_before: float
    score_after: float


PHASE_SHARE = 0.6               # the window must hold this share of the whole fall of the repeat's loss
PHASE_SPAN = 0.4                # … within at most this share of the run's steps (a sudden drop, not a slope)
PHASE_MIN_DROP = 0.5            # nats: a smaller fall is noise, not a phase change
PHASE_MIN_RISE = 0.2            # the head's induction score must rise at least this much in the window


def phase_change(steps, repeat_loss, scores) -> Optional[PhaseChange]:
    """Found from the numbers: the shortest run of snapshots in which the repeat's loss falls by
    PHASE_SHARE of its whole fall, if that run is short (PHASE_SPAN of the steps) and some head's
    induction score rises by PHASE_MIN_RISE across it. steps (N,), repeat_loss (N,), scores (N, L, H)."""
    steps, loss, scores = np.asarray(steps), np.asarray(repeat_loss, np.float64), np.asarray(scores, np.float64)
    if len(steps) < 3:
        return None
    drop = loss[0] - loss.min()
    if drop < PHASE_MIN_DROP:
        return None
    best = None
    for i in range(len(steps)):
        for j in range(i + 1, len(steps)):
            if loss[i] - loss[j] >= PHASE_SHARE * drop and (best is None or steps[j] - steps[i] < best[1] - best[0]):
                best = (int(steps[i]), int(steps[j]), i, j)
    start, end, i, j = best
    if end - start > PHASE_SPAN * (steps[-1] - steps[0]):
        return None
    rise = scores[j] - scores[i]                                                     # (L, H)
    layer, head = np.unravel_index(int(np.argmax(rise)), rise.shape)
    if rise[layer, head] < PHASE_MIN_RISE:
        return None
    return PhaseChange(start, end, float(loss[i]), float(loss[j]), int(layer), int(head),
                       float(scores[i, layer, head]), float(scores[j, layer, head]))
