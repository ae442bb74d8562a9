"""GigaGAN (Kang et al. 2023), small: a text-to-image GAN for a CPU.

The generator (:mod:`huashi.models.gigagan.generator`) refines the frozen text encoder's tokens,
maps z and the global text vector to w, and paints an image pyramid with adaptive-kernel
modulated convolutions and stable self- and cross-attention. The discriminator judges every
pyramid level from 8x8 up, conditioned on the caption by projection.

One training step is one discriminator update then one generator update:

- D: matching-aware (GAN-CLS): (real, right caption) is real, (fake, right caption) and (real,
  wrong caption) are fake (:func:`huashi.losses.gan.matching_aware_batch`, as in ``gan``). The
  non-saturating logistic loss is averaged over the pyramid levels; the real pyramid is the
  image and its 2x2 average poolings. Lazy R1 on the (real, right caption) pairs every
  ``r1_every`` steps, weighed by ``r1_gamma / 2 * r1_every``.
- G: the non-saturating loss on fresh fakes with the batch's captions, averaged over levels.
  The mapping network tracks the average w for truncation. With ``clip_weight`` > 0, plus
  ``clip_weight`` times the CLIP-style contrastive term: a frozen huashi ``clip`` run
  (``clip_run``, a run folder or ``zoo:NAME``) embeds each fake and every caption of the
  batch, and the loss is cross-entropy of the image's scaled cosine similarities to those
  captions against its own caption (:func:`huashi.losses.clip.clip_guidance_loss`).

Sampling takes ``prompt`` (required: one caption, or one per seed) and ``truncation`` (psi:
w_avg + psi (w - w_avg)); noise is the model's fixed noise. The latent contract: z in (no
``synthesize`` on w alone: the synthesis network also needs the prompt's tokens).
``prompt_mix`` with ``mix_layers`` paints those synthesis layers (their w and the
cross-attention after them) from a second prompt, the same z.
The upsampler is its own family (:mod:`huashi.families.upsampler`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from huashi.core.config_fields import option
from huashi.core.errors import HuashiError
from huashi.core.images import convert_channels
from huashi.families.base import DataInfo, Family, require_power_of_two
from huashi.families.clip import CLIPFamily
from huashi.families.conditioning import required_prompts
from huashi.losses.clip import clip_guidance_loss
from huashi.losses.gan import matching_aware_batch, r1_penalty
from huashi.models.gigagan.discriminator import MultiScaleDiscriminator
from huashi.models.gigagan.generator import Generator, image_pyramid
from huashi.training.device import adam
from huashi.training.step import StepContext


def parse_layers(text: Any, num_ws: int) -> list[int]:
    """ "0-3", "4-" (to the last layer) or "0,2,5" (or a list of numbers) -> layer indices."""
    if isinstance(text, str):
        layers = []
        for part in text.split(","):
            match = re.fullmatch(r"(\d+)(?:-(\d*))?", part.strip())
            if not match:
                raise HuashiError(f"bad layer range {part!r}: write it like 0-3, 4- or 0,2,5.")
            start = int(match.group(1))
            end = start if match.group(2) is None else int(match.group(2) or num_ws - 1)
            layers.extend(range(start, end + 1))
    else:
        layers = [int(i) for i in text]
    if not layers or not all(0 <= i < num_ws for i in layers):
        raise HuashiError(
            f"layers must be in 0-{num_ws - 1} (this model has {num_ws}), got {text}."
        )
    return sorted(set(layers))


@dataclass
class GigaGANConfig:
    z_dim: int = option(32, "size of the input latent z")
    w_dim: int = option(64, "size of the intermediate latent w (the style space)")
    mapping_layers: int = option(2, "layers of the mapping network (z, text) -> w")
    mapping_lr_mul: float = option(0.01, "learning-rate multiplier of the mapping network")
    text_width: int = option(32, "width of the learned text branch (refined tokens)")
    text_layers: int = option(2, "attention blocks refining the text tokens")
    channel_base: int = option(
        512, "channels at resolution r are min(channel_base / r, channel_max)"
    )
    channel_max: int = option(64, "the most channels of any layer")
    num_kernels: int = option(4, "kernels per adaptive convolution (sample-adaptive selection)")
    attention_resolutions: tuple[int, ...] = option(
        (8, 16), "resolutions with self- and cross-attention in the generator"
    )
    lr: float = option(0.0025, "Adam learning rate of G and D")
    beta1: float = option(0.0, "Adam beta1")
    beta2: float = option(0.99, "Adam beta2")
    r1_gamma: float = option(0.1, "R1 penalty gamma on real images with their captions")
    r1_every: int = option(16, "lazy R1: applied every this many steps, scaled by it")
    text_encoder: str = option("minilm", "text encoder: minilm or a local Hugging Face folder")
    clip_weight: float = option(0.0, "weight of the CLIP contrastive term on G (0: off)")
    clip_run: str = option("", "the frozen clip run (folder or zoo:NAME) of --clip-weight")

    def __post_init__(self) -> None:
        positive = ("z_dim", "w_dim", "mapping_layers", "text_width", "num_kernels", "r1_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise HuashiError(f"--{name.replace('_', '-')} must be at least 1.")
        if self.text_layers < 0 or self.r1_gamma < 0 or self.clip_weight < 0:
            raise HuashiError("--text-layers, --r1-gamma and --clip-weight must not be negative.")
        if self.clip_weight > 0 and not self.clip_run:
            raise HuashiError(
                "--clip-weight needs --clip-run: a clip run trained on the same kind of captions "
                "(huashi train clip --data shapes --out runs/clip)."
            )
        self.attention_resolutions = tuple(int(r) for r in self.attention_resolutions)


@dataclass(frozen=True)
class GigaGANSampling:
    """The options ``generate`` takes."""

    prompt: Any = None  # a caption, or one per image (required)
    truncation: float = 1.0  # psi: w_avg + psi (w - w_avg)
    prompt_mix: Any = None  # a second caption (or one per image) for the layers mix_layers
    mix_layers: Any = "0-3"  # layers painted from prompt_mix: "0-3", "4-" or "0,2,5"


class GigaGAN(Family):
    """A small GigaGAN: text-conditioned generator with an image pyramid, multi-scale D."""

    name = "gigagan"
    config_class = GigaGANConfig
    ema_targets = ("generator",)
    condition_kind = "text"
    condition_per_seed = True
    sampling_options_class = GigaGANSampling

    def __init__(
        self,
        config: GigaGANConfig,
        data: DataInfo,
        device: torch.device,
        clip: Family | None = None,
    ) -> None:
        super().__init__(config, data, device)
        self.check_data(data, config)
        self.clip = self._frozen_clip(clip) if config.clip_weight > 0 else None
        from huashi.text import load_text_encoder

        self.text_encoder = load_text_encoder(config.text_encoder, device)
        text_dim = self.text_encoder.dim
        G = Generator(
            config.z_dim, config.w_dim, text_dim, data.resolution, data.channels,
            config.text_width, config.text_layers, config.mapping_layers, config.mapping_lr_mul,
            config.channel_base, config.channel_max, config.num_kernels,
            config.attention_resolutions,
        )  # fmt: skip
        D = MultiScaleDiscriminator(
            data.resolution, text_dim, data.channels, config.channel_base, config.channel_max
        )
        self.modules = {"generator": G.to(device), "discriminator": D.to(device)}
        every = config.r1_every if config.r1_gamma > 0 else 0
        self.optimizers = {"generator": self._adam(G, 0), "discriminator": self._adam(D, every)}

    @classmethod
    def required_runs(cls, config: GigaGANConfig) -> dict[str, str]:
        """The clip run of the contrastive term, when it is on."""
        return {"clip": config.clip_run} if config.clip_weight > 0 else {}

    def _frozen_clip(self, clip: Family | None) -> CLIPFamily:
        if not isinstance(clip, CLIPFamily):
            kind = "no run" if clip is None else f"a '{clip.name}' run"
            raise HuashiError(
                f"--clip-run must be a clip run (huashi train clip), got {kind}: pass the folder "
                "of a clip run trained on captions like these."
            )
        clip.train(False)
        clip.modules["clip"].requires_grad_(False)
        return clip

    def clip_term(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """The contrastive term for ``images`` [B, C, R, R] painted from ``captions``: the
        frozen clip run embeds both (images resized and converted to its input, gradients flow
        to the images) and each image is scored against every caption of the batch."""
        assert self.clip is not None
        model, info = self.clip.modules["clip"], self.clip.data
        x = convert_channels(images.float(), info.channels)
        if x.shape[-1] != info.resolution:
            x = F.interpolate(x, size=(info.resolution,) * 2, mode="bilinear", antialias=True)
        image_emb = model.embed_images(x).float()
        with torch.no_grad():
            text_emb = self.clip.embed_text(list(captions)).float().to(image_emb.device)
        same = torch.tensor([[a == b for b in captions] for a in captions], device=self.device)
        return clip_guidance_loss(image_emb, text_emb, model.scale().detach().float(), same)

    def _adam(self, module: torch.nn.Module, every: int) -> torch.optim.Optimizer:
        c = every / (every + 1) if every else 1.0  # lazy regularization (StyleGAN2)
        betas = (self.config.beta1**c, self.config.beta2**c)
        return adam(module.parameters(), lr=self.config.lr * c, betas=betas)

    @classmethod
    def check_data(cls, data: DataInfo, config: GigaGANConfig) -> None:
        r = data.resolution
        require_power_of_two(r, 8, "the gigagan family")
        if not data.has_captions:
            raise HuashiError(
                "the gigagan family paints from text and needs captions (emoji, shapes, or a "
                "folder with .txt sidecars or metadata.jsonl); this dataset has none."
            )

    # --- training ------------------------------------------------------------------------------

    def _levels(self) -> int:
        return len(self.modules["generator"].synthesis.resolutions)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        if self.device.type == "cpu" and ctx.precision != "fp32":
            ctx = dataclasses.replace(ctx, precision="fp32")  # as stylegan: bf16 is slow on CPU
        config, g = self.config, ctx.generator
        G, D = self.modules["generator"], self.modules["discriminator"]
        self.remember_captions(batch["caption"])
        r1_now = config.r1_gamma > 0 and ctx.step % config.r1_every == 0

        def z(n: int) -> torch.Tensor:
            return torch.randn(n, config.z_dim, generator=g, device=g.device).to(self.device)

        def d_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            real, captions = chunk["image"], list(chunk["caption"])
            b = len(real)
            text = self.text_encoder.encode(captions).to(self.device)
            with torch.no_grad():
                fake = G(z(b), text.tokens, text.mask, noise_mode="random", generator=g)
            # The (real, wrong caption) pairs: run the pairing on row numbers to learn which.
            rows = torch.arange(b, dtype=torch.float32, device=real.device).view(b, 1)
            picked, caption_index, _ = matching_aware_batch(rows, rows, captions, g)
            mismatched, wrong = picked[2 * b :, 0].long(), caption_index[2 * b :]
            real_in = real.detach().requires_grad_(r1_now)
            real_pyramid = image_pyramid(real_in, self._levels())
            # Each group goes through D on its own (the minibatch-stddev groups stay pure).
            real_logits = D(real_pyramid, text.pooled)
            fake_logits = D(fake, text.pooled)
            losses = [
                F.softplus(-r.float()).mean() + F.softplus(f.float()).mean()
                for r, f in zip(real_logits, fake_logits, strict=True)
            ]
            if len(mismatched):
                wrong_pyramid = [level[mismatched].detach() for level in real_pyramid]
                wrong_logits = D(wrong_pyramid, text.pooled[wrong])
                losses = [
                    (loss + F.softplus(w.float()).mean())
                    for loss, w in zip(losses, wrong_logits, strict=True)
                ]
            loss = torch.stack(losses).mean()
            logged = {"d_loss": loss.item()}
            for i, level in enumerate(D.levels):
                logged[f"d_real_{level}"] = torch.sigmoid(real_logits[i].detach()).mean().item()
                logged[f"d_fake_{level}"] = torch.sigmoid(fake_logits[i].detach()).mean().item()
                if len(mismatched):
                    logged[f"d_wrong_{level}"] = torch.sigmoid(wrong_logits[i]).mean().item()
            if r1_now:
                logits = torch.stack(real_logits).float().mean(dim=0)
                r1 = r1_penalty(logits, real_in, ctx.loss_scale())
                loss = loss + 0.5 * config.r1_gamma * config.r1_every * r1
                logged["r1"] = r1.item()
            return loss, logged

        def g_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            captions = list(chunk["caption"])
            text = self.text_encoder.encode(captions).to(self.device)
            fake = G(
                z(len(captions)), text.tokens, text.mask, noise_mode="random", generator=g,
                update_w_avg=True,
            )  # fmt: skip
            logits = D(fake, text.pooled)
            loss = torch.stack([F.softplus(-x.float()).mean() for x in logits]).mean()
            logged = {"g_loss": loss.item()}
            if self.clip is not None:
                term = self.clip_term(fake[-1], captions)
                loss = loss + config.clip_weight * term
                logged["g_clip"] = term.item()
            return loss, logged

        logged = ctx.update(self.optimizers["discriminator"], batch, d_loss)
        logged |= ctx.update(self.optimizers["generator"], batch, g_loss, frozen=[D])
        return logged

    # --- sampling and the latent contract -------------------------------------------------------

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.z_dim,)

    def _prompts(self, n: int, prompt: Any) -> list[str]:
        return required_prompts(self.data, n, prompt, self.preview_captions)

    @property
    def num_ws(self) -> int:
        """Synthesis layers (each reads its own w), as numbered by ``mix_layers``."""
        return self.modules["generator"].num_ws

    def generate_pyramid(
        self,
        latents: torch.Tensor,
        prompt: Any = None,
        truncation: float = 1.0,
        prompt_mix: Any = None,
        mix_layers: Any = "0-3",
    ) -> list[torch.Tensor]:
        """The whole image pyramid (4x4 first, not clipped) from z [B, z_dim]; with
        ``prompt_mix`` the layers ``mix_layers`` paint that prompt (w and cross-attention)."""
        z = self.check_latents(latents)
        text = self.text_encoder.encode(self._prompts(len(z), prompt)).to(self.device)
        G = self.sampling_module("generator")
        mix, layers = None, ()
        if prompt_mix is not None:
            other = self.text_encoder.encode(self._prompts(len(z), prompt_mix)).to(self.device)
            mix, layers = (other.tokens, other.mask), parse_layers(mix_layers, self.num_ws)
        return G(
            z, text.tokens, text.mask, float(truncation), noise_mode="const", mix=mix,
            mix_layers=layers,
        )  # fmt: skip

    def generate_from_latents(self, latents: torch.Tensor, **options: Any) -> torch.Tensor:
        """Images in [-1, 1] (the finest pyramid level, clipped) from z [B, z_dim]; options:
        :class:`GigaGANSampling`. Gradients flow back to z."""
        opts = self.parse_sampling_options(**options)
        pyramid = self.generate_pyramid(
            latents, opts.prompt, opts.truncation, opts.prompt_mix, opts.mix_layers
        )
        return pyramid[-1].float().clamp(-1, 1)

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """One image per seed; options: prompt (required), truncation, prompt_mix, mix_layers."""
        self.parse_sampling_options(**options)
        return self.generate_from_latents(self.latents_for_seeds(seeds), **options)

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Progress grids cycle through the captions seen in training."""
        captions = self.preview_captions or ["an image"]
        prompts = [captions[i % len(captions)] for i in range(len(seeds))]
        return self.generate(seeds, prompt=prompts)
