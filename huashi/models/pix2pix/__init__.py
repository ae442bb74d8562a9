"""Pix2Pix (Isola et al. 2017): a U-Net generator and a PatchGAN discriminator."""

from huashi.models.pix2pix.config import Pix2PixConfig
from huashi.models.pix2pix.patchgan import PatchGAN, receptive_field
from huashi.models.pix2pix.unet import UNet

__all__ = ["PatchGAN", "Pix2PixConfig", "UNet", "receptive_field"]
