"""The variational autoencoder (Kingma & Welling 2014).

The encoder of ``autoencoder.py`` outputs 2 * z_dim numbers: the mean and the log-variance of a
diagonal Gaussian q(z | x). Training samples z from it by reparameterization and adds the KL
divergence of q(z | x) from the prior N(0, I) to the reconstruction error. The KL term packs the
codes of all images into one smooth ball around the origin, which is why decoding points on a
path between two codes gives a smooth walk, and why decoding z ~ N(0, I) gives new images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from huashi.core.config_fields import option
from huashi.losses.autoencoder import RECONSTRUCTIONS
from huashi.models.autoencoder.autoencoder import ConvDecoder, ConvEncoder
from huashi.models.autoencoder.gaussian import reparameterize


@dataclass
class VAEConfig:
    z_dim: int = option(64, "numbers in the latent code")
    width: int = option(32, "channels after the first convolution; doubled per downsampling")
    max_width: int = option(256, "cap on the channels")
    recon: str = option("l2", "reconstruction loss", choices=RECONSTRUCTIONS)
    # loss = reconstruction error per pixel + kl_weight * KL per pixel. With "l2" this is the
    # negative ELBO of a Gaussian decoder with variance kl_weight / 2 (up to a constant and scale).
    kl_weight: float = option(
        0.02, "weight of the KL term per pixel (l2: a Gaussian decoder of variance kl_weight/2)"
    )


class VAE(nn.Module):
    def __init__(self, config: VAEConfig, channels: int, resolution: int) -> None:
        super().__init__()
        width, max_width, z_dim = config.width, config.max_width, config.z_dim
        self.encoder = ConvEncoder(channels, resolution, width, max_width, 2 * z_dim)
        self.decoder = ConvDecoder(channels, resolution, width, max_width, z_dim)
        self.latent_shape = (z_dim, 1, 1)
        self.register_buffer("latent_scale", torch.ones(()))  # see autoencoder.py

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images -> (mean, logvar) of q(z | x), each [B, z_dim, 1, 1]."""
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        shape = (len(images), *self.latent_shape)
        return mean.reshape(shape), logvar.clamp(-30.0, 20.0).reshape(shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction of a sampled z, mean, logvar)."""
        mean, logvar = self.encode(images)
        return self.decode(reparameterize(mean, logvar, generator)), mean, logvar
