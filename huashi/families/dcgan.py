"""The seed's DCGAN training recipe: BCE, Adam(2e-4, beta1 0.5), D then G each step.

D step: one all-real batch (label 1) and one all-fake batch (label 0), as separate batches.
G step: non-saturating loss, G tries to make D call its fakes real (label 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from huashi.core.config_fields import option
from huashi.families.base import DataInfo, Family, calibration_latents, require_power_of_two
from huashi.families.onnx import GeneratorGraph, OnnxGraph
from huashi.losses.gan import bce_d_loss, nonsaturating_g_loss
from huashi.models.gan.dcgan import DCGANConfig, Discriminator, Generator, init_dcgan_weights
from huashi.training.device import adam
from huashi.training.doctor import DoctorCallback
from huashi.training.step import StepContext


@dataclass
class DCGANFamilyConfig(DCGANConfig):
    """The config of the DCGAN family: the model's settings plus the optimizer's."""

    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")


class DCGAN(Family):
    name = "dcgan"
    config_class = DCGANFamilyConfig
    ema_targets = ("generator",)

    def __init__(self, config: DCGANFamilyConfig, data: DataInfo, device: torch.device) -> None:
        super().__init__(config, data, device)
        generator = Generator(config, data.channels, data.resolution)
        discriminator = Discriminator(config, data.channels, data.resolution)
        generator.apply(init_dcgan_weights)
        discriminator.apply(init_dcgan_weights)
        self.modules = {
            "generator": generator.to(device),
            "discriminator": discriminator.to(device),
        }
        betas = (config.beta1, config.beta2)
        self.optimizers = {
            "generator": adam(generator.parameters(), lr=config.lr, betas=betas),
            "discriminator": adam(discriminator.parameters(), lr=config.lr, betas=betas),
        }

    def training_callbacks(self) -> list:
        """The training doctor watches every run and prints failure signs as they appear."""
        return [DoctorCallback()]

    @classmethod
    def check_data(cls, data: DataInfo, config: DCGANFamilyConfig) -> None:
        r = data.resolution
        require_power_of_two(r, 16, "DCGAN")

    def _noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.config.z_dim, device=self.device, generator=generator)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        G, D = self.modules["generator"], self.modules["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]

        def d_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            real = chunk["image"]
            with torch.no_grad():
                fake = G(self._noise(len(real), ctx.generator))
            real_logits, fake_logits = D(real).float(), D(fake).float()
            loss = bce_d_loss(real_logits, fake_logits)
            logged = {
                "d_loss": loss.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item(),
            }
            return loss, logged

        def g_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            logits = D(G(self._noise(len(chunk["image"]), ctx.generator))).float()
            loss = nonsaturating_g_loss(logits)
            return loss, {"g_loss": loss.item()}

        logged = ctx.update(opt_d, batch, d_loss)
        logged |= ctx.update(opt_g, batch, g_loss, frozen=[D])
        return logged

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.z_dim,)

    def ema_calibration_batches(self, name: str) -> list[tuple]:
        return [(z,) for z in calibration_latents(self.latents_for_seeds)]

    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        self.parse_sampling_options(**options)
        with torch.no_grad():
            return self.generate_from_latents(self.latents_for_seeds(seeds))

    def generate_from_latents(self, latents: torch.Tensor, **options: Any) -> torch.Tensor:
        self.parse_sampling_options(**options)
        G = self.sampling_module("generator")
        with self.sampling_mode(G):  # BatchNorm running statistics: no batch-mate dependence
            return G(self.check_latents(latents)).float()

    def onnx_graph(self, batch: int = 2) -> OnnxGraph:
        """``z`` [B, z_dim] -> ``image``."""
        G = GeneratorGraph(self.sampling_module("generator"), False)
        return OnnxGraph(G, {"z": torch.randn(batch, self.config.z_dim)}, ("z",))
