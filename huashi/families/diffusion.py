"""Diffusion (F1-F6): DDPM training of a U-Net in pixel space, or in the latent space of a frozen
autoencoder run (latent diffusion, F5), unconditional or conditioned on classes or text with
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
    min_snr_weight,
    v_from_eps,
    x0_from_eps,
)
from huashi.errors import HuashiError
from huashi.families.base import DataInfo, Family, StepContext
from huashi.models.diffusion.unet import UNet, UNetConfig

CONDITIONS = ("none", "class", "text")


@dataclass
class DiffusionConfig:
    # the U-Net
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2)
    res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16,)
    heads: int = 4
    dropout: float = 0.0
    norm_groups: int = 32
    # the diffusion process and its loss
    schedule: str = "cosine"
    timesteps: int = 1000
    prediction: str = "eps"
    loss_weighting: str = "none"
    min_snr_gamma: float = 5.0
    # sampling in pixel space: clip the predicted x_0 to [-1, 1] at every step (as DDPM does)
    clip_denoised: bool = True
    # conditioning (classifier-free guidance)
    condition: str = "none"
    cond_dropout: float = 0.1
    text_encoder: str = "minilm"
    text_length: int = 32
    # latent diffusion: the folder of a trained autoencoder run ("" = pixel space)
    latent: str = ""
    # optimizer
    lr: float = 2e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # defaults for generate() and the progress grids
    sampler: str = "ddim"
    sample_steps: int = 50
    guidance: float = 3.0


def load_autoencoder(path: str, device: torch.device) -> Any:
    """The frozen autoencoder of a trained run (``encode``, ``decode``, ``latent_shape``,
    ``latent_scale``). Tests replace this function with a fake."""
    from huashi.runs import load_run  # runs imports the families: import it late

    if not Path(path).is_dir():
        raise HuashiError(
            f"the latent autoencoder run {path} does not exist: train one first "
            "(huashi train kl-vae ... --out RUN) and pass that folder as --latent."
        )
    try:
        family = load_run(path, device=str(device)).family
    except HuashiError as error:
        raise HuashiError(f"cannot use {path} as the latent autoencoder: {error}") from None
    needed = ("encode", "decode", "latent_shape", "latent_scale")
    if not all(hasattr(family, name) for name in needed):
        raise HuashiError(
            f"{path} is a '{family.name}' run, not an autoencoder: give an ae, vae or kl-vae run."
        )
    family.train(False)
    for module in family.modules.values():
        module.requires_grad_(False)
    return family


#: The training-progress grids: this many images, this many sampling steps at most.
PREVIEW_IMAGES, PREVIEW_STEPS = 16, 20


class Diffusion(Family):
    """Diffusion model (DDPM/DDIM/DPM-Solver++ sampling; pixel or latent; class/text guidance)."""

    name = "diffusion"
    config_class = DiffusionConfig
    ema_targets = ("unet",)

    def __init__(self, config: DiffusionConfig, data: DataInfo, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.check_config(config)
        self.autoencoder = load_autoencoder(config.latent, device) if config.latent else None
        if self.autoencoder is not None:
            ae_data = getattr(self.autoencoder, "data", None)
            if ae_data is not None and (ae_data.channels, ae_data.resolution) != (
                data.channels,
                data.resolution,
            ):
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
            "unet": torch.optim.AdamW(
                unet.parameters(), lr=config.lr, weight_decay=config.weight_decay
            )
        }
        self.abar = make_schedule(config.schedule, config.timesteps)  # float64, CPU
        self._abar32 = self.abar.float().to(device)
        self.show_progress = False  # the CLI turns the sampling progress bar on

    @property
    def condition(self) -> str:
        return self.config.condition

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
        if config.condition == "class" and data.num_classes < 1:
            raise HuashiError(
                "--condition class needs labelled data (e.g. mnist, shapes, or a folder with "
                "one subfolder per class)."
            )
        if config.condition == "text" and not data.has_captions:
            raise HuashiError(
                "--condition text needs captioned data (e.g. emoji, shapes, or a folder with "
                ".txt captions)."
            )
        if not config.latent:
            check_resolution(data.resolution, len(config.channel_mults), "image")

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
            target = noise if config.prediction == "eps" else v_from_eps(x0, noise, a)
            per_sample = (pred - target).pow(2).mean(dim=(1, 2, 3))
            if config.loss_weighting == "min-snr":
                per_sample = per_sample * min_snr_weight(
                    a.flatten(), config.prediction, config.min_snr_gamma
                )
            loss = per_sample.mean()
            return loss, {"loss": loss.item()}

        optimizer.zero_grad(set_to_none=True)
        logged = ctx.backward(batch, loss_fn)
        if config.grad_clip > 0:
            logged["grad_norm"] = float(
                torch.nn.utils.clip_grad_norm_(unet.parameters(), config.grad_clip)
            )
        optimizer.step()
        return logged

    # --- sampling ------------------------------------------------------------------------------

    def _condition(self, n: int, prompt: Any, label: Any) -> tuple[dict, dict]:
        """(conditional, unconditional) keyword arguments of the U-Net for n samples."""
        condition = self.config.condition
        if prompt is not None and condition != "text":
            raise HuashiError(
                f"this model is not text-conditioned (condition={condition}): drop the prompt"
                + (" and give --label N." if condition == "class" else ".")
            )
        if label is not None and condition != "class":
            raise HuashiError(
                f"this model is not class-conditioned (condition={condition}): drop --label."
            )
        if condition == "class":
            k = self.data.num_classes
            null = torch.full((n,), k, device=self.device)
            if label is None:
                return {"labels": null}, {"labels": null}
            labels = _per_sample(label, n, "label")
            for value in labels:
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < k:
                    names = ", ".join(f"{i}={c}" for i, c in enumerate(self.data.class_names))
                    raise HuashiError(
                        f"label {value!r} is out of range: this model knows {k} classes "
                        f"(0..{k - 1}{': ' + names if names else ''})."
                    )
            return {"labels": torch.tensor(labels, device=self.device)}, {"labels": null}
        if condition == "text":
            null = dict(zip(("context", "context_mask"), self._null_text(n), strict=True))
            if prompt is None:
                return null, null
            prompts = _per_sample(prompt, n, "prompt")
            if not all(isinstance(p, str) for p in prompts):
                raise HuashiError("a prompt must be a string (or one string per seed).")
            tokens, mask = self._text(prompts)
            return {"context": tokens, "context_mask": mask}, null
        return {}, {}

    def _model_fn(self, unet, cond: dict, uncond: dict, cfg: float, precision: str):
        from huashi.training.device import autocast

        guided = cfg != 1.0 and self.config.condition != "none"

        channels_last = not unet.out.weight.is_contiguous()  # the module was converted
        clip = self.config.clip_denoised and self.autoencoder is None

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
                pred = eps_from_x0(x, x0_from_eps(x, pred, a).clamp(-1, 1), a)
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

    @torch.no_grad()
    def generate(
        self,
        seeds: Sequence[int],
        sampler: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        prompt: str | Sequence[str] | None = None,
        label: int | Sequence[int] | None = None,
        init: Any = None,
        strength: float | None = None,
        mask: Any = None,
        eta: float = 0.0,
        precision: str = "fp32",
    ) -> torch.Tensor:
        """Images in [-1, 1], one per seed.

        ``init`` (a path or a [C, R, R] tensor in [-1, 1]) with ``strength`` (default 0.6) is
        img2img: the init is noised to t = strength·T and denoised from there in
        ceil(strength·steps) steps. With ``mask`` (path or tensor, 1 = repaint; default strength
        1.0) the unmasked region is replaced by the noised init after every step (inpainting).
        A class model without ``label`` and a text model without ``prompt`` paint unconditionally.
        ``precision="bf16"`` runs the U-Net under bf16 autocast (and in channels_last).
        """
        sampler = sampler or self.config.sampler
        steps = self.config.sample_steps if steps is None else steps
        samplers.check_sampler(sampler, steps)
        n = len(seeds)
        cond, uncond = self._condition(n, prompt, label)
        cfg = self.config.guidance if cfg is None else float(cfg)
        image, repaint = self._init_and_mask(init, mask)
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
        if precision == "bf16":  # oneDNN's fast bf16 convolutions want channels_last
            unet.to(memory_format=torch.channels_last)
        was_training = unet.training
        unet.eval()
        model_fn = self._model_fn(unet, cond, uncond, cfg, precision)
        x = samplers.sample(
            model_fn, x_start, self.abar, sampler, steps, eta=eta, generators=generators,
            t_max=t_max, known=known, progress=self.show_progress,
        )  # fmt: skip
        unet.train(was_training)
        return self.decode(x)

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Progress grids: row-major cycling through the classes, or the first captions seen.
        Kept cheap: at most 16 images, sampled with DPM-Solver++(2M) in at most 20 steps."""
        seeds = list(seeds)[:PREVIEW_IMAGES]
        fast = {"sampler": "dpmpp-2m", "steps": min(PREVIEW_STEPS, self.config.sample_steps)}
        if self.config.condition == "class":
            k = self.data.num_classes
            return self.generate(seeds, label=[i % k for i in range(len(seeds))], **fast)
        if self.config.condition == "text" and self.preview_captions:
            captions = self.preview_captions
            return self.generate(
                seeds, prompt=[captions[i % len(captions)] for i in range(len(seeds))], **fast
            )
        return self.generate(seeds, **fast)


def check_resolution(size: int, levels: int, what: str) -> None:
    factor = 2 ** (levels - 1)
    if size < factor or size % factor:
        raise HuashiError(
            f"a U-Net with {levels} levels needs the {what} size to be a multiple of {factor}, "
            f"got {size}: change --resolution or --channel-mults."
        )


def _per_sample(value: Any, n: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise HuashiError(f"got {len(value)} values for {what} but {n} seeds: give one or {n}.")
        return list(value)
    return [value] * n
