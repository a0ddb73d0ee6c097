"""What a training run will cost, estimated from its settings before it starts.

One server may serve a whole class, so a run that would take hours or gigabytes is refused
with the figures instead of started. The estimates count floating-point operations (about
6 per parameter per token for the forward and backward pass, plus attention's T² part)
at a throughput measured on a 2-core machine, and the bytes of weights, gradients, Adam's
two moments, the kept snapshots and one step's activations. They are meant to be right
within a factor of about two, which is enough to tell a minute from a day.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from core import TransformerConfig

from .lm import TrainConfig, count_parameters

FLOPS_PER_S = 50e9          # measured 65–95 GFLOP/s on 2 cores for mid-sized runs; kept below for safety
STEP_OVERHEAD_S = 0.015     # Python and optimizer work that does not scale with the model
EVAL_BATCH = 64             # sequences per validation batch (training/lm.py's evaluate)


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
