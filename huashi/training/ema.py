"""Exponential moving average of a module's weights (used for sampling)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow = decay * shadow + (1 - decay) * weights``; buffers are copied as they are."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for shadow, live in zip(self.module.parameters(), module.parameters(), strict=True):
            shadow.lerp_(live.detach(), 1.0 - self.decay)
        for shadow, live in zip(self.module.buffers(), module.buffers(), strict=True):
            shadow.copy_(live)
