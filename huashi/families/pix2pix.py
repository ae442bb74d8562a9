"""Pix2Pix (Isola et al. 2017): image-to-image translation on paired data.

G is a U-Net that maps an input image to an output image; D is a PatchGAN that judges
(input, output) pairs patch by patch. Each step:

- D step: (input, target) pairs are real, (input, G(input)) pairs are fake, BCE with logits on
  every patch; the loss is halved, as in the paper, to slow D relative to G.
- G step: the non-saturating adversarial loss on (input, G(input)) plus ``l1_weight`` (lambda,
  100 by default) times the L1 distance to the target.

G's output is computed once per step: detached for D, attached for G (after D's update).
With ``jitter`` each training pair is first shifted by a random few pixels, input and target
alike (from the trainer's checkpointed noise generator).
Adam(2e-4, beta1 0.5), weights N(0, 0.02). Training dropout draws from torch's global RNG,
which the checkpoints keep, so a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from huashi.augment.diffaugment import random_shifts, shift
from huashi.core.config_fields import option
from huashi.core.errors import HuashiError
from huashi.core.images import convert_channels
from huashi.families.base import DataInfo, Family, require_power_of_two
from huashi.families.onnx import OnnxGraph, TranslatorGraph
from huashi.losses.pix2pix import discriminator_loss, generator_loss
from huashi.models.gan.dcgan import init_dcgan_weights
from huashi.models.pix2pix.config import Pix2PixConfig
from huashi.models.pix2pix.patchgan import PatchGAN, layers_for
from huashi.models.pix2pix.unet import UNet
from huashi.training.device import adam
from huashi.training.step import StepContext

PAIRED_DATA_HINT = (
    "use --data calligraphy (Ming -> Kai glyphs), or a folder of inputs with "
    "--data-option target=PATH (a folder holding each input's target under the same name)"
)


@dataclass(frozen=True)
class Pix2PixSampling:
    """What ``generate`` takes: the images to translate, [B, C, H, W] in [-1, 1]."""

    inputs: torch.Tensor | None = None


@dataclass
class Pix2PixFamilyConfig(Pix2PixConfig):
    """The config of the Pix2Pix family: the model's settings plus the optimizer's and the
    training pairs' jitter."""

    lr: float = option(2e-4, "Adam learning rate")
    beta1: float = option(0.5, "Adam beta1")
    beta2: float = option(0.999, "Adam beta2")
    jitter: int = option(
        0, "shift each training pair by up to this many pixels, input and target alike"
    )


class Pix2Pix(Family):
    """Pix2Pix: U-Net generator + PatchGAN, adversarial + lambda * L1 on paired images."""

    name = "pix2pix"
    config_class = Pix2PixFamilyConfig
    sampling_options_class = Pix2PixSampling
    ema_targets = ("generator",)
    paired_data = True
    condition_kind = "image"
    n_preview = 8  # pairs in the progress grid, two (input | output | target) per row
    n_calibration = 256  # training inputs on which an EMA generator recomputes its BatchNorm
    preview_nrow = 6

    def __init__(self, config: Pix2PixFamilyConfig, data: DataInfo, device: torch.device) -> None:
        super().__init__(config, data, device)
        out_channels = data.target_channels or data.channels
        n_layers = config.d_layers or layers_for(data.resolution)
        generator = UNet(config, data.channels, out_channels, data.resolution)
        discriminator = PatchGAN(config, data.channels + out_channels, n_layers)
        generator.apply(init_dcgan_weights)
        discriminator.apply(init_dcgan_weights)
        self.modules = {
            "generator": generator.to(device),
            "discriminator": discriminator.to(device),
        }
        betas = (config.beta1, config.beta2)
        self.optimizers = {
            name: adam(module.parameters(), lr=config.lr, betas=betas)
            for name, module in self.modules.items()
        }
        self.preview_pairs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.calibration_inputs: torch.Tensor | None = None

    @classmethod
    def check_data(cls, data: DataInfo, config: Pix2PixFamilyConfig) -> None:
        if not data.has_targets:
            raise HuashiError(
                f"Pix2Pix learns from paired images (an input and its target), but this dataset "
                f"has no targets: {PAIRED_DATA_HINT}."
            )
        r = data.resolution
        require_power_of_two(r, 16, "Pix2Pix's U-Net")
        if config.norm not in ("batch", "instance"):
            raise HuashiError(f"unknown --norm {config.norm!r}: use 'batch' or 'instance'.")
        if config.d_layers < 0:
            raise HuashiError("--d-layers must be 0 (fit the image size) or at least 1.")
        if not 0 <= config.jitter < r // 2:
            raise HuashiError(f"--jitter must be between 0 and {r // 2 - 1} pixels at {r} px.")

    def use_dataset(self, dataset: Any) -> None:
        """Keep ``n_preview`` training pairs for the grids and ``n_calibration`` training inputs
        for the EMA generator's BatchNorm statistics, each evenly spaced through the set."""

        def evenly_spaced(n: int) -> dict[str, Any]:
            n = min(n, len(dataset))
            return dataset.batch(torch.linspace(0, len(dataset) - 1, n).round().long())

        batch = evenly_spaced(self.n_preview)
        self.preview_pairs = (batch["image"].to(self.device), batch["target"].to(self.device))
        self.calibration_inputs = evenly_spaced(self.n_calibration)["image"].to(self.device)

    def ema_calibration_batches(self, name: str) -> list[tuple] | None:
        """The kept training inputs in batches of 64: without them an EMA U-Net would translate
        with the live network's BatchNorm statistics, which do not fit its weights."""
        if self.calibration_inputs is None:
            return None
        return [(chunk,) for chunk in self.calibration_inputs.split(64)]

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        G, D = self.modules["generator"], self.modules["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        fakes: list[torch.Tensor] = []  # G(input) per micro-batch, reused by the G step
        if self.config.jitter:
            batch = jittered(batch, self.config.jitter, ctx.generator)

        def d_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            inputs, target = chunk["image"], chunk["target"]
            fake = G(inputs)
            fakes.append(fake)
            real_logits = D(inputs, target).float()
            fake_logits = D(inputs, fake.detach()).float()
            loss = discriminator_loss(real_logits, fake_logits)
            logged = {
                "d_loss": loss.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item(),
            }
            return loss, logged

        chunks = iter(range(ctx.accumulate))

        def g_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            fake = fakes[next(chunks)]
            logits = D(chunk["image"], fake).float()
            loss, adversarial, l1 = generator_loss(
                logits, fake.float(), chunk["target"].float(), self.config.l1_weight
            )
            return loss, {"g_loss": loss.item(), "g_adv": adversarial.item(), "g_l1": l1.item()}

        logged = ctx.update(opt_d, batch, d_loss)
        logged |= ctx.update(opt_g, batch, g_loss, frozen=[D])
        return logged

    def sampling_flag(self, module: torch.nn.Module) -> bool:
        """With ``test_dropout`` the decoder's dropout stays on when translating."""
        return self.config.test_dropout and isinstance(module, torch.nn.Dropout)

    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """Translate ``inputs`` [B, C, H, W] in [-1, 1]; ``seeds[i]`` seeds image i's dropout
        when ``test_dropout`` is on (otherwise the output does not depend on it)."""
        inputs = self.parse_sampling_options(**options).inputs
        if inputs is None:
            raise HuashiError(
                "Pix2Pix translates images rather than drawing them from noise: use "
                "`huashi translate RUN IMAGE_OR_FOLDER --out DIR` (API: huashi.api.translate)."
            )
        if len(inputs) != len(seeds):
            raise HuashiError(f"got {len(inputs)} input images for {len(seeds)} seeds.")
        G = self.sampling_module("generator")
        inputs = inputs.to(self.device, torch.float32)
        # BatchNorm running statistics: an image does not depend on its batch-mates
        with torch.no_grad(), self.sampling_mode(G):
            if not self.config.test_dropout:
                return G(inputs).float()
            return torch.cat(
                [self._seeded(G, x[None], s) for x, s in zip(inputs, seeds, strict=True)]
            )

    def _seeded(self, G: torch.nn.Module, x: torch.Tensor, seed: int) -> torch.Tensor:
        """One image with dropout masks drawn from ``seed`` (the global RNG is left as it was)."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            return G(x).float()

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Rows of input | output | target for the fixed training pairs (seeds aside)."""
        if self.preview_pairs is None:
            raise HuashiError("Pix2Pix has no preview pairs: the trainer did not hand it data.")
        inputs, target = self.preview_pairs
        outputs = self.generate(list(range(len(inputs))), inputs=inputs)
        return side_by_side(inputs, outputs, target)

    def onnx_graph(self, batch: int = 2) -> OnnxGraph:
        """``source`` [B, C, H, W] in [-1, 1] -> ``image`` (its translation)."""
        if self.config.test_dropout:
            raise HuashiError(
                "this pix2pix model paints with dropout on (--test-dropout), and its seeded "
                "masks cannot be exported to ONNX yet: export a model trained without it."
            )
        size = self.data.resolution
        image = torch.rand(batch, self.data.channels, size, size) * 2 - 1
        G = TranslatorGraph(self.sampling_module("generator"))
        return OnnxGraph(G, {"source": image}, ("source",))


def jittered(batch: dict[str, Any], max_shift: int, g: torch.Generator) -> dict[str, Any]:
    """The batch with each pair shifted by its own random (dy, dx), the same for the input and
    its target, border pixels filling in (the paper's random jitter, without the rescaling)."""
    dy, dx = random_shifts(len(batch["image"]), max_shift, max_shift, g)
    image, target = (shift(batch[key], dy, dx, border="edge") for key in ("image", "target"))
    return {**batch, "image": image, "target": target}


def side_by_side(inputs: torch.Tensor, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Interleave to [input_0, output_0, target_0, input_1, ...], all with the outputs'
    channels (:func:`huashi.core.images.convert_channels`)."""

    def fit(images: torch.Tensor) -> torch.Tensor:
        return convert_channels(images.to(outputs.device, outputs.dtype), outputs.shape[1])

    return torch.stack([fit(inputs), outputs, fit(target)], dim=1).flatten(0, 1)
