"""GigaGAN's upsampler (Kang et al. 2023), small: a super-resolution GAN trained on any images.

``huashi train upsampler --data emoji --resolution 64 --scale 4`` learns to paint 64 px images
from 16 px ones. ``--resolution`` is the size it paints; the input is ``resolution / scale``.
The training pairs are made from the data: the input is each image's area downsampling
(:func:`downsample`, rounded to 8 bits as a PNG stores it), the target the image re-based on
that input (:func:`rebase`: its block means replaced by the input's pixels, a change of at most
half an 8-bit step), so that real and painted images agree exactly on what the input says.

The generator (:mod:`huashi.models.gigagan.upsampler`) only adds detail: average pooling its
output gives the input back exactly. One training step is one D update then one G update:

- D: GigaGAN's multi-scale discriminator on the pyramid levels above the input, the targets'
  pyramid real and the painted one fake; non-saturating logistic loss averaged over the levels;
  lazy R1 on the reals. Its projection reads the caption's vector with ``--condition text``,
  else a constant.
- G: ``adv_weight`` times the non-saturating loss plus ``l1_weight`` times the L1 distance of
  the painted image to the target (no perceptual loss: nothing is downloaded).

With ``--condition text`` (captioned data) G's style also reads each image's caption (the text
encoder's pooled vector into the mapping network), and sampling takes a ``prompt`` per image.

Upsampling takes ``inputs`` [B, C, r, r] at the input size; images at the output size are first
downsampled as in training (so held-out images can be given as they are). z comes from the seed;
noise is the model's fixed noise. ``huashi upscale RUN IMAGES --out DIR`` applies it to files.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from huashi.core.config_fields import check_choices, option
from huashi.core.errors import HuashiError
from huashi.families.base import DataInfo, Family, require_power_of_two
from huashi.families.conditioning import check_condition_data, required_prompts
from huashi.families.pix2pix import side_by_side
from huashi.losses.gan import r1_penalty
from huashi.models.gigagan.discriminator import MultiScaleDiscriminator
from huashi.models.gigagan.generator import image_pyramid
from huashi.models.gigagan.upsampler import Upsampler, downsample, rebase
from huashi.training.device import adam
from huashi.training.step import StepContext


@dataclass
class UpsamplerConfig:
    scale: int = option(4, "upscaling factor: paints --resolution from resolution/scale", (2, 4, 8))
    z_dim: int = option(16, "size of the input latent z (the detail's randomness)")
    w_dim: int = option(64, "size of the style w")
    mapping_layers: int = option(2, "layers of the mapping network z -> w")
    mapping_lr_mul: float = option(0.01, "learning-rate multiplier of the mapping network")
    width: int = option(64, "channels of the encoder; halved at each doubling (at least 8)")
    encoder_blocks: int = option(2, "residual conv blocks at the input resolution")
    num_kernels: int = option(4, "kernels per adaptive convolution (sample-adaptive selection)")
    attention: bool = option(True, "stable self-attention at the input resolution")
    l1_weight: float = option(10.0, "weight of the L1 reconstruction loss")
    adv_weight: float = option(1.0, "weight of the adversarial loss (0: L1 only)")
    lr: float = option(0.002, "Adam learning rate of G and D")
    beta1: float = option(0.0, "Adam beta1")
    beta2: float = option(0.99, "Adam beta2")
    r1_gamma: float = option(0.1, "R1 penalty gamma on the real images")
    r1_every: int = option(16, "lazy R1: applied every this many steps, scaled by it")
    d_channel_base: int = option(512, "D channels at resolution r: min(base / r, d_channel_max)")
    d_channel_max: int = option(64, "the most channels of any D layer")
    condition: str = option(
        "none", "what the detail follows besides the input: none, or text (the captions)",
        ("none", "text"),
    )  # fmt: skip
    text_encoder: str = option("minilm", "text encoder: minilm or a local Hugging Face folder")

    def __post_init__(self) -> None:
        positive = ("z_dim", "w_dim", "mapping_layers", "width", "num_kernels", "r1_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise HuashiError(f"--{name.replace('_', '-')} must be at least 1.")
        if min(self.encoder_blocks, self.l1_weight, self.adv_weight, self.r1_gamma) < 0:
            raise HuashiError(
                "--encoder-blocks, --l1-weight, --adv-weight and --r1-gamma must not be negative."
            )
        check_choices(self)


@dataclass(frozen=True)
class UpsamplerSampling:
    """What ``generate`` takes: the images to upsample, [B, C, r, r] in [-1, 1], and for a
    text-conditioned model a prompt (one for all, or one per image)."""

    inputs: torch.Tensor | None = None
    prompt: Any = None


class UpsamplerFamily(Family):
    """GigaGAN-style super-resolution GAN (x2/x4/x8), trained on any images by downsampling."""

    name = "upsampler"
    upscales = True
    config_class = UpsamplerConfig
    sampling_options_class = UpsamplerSampling
    ema_targets = ("generator",)
    condition_kind = "image"
    n_preview = 8  # images in the progress grid: (input | painted | target) rows
    preview_nrow = 6

    def __init__(self, config: UpsamplerConfig, data: DataInfo, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.check_data(data, config)
        self.in_resolution = data.resolution // config.scale
        self.text_encoder = None
        text_dim = 0
        if config.condition == "text":
            from huashi.text import load_text_encoder

            self.text_encoder = load_text_encoder(config.text_encoder, device)
            text_dim = self.text_encoder.dim
        G = Upsampler(
            self.in_resolution, config.scale, data.channels, config.z_dim, config.w_dim,
            config.mapping_layers, config.mapping_lr_mul, config.width, config.encoder_blocks,
            config.num_kernels, config.attention, text_dim,
        )  # fmt: skip
        D = MultiScaleDiscriminator(
            data.resolution, text_dim or 1, data.channels, config.d_channel_base,
            config.d_channel_max, min_level=max(8, 2 * self.in_resolution),
        )  # fmt: skip
        self.modules = {"generator": G.to(device), "discriminator": D.to(device)}
        every = config.r1_every if config.r1_gamma > 0 else 0
        self.optimizers = {"generator": self._adam(G, 0), "discriminator": self._adam(D, every)}
        self.preview_images: torch.Tensor | None = None
        self.preview_prompts: list[str] | None = None

    def _adam(self, module: torch.nn.Module, every: int) -> torch.optim.Optimizer:
        c = every / (every + 1) if every else 1.0  # lazy regularization (StyleGAN2)
        betas = (self.config.beta1**c, self.config.beta2**c)
        return adam(module.parameters(), lr=self.config.lr * c, betas=betas)

    @classmethod
    def check_data(cls, data: DataInfo, config: UpsamplerConfig) -> None:
        require_power_of_two(data.resolution, 16, "the upsampler")
        if data.resolution // config.scale < 4:
            raise HuashiError(
                f"an x{config.scale} upsampler painting {data.resolution} px would start from "
                f"{data.resolution // config.scale} px: use --resolution "
                f"{4 * config.scale} or more, or a smaller --scale."
            )
        check_condition_data(config.condition, data)

    def use_dataset(self, dataset: Any) -> None:
        """Keep ``n_preview`` training images, evenly spaced through the set, for the grids."""
        n = min(self.n_preview, len(dataset))
        batch = dataset.batch(torch.linspace(0, len(dataset) - 1, n).round().long())
        self.preview_images = batch["image"].to(self.device)
        if self.text_encoder is not None:
            self.preview_prompts = list(batch["caption"])

    # --- training ------------------------------------------------------------------------------

    def _text(self, captions: Sequence[str]) -> torch.Tensor | None:
        """The captions' pooled text vectors [B, text_dim] (None for an unconditioned model)."""
        if self.text_encoder is None:
            return None
        return self.text_encoder.encode(list(captions)).pooled.to(self.device)

    def _projection(self, text: torch.Tensor | None, n: int) -> torch.Tensor:
        """What D's projection reads: the caption's vector, or a constant without text."""
        return torch.ones(n, 1, device=self.device) if text is None else text

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        if self.device.type == "cpu" and ctx.precision != "fp32":
            ctx = dataclasses.replace(ctx, precision="fp32")  # as stylegan: bf16 is slow on CPU
        config, g = self.config, ctx.generator
        G, D = self.modules["generator"], self.modules["discriminator"]
        r1_now = config.r1_gamma > 0 and ctx.step % config.r1_every == 0
        levels = 1 + int(math.log2(config.scale))  # the pyramid: input, 2x, ..., scale x

        def pairs(chunk: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
            low = downsample(chunk["image"], config.scale)
            return low, rebase(chunk["image"].float(), low)

        def z(n: int) -> torch.Tensor:
            return torch.randn(n, config.z_dim, generator=g, device=g.device).to(self.device)

        def d_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            low, target = pairs(chunk)
            text = self._text(chunk.get("caption", ()))
            with torch.no_grad():
                fake = G(low, z(len(low)), noise_mode="random", generator=g, text=text)
            real_in = target.detach().requires_grad_(r1_now)
            real_logits = D(image_pyramid(real_in, levels), self._projection(text, len(low)))
            fake_logits = D(fake, self._projection(text, len(low)))
            losses = [
                F.softplus(-r.float()).mean() + F.softplus(f.float()).mean()
                for r, f in zip(real_logits, fake_logits, strict=True)
            ]
            loss = torch.stack(losses).mean()
            logged = {"d_loss": loss.item()}
            for i, level in enumerate(D.levels):
                logged[f"d_real_{level}"] = torch.sigmoid(real_logits[i].detach()).mean().item()
                logged[f"d_fake_{level}"] = torch.sigmoid(fake_logits[i].detach()).mean().item()
            if r1_now:
                logits = torch.stack(real_logits).float().mean(dim=0)
                r1 = r1_penalty(logits, real_in, ctx.loss_scale())
                loss = loss + 0.5 * config.r1_gamma * config.r1_every * r1
                logged["r1"] = r1.item()
            return loss, logged

        def g_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            low, target = pairs(chunk)
            text = self._text(chunk.get("caption", ()))
            fake = G(low, z(len(low)), noise_mode="random", generator=g, update_w_avg=True,
                     text=text)  # fmt: skip
            logits = D(fake, self._projection(text, len(low)))
            adversarial = torch.stack([F.softplus(-x.float()).mean() for x in logits]).mean()
            l1 = (fake[-1].float() - target).abs().mean()
            loss = config.adv_weight * adversarial + config.l1_weight * l1
            return loss, {"g_loss": loss.item(), "g_adv": adversarial.item(), "g_l1": l1.item()}

        logged = ctx.update(self.optimizers["discriminator"], batch, d_loss)
        logged |= ctx.update(self.optimizers["generator"], batch, g_loss, frozen=[D])
        return logged

    # --- upsampling and the latent contract -----------------------------------------------------

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.z_dim,)

    def low_resolution(self, inputs: Any) -> torch.Tensor:
        """``inputs`` at the input size as float32 on the model's device; images at the output
        size are downsampled as in training; anything else is a clear error."""
        r, R, c = self.in_resolution, self.data.resolution, self.data.channels
        if inputs is None:
            raise HuashiError(
                "the upsampler paints from low-resolution images, not from noise: use `huashi "
                "upscale RUN IMAGE_OR_FOLDER --out DIR` (API: huashi.api.upscale)."
            )
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or inputs.shape[1] != c:
            got = list(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
            raise HuashiError(f"the upsampler takes images [B, {c}, {r}, {r}], got {got}.")
        size = tuple(inputs.shape[-2:])
        inputs = inputs.to(self.device, torch.float32)
        if size == (R, R):
            return downsample(inputs, self.config.scale)
        if size != (r, r):
            raise HuashiError(
                f"this upsampler paints {R} px from {r} px images, got {size[1]}x{size[0]}."
            )
        return inputs

    def generate_from_latents(self, latents: torch.Tensor, **options: Any) -> torch.Tensor:
        """Upsampled images in [-1, 1] from z [B, z_dim] and ``inputs``; gradients flow."""
        z = self.check_latents(latents)
        opts = self.parse_sampling_options(**options)
        low = self.low_resolution(opts.inputs)
        if len(low) != len(z):
            raise HuashiError(f"got {len(low)} input images for {len(z)} seeds.")
        G = self.sampling_module("generator")
        text = self._text(self._prompts(len(z), opts.prompt))
        return G(low, z, noise_mode="const", text=text)[-1].float().clamp(-1, 1)

    def _prompts(self, n: int, prompt: Any) -> list[str]:
        """One prompt per image for a text-conditioned model (required), none otherwise."""
        if self.text_encoder is None:
            if prompt is not None:
                raise HuashiError(
                    "this upsampler is not text-conditioned: drop the prompt (train with "
                    "--condition text on captioned data for that)."
                )
            return []
        return required_prompts(self.data, n, prompt, self.preview_captions)

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """Upsample ``inputs`` [B, C, r, r] (or [B, C, R, R], downsampled first); image i's
        detail comes from ``seeds[i]``."""
        self.parse_sampling_options(**options)
        return self.generate_from_latents(self.latents_for_seeds(seeds), **options)

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Rows of input (nearest upsampled) | painted | target for fixed training images."""
        if self.preview_images is None:
            raise HuashiError("the upsampler has no preview images: the trainer gave it no data.")
        images = self.preview_images
        low = downsample(images, self.config.scale)
        painted = self.generate(list(range(len(images))), inputs=low, prompt=self.preview_prompts)
        shown = F.interpolate(low, scale_factor=self.config.scale, mode="nearest")
        return side_by_side(shown, painted, rebase(images.float(), low))

    @property
    def conditions(self) -> frozenset[str]:
        """The small image, and with ``--condition text`` a prompt too."""
        return frozenset({"image"} | ({"text"} if self.config.condition == "text" else set()))
