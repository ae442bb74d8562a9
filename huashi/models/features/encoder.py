"""The small convolutional image encoder shared by the in-domain CLIP and the classifier.

Strided 3x3 convolutions halve the image until it is at most 4x4 (at most 4 halvings), each
followed by GroupNorm and SiLU; global average pooling then gives the feature vector
(``feature_dim`` = 4 * width). Those pooled features are what FID/KID/precision-recall use,
like Inception-v3's pool3 layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
        nn.GroupNorm(min(8, cout), cout),
        nn.SiLU(),
    )


class ConvEncoder(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int = 32) -> None:
        super().__init__()
        halvings = max(1, min(4, int(math.log2(max(resolution, 8))) - 2))
        widths = [width * min(2**i, 4) for i in range(halvings + 1)]
        layers = [_block(channels, widths[0], 1)]
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            layers += [_block(cin, cout, 2), _block(cout, cout, 1)]
        self.body = nn.Sequential(*layers)
        self.feature_dim = widths[-1]

    @property
    def first_conv(self) -> nn.Conv2d:
        """The first convolution (read by the texture view, :mod:`.texture`)."""
        return self.body[0][0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, H, W] in [-1, 1] -> pooled features [B, feature_dim]."""
        return self.body(images).mean(dim=(2, 3))
