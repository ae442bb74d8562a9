"""The autoencoder families: ``ae`` (plain), ``vae`` and ``kl-vae`` (for latent diffusion).

All three share what other code needs from an autoencoder (latent diffusion uses exactly this):

* ``encode(images in [-1, 1]) -> latents [B, *latent_shape]`` (the mean of q(z | x) for the VAEs;
  unscaled), ``decode(latents) -> images in [-1, 1]``, ``latent_shape`` (C, h, w) at the run's
  resolution (``(z_dim, 1, 1)`` for the vector codes of ``ae`` and ``vae``);
* ``latent_scale``: 1 / std of the latents of the training data, as Stable Diffusion's "scale
  factor": diffusion works on ``latents * latent_scale``, which have unit standard deviation.
  It is measured by :func:`compute_latent_scale` on a fixed subset of the training data before
  every checkpoint is written, and kept in a buffer of the model, so it is saved with the weights
  and comes back with ``load_run``.

Progress grids (``preview``) show pairs (input, reconstruction) of a fixed batch of training
images, then samples of the prior N(0, I) for the VAEs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from huashi.core.config_fields import option
from huashi.core.errors import HuashiError
from huashi.families.base import DataInfo, Family, require_power_of_two
from huashi.families.onnx import DecoderGraph, OnnxGraph
from huashi.losses.autoencoder import (
    RECONSTRUCTIONS,
    kl_to_standard_normal,
    reconstruction_error,
)
from huashi.losses.gan import hinge_d_loss, hinge_g_loss
from huashi.models.autoencoder.autoencoder import Autoencoder, AutoencoderConfig
from huashi.models.autoencoder.kl_autoencoder import FACTORS, KLAutoencoder, KLAutoencoderConfig
from huashi.models.autoencoder.patchgan import PatchDiscriminator
from huashi.models.autoencoder.vae import VAE, VAEConfig
from huashi.training.device import adam
from huashi.training.step import StepContext

#: How many training images the latent scale is measured on, and how many previews keep.
SCALE_IMAGES = 256
PREVIEW_IMAGES = 64


def fixed_indices(n_data: int, n: int) -> torch.Tensor:
    """``n`` dataset indices in a fixed pseudo-random order (the same for every run and resume;
    it draws from its own generator, not from the training RNG)."""
    return torch.randperm(n_data, generator=torch.Generator().manual_seed(0))[:n]


@runtime_checkable
class LatentAutoencoder(Protocol):
    """What latent diffusion and latent walks need from a trained autoencoder (the ``ae``,
    ``vae`` and ``kl-vae`` families fill it in; tests may pass any object that does)."""

    #: The data it was trained on (channels and resolution of the images it encodes).
    data: DataInfo

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape (C, h, w) of one image's latent."""

    @property
    def latent_scale(self) -> float:
        """1 / std of the training data's latents: diffusion works on ``latents * scale``."""

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, C, R, R] in [-1, 1] -> unscaled latents [B, *latent_shape]."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Unscaled latents [B, *latent_shape] -> images [B, C, R, R] in [-1, 1]."""


def require_autoencoder(run: Any, where: str) -> LatentAutoencoder:
    """``run`` (a loaded family) as an autoencoder, or a clear error naming ``where`` it came
    from when it is not one."""
    if not isinstance(run, LatentAutoencoder):
        kind = run.name if isinstance(run, Family) else type(run).__name__
        raise HuashiError(
            f"{where} is a '{kind}' run, not an autoencoder: give a run trained with "
            "`huashi train ae`, `vae` or `kl-vae`."
        )
    return run


@dataclass
class AutoencoderFamilyConfig(AutoencoderConfig):
    """The config of the ae family: the model's settings plus the optimizer's."""

    lr: float = option(1e-3, "Adam learning rate")
    beta1: float = option(0.9, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")


@dataclass
class VAEFamilyConfig(VAEConfig):
    """The config of the vae family: the model's settings plus the optimizer's."""

    lr: float = option(1e-3, "Adam learning rate")
    beta1: float = option(0.9, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")


@dataclass
class KLAutoencoderFamilyConfig(KLAutoencoderConfig):
    """The config of the kl-vae family: the model's settings plus the optimizer's."""

    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.9, "Adam beta2")


class AutoencoderFamily(Family):
    """What ``ae``, ``vae`` and ``kl-vae`` share; subclasses say how to build and train."""

    ema_targets = ("autoencoder",)
    #: True when decoding z ~ N(0, I) makes sense (the VAEs).
    has_prior: ClassVar[bool] = True

    def __init__(self, config: Any, data: DataInfo, device: torch.device) -> None:
        super().__init__(config, data, device)
        model = self.build_model(config, data).to(device)
        self.modules = {"autoencoder": model}
        betas = (config.beta1, config.beta2)
        self.optimizers = {"autoencoder": adam(model.parameters(), config.lr, betas)}
        self.dataset: Any = None
        self.preview_images: torch.Tensor | None = None

    @classmethod
    def build_model(cls, config: Any, data: DataInfo) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def check_data(cls, data: DataInfo, config: Any) -> None:
        if config.recon not in RECONSTRUCTIONS:
            raise HuashiError(
                f"unknown --recon {config.recon!r}: choose one of {', '.join(RECONSTRUCTIONS)}."
            )
        r = data.resolution
        require_power_of_two(r, 8, f"the {cls.name} model")

    # --- the interface other code (latent diffusion, interpolation) uses ----------------------

    @property
    def model(self) -> nn.Module:
        """The autoencoder used for encoding and decoding (the EMA copy when there is one)."""
        return self.sampling_module("autoencoder")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return tuple(self.modules["autoencoder"].latent_shape)

    @property
    def latent_scale(self) -> float:
        return float(self.model.latent_scale)

    def set_latent_scale(self, scale: float) -> None:
        """Store the scale in the live model and its EMA copy (both are saved)."""
        for module in [self.modules["autoencoder"], *(e.module for e in self.ema.values())]:
            module.latent_scale.fill_(scale)

    def mean_latent(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The deterministic code of ``images``: z for ``ae``, the mean of q(z | x) otherwise."""
        return model.encode(images)[0]

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, C, R, R] in [-1, 1] -> unscaled latents [B, *latent_shape] (float32)."""
        expected = (self.data.channels, self.data.resolution, self.data.resolution)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise HuashiError(
                f"this autoencoder encodes images of shape [B, {expected[0]}, {expected[1]}, "
                f"{expected[2]}], got {list(images.shape)}: resize and convert them first."
            )
        model = self.model
        with self.sampling_mode(model):
            return self.mean_latent(model, images.to(self.device).float()).float()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Unscaled latents [B, *latent_shape] -> images [B, C, R, R] in [-1, 1]."""
        return self.generate_from_latents(latents)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))

    # --- data the trainer hands over: previews and the latent scale ---------------------------

    def use_dataset(self, dataset: Any) -> None:
        self.dataset = dataset
        indices = fixed_indices(len(dataset), PREVIEW_IMAGES)
        self.preview_images = dataset.batch(indices)["image"].float().cpu()

    def before_checkpoint(self) -> None:
        if self.dataset is not None:
            compute_latent_scale(self, self.dataset)

    # --- sampling and progress grids ----------------------------------------------------------

    def latents_for_seeds(self, seeds: Sequence[int]) -> torch.Tensor:
        """Draws from the prior N(0, I) (the VAEs; a plain autoencoder has no prior)."""
        if not self.has_prior:
            raise HuashiError(
                f"a plain autoencoder ('{self.name}') has no prior to sample from: use "
                "`huashi interpolate RUN A.png B.png` to walk between images, or train a 'vae'."
            )
        return super().latents_for_seeds(seeds)

    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """Decoded draws of the prior, one per seed (VAEs only)."""
        self.parse_sampling_options(**options)
        latents = self.latents_for_seeds(seeds)
        with torch.no_grad():
            return self.generate_from_latents(latents)

    def generate_from_latents(self, latents: torch.Tensor, **options: Any) -> torch.Tensor:
        """Decode unscaled latents [B, *latent_shape] to images in [-1, 1], with gradients."""
        self.parse_sampling_options(**options)
        latents = self.check_latents(latents)
        model = self.model
        with self.sampling_mode(model):
            return model.decode(latents).float().clamp(-1.0, 1.0)

    @torch.no_grad()
    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Pairs (input, reconstruction) of fixed training images, then prior samples (VAEs):
        a quarter of the grid's images are inputs for the VAEs, half for ``ae``."""
        n = len(seeds)
        shown = self.preview_images
        if shown is None:
            return self.generate(seeds)
        pairs = min(n // 4 if self.has_prior else n // 2, len(shown))
        inputs = shown[:pairs].to(self.device)
        tiles = [torch.stack([inputs, self.reconstruct(inputs)], 1).flatten(0, 1)]
        rest = seeds[2 * pairs :]
        if rest and self.has_prior:
            tiles.append(self.generate(rest))
        elif rest:
            tiles.append(torch.ones(len(rest), *inputs.shape[1:], device=self.device))
        return torch.cat(tiles)

    def onnx_graph(self, batch: int = 2) -> OnnxGraph:
        """The decoder: ``latent`` [B, *latent_shape] (unscaled, as :meth:`decode` takes it)
        -> ``image``."""
        latent = torch.randn(batch, *self.latent_shape)
        return OnnxGraph(DecoderGraph(self.model), {"latent": latent}, ("latent",))

    @property
    def paints_from_seeds(self) -> bool:
        """Only the VAEs: a plain autoencoder has no prior to draw latents from."""
        return self.has_prior


@torch.no_grad()
def compute_latent_scale(family: AutoencoderFamily, dataset: Any, n: int = SCALE_IMAGES) -> float:
    """Set and return ``family.latent_scale`` = 1 / std of the (mean) latents of ``n`` training
    images (all elements pooled, as Stable Diffusion's scale factor). Deterministic: a fixed
    subset of the data and no random numbers, so exact resume is unaffected."""
    if len(dataset) == 0:
        raise HuashiError("cannot measure the latent scale on an empty dataset.")
    indices = fixed_indices(len(dataset), n)
    latents = torch.cat([family.encode(dataset.batch(part)["image"]) for part in indices.split(64)])
    std = float(latents.double().std())
    if not std > 0:
        raise HuashiError(
            "the autoencoder maps every image to the same latent (std 0): train it longer."
        )
    family.set_latent_scale(1.0 / std)
    return 1.0 / std


class AE(AutoencoderFamily):
    """Plain conv autoencoder: deterministic vector code, reconstruction loss only"""

    name = "ae"
    config_class = AutoencoderFamilyConfig
    has_prior = False

    @classmethod
    def build_model(cls, config: AutoencoderFamilyConfig, data: DataInfo) -> nn.Module:
        return Autoencoder(config, data.channels, data.resolution)

    def mean_latent(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return model.encode(images)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        model, optimizer = self.modules["autoencoder"], self.optimizers["autoencoder"]

        def loss_fn(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            images = chunk["image"]
            loss = reconstruction_error(images, model(images), self.config.recon).mean()
            return loss, {"recon": loss.item()}

        logged = ctx.update(optimizer, batch, loss_fn)
        return logged


class VAEFamily(AutoencoderFamily):
    """Variational autoencoder: Gaussian code, reparameterization, KL to N(0, I)"""

    name = "vae"
    config_class = VAEFamilyConfig

    @classmethod
    def build_model(cls, config: VAEFamilyConfig, data: DataInfo) -> nn.Module:
        return VAE(config, data.channels, data.resolution)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        model, optimizer = self.modules["autoencoder"], self.optimizers["autoencoder"]

        def loss_fn(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            images = chunk["image"]
            reconstructions, mean, logvar = model(images, ctx.generator)
            recon = reconstruction_error(images, reconstructions, self.config.recon).mean()
            kl = kl_to_standard_normal(mean.float(), logvar.float()).mean()
            loss = recon + self.config.kl_weight * kl / images[0].numel()
            return loss, {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

        logged = ctx.update(optimizer, batch, loss_fn)
        return logged


class KLVAEFamily(AutoencoderFamily):
    """KL autoencoder for latent diffusion: spatial latent, small KL, optional PatchGAN"""

    name = "kl-vae"
    config_class = KLAutoencoderFamilyConfig

    def __init__(
        self, config: KLAutoencoderFamilyConfig, data: DataInfo, device: torch.device
    ) -> None:
        super().__init__(config, data, device)
        if config.adversarial:
            disc = PatchDiscriminator(data.channels, config.disc_width, config.disc_layers)
            self.modules["discriminator"] = disc.to(device)
            self.optimizers["discriminator"] = adam(
                disc.parameters(), config.lr, (config.beta1, config.beta2)
            )

    @classmethod
    def build_model(cls, config: KLAutoencoderFamilyConfig, data: DataInfo) -> nn.Module:
        return KLAutoencoder(config, data.channels, data.resolution)

    @classmethod
    def check_data(cls, data: DataInfo, config: KLAutoencoderFamilyConfig) -> None:
        super().check_data(data, config)
        if config.factor not in FACTORS:
            raise HuashiError(
                f"--factor must be one of {', '.join(map(str, FACTORS))}, got {config.factor}."
            )
        if data.resolution < 2 * config.factor:
            raise HuashiError(
                f"a {data.resolution}px image is too small for --factor {config.factor}: "
                f"use --resolution {4 * config.factor} or more."
            )
        if config.adversarial and data.resolution // 2**config.disc_layers < 4:
            raise HuashiError(
                f"--disc-layers {config.disc_layers} downsample a {data.resolution}px image below "
                f"4x4: use --disc-layers {max(1, data.resolution.bit_length() - 3)} or fewer."
            )

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        config = self.config
        model, optimizer = self.modules["autoencoder"], self.optimizers["autoencoder"]
        adversarial = config.adversarial and ctx.step >= config.adv_start
        disc = self.modules.get("discriminator")

        def ae_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            images = chunk["image"]
            reconstructions, mean, logvar = model(images, ctx.generator)
            recon = reconstruction_error(images, reconstructions, config.recon).mean()
            kl = kl_to_standard_normal(mean.float(), logvar.float()).mean()
            loss = recon + config.kl_weight * kl / images[0].numel()
            logged = {"recon": recon.item(), "kl": kl.item()}
            if adversarial:
                g_adv = hinge_g_loss(disc(reconstructions).float())
                loss = loss + config.adv_weight * g_adv
                logged["g_adv"] = g_adv.item()
            return loss, {"loss": loss.item(), **logged}

        def d_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            images = chunk["image"]
            with torch.no_grad():
                fakes = model(images, ctx.generator)[0]
            loss = hinge_d_loss(disc(images).float(), disc(fakes).float())
            return loss, {"d_loss": loss.item()}

        logged = ctx.update(optimizer, batch, ae_loss, frozen=[disc] if adversarial else [])
        if adversarial:
            logged |= ctx.update(self.optimizers["discriminator"], batch, d_loss)
        return logged


__all__ = ["AE", "AutoencoderFamily", "KLVAEFamily", "VAEFamily", "compute_latent_scale"]
