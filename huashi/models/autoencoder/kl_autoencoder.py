"""The KL autoencoder that latent diffusion works in (Rombach et al. 2022, "AutoencoderKL").

Unlike the vector codes of the plain autoencoder and the VAE, the latent is an image itself: [z_channels, R/f, R/f] with a
downsampling factor f (4 or 8). The encoder is a stack of residual blocks with a strided
convolution per 2x downsampling; it outputs a mean and a log-variance per latent element. The
decoder mirrors it with nearest-neighbour upsampling. A very small KL weight (1e-6 by default)
only keeps the latents from drifting to huge values; the code is nearly deterministic, so the
decoder stays sharp, and a diffusion model learns the distribution of latents instead of the prior.
The reconstruction loss is L1 or L2, optionally with a PatchGAN adversarial term ("VAE+GAN",
``patchgan.py``). Stable Diffusion's autoencoder adds a perceptual (LPIPS) loss and a middle
attention block; both are left out here (LPIPS needs downloaded weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from huashi.core.config_fields import option
from huashi.losses.autoencoder import RECONSTRUCTIONS
from huashi.models.autoencoder.gaussian import reparameterize

FACTORS = (4, 8)


@dataclass
class KLAutoencoderConfig:
    z_channels: int = option(4, "latent channels")
    factor: int = option(4, "spatial downsampling factor", choices=FACTORS)
    width: int = option(32, "channels at full resolution; doubled per downsampling up to max_width")
    max_width: int = option(128, "cap on the channels")
    res_blocks: int = option(1, "residual blocks per resolution")
    recon: str = option("l1", "reconstruction loss", choices=RECONSTRUCTIONS)
    kl_weight: float = option(1e-6, "weight of the KL sum against the reconstruction sum per image")
    adversarial: bool = option(False, "add a PatchGAN discriminator (VAE+GAN)")
    adv_weight: float = option(0.1, "weight of the decoder's adversarial loss")
    adv_start: int = option(0, "training step at which the adversarial term starts")
    disc_width: int = option(64, "channels of the discriminator's first layer")
    disc_layers: int = option(
        2, "strided discriminator layers: 2 suits 16-64 px, 3 is the 70x70 PatchGAN"
    )


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


class ResBlock(nn.Module):
    """x + conv(silu(norm(conv(silu(norm(x)))))), with a 1x1 skip when channels change."""

    def __init__(self, inner: int, outer: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(inner), nn.SiLU(), nn.Conv2d(inner, outer, 3, 1, 1),
            _norm(outer), nn.SiLU(), nn.Conv2d(outer, outer, 3, 1, 1),
        )  # fmt: skip
        self.skip = nn.Identity() if inner == outer else nn.Conv2d(inner, outer, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


def _widths(config: KLAutoencoderConfig) -> list[int]:
    levels = config.factor.bit_length() - 1  # log2(f)
    return [min(config.width * 2**i, config.max_width) for i in range(levels + 1)]


class Encoder(nn.Module):
    """images [B, C, R, R] -> (mean, logvar), each [B, z_channels, R/f, R/f]."""

    def __init__(self, config: KLAutoencoderConfig, channels: int) -> None:
        super().__init__()
        widths = _widths(config)
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1)]
        for level, outer in enumerate(widths):
            inner = widths[max(level - 1, 0)]
            if level > 0:
                layers.append(nn.Conv2d(inner, inner, 3, 2, 1))  # 2x downsampling
            for block in range(config.res_blocks):
                layers.append(ResBlock(inner if block == 0 else outer, outer))
        layers += [
            ResBlock(widths[-1], widths[-1]),
            _norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], 2 * config.z_channels, 3, 1, 1),
        ]  # fmt: skip
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.net(images).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


class Decoder(nn.Module):
    """latents [B, z_channels, R/f, R/f] -> images [B, C, R, R] (not clamped: the loss sees the
    raw output, callers clamp to [-1, 1])."""

    def __init__(self, config: KLAutoencoderConfig, channels: int) -> None:
        super().__init__()
        widths = _widths(config)[::-1]
        layers: list[nn.Module] = [
            nn.Conv2d(config.z_channels, widths[0], 3, 1, 1),
            ResBlock(widths[0], widths[0]),
        ]
        for level, outer in enumerate(widths):
            inner = widths[max(level - 1, 0)]
            if level > 0:
                layers += [
                    nn.Upsample(scale_factor=2.0, mode="nearest"),
                    nn.Conv2d(inner, inner, 3, 1, 1),
                ]
            for block in range(config.res_blocks):
                layers.append(ResBlock(inner if block == 0 else outer, outer))
        layers += [_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], channels, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class KLAutoencoder(nn.Module):
    def __init__(self, config: KLAutoencoderConfig, channels: int, resolution: int) -> None:
        super().__init__()
        if config.factor not in FACTORS:
            raise ValueError(f"factor must be one of {FACTORS}, got {config.factor}")
        if resolution % config.factor:
            raise ValueError(f"resolution {resolution} is not divisible by factor {config.factor}")
        self.encoder = Encoder(config, channels)
        self.decoder = Decoder(config, channels)
        side = resolution // config.factor
        self.latent_shape = (config.z_channels, side, side)
        self.register_buffer("latent_scale", torch.ones(()))  # see autoencoder.py

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(images)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = self.encode(images)
        return self.decode(reparameterize(mean, logvar, generator)), mean, logvar
