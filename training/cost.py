"""What a training run will cost, estimated from its settings before it starts.

One server may serve a whole class, so a run that would take hours or gigabytes is refused
with the figures instead of started. The estimates count floating-point operations (about
6 per parameter per token for the forward and backward pass, plus attention's T² part)
at a throughput measured on a 2-core machine, and the bytes of weights, gradients, Adam's
two moments, the kept snapshots and one step's activations. They are meant to be right
within a factor of about two, which is enough to tell a minute from a day.

A server learns its own speed, now: every step of a run reports how long it took to a
`Calibration`, and while steps have been measured in the last minute an estimate is scaled by
their median measured/estimated ratio: the server's present pace, under its present load. With
no recent steps, the finished runs' ratios (each taken back to an unloaded machine by the load
during that run) are scaled by the load right now (the 1-minute load average per core), so an
estimate made on a busy server is not a quiet server's. A run's progress bar tells the time
left from its own last seconds of steps (`StepPace`), so it corrects itself when the pace changes.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from core import TransformerConfig
from core.seq2seq import EncoderDecoder

from .lm import TrainConfig, count_parameters
from .reversal import ReversalTask

FLOPS_PER_S = 50e9          # measured 65–95 GFLOP/s on 2 cores for mid-sized runs; kept below for safety
STEP_OVERHEAD_S = 0.015     # Python and optimizer work that does not scale with the model
EVAL_BATCH = 64             # sequences per validation batch (training/lm.py's evaluate)
DECODE_STEP_S = 0.01        # one greedy decoding step of the reversal model (Python work, measured)
HELD_OUT = 200              # held-out strings the reversal model is scored on at each report
RECENT_S = 60.0             # steps measured this recently tell the server's present pace
MIN_RECENT_STEPS = 5        # fewer recent steps than this say too little (a first step includes set-up)
PACE_WINDOW_S = 10.0        # the progress bar's time left: the pace of the last seconds of steps


def _limit(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


MAX_SECONDS = _limit("ATTENTION_EXPLORER_MAX_TRAIN_SECONDS", 900)       # 15 minutes
MAX_STEP_SECONDS = 5.0                                                   # Stop is honoured between steps
MAX_BYTES = _limit("ATTENTION_EXPLORER_MAX_TRAIN_BYTES", 2e9)           # 2 GB per run


@dataclass(frozen=True)
class TrainingCost:
    step_seconds: float       # one update
    seconds: float            # the whole run, validation included
    bytes: int                # peak memory of the run
    parameters: int


def training_cost(config: TransformerConfig, cfg: TrainConfig) -> TrainingCost:
    d, layers, t, vocab = config.d_model, config.n_layers, config.max_positions, config.vocab_size
    parameters = count_parameters(config)
    per_token = 6 * (12 * layers * d * d + vocab * d) + 6 * layers * t * d        # forward + backward
    step_seconds = STEP_OVERHEAD_S + cfg.batch_size * t * per_token / FLOPS_PER_S
    reports = -(-cfg.steps // cfg.report_every)
    eval_seconds = reports * cfg.eval_batches * EVAL_BATCH * t * per_token / 3 / FLOPS_PER_S
    tokens = cfg.batch_size * t
    activations = 4 * tokens * (layers * (20 * d + 3 * config.n_heads * t + 2 * config.d_ff) + 3 * vocab)
    weights = 4 * parameters * 7          # weights, gradients, two Adam moments, three kept snapshots
    return TrainingCost(step_seconds, cfg.steps * step_seconds + eval_seconds, int(weights + activations), parameters)


def cost_problem(cost: TrainingCost, max_seconds: float = MAX_SECONDS, max_step_seconds: float = MAX_STEP_SECONDS,
                 max_bytes: float = MAX_BYTES) -> Optional[str]:
    """Why these settings are refused on this server, with the figures, or None."""
    if cost.bytes > max_bytes:
        return (f"These settings need about {cost.bytes / 1e9:.1f} GB of memory; this server allows "
                f"{max_bytes / 1e9:.1f} GB per run. Use a smaller batch, context, d_model or vocabulary.")
    if cost.step_seconds > max_step_seconds:
        return (f"One step would take about {cost.step_seconds:.0f} s (the limit is {max_step_seconds:.0f} s, so "
                "Stop answers quickly). Use a smaller batch, context or model.")
    if cost.seconds > max_seconds:
        return (f"This run would take about {cost.seconds / 60:.0f} minutes; this server allows "
                f"{max_seconds / 60:.0f}. Use fewer steps or a smaller model.")
    return None


def seq2seq_cost(config: TransformerConfig, task: ReversalTask, steps: int, batch_size: int,
                 report_every: int) -> TrainingCost:
    """The reversal model's run: training steps, plus greedy decoding of the held-out strings at
    each report (the decoder reruns its whole prefix for every letter it writes)."""
    with torch.device("meta"):                                   # counted without allocating weights
        parameters = sum(p.numel() for p in EncoderDecoder(config).parameters())
    per_token = 6 * parameters                                    # forward + backward
    tokens = batch_size * (2 * task.max_len + 1)                  # source and target, padded to the longest
    step_seconds = STEP_OVERHEAD_S + tokens * per_token / FLOPS_PER_S
    letters = task.max_len + 1
    decoded = HELD_OUT * letters * (letters + 1) / 2              # prefix tokens run while writing
    report_seconds = letters * DECODE_STEP_S + decoded * 2 * parameters / FLOPS_PER_S
    reports = -(-steps // report_every)
    activations = 4 * tokens * config.n_layers * (30 * config.d_model + 6 * config.n_heads * task.max_len)
    return TrainingCost(step_seconds, steps * step_seconds + reports * report_seconds,
                        int(4 * parameters * 6 + activations), parameters)


def load_average() -> float:
    """Runnable processes on this machine over the last minute (0 where the system does not say)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return 0.0


class Calibration:
    """Measured / estimated time on this server, to scale estimates (thread-safe): the steps of the
    last minute (the pace right now), else recent finished runs scaled by the present load.

    `load` (the 1-minute load average), `cores` and `clock` are the machine's unless a test passes its own."""

    def __init__(self, keep: int = 20, load: Callable[[], float] = load_average, cores: int | None = None,
                 clock: Callable[[], float] = time.monotonic, recent_s: float = RECENT_S):
        self._ratios: deque[float] = deque(maxlen=keep)          # finished runs, as on an unloaded machine
        self._steps: deque[tuple[float, float]] = deque(maxlen=200)   # (when, measured/estimated) per step
        self._lock = threading.Lock()
        self._load, self._cores, self._clock, self.recent_s = load, cores or os.cpu_count() or 1, clock, recent_s

    def _busy(self, running: bool) -> float:
        """How much slower than alone on the machine: during a run its own threads fill the cores
        (load/cores); before one starts it will add a core's worth per core (1 + load/cores)."""
        per_core = max(self._load(), 0.0) / self._cores
        return max(1.0, per_core if running else 1.0 + per_core)

    def record(self, estimated_s: float, measured_s: float, steps_done: int = 0, steps: int = 0) -> None:
        """A run's measured time; a stopped run counts for the share of its steps it did."""
        share = steps_done / steps if steps else 1.0
        if estimated_s > 0 and measured_s > 0 and share > 0.05:
            ratio = measured_s / (estimated_s * share) / self._busy(running=True)
            with self._lock:
                self._ratios.append(ratio)

    def observe_step(self, estimated_s: float, measured_s: float) -> None:
        """One step of a run going now: how long it took against its share of the estimate."""
        if estimated_s > 0 and measured_s > 0:
            with self._lock:
                self._steps.append((self._clock(), measured_s / estimated_s))

    def _recent(self) -> list[float]:
        now = self._clock()
        with self._lock:
            return [ratio for when, ratio in self._steps if now - when <= self.recent_s]

    @property
    def factor(self) -> float:
        """How much slower (> 1) or faster than the estimate a run would go here now; 1 on a quiet
        server that has measured nothing."""
        recent = self._recent()
        if len(recent) >= MIN_RECENT_STEPS:
            return statistics.median(recent)
        with self._lock:
            base = statistics.median(self._ratios) if self._ratios else 1.0
        return base * self._busy(running=False)

    @property
    def runs(self) -> int:
        with self._lock:
            return len(self._ratios)

    def basis(self) -> str:
        """What the factor rests on, for the page: "the pace of the steps running now", …"""
        if len(self._recent()) >= MIN_RECENT_STEPS:
            return "at the pace of the training steps this server ran in the last minute"
        load = f"its present load ({self._busy(running=False):.1f}× slower than a free machine)"
        if self.runs:
            return f"scaled by the measured time of the last {self.runs} run(s) on this server and {load}"
        return f"from the settings and {load}; no run measured here yet, so right within a factor of about two"

    def seconds(self, cost: TrainingCost) -> float:
        return cost.seconds * self.factor


class StepPace:
    """A run's time left at its recent pace: the steps of the last `window_s` seconds (at least
    `min_steps` of them), so a server that slows down or speeds up mid-run shows within seconds,
    not after the average since the start has caught up."""

    def __init__(self, total: int, window_s: float = PACE_WINDOW_S, min_steps: int = MIN_RECENT_STEPS,
                 clock: Callable[[], float] = time.perf_counter):
        self.total, self.window_s, self.min_steps, self._clock = total, window_s, min_steps, clock
        self._marks: deque[tuple[int, float]] = deque([(0, clock())])     # (step, when)
        self.last_step_s = 0.0                                              # how long the latest step took

    def step(self, step: int) -> None:
        now = self._clock()
        last_step, last_time = self._marks[-1]
        if step > last_step:
            self.last_step_s = (now - last_time) / (step - last_step)
        self._marks.append((step, now))
        while len(self._marks) > self.min_steps + 1 and now - self._marks[1][1] >= self.window_s:
            self._marks.popleft()

    def seconds_left(self) -> Optional[float]:
        """The remaining steps at the recent pace (None before a step has been timed)."""
        (first, start), (step, now) = self._marks[0], self._marks[-1]
        if step <= first or now <= start:
            return None
        return (now - start) / (step - first) * max(self.total - step, 0)


def duration(seconds: float) -> str:
    """'0.4 s', '40 s', '2.5 min': how a time reads on a page."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def seconds_left(step: int, total: int, elapsed: float) -> Optional[float]:
    """The rest of a run at the pace measured so far (None before the first step)."""
    if step <= 0 or elapsed <= 0:
        return None
    return elapsed / step * max(total - step, 0)
