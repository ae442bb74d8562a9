"""Exponential moving average of a module's weights (used for sampling)."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def warmup_decay(decay: float, step: int) -> float:
    """The decay used at update ``step`` (0-based): ``(1 + step) / (10 + step)`` until it
    reaches ``decay``, so a young average is not dominated by the random initial weights."""
    return min(decay, (1 + step) / (10 + step))


class EMA:
    """Keeps ``shadow = d * shadow + (1 - d) * weights`` with ``d = warmup_decay(decay, step)``;
    buffers are copied as they are (BatchNorm statistics are then recomputed for the shadow
    weights by :func:`recalibrate_batchnorm` before the shadow is used)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int | None = None) -> None:
        """Move the shadow toward ``module``; ``step`` (0-based) applies the warm-up."""
        decay = self.decay if step is None else warmup_decay(self.decay, step)
        for shadow, live in zip(self.module.parameters(), module.parameters(), strict=True):
            shadow.lerp_(live.detach(), 1.0 - decay)
        for shadow, live in zip(self.module.buffers(), module.buffers(), strict=True):
            shadow.copy_(live)


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, _BatchNorm) for m in module.modules())


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, batches: Iterable[tuple]) -> None:
    """Recompute every BatchNorm's running statistics of ``module`` as the plain average over
    ``batches`` (argument tuples for ``module(*args)``), for the weights it has now.

    The running statistics of a live network do not fit its EMA weights: sampling an EMA
    generator with them paints grey fog. The module's flags are put back afterwards."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return
    flags = [(m, m.training) for m in module.modules()]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches
    module.train()
    try:
        for args in batches:
            module(*args)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        for m, flag in flags:
            m.training = flag
