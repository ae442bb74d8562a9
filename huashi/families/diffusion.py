"""Diffusion: DDPM training of a U-Net in pixel space, or in the latent space of a frozen
autoencoder run (latent diffusion), unconditional or conditioned on classes or text with
classifier-free guidance.

Training step: x_0 (the image, or ``latent_scale ·`` its autoencoder latent), t ~ U{0..T-1},
ε ~ N(0, I), x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε; the U-Net regresses ε (or v) with an MSE,
optionally min-SNR weighted. With probability ``cond_dropout`` a label becomes the learned null
class and a caption the learned null text, so one network also knows p(x) and guidance works:
ε̂ = ε̂(∅) + cfg · (ε̂(c) - ε̂(∅)).

Every random number of sampling for image i comes from a generator seeded by seed i (initial
noise first, then per-step noise), so the same seed paints the same image at any batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from huashi import zoo
from huashi.core import tiny
from huashi.core.config_fields import option
from huashi.core.errors import HuashiError
from huashi.diffusion import samplers
from huashi.diffusion.inputs import load_init, load_mask
from huashi.diffusion.schedules import (
    LOSS_WEIGHTINGS,
    PREDICTIONS,
    SCHEDULES,
    add_noise,
    at,
    eps_from_v,
    eps_from_x0,
    make_schedule,
    x0_from_eps,
)
from huashi.families.autoencoder import LatentAutoencoder, require_autoencoder
from huashi.families.base import DataInfo, Family
from huashi.families.conditioning import check_condition_data, preview_options, resolve_condition
from huashi.losses.diffusion import diffusion_loss
from huashi.models.diffusion.unet import UNet, UNetConfig
from huashi.training.device import adam
from huashi.training.step import StepContext

CONDITIONS = ("none", "class", "text")


@dataclass
class DiffusionConfig:
    # the U-Net
    base_channels: int = option(64, "U-Net channels at full resolution")
    channel_mults: tuple[int, ...] = option(
        (1, 2, 2), "U-Net width multiplier per level, as a JSON list"
    )
    res_blocks: int = option(2, "residual blocks per U-Net level")
    attention_resolutions: tuple[int, ...] = option(
        (16,), "resolutions (px) with self-attention, as a JSON list"
    )
    heads: int = option(4, "attention heads")
    dropout: float = option(0.0, "dropout in the residual blocks")
    norm_groups: int = option(32, "GroupNorm groups")
    # the diffusion process and its loss
    schedule: str = option("cosine", "noise schedule", choices=SCHEDULES)
    timesteps: int = option(1000, "training timesteps T")
    prediction: str = option(
        "eps", "what the U-Net predicts: the noise (eps) or v", choices=PREDICTIONS
    )
    loss_weighting: str = option("none", "per-timestep loss weighting", choices=LOSS_WEIGHTINGS)
    min_snr_gamma: float = option(5.0, "gamma of the min-SNR weighting")
    # sampling in pixel space: clip the predicted x_0 to [-1, 1] at every step (as DDPM does)
    clip_denoised: bool = option(
        True, "clip the predicted x_0 to [-1, 1] at every sampling step (pixel space)"
    )
    # the same for latent diffusion: the latents are scaled to unit standard deviation, so ±4
    # keeps nearly every real latent value (on shapes: 99.9 % lie within ±3.7) and stops the
    # blow-up of an ε-model's first steps from t = T
    latent_clip: float = option(
        4.0, "latent diffusion: clip the predicted x_0 latent to ±this at every step (0 = off)"
    )
    # conditioning (classifier-free guidance)
    condition: str = option("none", "condition for classifier-free guidance", choices=CONDITIONS)
    cond_dropout: float = option(
        0.1, "probability of dropping the condition in training (for guidance)"
    )
    text_encoder: str = option("minilm", "text encoder: minilm or a local Hugging Face folder")
    text_length: int = option(32, "tokens per caption")
    # latent diffusion: the folder of a trained autoencoder run or zoo:NAME ("" = pixel space)
    latent: str = option(
        "", "folder (or zoo:NAME) of a trained autoencoder run: latent diffusion ('' = pixel space)"
    )
    # optimizer
    lr: float = option(2e-4, "AdamW learning rate")
    weight_decay: float = option(0.0, "AdamW weight decay")
    grad_clip: float = option(1.0, "clip the gradient norm to this (0 = off)")
    # defaults for generate() and the progress grids
    sampler: str = option(
        "ddim", "default sampler of generate() and the preview grids", choices=samplers.SAMPLERS
    )
    sample_steps: int = option(50, "default sampling steps")
    guidance: float = option(3.0, "default classifier-free guidance scale")


@dataclass(frozen=True)
class DiffusionSampling:
    """What ``generate`` takes (None: the run's default). ``init`` (a path or a [C, R, R] tensor
    in [-1, 1]) with ``strength`` is img2img, with ``mask`` (1 = repaint) inpainting; ``prompt``
    and ``label`` are one value for every seed or one per seed. ``precision``: ``bf16`` runs
    the U-Net under bf16 autocast with channels_last inputs, ``auto`` (the default) picks bf16
    only where the hardware computes it fast (see :func:`huashi.training.device.resolve_precision`)."""

    sampler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    eta: float = 0.0
    precision: str = "auto"
    prompt: str | Sequence[str] | None = None
    label: int | str | Sequence[int | str] | None = None
    init: Any = None
    strength: float | None = None
    mask: Any = None
    negative_prompt: str | None = None  # guidance away from it instead of the empty prompt


#: The training-progress grids: this many images, this many sampling steps at most.
PREVIEW_IMAGES, PREVIEW_STEPS = 16, 20


class Diffusion(Family):
    """Diffusion model (DDPM/DDIM/DPM-Solver++ sampling; pixel or latent; class/text guidance)."""

    name = "diffusion"
    config_class = DiffusionConfig
    sampling_options_class = DiffusionSampling
    ema_targets = ("unet",)
    sampling_steps = True
    condition_per_seed = True

    def __init__(
        self,
        config: DiffusionConfig,
        data: DataInfo,
        device: torch.device,
        autoencoder: LatentAutoencoder | None = None,
    ) -> None:
        """``autoencoder`` (latent diffusion: required when ``config.latent`` names a run;
        :func:`huashi.runs.build_family` loads it) is frozen: it is only used to encode and
        decode, without gradients."""
        super().__init__(config, data, device)
        self.check_config(config)
        if bool(config.latent) != (autoencoder is not None):
            raise HuashiError(
                "a latent diffusion model is built with the autoencoder of its --latent run "
                "(huashi.runs.build_family loads it), a pixel-space model without one."
            )
        self.autoencoder = None
        if autoencoder is not None:
            self.autoencoder = require_autoencoder(autoencoder, config.latent)
            ae_data = self.autoencoder.data
            if (ae_data.channels, ae_data.resolution) != (data.channels, data.resolution):
                raise HuashiError(
                    f"the autoencoder {config.latent} was trained on {ae_data.channels}-channel "
                    f"{ae_data.resolution} px images but the data is {data.channels}-channel "
                    f"{data.resolution} px: use the same --data and --resolution."
                )
            channels, size, _ = self.autoencoder.latent_shape
            self.latent_scale = float(self.autoencoder.latent_scale)
        else:
            channels, size = data.channels, data.resolution
            self.latent_scale = 1.0
        self.shape = (channels, size, size)
        check_resolution(size, len(config.channel_mults), "latent" if config.latent else "image")
        self.text_encoder = None
        context_dim = 0
        if config.condition == "text":
            from huashi.text import load_text_encoder

            self.text_encoder = load_text_encoder(config.text_encoder, device, config.text_length)
            context_dim = self.text_encoder.dim
        unet = UNet(
            UNetConfig(
                in_channels=channels,
                out_channels=channels,
                base_channels=config.base_channels,
                channel_mults=tuple(config.channel_mults),
                res_blocks=config.res_blocks,
                attention_resolutions=tuple(config.attention_resolutions),
                resolution=size,
                heads=config.heads,
                dropout=config.dropout,
                norm_groups=config.norm_groups,
                num_classes=data.num_classes if config.condition == "class" else 0,
                context_dim=context_dim,
            )
        )
        self.modules = {"unet": unet.to(device)}
        self.optimizers = {
            "unet": adam(
                unet.parameters(), config.lr, weight_decay=config.weight_decay, decoupled=True
            )
        }
        self.abar = make_schedule(config.schedule, config.timesteps)  # float64, CPU
        self._abar32 = self.abar.float().to(device)

    @property
    def condition(self) -> str:
        return self.config.condition

    @classmethod
    def required_runs(cls, config: DiffusionConfig) -> dict[str, str]:
        """A latent diffusion model is built on its autoencoder run."""
        return {"autoencoder": config.latent} if config.latent else {}

    @staticmethod
    def check_config(config: DiffusionConfig) -> None:
        for value, valid, what in (
            (config.schedule, SCHEDULES, "--schedule"),
            (config.prediction, PREDICTIONS, "--prediction"),
            (config.loss_weighting, LOSS_WEIGHTINGS, "--loss-weighting"),
            (config.condition, CONDITIONS, "--condition"),
        ):
            if value not in valid:
                raise HuashiError(f"unknown {what} '{value}': choose one of {', '.join(valid)}.")
        if not 0.0 <= config.cond_dropout < 1.0:
            raise HuashiError(f"--cond-dropout must be in [0, 1), got {config.cond_dropout}.")
        samplers.check_sampler(config.sampler, config.sample_steps)

    @classmethod
    def check_data(cls, data: DataInfo, config: DiffusionConfig) -> None:
        cls.check_config(config)
        check_condition_data(config.condition, data)
        if not config.latent:
            check_resolution(data.resolution, len(config.channel_mults), "image")
        elif not zoo.resolve(config.latent).is_dir():  # a zoo name that is missing raises itself
            raise HuashiError(
                f"the latent autoencoder run {config.latent} does not exist: train one first "
                "(huashi train kl-vae ... --out RUN) and pass that folder as --latent."
            )

    # --- training ------------------------------------------------------------------------------

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> the space the U-Net works in (scaled latents, or the pixels)."""
        if self.autoencoder is None:
            return images
        with torch.no_grad():
            return self.autoencoder.encode(images.float()).float() * self.latent_scale

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            return x.clamp(-1, 1)
        with torch.no_grad():
            return self.autoencoder.decode(x / self.latent_scale).float().clamp(-1, 1)

    def _text(self, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.text_encoder.encode(list(captions)).to(self.device)
        return emb.tokens, emb.mask

    def _null_text(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.modules["unet"].null_tokens(n, self.config.text_length)

    def _train_condition(self, chunk: dict[str, Any], generator: torch.Generator) -> dict:
        n = len(chunk["image"])
        if self.config.condition == "none":
            return {}
        drop = torch.rand(n, generator=generator, device=generator.device).to(self.device)
        drop = drop < self.config.cond_dropout
        unet = self.modules["unet"]
        if self.config.condition == "class":
            labels = torch.where(
                drop, torch.full_like(chunk["label"], unet.null_class), chunk["label"]
            )
            return {"labels": labels}
        captions = list(chunk["caption"])
        self.remember_captions(captions)
        tokens, mask = self._text(captions)
        null_tokens, null_mask = unet.null_tokens(n, tokens.shape[1])
        keep = ~drop
        return {
            "context": torch.where(keep[:, None, None], tokens, null_tokens),
            "context_mask": torch.where(keep[:, None], mask, null_mask),
        }

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        unet, optimizer = self.modules["unet"], self.optimizers["unet"]
        config = self.config

        def loss_fn(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            x0 = self.encode_images(chunk["image"])
            g = ctx.generator
            t = torch.randint(0, config.timesteps, (len(x0),), generator=g, device=g.device)
            t = t.to(self.device)
            noise = torch.randn(x0.shape, generator=g, device=g.device).to(self.device)
            if x0.is_contiguous(memory_format=torch.channels_last):
                noise = noise.contiguous(memory_format=torch.channels_last)
            a = self._abar32[t].view(-1, 1, 1, 1)
            x_t = add_noise(x0, noise, a)
            pred = unet(x_t, t.float(), **self._train_condition(chunk, g)).float()
            loss = diffusion_loss(
                pred, x0, noise, a, config.prediction, config.loss_weighting, config.min_snr_gamma
            )
            return loss, {"loss": loss.item()}

        optimizer.zero_grad(set_to_none=True)
        logged = ctx.backward(batch, loss_fn)
        norm = ctx.step_optimizer(optimizer, config.grad_clip if config.grad_clip > 0 else None)
        if norm is not None:
            logged["grad_norm"] = norm
        return logged

    # --- sampling ------------------------------------------------------------------------------

    def _condition(self, n: int, prompt: Any, label: Any) -> tuple[dict, dict]:
        """(conditional, unconditional) keyword arguments of the U-Net for n samples; without
        a label or prompt both are the null condition (unconditional sampling)."""
        checked = resolve_condition(self.condition, self.data, n, prompt, label)
        if self.condition == "class":
            null = {"labels": torch.full((n,), self.data.num_classes, device=self.device)}
            if checked.labels is None:
                return null, null
            return {"labels": torch.tensor(checked.labels, device=self.device)}, null
        if self.condition == "text":
            null = dict(zip(("context", "context_mask"), self._null_text(n), strict=True))
            if checked.prompts is None:
                return null, null
            tokens, mask = self._text(checked.prompts)
            return {"context": tokens, "context_mask": mask}, null
        return {}, {}

    def _negative(self, n: int, negative_prompt: str) -> dict:
        """The U-Net's text condition of the negative prompt: classifier-free guidance then
        steers away from it rather than from the empty prompt (F7)."""
        if self.condition != "text":
            raise HuashiError(
                f"a negative prompt needs a text-conditioned model; this one is conditioned on "
                f"{self.condition}: drop the negative prompt."
            )
        tokens, mask = self._text([negative_prompt] * n)
        return {"context": tokens, "context_mask": mask}

    def sampling_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        """The sampler, steps, guidance scale (and img2img strength) that ``generate`` uses
        when ``options`` leave them out, so a PNG can record every setting."""
        defaults: dict[str, Any] = {"sampler": self.config.sampler,
                                    "steps": self.config.sample_steps}  # fmt: skip
        if self.condition != "none":
            defaults["cfg"] = self.config.guidance
        if options.get("init") is not None:
            defaults["strength"] = 0.6 if options.get("mask") is None else 1.0
        return defaults

    def _model_fn(self, unet, cond: dict, uncond: dict, cfg: float, precision: str):
        """ε̂(x, t) for the samplers. With guidance, the conditional and unconditional passes
        run as one forward of a doubled batch; without a condition to guide towards (``cond is
        uncond``: no label or prompt) a single pass, since ε̂(∅) + cfg·(ε̂(∅) - ε̂(∅)) = ε̂(∅)."""
        from huashi.training.device import autocast, resolve_precision

        precision = resolve_precision(precision, self.device)
        guided = cfg != 1.0 and self.config.condition != "none" and cond is not uncond

        # oneDNN's fast bf16 convolutions want channels_last; the module is left as it is
        channels_last = precision != "fp32" or not unet.out.weight.is_contiguous()
        bound = 1.0 if self.autoencoder is None else self.config.latent_clip
        clip = self.config.clip_denoised and bound > 0

        def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(self.device, precision):
                if guided:
                    both = {k: torch.cat([cond[k], uncond[k]]) for k in cond}
                    out = unet(torch.cat([x, x]), torch.cat([t, t]), **both).float()
                    c, u = out.chunk(2)
                    pred = u + cfg * (c - u)
                else:
                    pred = unet(x, t, **cond).float()
            a = at(self.abar, t).to(x.device, torch.float32).view(-1, 1, 1, 1)
            if self.config.prediction == "v":
                pred = eps_from_v(x, pred, a)
            if clip:  # ε̂ of the clipped x̂_0: near t = T, x̂_0 = (x - √(1-ᾱ) ε̂)/√ᾱ amplifies
                # any error of ε̂ by up to 1/√ᾱ ≈ 2·10⁴ (cosine schedule)
                pred = eps_from_x0(x, x0_from_eps(x, pred, a).clamp(-bound, bound), a)
            return pred

        return model_fn

    def _init_and_mask(
        self, init: Any, mask: Any
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if init is None:
            if mask is not None:
                raise HuashiError(
                    "inpainting needs the image to paint into: give --init with --mask."
                )
            return None, None
        channels, resolution = self.data.channels, self.data.resolution
        size = (resolution, resolution)
        if isinstance(init, (str, Path)):
            image, size, _ = load_init(init, channels, resolution)
        else:
            image = torch.as_tensor(init).float()
            image = image.reshape(-1, *image.shape[-2:])
            if tuple(image.shape) != (channels, resolution, resolution):
                raise HuashiError(
                    f"the init image is {list(image.shape)} but the model paints "
                    f"[{channels}, {resolution}, {resolution}]."
                )
        if mask is None:
            return image.to(self.device), None
        if isinstance(mask, (str, Path)):
            m = load_mask(mask, size, resolution)
        else:
            m = torch.as_tensor(mask).float()
            if tuple(m.shape[-2:]) != (resolution, resolution):
                raise HuashiError(
                    f"the mask is {list(m.shape)} but the init image is {resolution}x{resolution}: "
                    "give a mask of the same size (white = repaint)."
                )
            m = (m.reshape(-1, resolution, resolution)[:1] > 0.5).float()
        return image.to(self.device), m.to(self.device)

    def generate(
        self, seeds: Sequence[int], progress: samplers.Progress | None = None, **options: Any
    ) -> torch.Tensor:
        """Images in [-1, 1], one per seed (options: :class:`DiffusionSampling`).

        With ``init`` and ``strength`` (default 0.6) the init is noised to t = strength·T and
        denoised from there in ceil(strength·steps) steps (img2img). With ``mask`` (default
        strength 1.0) the unmasked region is replaced by the noised init after every step
        (inpainting). A class model without ``label`` and a text model without ``prompt``
        paint unconditionally. ``progress(done, total, sampler)`` is told after every
        denoising step.
        """
        opts: DiffusionSampling = self.parse_sampling_options(**options)
        sampler = opts.sampler or self.config.sampler
        default_steps = tiny.cap("steps", self.config.sample_steps)  # HUASHI_DOCS_TINY: 2
        steps = default_steps if opts.steps is None else opts.steps
        samplers.check_sampler(sampler, steps)
        if opts.steps is not None and steps > self.config.timesteps:
            raise HuashiError(
                f"--steps {steps} is more than this model's {self.config.timesteps} training "
                f"timesteps: give at most {self.config.timesteps}."
            )
        n = len(seeds)
        cond, uncond = self._condition(n, opts.prompt, opts.label)
        if opts.negative_prompt is not None:
            uncond = self._negative(n, opts.negative_prompt)
        cfg = self.config.guidance if opts.cfg is None else float(opts.cfg)
        image, repaint = self._init_and_mask(opts.init, opts.mask)
        strength = opts.strength
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        noise = samplers.per_sample_noise(generators, torch.empty(n, *self.shape))
        noise = noise.to(self.device)
        t_max, known = None, None
        x_start = noise
        if image is not None:
            strength = (0.6 if repaint is None else 1.0) if strength is None else float(strength)
            t_max, steps = samplers.strength_start(self.config.timesteps, strength, steps)
            x0 = self.encode_images(image[None].expand(n, -1, -1, -1))
            x_start = add_noise(x0, noise, float(self.abar[t_max]))
            if repaint is not None:
                if repaint.shape[-1] != self.shape[-1]:  # latent: repaint any touched latent cell
                    repaint = F.adaptive_max_pool2d(repaint[None], self.shape[-2:])[0]
                known = (x0, 1.0 - repaint[None].expand(n, -1, -1, -1))
        elif strength is not None:
            raise HuashiError("--strength needs an --init image.")
        unet = self.sampling_module("unet")
        # inference mode skips autograd's bookkeeping; the clone hands back an ordinary tensor
        # that callers may still use in a graph (a distillation target, a loss)
        with torch.inference_mode(), self.sampling_mode(unet):
            model_fn = self._model_fn(unet, cond, uncond, cfg, opts.precision)
            x = samplers.sample(
                model_fn, x_start, self.abar, sampler, steps, eta=opts.eta, generators=generators,
                t_max=t_max, known=known, progress=progress,
            )  # fmt: skip
            images = self.decode(x)
        return images.clone()

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Progress grids as every family makes them (cycling classes or captions), kept cheap:
        at most 16 images, sampled with DPM-Solver++(2M) in at most 20 steps."""
        seeds = list(seeds)[:PREVIEW_IMAGES]
        options = preview_options(self.condition, len(seeds), self.data, self.preview_captions)
        steps = tiny.cap("steps", min(PREVIEW_STEPS, self.config.sample_steps))
        fast = {"sampler": "dpmpp-2m", "steps": steps}
        return self.generate(seeds, **options, **fast)


def check_resolution(size: int, levels: int, what: str) -> None:
    factor = 2 ** (levels - 1)
    if size < factor or size % factor:
        raise HuashiError(
            f"a U-Net with {levels} levels needs the {what} size to be a multiple of {factor}, "
            f"got {size}: change --resolution or --channel-mults."
        )
