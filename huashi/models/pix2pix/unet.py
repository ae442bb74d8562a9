"""The Pix2Pix U-Net generator: an encoder-decoder whose mirrored levels are joined by skips.

Encoder: ``depth = log2(resolution)`` 4x4 stride-2 convolutions take the image down to 1x1
(widths ``g_width * 2**i`` capped at ``g_width * g_max_mult``; LeakyReLU(0.2) before each conv
but the first, BatchNorm after each but the first and the 1x1 bottleneck).
Decoder: 4x4 stride-2 transposed convolutions back up (ReLU before, BatchNorm after, dropout in
the first ``dropout_blocks``); each level sees the decoder output below it concatenated with the
encoder output of the same size (the skip). The last level maps to the output channels with Tanh.
At 256 px with the defaults this is the paper's C64-C128-C256-C512-C512-C512-C512-C512 encoder
and CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128 decoder (widths counted after the skip).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from huashi.models.pix2pix.config import Pix2PixConfig
from huashi.models.strided_conv import StridedConv2d, StridedConvTranspose2d


def unet_depth(resolution: int) -> int:
    """Number of 2x levels from the resolution down to 1x1."""
    depth = int(math.log2(resolution)) if resolution > 0 else 0
    if resolution < 8 or 2**depth != resolution:
        raise ValueError(f"the U-Net needs a power-of-two resolution >= 8, got {resolution}")
    return depth


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}: use 'batch' or 'instance'")


class UNet(nn.Module):
    def __init__(
        self, config: Pix2PixConfig, in_channels: int, out_channels: int, resolution: int
    ) -> None:
        super().__init__()
        depth = unet_depth(resolution)
        widths = [config.g_width * min(2**i, config.g_max_mult) for i in range(depth)]

        self.encoder = nn.ModuleList([StridedConv2d(in_channels, widths[0])])
        for i in range(1, depth):
            layers: list[nn.Module] = [
                nn.LeakyReLU(0.2),
                StridedConv2d(widths[i - 1], widths[i]),
            ]
            if i < depth - 1:  # no normalization of the 1x1 bottleneck
                layers.append(norm_layer(config.norm, widths[i]))
            self.encoder.append(nn.Sequential(*layers))

        # decoder[i] mirrors encoder[i]; it is listed (and run) from the bottleneck outwards.
        self.decoder = nn.ModuleList()
        for i in reversed(range(depth)):
            in_width = widths[i] if i == depth - 1 else 2 * widths[i]  # skip concatenated
            if i == 0:
                layers = [nn.ReLU(), StridedConvTranspose2d(in_width, out_channels), nn.Tanh()]
            else:
                layers = [
                    nn.ReLU(),
                    StridedConvTranspose2d(in_width, widths[i - 1]),
                    norm_layer(config.norm, widths[i - 1]),
                ]
                if depth - 1 - i < config.dropout_blocks and config.dropout > 0:
                    layers.append(nn.Dropout(config.dropout))
            self.decoder.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input images [B, C_in, H, W] -> output images [B, C_out, H, W] in [-1, 1]."""
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        y = self.decoder[0](skips.pop())
        for block in self.decoder[1:]:
            y = block(torch.cat([skips.pop(), y], dim=1))
        return y
