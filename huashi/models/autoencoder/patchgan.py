"""A small PatchGAN discriminator (Isola et al. 2017) for the "VAE+GAN" term of the KL autoencoder
(trained with the hinge loss of :mod:`huashi.losses.gan`).

Strided 4x4 convolutions with LeakyReLU(0.2) (GroupNorm after the first), then a 4x4 convolution
to one logit per patch: D judges whether each local patch looks real, which sharpens textures
that an L1/L2 loss alone blurs. The receptive field grows with ``layers`` (3 layers: 70x70).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from huashi.models.strided_conv import StridedConv2d


class PatchDiscriminator(nn.Module):
    """images [B, C, R, R] -> patch logits [B, 1, h, w]."""

    def __init__(self, channels: int, width: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [StridedConv2d(channels, width), nn.LeakyReLU(0.2)]
        inner = width
        for i in range(1, layers + 1):
            outer = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [
                StridedConv2d(inner, outer) if stride == 2 else nn.Conv2d(inner, outer, 4, 1, 1),
                nn.GroupNorm(math.gcd(32, outer), outer),
                nn.LeakyReLU(0.2),
            ]
            inner = outer
        blocks.append(nn.Conv2d(inner, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)
