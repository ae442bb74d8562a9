"""The plain convolutional autoencoder with a deterministic vector latent.

Encoder: strided 4x4 convolutions halve the size and double the channels down to 4x4, then a
linear layer to the latent z (``z_dim`` numbers). Decoder: the mirror image: a linear layer to
4x4 feature maps, transposed 4x4 convolutions that double the size, and a Tanh to [-1, 1].
GroupNorm (not BatchNorm) keeps each image's code independent of its batch-mates.
The VAE (``vae.py``) reuses both halves; only its encoder's output is twice as wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from huashi.core.config_fields import option
from huashi.losses.autoencoder import RECONSTRUCTIONS


@dataclass
class AutoencoderConfig:
    z_dim: int = option(64, "numbers in the latent code")
    width: int = option(32, "channels after the first convolution; doubled per downsampling")
    max_width: int = option(256, "cap on the channels")
    recon: str = option("l2", "reconstruction loss", choices=RECONSTRUCTIONS)


def stages(resolution: int) -> int:
    """Number of 2x down/up-sampling stages between the resolution and 4x4."""
    count = int(math.log2(resolution)) - 2
    if resolution < 8 or 2 ** (count + 2) != resolution:
        raise ValueError(f"the autoencoder needs a power-of-two resolution >= 8, got {resolution}")
    return count


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


def _widths(width: int, max_width: int, count: int) -> list[int]:
    """Channels at each stage: width, 2 width, 4 width, ... capped at max_width."""
    return [min(width * 2**i, max_width) for i in range(count + 1)]


class ConvEncoder(nn.Module):
    """images [B, C, R, R] -> features [B, out_features]."""

    def __init__(
        self, channels: int, resolution: int, width: int, max_width: int, out_features: int
    ) -> None:
        super().__init__()
        widths = _widths(width, max_width, stages(resolution))
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1), nn.SiLU()]
        for inner, outer in zip(widths, widths[1:], strict=False):
            layers += [nn.Conv2d(inner, outer, 4, 2, 1), _norm(outer), nn.SiLU()]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(widths[-1] * 16, out_features))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class ConvDecoder(nn.Module):
    """latents [B, z_dim] -> images [B, C, R, R] in [-1, 1]."""

    def __init__(
        self, channels: int, resolution: int, width: int, max_width: int, z_dim: int
    ) -> None:
        super().__init__()
        widths = _widths(width, max_width, stages(resolution))[::-1]
        self.start = nn.Linear(z_dim, widths[0] * 16)
        layers: list[nn.Module] = [nn.Unflatten(1, (widths[0], 4, 4)), _norm(widths[0]), nn.SiLU()]
        for inner, outer in zip(widths, widths[1:], strict=False):
            layers += [nn.ConvTranspose2d(inner, outer, 4, 2, 1), _norm(outer), nn.SiLU()]
        layers += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.start(z.flatten(1)))


class Autoencoder(nn.Module):
    """x -> z = encoder(x) -> x_hat = decoder(z); trained to make x_hat close to x."""

    def __init__(self, config: AutoencoderConfig, channels: int, resolution: int) -> None:
        super().__init__()
        self.encoder = ConvEncoder(
            channels, resolution, config.width, config.max_width, config.z_dim
        )
        self.decoder = ConvDecoder(
            channels, resolution, config.width, config.max_width, config.z_dim
        )
        self.latent_shape = (config.z_dim, 1, 1)
        # 1 / std of the data's latents, measured after training (see families/autoencoder.py);
        # a buffer, so that it is saved in the checkpoint with the weights.
        self.register_buffer("latent_scale", torch.ones(()))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, C, R, R] -> latents [B, z_dim, 1, 1]."""
        return self.encoder(images).view(len(images), *self.latent_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))
