"""Adaptive discriminator augmentation (ADA, Karras et al. 2020).

Every image D sees (real and fake alike) goes through a chain of differentiable augmentations,
each applied to each image with probability ``p``: a horizontal flip, a rotation by a multiple of
90 degrees, an integer translation of up to 1/8 of the size (reflected at the border), and color
changes (brightness, contrast, saturation). ``p`` starts at 0 and is tuned while training from
the overfitting heuristic r_t = E[sign D(real)]: every ``interval`` steps, when r_t is above the
target (D is too sure of the reals) p rises, otherwise it falls, by an amount that lets p go from
0 to 1 in ``speed_kimg`` thousand images.

All random numbers come from the generator passed in (the trainer's checkpointed noise
generator) and p and the running sums are buffers of the module :class:`AdaptiveAugment`, saved
with the family's modules, so resume is exact.
"""

from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor


def _rand(n: int, x: Tensor, g: torch.Generator | None) -> Tensor:
    device = g.device if g is not None else x.device
    return torch.rand(n, generator=g, device=device).to(x.device)


def _randn(n: int, x: Tensor, g: torch.Generator | None) -> Tensor:
    device = g.device if g is not None else x.device
    return torch.randn(n, generator=g, device=device).to(x.device)


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), a, b)


def xflip(x: Tensor, p: float, g: torch.Generator | None) -> Tensor:
    return _where(_rand(len(x), x, g) < p, x.flip(3), x)


def rotate90(x: Tensor, p: float, g: torch.Generator | None) -> Tensor:
    """Rotate by 90, 180 or 270 degrees (equally likely) with probability p."""
    apply = _rand(len(x), x, g) < p
    k = (_rand(len(x), x, g) * 3).long().clamp(max=2) + 1
    out = x
    for turns in (1, 2, 3):
        out = _where(apply & (k == turns), torch.rot90(x, turns, dims=(2, 3)), out)
    return out


def _reflect(index: Tensor, size: int) -> Tensor:
    index = index.abs()
    return (size - 1) - (size - 1 - index).abs()


def translate(x: Tensor, p: float, g: torch.Generator | None, ratio: float = 0.125) -> Tensor:
    """Shift by whole pixels, up to ``ratio`` of the size each way; the border is reflected."""
    b, _, h, w = x.shape
    apply = (_rand(b, x, g) < p).long()
    dy = ((_rand(b, x, g) * 2 - 1) * ratio * h).round().long() * apply
    dx = ((_rand(b, x, g) * 2 - 1) * ratio * w).round().long() * apply
    rows = _reflect(torch.arange(h, device=x.device).view(1, h) - dy.view(b, 1), h)
    cols = _reflect(torch.arange(w, device=x.device).view(1, w) - dx.view(b, 1), w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return x.permute(0, 2, 3, 1)[batch, rows.view(b, h, 1), cols.view(b, 1, w)].permute(0, 3, 1, 2)


def color(x: Tensor, p: float, g: torch.Generator | None) -> Tensor:
    """Brightness (+N(0, 0.2)), contrast (x lognormal(0, 0.5 ln 2)) and, for color images,
    saturation (x lognormal(0, ln 2)), each with probability p."""
    b = len(x)
    shift = _randn(b, x, g) * 0.2 * (_rand(b, x, g) < p)
    x = x + shift.view(b, 1, 1, 1).to(x.dtype)
    contrast = torch.exp(_randn(b, x, g) * 0.5 * math.log(2)) ** (_rand(b, x, g) < p).float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast.view(b, 1, 1, 1).to(x.dtype) + mean
    saturation = torch.exp(_randn(b, x, g) * math.log(2)) ** (_rand(b, x, g) < p).float()
    if x.shape[1] > 1:
        gray = x.mean(dim=1, keepdim=True)
        x = (x - gray) * saturation.view(b, 1, 1, 1).to(x.dtype) + gray
    return x


PIPELINE = {"xflip": xflip, "rotate90": rotate90, "translate": translate, "color": color}


def augment(x: Tensor, p: float, generator: torch.Generator | None, names=tuple(PIPELINE)):
    """Apply the augmentations ``names`` in order, each with probability ``p`` per image."""
    if p <= 0:
        return x
    for name in names:
        x = PIPELINE[name](x, p, generator)
    return x.contiguous()


class AdaptiveAugment(nn.Module):
    """The augmentation probability and its controller, as a module whose buffers (p, the
    running sum of signs, its count and the steps since the last adjustment) travel with the
    family's checkpoints: register it among the family's modules and resume stays exact."""

    def __init__(
        self, target: float = 0.6, interval: int = 4, speed_kimg: float = 20.0, p: float = 0.0
    ) -> None:
        super().__init__()
        self.target, self.interval, self.speed_kimg = target, interval, speed_kimg
        self.register_buffer("probability", torch.tensor(float(p), dtype=torch.float64))
        self.register_buffer("sign_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self.register_buffer("steps_since", torch.zeros((), dtype=torch.int64))

    @property
    def p(self) -> float:
        return float(self.probability)

    @p.setter
    def p(self, value: float) -> None:
        self.probability.fill_(float(value))

    def forward(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        return augment(x, self.p, generator)

    @torch.no_grad()
    def observe(self, real_logits: Tensor) -> None:
        """Record D's outputs on (augmented) reals."""
        self.sign_sum += torch.sign(real_logits.detach().double()).sum().to(self.sign_sum.device)
        self.count += real_logits.numel()

    @torch.no_grad()
    def step(self, batch_size: int) -> None:
        """Call once per training step; every ``interval`` calls p moves towards the target."""
        self.steps_since += 1
        if int(self.steps_since) < self.interval or int(self.count) == 0:
            return
        change = math.copysign(1.0, self.r_t - self.target) * batch_size * self.interval
        self.p = min(1.0, max(0.0, self.p + change / (self.speed_kimg * 1000)))
        self.sign_sum.zero_()
        self.count.zero_()
        self.steps_since.zero_()

    @property
    def r_t(self) -> float:
        """The mean sign of D's outputs on reals since the last adjustment."""
        return float(self.sign_sum) / int(self.count) if int(self.count) else 0.0


__all__ = ["PIPELINE", "AdaptiveAugment", "augment"]
