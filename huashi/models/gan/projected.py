"""A discriminator on a frozen feature network (Projected GAN, Sauer et al. 2021).

The image goes through a frozen, pretrained :class:`~huashi.models.features.encoder.ConvEncoder`
(a classifier or CLIP image encoder huashi trained); small trainable heads read its feature maps
at the last ``scales`` map sizes (32 px, 3 scales: 16x16, 8x8 and 4x4; 4 scales add 32x32). Each
head is a 1x1 convolution, DCGAN-style strided 4x4 convolutions down to 4x4 and a 4x4
convolution to one logit; D's logit is the sum of the heads' logits. The frozen network only passes gradients through to G: its weights
have ``requires_grad`` off and stay out of the optimizer, so it is the same network at every step.

Left out of the paper for simplicity: the random fixed 1x1 channel-mixing projections and the
cross-scale mixing; the heads read the encoder's features as they are. Measured on emoji at
equal CPU time it painted no faces (docs/recipes.md, the ten-minute emoji GAN's lever table).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from huashi.core.errors import HuashiError
from huashi.models.features.encoder import ConvEncoder
from huashi.models.gan.layers import norm_layer
from huashi.models.strided_conv import StridedConv2d


def _head(channels: int, size: int, width: int, norm: str) -> nn.Sequential:
    """Feature map [B, channels, size, size] -> one logit per image, [B, 1, 1, 1]."""
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 1), nn.LeakyReLU(0.2, inplace=True)]
    while size > 4:
        layers += [
            StridedConv2d(width, width * 2, bias=False),
            norm_layer(norm, width * 2),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width, size = width * 2, size // 2
    layers.append(nn.Conv2d(width, 1, size, 1, 0, bias=False))
    return nn.Sequential(*layers)


class ProjectedDiscriminator(nn.Module):
    """Trainable heads on a frozen copy of ``encoder``'s feature maps at ``scales`` sizes."""

    def __init__(
        self,
        encoder: ConvEncoder,
        channels: int,
        resolution: int,
        width: int = 32,
        norm: str = "batch",
        scales: int = 3,
    ) -> None:
        super().__init__()
        self.features = copy.deepcopy(encoder).requires_grad_(False).eval()
        taps, shapes = self._taps(channels, resolution)
        if not 1 <= scales <= len(taps):
            raise HuashiError(
                f"--projected-scales must be 1 to {len(taps)}: the feature network has "
                f"{len(taps)} map sizes at {resolution} px."
            )
        self.taps = taps[-scales:]
        self.heads = nn.ModuleList(_head(c, size, width, norm) for c, size in shapes[-scales:])

    def _taps(self, channels: int, resolution: int) -> tuple[list[int], list[tuple[int, int]]]:
        """Indices of the encoder's blocks that end a resolution (the next block halves the
        map, or none follows), and the (channels, size) of their maps."""
        x, sizes = torch.zeros(1, channels, resolution, resolution), []
        with torch.no_grad():
            for block in self.features.body:
                x = block(x)
                sizes.append((x.shape[1], x.shape[-1]))
        ends = [
            i for i in range(len(sizes)) if i == len(sizes) - 1 or sizes[i + 1][1] != sizes[i][1]
        ]
        return ends, [sizes[i] for i in ends]

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        """The frozen network stays in eval mode (it has no BatchNorm or dropout today)."""
        super().train(mode)
        self.features.eval()
        return self

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The frozen encoder's maps at the tapped blocks."""
        maps, x = [], images
        for i, block in enumerate(self.features.body[: self.taps[-1] + 1]):
            x = block(x)
            if i in self.taps:
                maps.append(x)
        return maps

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """images [B, C, H, W] in [-1, 1] -> logits [B], the sum of the heads' logits."""
        maps = self.feature_maps(images)
        return sum(head(m).flatten() for head, m in zip(self.heads, maps, strict=True))
