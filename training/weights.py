"""Starting weights and copies of weights: the one seeded initialiser every trainable model uses."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def seeded(factory: Callable[[], nn.Module], seed: int = 0, std: float = 0.02) -> nn.Module:
    """A new module with random starting weights from `seed` alone (GPT-2's small normal init):
    matrices and embedding tables ~ N(0, std²), biases 0, LayerNorm scales 1.

    The weights come from their own torch.Generator, and the module's own default
    initialisation runs inside a fork of the global random state that is put back after,
    so building a model in one browser session never changes what another session draws.
    """
    with torch.random.fork_rng(devices=[]):
        net = factory()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() >= 2:
                p.normal_(0.0, std, generator=generator)
            else:
                p.fill_(1.0)   # a norm's scale γ
    return net


def snapshot(net: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the weights, safe to keep while training goes on."""
    return {name: t.detach().clone() for name, t in net.state_dict().items()}
