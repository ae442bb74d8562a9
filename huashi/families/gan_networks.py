"""The gan family's networks: G and D of the chosen architecture (DCGAN, SNGAN-style ResNet or
the light FastGAN), built from the family's options."""

from __future__ import annotations

from typing import Any

from torch import nn

from huashi.models.gan import dcgan, fastgan, resnet
from huashi.models.gan.layers import Condition


def build_networks(
    config: Any, channels: int, resolution: int, condition: Condition
) -> tuple[nn.Module, nn.Module]:
    """(G, D) for a :class:`huashi.families.gan.GANConfig`, DCGAN-initialized unless ResNet."""
    size = (channels, resolution)
    if config.arch == "fastgan":
        arch_config = fastgan.FastGANConfig(config.z_dim, config.g_width, config.d_width)
        G: nn.Module = fastgan.Generator(arch_config, *size, config.norm, condition)
        D: nn.Module = fastgan.Discriminator(
            arch_config, *size, config.discriminator_norm, condition
        )
    else:
        arch = dcgan if config.arch == "dcgan" else resnet
        arch_config = (
            dcgan.DCGANConfig(z_dim=config.z_dim, g_width=config.g_width, d_width=config.d_width)
            if config.arch == "dcgan"
            else resnet.ResNetGANConfig(config.z_dim, config.g_width, config.d_width)
        )
        G = arch.Generator(
            arch_config, *size, config.norm, config.upsample, config.dropout, condition
        )
        D = arch.Discriminator(arch_config, *size, config.discriminator_norm, condition)
    if config.arch != "resnet":
        G.apply(dcgan.init_dcgan_weights)
        D.apply(dcgan.init_dcgan_weights)
    return G, D
