"""The gan family's networks: G and D of the chosen architecture (DCGAN, SNGAN-style ResNet or
the light FastGAN), built from the family's options; with a frozen feature encoder, D is a
projected discriminator (:mod:`huashi.models.gan.projected`)."""

from __future__ import annotations

from typing import Any

from torch import nn

from huashi.core.errors import HuashiError
from huashi.families.base import DataInfo, Family
from huashi.models.gan import dcgan, fastgan, resnet
from huashi.models.gan.layers import Condition, add_spectral_norm
from huashi.models.gan.projected import ProjectedDiscriminator


def build_networks(
    config: Any,
    channels: int,
    resolution: int,
    condition: Condition,
    features: nn.Module | None = None,
) -> tuple[nn.Module, nn.Module]:
    """(G, D) for a :class:`huashi.families.gan.GANConfig`, DCGAN-initialized unless ResNet;
    ``features`` (a frozen encoder) makes D a projected discriminator whose trainable heads
    alone are initialized."""
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
    if features is not None:
        D = ProjectedDiscriminator(
            features,
            channels,
            resolution,
            config.d_width,
            config.discriminator_norm,
            config.projected_scales,
        )
    trained = D.heads if features is not None else D
    if config.arch != "resnet":
        G.apply(dcgan.init_dcgan_weights)
        trained.apply(dcgan.init_dcgan_weights)
    if config.spectral_norm:
        add_spectral_norm(trained)
    return G, D


def check_projected(config: Any) -> None:
    """One-line errors for a ``--projected`` the gan family cannot build or must not use."""
    if config.projected and (config.arch == "fastgan" or config.condition != "none"):
        raise HuashiError(
            "--projected makes an unconditional D of its own: use it without --arch fastgan "
            "and --condition."
        )
    if config.projected.startswith("zoo:reference"):
        raise HuashiError(
            f"{config.projected} scores the paintings, so a D built on it would game the "
            "score: train a feature network of its own (recipe emoji-projector-features)."
        )


def trainable(module: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimizer updates (a projected D's frozen encoder is left out)."""
    return [p for p in module.parameters() if p.requires_grad]


def projected_encoder(projected: str, features: Family | None, data: DataInfo) -> nn.Module | None:
    """The image encoder of the ``--projected`` run (None without one), checked against the data."""
    if bool(projected) != (features is not None):
        raise HuashiError("a projected gan is built with the feature run of its --projected.")
    if features is None:
        return None
    if features.feature_kind not in ("classifier", "clip"):
        raise HuashiError(
            f"--projected needs a classifier or clip run, not a '{features.name}' run."
        )
    if (features.data.channels, features.data.resolution) != (data.channels, data.resolution):
        raise HuashiError(
            f"--projected {projected} was trained on {features.data.resolution} px images with "
            f"{features.data.channels} channels: train the gan at the same size."
        )
    return features.feature_module().encoder
