"""GigaGAN's upsampler, small: a super-resolution generator (x2, x4 or x8) for a CPU.

The low-resolution image goes through an encoder at its own size (a 3x3 fromRGB, residual conv
blocks, stable self-attention); a style w, mapped from z, then drives the upsampling half: per
doubling one adaptive-kernel modulated conv that upsamples, one that does not, and a toRGB.

The output is an image pyramid whose coarsest level is the input itself. Each finer level is
:func:`add_detail` of the level below with (its bilinear upsampling + that level's toRGB): the
detail has zero 2x2 block means, so **average pooling the output by ``scale`` gives the input
back exactly**. The model only adds detail; it never changes what the low-resolution image says,
and at initialization it paints a smooth interpolation.

With ``text_dim`` > 0 the style also reads a caption: the text encoder's pooled vector enters
the mapping network beside z (w from z and text), so the detail painted follows the words where
the low-resolution image cannot tell (which way fine stripes run, say).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from huashi.models.gigagan.generator import add_detail
from huashi.models.gigagan.layers import AdaptiveStyledConv, ImageAttention
from huashi.models.stylegan.layers import EqualConv2d, ToRGB
from huashi.models.stylegan.mapping import MappingNetwork


def downsample(images: torch.Tensor, scale: int) -> torch.Tensor:
    """The low-resolution version of ``images`` in [-1, 1]: ``scale`` x ``scale`` block means
    (area downsampling), rounded to 8-bit values as a PNG would store them."""
    low = F.avg_pool2d(images.float(), scale)
    return torch.round((low.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


def rebase(image: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """``image`` with its block means replaced by ``low`` (one pixel per block): the nearest
    image to ``image`` that ``low`` is the area downsampling of."""
    scale = image.shape[-1] // low.shape[-1]
    up = F.interpolate(low, scale_factor=scale, mode="nearest")
    means = F.interpolate(F.avg_pool2d(image, scale), scale_factor=scale, mode="nearest")
    return image - means + up


class ResBlock(nn.Module):
    """Two 3x3 equalized-lr convs with leaky ReLU, added to the input and scaled by 1/sqrt 2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(channels, channels, 3, activation=True)
        self.conv2 = EqualConv2d(channels, channels, 3, activation=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.conv2(self.conv1(x))) / math.sqrt(2.0)


class Upsampler(nn.Module):
    """Low-resolution image [B, C, r, r] and z [B, z_dim] (and a caption's vector) -> the
    pyramid r, 2r, ..., scale * r."""

    def __init__(
        self,
        in_resolution: int,
        scale: int,
        channels: int = 3,
        z_dim: int = 16,
        w_dim: int = 64,
        mapping_layers: int = 2,
        mapping_lr_mul: float = 0.01,
        width: int = 64,
        encoder_blocks: int = 2,
        num_kernels: int = 4,
        attention: bool = True,
        text_dim: int = 0,
    ) -> None:
        super().__init__()
        self.in_resolution, self.scale = in_resolution, scale
        self.mapping = MappingNetwork(
            z_dim, w_dim, mapping_layers, mapping_lr_mul,
            condition="text" if text_dim else "none", text_dim=text_dim,
        )  # fmt: skip
        self.from_rgb = EqualConv2d(channels, width, 3, activation=True)
        self.encoder = nn.Sequential(*[ResBlock(width) for _ in range(encoder_blocks)])
        self.attention = ImageAttention(width) if attention else None
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        c = width
        for i in range(int(math.log2(scale))):
            res, c_out = in_resolution * 2 ** (i + 1), max(width // 2 ** (i + 1), 8)
            self.convs.append(AdaptiveStyledConv(c, c_out, w_dim, res, num_kernels, up=True))
            self.convs.append(AdaptiveStyledConv(c_out, c_out, w_dim, res, num_kernels))
            self.to_rgbs.append(ToRGB(c_out, channels, w_dim))
            c = c_out

    def forward(
        self,
        low: torch.Tensor,
        z: torch.Tensor,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
        update_w_avg: bool = False,
        text: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """The pyramid [low, 2x, ..., scale x] (the finest not clipped) for ``low`` in [-1, 1];
        ``text`` [B, text_dim] is the captions' pooled vector of a text-conditioned model."""
        w = self.mapping(z, text, update_w_avg=update_w_avg)
        x = self.encoder(self.from_rgb(low.float()))
        if self.attention is not None:
            x = self.attention(x)
        pyramid = [low.float()]
        for i, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * i](x, w, noise_mode, generator)
            x = self.convs[2 * i + 1](x, w, noise_mode, generator)
            coarse = pyramid[-1]
            smooth = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
            pyramid.append(add_detail(coarse, smooth + to_rgb(x, w)))
        return pyramid
