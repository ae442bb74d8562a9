"""A translation-equivariant synthesis input in the manner of StyleGAN3 (Karras et al. 2021):
instead of a learned constant, sinusoids of fixed random frequencies, sampled on a pixel grid and
shifted by a translation that a layer computes from w.

Each channel is ``sin(2 pi (f . (x - t) + phase))`` with ``f`` drawn once, uniformly from the disc
of radius ``bandwidth`` (cycles per image: band-limited), and ``t`` the translation in image
widths. ``x`` are the pixel centres of a ``size``-px grid spanning the image, extended by
``margin`` px on every side (the synthesis crops the margin off, so its convolutions' zero
padding stays outside the picture). Moving ``t`` by k / ``size`` image widths moves the map by
exactly k pixels; the channels are then mixed by a learned 1x1 weight.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from huashi.models.stylegan.layers import EqualLinear


class FourierInput(nn.Module):
    """``channels`` Fourier features [B, C, size + 2 margin, size + 2 margin] shifted by
    ``affine(w)`` (zero at the start: the weight is initialised to 0) plus an optional ``shift``."""

    def __init__(
        self, channels: int, w_dim: int, size: int = 4, margin: int = 4, bandwidth: float = 1.0
    ) -> None:
        super().__init__()
        self.size, self.margin = size, margin
        angle = torch.rand(channels) * 2 * math.pi
        radius = bandwidth * torch.rand(channels).sqrt()  # uniform over the disc
        self.register_buffer(
            "freqs", torch.stack([angle.cos(), angle.sin()], dim=1) * radius[:, None]
        )
        self.register_buffer("phases", torch.rand(channels))
        self.affine = EqualLinear(w_dim, 2)  # w -> translation (x, y), in image widths
        nn.init.zeros_(self.affine.weight)
        self.weight = nn.Parameter(torch.randn(channels, channels))

    def translation(self, w: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """The translation [B, 2] (image widths) for ``w`` [B, w_dim], plus ``shift`` ([2] or
        [B, 2]) when given."""
        t = self.affine(w.float())
        return t if shift is None else t + shift.to(t.device, t.dtype)

    def forward(self, w: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        t = self.translation(w, shift)
        n = self.size + 2 * self.margin
        coords = (torch.arange(n, device=t.device, dtype=t.dtype) - self.margin + 0.5) / self.size
        gy, gx = torch.meshgrid(coords, coords, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)  # [H, W, 2] as (x, y)
        # f . (x - t) for every sample, channel and pixel: [B, C, H, W]
        fx = torch.einsum("hwd,cd->chw", grid, self.freqs).unsqueeze(0)
        ft = (t @ self.freqs.T).view(t.shape[0], -1, 1, 1)
        x = torch.sin(2 * math.pi * (fx - ft + self.phases.view(1, -1, 1, 1)))
        mix = self.weight / math.sqrt(self.weight.shape[1])
        return torch.einsum("oc,bchw->bohw", mix, x)
