"""GigaGAN's multi-scale discriminator, small.

It judges every level of an image pyramid (4x4 excluded) on its own: level r enters through its
own fromRGB at the trunk's resolution r and runs down the shared residual trunk (StyleGAN2's
blocks) to 4x4, where a head (minibatch standard deviation, conv, fully connected) makes that
level's prediction. Coarse levels are thus predicted from shallow stacks and fine levels from
deep ones; ``min_level`` leaves out the levels below it (the upsampler's input level). The prediction is conditioned on the caption by projection:
<features, embedding of the text vector> / sqrt(dim) (Miyato & Koyama 2018).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from huashi.models.stylegan.discriminator import DBlock, minibatch_stddev
from huashi.models.stylegan.layers import EqualConv2d, EqualLinear
from huashi.models.stylegan.synthesis import channels_at


class MultiScaleDiscriminator(nn.Module):
    def __init__(
        self,
        resolution: int,
        text_dim: int,
        channels: int = 3,
        channel_base: int = 1024,
        channel_max: int = 64,
        mbstd_group: int = 4,
        min_level: int = 8,
    ) -> None:
        super().__init__()
        trunk = [2**i for i in range(3, int(math.log2(resolution)) + 1)]  # 8 .. resolution
        self.levels = [r for r in trunk if r >= min_level]  # the levels judged
        self.from_rgbs = nn.ModuleDict(
            {
                str(r): EqualConv2d(
                    channels, channels_at(r, channel_base, channel_max), 1, activation=True
                )
                for r in self.levels
            }
        )
        self.blocks = nn.ModuleDict(
            {
                str(r): DBlock(
                    channels_at(r, channel_base, channel_max),
                    channels_at(r // 2, channel_base, channel_max),
                )
                for r in trunk
            }
        )
        c4 = channels_at(4, channel_base, channel_max)
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(c4 + 1, c4, 3, activation=True)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, c4)
        self.embed = EqualLinear(text_dim, c4)

    def forward(self, pyramid: list[torch.Tensor], text: torch.Tensor) -> list[torch.Tensor]:
        """One logit per image [B] for each level of ``pyramid`` from ``min_level`` (8x8) up
        (coarser levels are ignored), given the caption's text vector [B, text_dim]."""
        by_size = {image.shape[-1]: image for image in pyramid}
        e = self.embed(text.float())
        logits = []
        for r in self.levels:
            x = self.from_rgbs[str(r)](by_size[r])
            size = r
            while size > 4:
                x = self.blocks[str(size)](x)
                size //= 2
            x = self.conv(minibatch_stddev(x, self.mbstd_group))
            x = self.out(self.fc(x.flatten(1)))
            logits.append((x * e).sum(dim=1) / math.sqrt(x.shape[1]))
        return logits
