"""A ResNet generator and discriminator in the style of SNGAN (Miyato et al. 2018), at any
power-of-two resolution >= 16.

Generator: z (plus a condition embedding) -> Linear to 4x4 -> residual up-blocks that double the
size and halve the channels (norm, ReLU, upsample, norm, ReLU, 3x3 conv; the shortcut is nearest
upsampling and a 1x1 conv) -> norm, ReLU, 3x3 conv to the image, Tanh.
Discriminator: residual down-blocks that halve the size and double the channels (3x3 convs,
ReLU, average pooling; the first block has no leading ReLU) down to 4x4, then ReLU, a sum over
positions and a linear layer to one logit, plus the projection term ``<embed(c), features>`` when
conditioned. Spectral norm is added by the caller (``add_spectral_norm``) after initialization.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from huashi.models.gan.layers import (
    AlwaysDropout,
    Condition,
    doubling_stages,
    norm_layer,
    upsample_layer,
)


@dataclass
class ResNetGANConfig:
    z_dim: int = 128
    g_width: int = 64  # channels of the generator's last block
    d_width: int = 64  # channels of the discriminator's first block


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, norm: str, upsample: str, dropout: float) -> None:
        super().__init__()
        self.main = nn.Sequential(
            norm_layer(norm, c_in),
            nn.ReLU(),
            upsample_layer(c_in, c_out, upsample),
            norm_layer(norm, c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1),
            AlwaysDropout(dropout) if dropout > 0 else nn.Identity(),
        )
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, norm: str, first: bool) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Identity() if first else nn.ReLU(),
            nn.Conv2d(c_in, c_out, 3, 1, 1),
            norm_layer(norm, c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1),
            norm_layer(norm, c_out),
            nn.AvgPool2d(2),
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(x)


class Generator(nn.Module):
    def __init__(
        self,
        config: ResNetGANConfig,
        channels: int,
        resolution: int,
        norm: str = "batch",
        upsample: str = "convtranspose",
        dropout: float = 0.0,
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        stages = doubling_stages(resolution, "the ResNet GAN")
        self.embed = (condition or Condition()).embedding()
        z_in = config.z_dim + (self.embed.dim if self.embed is not None else 0)
        width = config.g_width * 2**stages
        self.width = width
        self.input = nn.Linear(z_in, width * 16)
        blocks = []
        for _ in range(stages):
            blocks.append(UpBlock(width, width // 2, norm, upsample, dropout))
            width //= 2
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Sequential(
            norm_layer(norm, width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()
        )
        self.z_dim = config.z_dim
        self.apply(_init)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z [B, z_dim] (and a condition) -> images [B, C, H, W] in [-1, 1]."""
        z = z.reshape(-1, self.z_dim)
        if self.embed is not None:
            z = torch.cat([z, self.embed(cond).to(z.dtype)], dim=1)
        x = self.input(z).view(-1, self.width, 4, 4)
        return self.output(self.blocks(x))


class Discriminator(nn.Module):
    def __init__(
        self,
        config: ResNetGANConfig,
        channels: int,
        resolution: int,
        norm: str = "none",
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        stages = doubling_stages(resolution, "the ResNet GAN")
        widths = [channels] + [config.d_width * 2**i for i in range(stages)]
        self.blocks = nn.Sequential(
            *[DownBlock(widths[i], widths[i + 1], norm, first=i == 0) for i in range(stages)]
        )
        self.head = nn.Linear(widths[-1], 1)
        self.embed = (condition or Condition()).embedding(widths[-1])
        self.apply(_init)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """images [B, C, H, W] (and a condition) -> logits [B]."""
        features = F.relu(self.blocks(images)).sum((2, 3))
        logits = self.head(features).flatten()
        if self.embed is not None:
            logits = logits + (self.embed(cond).to(features.dtype) * features).sum(1)
        return logits


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
