"""A light FastGAN (Liu et al. 2021, built for 100-1,000 images), at any power-of-two
resolution >= 16, sized for a CPU (on emoji at 32 px with ``g_width`` 32, a step costs about
twice the emoji-gan-10min recipe's DCGAN step: its 3x3 convolutions do more work than 4x4
stride-2 transposed ones).

Generator: z -> ConvTranspose to 4x4 -> up-blocks (nearest 2x upsampling, 3x3 conv, BatchNorm,
GLU) that double the size and halve the channels, to ``g_width`` channels at half the size ->
nearest upsampling and a 3x3 conv to the image, Tanh. Skip-layer excitation: the features at size
s gate the channels of the features at 4s (4x4 -> 16x16, 8x8 -> 32x32, ...; none at 16 px); a
gate is average pooling to 4x4, a 4x4 conv to 1x1, Swish, a 1x1 conv and a Sigmoid.
Discriminator: DCGAN's strided 4x4 convs (BatchNorm, LeakyReLU 0.2) down to 4x4 and a 4x4 conv
to one logit; on real images its 8x8 features also feed a small decoder (up-blocks, a 3x3 conv,
Tanh) that must redraw the image D saw at half its size, so D has to learn what is in an image,
not only what tells real from fake (the self-supervised D).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from huashi.core.config_fields import option
from huashi.models.gan.layers import Condition, doubling_stages, norm_layer
from huashi.models.strided_conv import StridedConv2d


@dataclass
class FastGANConfig:
    z_dim: int = option(100, "length of the noise vector z")
    g_width: int = option(64, "channels of the generator's last hidden layer (half the size)")
    d_width: int = option(32, "channels of the discriminator's first layer")


def _no_condition(condition: Condition | None) -> None:
    if condition is not None and condition.kind != "none":
        raise ValueError("the fastgan arch is unconditional; use dcgan or resnet for conditions")


class UpBlock(nn.Sequential):
    """Double the size: nearest upsampling, 3x3 conv to twice c_out, BatchNorm, GLU to c_out."""

    def __init__(self, c_in: int, c_out: int, norm: str = "batch") -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out * 2, 3, 1, 1, bias=False),
            norm_layer(norm, c_out * 2),
            nn.GLU(dim=1),
        )


class Excitation(nn.Module):
    """Skip-layer excitation: small features -> a [B, C, 1, 1] gate in (0, 1) for big ones."""

    def __init__(self, c_small: int, c_big: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            nn.Conv2d(c_small, c_big, 4, 1, 0, bias=False),
            nn.SiLU(),
            nn.Conv2d(c_big, c_big, 1, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.gate(small)


class Generator(nn.Module):
    def __init__(
        self,
        config: FastGANConfig,
        channels: int,
        resolution: int,
        norm: str = "batch",
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        _no_condition(condition)
        stages = doubling_stages(resolution, "FastGAN")
        widths = [config.g_width * 2 ** (stages - 1 - i) for i in range(stages)]  # 4x4 .. half
        self.start = nn.Sequential(
            nn.ConvTranspose2d(config.z_dim, widths[0] * 2, 4, 1, 0, bias=False),
            norm_layer(norm, widths[0] * 2),
            nn.GLU(dim=1),
        )
        self.ups = nn.ModuleList(UpBlock(widths[i], widths[i + 1], norm) for i in range(stages - 1))
        self.excite = nn.ModuleList(Excitation(widths[i], widths[i + 2]) for i in range(stages - 2))
        self.to_image = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(widths[-1], channels, 3, 1, 1),
            nn.Tanh(),
        )
        self.z_dim = config.z_dim

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z: [B, z_dim] (or [B, z_dim, 1, 1]) -> images [B, C, H, W] in [-1, 1]."""
        x = self.start(z.reshape(-1, self.z_dim)[:, :, None, None])
        features = [x]
        for i, up in enumerate(self.ups):
            x = up(x)
            if i >= 1:  # the features two doublings back gate these
                x = self.excite[i - 1](features[i - 1], x)
            features.append(x)
        return self.to_image(x)


class Discriminator(nn.Module):
    def __init__(
        self,
        config: FastGANConfig,
        channels: int,
        resolution: int,
        norm: str = "batch",
        condition: Condition | None = None,
    ) -> None:
        super().__init__()
        _no_condition(condition)
        stages = doubling_stages(resolution, "FastGAN")
        width = config.d_width
        layers: list[nn.Module] = [
            StridedConv2d(channels, width, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(stages - 1):
            layers.append(
                nn.Sequential(
                    StridedConv2d(width, width * 2, bias=False),
                    norm_layer(norm, width * 2),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            width *= 2
        self.down = nn.Sequential(*layers)
        self.logit = nn.Conv2d(width, 1, 4, 1, 0, bias=False)
        c8 = width // 2  # channels of the 8x8 features, the input of the last down layer
        decoder: list[nn.Module] = []
        for _ in range(stages - 2):  # 8x8 -> half the size, thin (a quarter of the channels)
            decoder.append(UpBlock(c8, max(c8 // 4, 8), norm))
            c8 = max(c8 // 4, 8)
        self.decoder = nn.Sequential(*decoder, nn.Conv2d(c8, channels, 3, 1, 1), nn.Tanh())

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """images [B, C, H, W] -> logits [B]."""
        return self.logit(self.down(images)).flatten()

    def reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images -> (logits [B], the decoder's redrawing of the images at half their size,
        [B, C, H/2, W/2])."""
        at8 = self.down[:-1](images)
        return self.logit(self.down[-1](at8)).flatten(), self.decoder(at8)
