"""Model families by name. Each family is one module that fills in :class:`Family` (see
:mod:`huashi.families.base` for the interface and what the families may import)."""

from __future__ import annotations

from huashi.core.errors import HuashiError
from huashi.families.autoencoder import AE, KLVAEFamily, LatentAutoencoder, VAEFamily
from huashi.families.base import DataInfo, Family
from huashi.families.classifier import ClassifierFamily
from huashi.families.clip import CLIPFamily
from huashi.families.dcgan import DCGAN
from huashi.families.diffusion import Diffusion
from huashi.families.gan import GAN
from huashi.families.gigagan import GigaGAN
from huashi.families.pix2pix import Pix2Pix
from huashi.families.stylegan import StyleGAN
from huashi.families.upsampler import UpsamplerFamily
from huashi.training.step import StepContext

FAMILIES: dict[str, type[Family]] = {
    family.name: family
    for family in (
        DCGAN,
        GAN,
        AE,
        VAEFamily,
        KLVAEFamily,
        Diffusion,
        Pix2Pix,
        CLIPFamily,
        ClassifierFamily,
        StyleGAN,
        GigaGAN,
        UpsamplerFamily,
    )
}


def get_family(name: str) -> type[Family]:
    try:
        return FAMILIES[name]
    except KeyError:
        raise HuashiError(
            f"unknown model family '{name}': choose one of {', '.join(sorted(FAMILIES))}."
        ) from None


__all__ = ["FAMILIES", "DataInfo", "Family", "LatentAutoencoder", "StepContext", "get_family"]
