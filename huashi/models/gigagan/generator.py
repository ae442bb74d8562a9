"""GigaGAN's text-to-image generator, small.

- Text branch: the frozen encoder's per-token states are projected to ``text_width`` and refined
  by a few learned blocks (stable self-attention among the real tokens, then an MLP, both
  residual). The refined tokens are the keys/values of the synthesis network's
  cross-attention; their masked mean is the global text vector the mapping network reads with z.
- Synthesis: a learned 4x4 constant, then per resolution two adaptive-kernel styled convolutions
  (the first doubles the size) and, at the attention resolutions, self-attention over the pixels
  and cross-attention to the tokens. Layer i reads ``ws[:, i]`` exactly as in StyleGAN2 (two ws
  per resolution for the convs, the toRGB sharing the next block's first w).
- Output: an image pyramid, one RGB image per resolution from 4x4 up. Level r is the nearest
  upsampling of level r/2 plus the detail of that resolution's toRGB with its 2x2-block means
  removed, so that **every lower level is exactly the 2x2 area-downsampling (average pooling) of
  the level above**: the pyramid is consistent by construction, like the pyramid of a real image
  (:func:`image_pyramid`), and D can judge every level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from huashi.models.gigagan.layers import AdaptiveStyledConv, ImageAttention, StableAttention
from huashi.models.stylegan.layers import EqualLinear, ToRGB
from huashi.models.stylegan.mapping import MappingNetwork
from huashi.models.stylegan.synthesis import channels_at


def image_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``levels`` images from coarse to fine, the finest ``image``, each coarser one the 2x2
    average pooling of the next."""
    pyramid = [image]
    for _ in range(levels - 1):
        pyramid.insert(0, F.avg_pool2d(pyramid[0], 2))
    return pyramid


def add_detail(coarse: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """The finer level: nearest-upsampled ``coarse`` plus ``detail`` minus its 2x2-block means
    (so average pooling the result gives ``coarse`` back)."""
    up = F.interpolate(coarse, scale_factor=2, mode="nearest")
    block_mean = F.interpolate(F.avg_pool2d(detail, 2), scale_factor=2, mode="nearest")
    return up + detail - block_mean


class TextBranch(nn.Module):
    """Per-token text states -> refined tokens [B, L, width] and a global vector [B, width]."""

    def __init__(self, text_dim: int, width: int, num_layers: int = 2) -> None:
        super().__init__()
        self.proj = EqualLinear(text_dim, width)
        self.attentions = nn.ModuleList([StableAttention(width) for _ in range(num_layers)])
        self.mlps = nn.ModuleList(
            [
                nn.Sequential(
                    EqualLinear(width, 2 * width, activation=True), EqualLinear(2 * width, width)
                )
                for _ in range(num_layers)
            ]
        )

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.proj(tokens.float())
        for attention, mlp in zip(self.attentions, self.mlps, strict=True):
            x = (x + attention(x, mask=mask)) / math.sqrt(2.0)
            x = (x + mlp(x)) / math.sqrt(2.0)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return x, pooled


class Synthesis(nn.Module):
    def __init__(
        self,
        w_dim: int,
        resolution: int,
        text_width: int,
        channels: int = 3,
        channel_base: int = 1024,
        channel_max: int = 64,
        num_kernels: int = 4,
        attention_resolutions: tuple[int, ...] = (8, 16),
    ) -> None:
        super().__init__()
        self.resolution, self.w_dim = resolution, w_dim
        log2 = int(math.log2(resolution))
        self.resolutions = [2**i for i in range(2, log2 + 1)]
        self.num_ws = 2 * log2 - 2
        c4 = channels_at(4, channel_base, channel_max)
        self.const = nn.Parameter(torch.randn(c4, 4, 4))
        self.convs = nn.ModuleList([AdaptiveStyledConv(c4, c4, w_dim, 4, num_kernels)])
        self.to_rgbs = nn.ModuleList([ToRGB(c4, channels, w_dim)])
        self.self_attentions = nn.ModuleDict()
        self.cross_attentions = nn.ModuleDict()
        c_prev = c4
        for res in self.resolutions[1:]:
            c = channels_at(res, channel_base, channel_max)
            self.convs.append(AdaptiveStyledConv(c_prev, c, w_dim, res, num_kernels, up=True))
            self.convs.append(AdaptiveStyledConv(c, c, w_dim, res, num_kernels))
            self.to_rgbs.append(ToRGB(c, channels, w_dim))
            if res in attention_resolutions:
                self.self_attentions[str(res)] = ImageAttention(c)
                self.cross_attentions[str(res)] = ImageAttention(c, text_width)
            c_prev = c

    def _attend(self, x, res, layer, tokens, mask) -> torch.Tensor:
        if str(res) in self.self_attentions:
            if isinstance(tokens, (list, tuple)):  # one text per layer (prompt mixing)
                tokens, mask = tokens[layer], mask[layer]
            x = self.self_attentions[str(res)](x)
            x = self.cross_attentions[str(res)](x, tokens, mask)
        return x

    def forward(
        self,
        ws: torch.Tensor,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        noise_mode: str = "random",
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """The image pyramid (4x4 first) from ``ws`` [B, num_ws, w_dim] and the refined text
        ``tokens`` [B, L, text_width] with their ``mask`` [B, L], or lists of num_ws of them
        (one text per layer; the cross-attention after layer i reads text i)."""
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        x = self.const.unsqueeze(0).expand(len(ws), -1, -1, -1)
        x = self._attend(self.convs[0](x, ws[:, 0], noise_mode, generator), 4, 0, tokens, mask)
        pyramid = [self.to_rgbs[0](x, ws[:, 1])]
        for i, res in enumerate(self.resolutions[1:]):
            x = self.convs[1 + 2 * i](x, ws[:, 1 + 2 * i], noise_mode, generator)
            x = self.convs[2 + 2 * i](x, ws[:, 2 + 2 * i], noise_mode, generator)
            x = self._attend(x, res, 2 + 2 * i, tokens, mask)
            pyramid.append(add_detail(pyramid[-1], self.to_rgbs[1 + i](x, ws[:, 3 + 2 * i])))
        return pyramid


class Generator(nn.Module):
    """Text branch, mapping network (z and the global text vector -> w) and synthesis."""

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        text_dim: int,
        resolution: int,
        channels: int = 3,
        text_width: int = 64,
        text_layers: int = 2,
        mapping_layers: int = 4,
        mapping_lr_mul: float = 0.01,
        channel_base: int = 1024,
        channel_max: int = 64,
        num_kernels: int = 4,
        attention_resolutions: tuple[int, ...] = (8, 16),
    ) -> None:
        super().__init__()
        self.text = TextBranch(text_dim, text_width, text_layers)
        self.mapping = MappingNetwork(
            z_dim, w_dim, mapping_layers, mapping_lr_mul, "text", text_dim=text_width
        )
        self.synthesis = Synthesis(
            w_dim, resolution, text_width, channels, channel_base, channel_max, num_kernels,
            tuple(attention_resolutions),
        )  # fmt: skip

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def forward(
        self,
        z: torch.Tensor,
        tokens: torch.Tensor,
        mask: torch.Tensor,
        truncation: float = 1.0,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
        update_w_avg: bool = False,
        mix: tuple[torch.Tensor, torch.Tensor] | None = None,
        mix_layers: Sequence[int] = (),
    ) -> list[torch.Tensor]:
        """The image pyramid for z [B, z_dim] and the encoder's ``tokens`` [B, L, text_dim]
        with their ``mask``. Prompt mixing: the layers ``mix_layers`` take their w (same z)
        and their cross-attention tokens from the second text ``mix`` (tokens, mask)."""
        local, pooled = self.text(tokens, mask)
        w = self.mapping(z, pooled, truncation, update_w_avg)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if mix is None:
            return self.synthesis(ws, local, mask, noise_mode, generator)
        local_b, pooled_b = self.text(*mix)
        ws_b = self.mapping(z, pooled_b, truncation).unsqueeze(1).repeat(1, self.num_ws, 1)
        take = [i in set(mix_layers) for i in range(self.num_ws)]
        ws = torch.where(torch.tensor(take, device=ws.device).view(1, -1, 1), ws_b, ws)
        texts = [local_b if t else local for t in take]
        masks = [mix[1] if t else mask for t in take]
        return self.synthesis(ws, texts, masks, noise_mode, generator)
