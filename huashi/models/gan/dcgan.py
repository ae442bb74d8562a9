"""The seed's DCGAN (Radford et al. 2016), at any power-of-two resolution >= 16.

Generator: z (100) -> ConvTranspose to 4x4 -> ConvTranspose(4, stride 2) blocks that double the
size and halve the channels, each with BatchNorm and ReLU -> ConvTranspose to the image, Tanh.
Discriminator: the mirror image: strided 4x4 convolutions with LeakyReLU(0.2) (BatchNorm on all
but the first), down to 4x4, then a 4x4 convolution to one logit (the Sigmoid lives in the loss,
``BCEWithLogits``, which is the same function computed stably). Weights start from N(0, 0.02).

The keyword options (used by the general ``gan`` family; their defaults are the seed's DCGAN)
swap the normalization, upsample with PixelShuffle instead of ConvTranspose, keep dropout on in
G, and condition both nets: G concatenates a condition embedding to z, D adds a projection term
``<embed(c), features>`` to its logit (the projection discriminator).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from huashi.core.config_fields import option
from huashi.models.gan.layers import (
    AlwaysDropout,
    Condition,
    doubling_stages,
    norm_layer,
    upsample_layer,
)
from huashi.models.strided_conv import StridedConv2d


@dataclass
class DCGANConfig:
    z_dim: int = option(100, "length of the noise vector z")
    g_width: int = option(64, "channels of the generator's last hidden layer (ngf)")
    d_width: int = option(64, "channels of the discriminator's first layer (ndf)")


class Generator(nn.Module):
    def __init__(
        self,
        config: DCGANConfig,
        channels: int,
        resolution: int,
        norm: str = "batch",
        upsample: str = "convtranspose",
        dropout: float = 0.0,
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        stages = doubling_stages(resolution, "DCGAN")
        self.embed = (condition or Condition()).embedding()
        z_in = config.z_dim + (self.embed.dim if self.embed is not None else 0)
        width = config.g_width * 2 ** (stages - 1)  # 64 px: 512 channels at 4x4
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_in, width, 4, 1, 0, bias=False),
            norm_layer(norm, width),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [
                upsample_layer(width, width // 2, upsample),
                norm_layer(norm, width // 2),
                nn.ReLU(True),
            ]
            layers += [AlwaysDropout(dropout)] if dropout > 0 else []
            width //= 2
        layers += [upsample_layer(width, channels, upsample), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = config.z_dim

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z: [B, z_dim] or [B, z_dim, 1, 1] (and a condition) -> images [B, C, H, W] in [-1, 1]."""
        z = z.reshape(-1, self.z_dim)
        if self.embed is not None:
            z = torch.cat([z, self.embed(cond).to(z.dtype)], dim=1)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(
        self,
        config: DCGANConfig,
        channels: int,
        resolution: int,
        norm: str = "batch",
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        stages = doubling_stages(resolution, "DCGAN")
        width = config.d_width
        layers: list[nn.Module] = [
            StridedConv2d(channels, width, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(stages - 1):
            layers += [
                StridedConv2d(width, width * 2, bias=False),
                norm_layer(norm, width * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        self.embed = (condition or Condition()).embedding(width)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """images [B, C, H, W] (and a condition) -> logits [B] (D(x) = sigmoid(logit))."""
        if self.embed is None:
            return self.net(images).flatten()
        features = self.net[:-1](images)
        projection = (self.embed(cond).to(features.dtype) * features.sum((2, 3))).sum(1)
        return self.net[-1](features).flatten() + projection


def init_dcgan_weights(module: nn.Module) -> None:
    """The DCGAN paper's initialization: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
