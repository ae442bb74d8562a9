"""StyleGAN2's residual discriminator: fromRGB at full size, residual blocks that halve the size
(two 3x3 convs and a 1x1 skip, summed and scaled by 1/sqrt 2), then at 4x4 the minibatch
standard deviation channel, a conv and two fully connected layers. A conditional D projects:
its output is <features, embedding of the condition> / sqrt(dim) (Miyato & Koyama 2018)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from huashi.models.stylegan.layers import EqualConv2d, EqualLinear
from huashi.models.stylegan.synthesis import channels_at


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one channel: the standard deviation of each feature over a group of samples,
    averaged over features and pixels (tells D how varied a batch is). The group is the largest
    divisor of the batch size that is at most ``group_size``."""
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, b) + 1) if b % d == 0)
    y = x.float().reshape(g, b // g, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [b // g]
    y = y.repeat(g).view(b, 1, 1, 1).expand(b, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)


class DBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(c_in, c_in, 3, activation=True)
        self.conv1 = EqualConv2d(c_in, c_out, 3, activation=True)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(self.conv1(self.conv0(x)), 2)
        return (x + skip) / math.sqrt(2.0)


class Discriminator(nn.Module):
    def __init__(
        self,
        resolution: int,
        channels: int = 3,
        channel_base: int = 2048,
        channel_max: int = 128,
        condition: str = "none",
        num_classes: int = 0,
        text_dim: int = 0,
        mbstd_group: int = 4,
    ) -> None:
        super().__init__()
        c_top = channels_at(resolution, channel_base, channel_max)
        self.from_rgb = EqualConv2d(channels, c_top, 1, activation=True)
        blocks, res = [], resolution
        while res > 4:
            blocks.append(
                DBlock(
                    channels_at(res, channel_base, channel_max),
                    channels_at(res // 2, channel_base, channel_max),
                )
            )
            res //= 2
        self.blocks = nn.ModuleList(blocks)
        c4 = channels_at(4, channel_base, channel_max)
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(c4 + 1, c4, 3, activation=True)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.condition = condition
        if condition == "none":
            self.out = EqualLinear(c4, 1)
            self.embed: nn.Module | None = None
        else:
            self.out = EqualLinear(c4, c4)
            self.embed = (
                nn.Embedding(num_classes, c4) if condition == "class" else EqualLinear(text_dim, c4)
            )

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations after fromRGB and after each residual block (for perceptual losses)."""
        x = self.from_rgb(x)
        found = [x]
        for block in self.blocks:
            x = block(x)
            found.append(x)
        return found

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """One logit per image [B]."""
        x = self.features(x)[-1]
        x = self.conv(minibatch_stddev(x, self.mbstd_group))
        x = self.out(self.fc(x.flatten(1)))
        if self.embed is None:
            return x.squeeze(1)
        if cond is None:
            raise ValueError("this discriminator is conditional: pass cond")
        e = self.embed(cond).to(x.dtype)
        return (x * e).sum(dim=1) / math.sqrt(x.shape[1])
