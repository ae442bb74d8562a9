"""Building blocks shared by the GAN architectures: normalization by name, dropout that stays on
at test time, spectral norm on a whole network, and the condition embedding of conditional GANs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from huashi.models.strided_conv import StridedConvTranspose2d

NORMS = ("batch", "instance", "none")
CONDITIONS = ("none", "class", "text")
UPSAMPLES = ("convtranspose", "pixelshuffle")


def doubling_stages(resolution: int, model: str) -> int:
    """The 2x up/down-sampling stages between 4x4 and ``resolution`` (a power of two >= 16)."""
    stages = int(math.log2(resolution)) - 2
    if resolution < 16 or 2 ** (stages + 2) != resolution:
        raise ValueError(f"{model} needs a power-of-two resolution >= 16, got {resolution}")
    return stages


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm, InstanceNorm (affine; for D when a gradient penalty forbids mixing samples)
    or nothing."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


def upsample_layer(c_in: int, c_out: int, kind: str) -> nn.Module:
    """Double the size: ConvTranspose(4, stride 2), or a 3x3 conv to 4x channels + PixelShuffle."""
    if kind == "convtranspose":
        return StridedConvTranspose2d(c_in, c_out, bias=False)
    if kind == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(c_in, c_out * 4, 3, 1, 1, bias=False), nn.PixelShuffle(2))
    raise ValueError(f"unknown upsample {kind!r}; valid: convtranspose, pixelshuffle")


class AlwaysDropout(nn.Module):
    """Dropout that is on in training *and* sampling (the seed's noise source for G)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True)


def add_spectral_norm(module: nn.Module) -> nn.Module:
    """Put spectral norm (one power iteration per forward) on every conv, linear and embedding
    weight of ``module``, in place; returns it. Call it after weight initialization."""
    for child in list(module.modules()):
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            spectral_norm(child)
    return module


@dataclass(frozen=True)
class Condition:
    """What a conditional GAN is conditioned on: nothing, a class label or a text vector."""

    kind: str = "none"
    num_classes: int = 0
    text_dim: int = 0
    dim: int = 128  # size of the embedding G concatenates to z

    def embedding(self, dim: int | None = None) -> ConditionEmbedding | None:
        """A fresh embedding to ``dim`` (default ``self.dim``), or None when unconditional."""
        if self.kind == "none":
            return None
        return ConditionEmbedding(self, dim or self.dim)


class ConditionEmbedding(nn.Module):
    """A class label (int64 [B]) -> a learned vector; a text "thought vector" (float
    [B, text_dim], the frozen encoder's pooled output) -> a learned projection of it."""

    def __init__(self, condition: Condition, dim: int) -> None:
        super().__init__()
        self.kind = condition.kind
        if condition.kind == "class":
            self.net: nn.Module = nn.Embedding(condition.num_classes, dim)
        elif condition.kind == "text":
            self.net = nn.Sequential(nn.Linear(condition.text_dim, dim), nn.LeakyReLU(0.2))
        else:
            raise ValueError(f"unknown condition {condition.kind!r}")
        self.dim = dim

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.net(cond)
