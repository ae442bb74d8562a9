"""The synthesis network: a learned 4x4 constant, two styled convolutions per resolution (the
first doubles the size) and a toRGB per resolution whose outputs are upsampled and summed (the
skip-connection generator). Layer i of the network reads ``ws[:, i]``.

For a resolution R there are ``2 log2(R) - 2`` ws: at 4x4 the conv uses w0 and the toRGB w1; at
every next resolution the two convs use the next two ws and the toRGB the one after (toRGB shares
its w with the next block's first conv, as in StyleGAN2).

Every conv adds noise (unless ``noise=False``); ``noise`` (one map per conv, [B or 1, 1, r, r])
replaces the noise mode's maps, which is how inversion optimizes the noise along with the ws.

``input="fourier"`` replaces the constant with :class:`FourierInput` (w0 also sets its
translation): every layer then computes ``margin`` px beyond each edge of the picture (cropped
after each upsampling and at the end; the noise maps are that much larger), and the picture and
its features move with the input's translation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from huashi.models.stylegan.fourier import FourierInput
from huashi.models.stylegan.layers import StyledConv, ToRGB, crop


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


class SynthesisNetwork(nn.Module):
    def __init__(
        self,
        w_dim: int,
        resolution: int,
        channels: int = 3,
        channel_base: int = 2048,
        channel_max: int = 128,
        input: str = "const",
        margin: int = 4,
        bandwidth: float = 1.0,
        noise: bool = True,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.w_dim = w_dim
        log2 = int(math.log2(resolution))
        self.resolutions = [2**i for i in range(2, log2 + 1)]
        self.num_ws = 2 * log2 - 2
        self.use_noise, self.fourier = noise, input == "fourier"
        c4 = channels_at(4, channel_base, channel_max)
        if self.fourier:
            self.input = FourierInput(c4, w_dim, 4, margin, bandwidth)
            self.margin = m = margin
        else:
            self.const = nn.Parameter(torch.randn(c4, 4, 4))
            self.margin = m = 0
        self.convs = nn.ModuleList([StyledConv(c4, c4, w_dim, 4 + 2 * m)])
        self.to_rgbs = nn.ModuleList([ToRGB(c4, channels, w_dim)])
        c_prev = c4
        for res in self.resolutions[1:]:
            c = channels_at(res, channel_base, channel_max)
            self.convs.append(StyledConv(c_prev, c, w_dim, res + 2 * m, up=True, crop=m))
            self.convs.append(StyledConv(c, c, w_dim, res + 2 * m))
            self.to_rgbs.append(ToRGB(c, channels, w_dim))
            c_prev = c

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        generator: torch.Generator | None = None,
        return_features: bool = False,
        noise: list[torch.Tensor] | None = None,
        shift: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Images [B, C, R, R] from ``ws`` [B, num_ws, w_dim]; with ``return_features`` also the
        feature map after each resolution's last conv, by resolution. ``noise``: a map per conv
        instead of the ``noise_mode``'s. ``shift`` ([2] or [B, 2], image widths; Fourier input
        only) is added to the input's translation."""
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if noise is not None and len(noise) != len(self.convs):
            raise ValueError(f"noise must be a list of {len(self.convs)} maps, got {len(noise)}")
        maps = list(noise) if noise is not None else [None] * len(self.convs)
        if not self.use_noise:
            noise_mode, maps = "none", [None] * len(self.convs)
        m = self.margin
        if self.fourier:
            x = self.input(ws[:, 0], shift)
        elif shift is not None:
            raise ValueError("shift needs a Fourier input (input='fourier')")
        else:  # ws.shape[0], not len(ws): the batch stays free in an ONNX export
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.convs[0](x, ws[:, 0], noise_mode, generator, maps[0])
        image = self.to_rgbs[0](x, ws[:, 1])
        features = {4: crop(x, m)}
        for i, res in enumerate(self.resolutions[1:]):
            x = self.convs[1 + 2 * i](x, ws[:, 1 + 2 * i], noise_mode, generator, maps[1 + 2 * i])
            x = self.convs[2 + 2 * i](x, ws[:, 2 + 2 * i], noise_mode, generator, maps[2 + 2 * i])
            features[res] = crop(x, m)
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = crop(image, m) + self.to_rgbs[1 + i](x, ws[:, 3 + 2 * i])
        image = crop(image, m)
        return (image, features) if return_features else image


class Generator(nn.Module):
    """Mapping plus synthesis; ``forward(z, cond)`` maps every layer from the same w."""

    def __init__(self, mapping: nn.Module, synthesis: SynthesisNetwork) -> None:
        super().__init__()
        self.mapping = mapping
        self.synthesis = synthesis

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def forward(
        self,
        z: torch.Tensor,
        cond: torch.Tensor | None = None,
        truncation: float = 1.0,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        w = self.mapping(z, cond, truncation)
        return self.synthesis(w.unsqueeze(1).repeat(1, self.num_ws, 1), noise_mode)
