"""The one training loop: it knows nothing about the model it trains (as minGPT's trainer).

The caller gives a `batch_loss(step)` function that draws a batch and returns its loss
and how many tokens it held, an optimizer and optionally a learning-rate schedule; the
loop does the updates and yields a Tick every `report_every` steps, so a page can draw a
live curve, and the caller stops it simply by not asking for more. The language model
(training/lm.py) and the reversal task (training/reversal.py) both train through it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch
from torch import nn


@dataclass(frozen=True)
class Tick:
    step: int                     # updates done so far
    total: int
    loss: float                   # mean training loss since the last tick
    tokens: int                   # tokens trained on so far
    elapsed: float                # seconds since the start

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(self.elapsed, 1e-9)


class LossNotFinite(RuntimeError):
    """The loss became NaN or infinite: the updates grew too large."""

    def __init__(self, step: int, loss: float, message: str = ""):
        super().__init__(message or f"The loss became {loss} at step {step}.")
        self.step = step
        self.loss = loss


def train_steps(net: nn.Module, batch_loss: Callable[[int], tuple[torch.Tensor, int]],
                optimizer: torch.optim.Optimizer, steps: int, report_every: int,
                schedule: Optional[torch.optim.lr_scheduler.LRScheduler] = None,
                grad_clip: float = 1.0, on_step: Optional[Callable[[int], None]] = None) -> Iterator[Tick]:
    """`steps` updates of `net`; raises LossNotFinite (before updating) on a NaN/inf loss.
    on_step(step) is called after every update: a page uses it to show progress and to
    notice Stop (or a closed tab) within one step."""
    net.train()
    start = time.perf_counter()
    tokens, running = 0, []
    for step in range(steps):
        loss, n_tokens = batch_loss(step)
        if not torch.isfinite(loss):
            net.eval()
            raise LossNotFinite(step + 1, loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        tokens += n_tokens
        running.append(loss.item())
        if on_step is not None:
            on_step(step + 1)
        if (step + 1) % report_every == 0 or step + 1 == steps:
            yield Tick(step + 1, steps, math.fsum(running) / len(running), tokens, time.perf_counter() - start)
            running = []
    net.eval()
