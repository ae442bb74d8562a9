"""StyleGAN2 (Karras et al. 2020), sized for a CPU, with adaptive discriminator augmentation.

One training step is one discriminator update then one generator update:

- D: non-saturating logistic loss on real and fake images, both augmented (ADA by default, or
  DiffAugment, or nothing); lazy R1 on the reals every ``r1_every`` steps, weighed by
  ``r1_gamma / 2 * r1_every``. ADA's p follows sign(D(real)) towards ``ada_target``.
- G: non-saturating loss on fresh fakes; style mixing (with probability ``style_mixing`` an
  image takes a second w from a random layer on); optional path-length regularization every
  ``pl_every`` steps. The mapping network tracks the average w for truncation.
- EMA of G (the trainer's --ema decay) ramps up: early on its half-life is ``ema_rampup`` of
  the steps done, so the average does not remember the random start.
- On a CPU it trains in fp32 whatever ``--precision`` says (bf16 autocast was ~10x slower).

Sampling takes ``truncation`` (psi: w_avg + psi (w - w_avg)), ``label`` or ``prompt`` for
conditional models and ``noise_mode`` (const, random, none). The latent contract: z in, and for
editing the w space (``map_latents``, ``synthesize`` on [B, num_ws, w_dim]).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from huashi.augment.ada import AdaptiveAugment
from huashi.augment.diffaugment import diff_augment, parse_policy
from huashi.core.config_fields import check_choices, option
from huashi.core.errors import HuashiError
from huashi.families.base import DataInfo, Family, require_power_of_two
from huashi.families.conditioning import check_condition_data
from huashi.families.onnx import MappedGeneratorGraph, OnnxGraph
from huashi.losses.gan import r1_penalty
from huashi.models.stylegan.discriminator import Discriminator
from huashi.models.stylegan.mapping import MappingNetwork
from huashi.models.stylegan.synthesis import Generator, SynthesisNetwork
from huashi.training.device import adam
from huashi.training.step import StepContext

AUGMENTS = ("ada", "diffaugment", "none")
CONDITIONS = ("none", "class", "text")
NOISE_MODES = ("const", "random", "none")


@dataclass
class StyleGANConfig:
    z_dim: int = option(128, "size of the input latent z")
    w_dim: int = option(128, "size of the intermediate latent w (the style space)")
    mapping_layers: int = option(4, "layers of the mapping network z -> w (StyleGAN2 uses 8)")
    mapping_lr_mul: float = option(0.01, "learning-rate multiplier of the mapping network")
    channel_base: int = option(
        1024, "channels at resolution r are min(channel_base / r, channel_max)"
    )
    channel_max: int = option(128, "the most channels of any layer")
    lr: float = option(0.0025, "Adam learning rate of G and D")
    beta1: float = option(0.0, "Adam beta1")
    beta2: float = option(0.99, "Adam beta2")
    r1_gamma: float = option(0.1, "R1 penalty gamma on real images")
    r1_every: int = option(16, "lazy R1: applied every this many steps, scaled by it")
    pl_weight: float = option(0.0, "path-length regularization weight (StyleGAN2: 2; 0 = off)")
    pl_every: int = option(4, "lazy path-length regularization interval")
    pl_decay: float = option(0.01, "decay of the path-length running mean")
    style_mixing: float = option(0.9, "probability of mixing two latents in a training batch")
    augment: str = option("ada", "augmentation of D's inputs", choices=AUGMENTS)
    diffaugment: str = option(
        "color,translation", "the DiffAugment policy when --augment diffaugment"
    )
    ada_target: float = option(0.6, "ADA's target for the sign of D(real)")
    ada_interval: int = option(4, "steps between ADA's adjustments of p")
    ada_kimg: float = option(20.0, "thousands of images for ADA's p to go from 0 to 1")
    ema_rampup: float = option(
        0.05, "EMA half-life at most this fraction of the steps done so far (0 = off)"
    )
    input: str = option(
        "const", "synthesis input: a learned 4x4 constant, or Fourier features that w0 shifts "
        "(StyleGAN3-style, translation-equivariant)", choices=("const", "fourier"),
    )  # fmt: skip
    input_bandwidth: float = option(1.0, "--input fourier: highest frequency, cycles per image")
    input_margin: int = option(4, "--input fourier: px computed beyond each edge (cropped)")
    noise: bool = option(True, "per-pixel noise in every layer (fixed noise breaks equivariance)")
    condition: str = option("none", "what the images are conditioned on", choices=CONDITIONS)
    text_encoder: str = option("minilm", "text encoder: minilm or a local Hugging Face folder")

    def __post_init__(self) -> None:
        check_choices(self)
        parse_policy(self.diffaugment)
        if self.mapping_layers < 1 or self.r1_every < 1 or self.pl_every < 1:
            raise HuashiError("--mapping-layers, --r1-every and --pl-every must be >= 1.")
        if not 0 <= self.style_mixing <= 1 or not 0 < self.ada_target < 1:
            raise HuashiError("--style-mixing must be in [0, 1] and --ada-target in (0, 1).")
        if self.input_bandwidth <= 0 or self.input_margin < 0:
            raise HuashiError("--input-bandwidth must be > 0 and --input-margin >= 0.")


@dataclass(frozen=True)
class StyleGANSampling:
    """The options ``generate`` takes."""

    truncation: float = 1.0  # psi: w_avg + psi (w - w_avg)
    label: Any = None  # class models: a number or name, or one per image
    prompt: Any = None  # text models: a caption, or one per image
    noise_mode: str = "const"  # const | random | none


class StyleGAN(Family):
    """StyleGAN2 with ADA: mapping network, modulated convs, truncation and style mixing."""

    name = "stylegan"
    noise_inputs = True
    style_latents = True
    config_class = StyleGANConfig
    ema_targets = ("generator",)
    sampling_options_class = StyleGANSampling

    def __init__(self, config: StyleGANConfig, data: DataInfo, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.check_data(data, config)
        self.text_encoder = None
        text_dim = 0
        if config.condition == "text":
            from huashi.text import load_text_encoder

            self.text_encoder = load_text_encoder(config.text_encoder, device)
            text_dim = self.text_encoder.dim
        mapping = MappingNetwork(
            config.z_dim, config.w_dim, config.mapping_layers, config.mapping_lr_mul,
            config.condition, data.num_classes, text_dim,
        )  # fmt: skip
        synthesis = SynthesisNetwork(
            config.w_dim, data.resolution, data.channels, config.channel_base, config.channel_max,
            config.input, config.input_margin, config.input_bandwidth, config.noise,
        )  # fmt: skip
        G = Generator(mapping, synthesis)
        D = Discriminator(
            data.resolution, data.channels, config.channel_base, config.channel_max,
            config.condition, data.num_classes, text_dim,
        )  # fmt: skip
        self.modules = {"generator": G.to(device), "discriminator": D.to(device)}
        # Lazy regularization: the optimizer settings are adjusted as in StyleGAN2.
        self.optimizers = {
            "generator": self._adam(G, config.pl_every if config.pl_weight > 0 else 0),
            "discriminator": self._adam(D, config.r1_every if config.r1_gamma > 0 else 0),
        }
        self.policy = parse_policy(config.diffaugment) if config.augment == "diffaugment" else ()
        self.ada = (
            AdaptiveAugment(config.ada_target, config.ada_interval, config.ada_kimg)
            if config.augment == "ada"
            else None
        )
        if self.ada is not None:  # its p and running sums are saved with the modules
            self.modules["ada"] = self.ada.to(device)
        self.pl_mean = torch.zeros((), device=device)
        self.steps_done = 0

    def _adam(self, module: torch.nn.Module, every: int) -> torch.optim.Optimizer:
        c = every / (every + 1) if every else 1.0
        betas = (self.config.beta1**c, self.config.beta2**c)
        return adam(module.parameters(), lr=self.config.lr * c, betas=betas)

    @property
    def condition(self) -> str:
        return self.config.condition

    @classmethod
    def check_data(cls, data: DataInfo, config: StyleGANConfig) -> None:
        r = data.resolution
        require_power_of_two(r, 8, "the stylegan family")
        check_condition_data(config.condition, data)

    # --- training ------------------------------------------------------------------------------

    def _condition(self, chunk: dict[str, Any]) -> torch.Tensor | None:
        if self.config.condition == "class":
            return chunk["label"].to(self.device)
        if self.config.condition == "text":
            return self.text_encoder.encode(chunk["caption"]).pooled.to(self.device)
        return None

    def _augment(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if self.ada is not None:
            return self.ada(images, g)
        if self.policy:
            return diff_augment(images, self.policy, g)
        return images

    def _training_ws(
        self, n: int, cond: torch.Tensor | None, g: torch.Generator, track: bool
    ) -> torch.Tensor:
        """ws [n, num_ws, w_dim] for fresh z; with probability ``style_mixing`` an image takes a
        second w from a random layer (1 .. num_ws - 1) on."""
        G = self.modules["generator"]
        num_ws = G.num_ws

        def z() -> torch.Tensor:
            return torch.randn(n, self.config.z_dim, generator=g, device=g.device).to(self.device)

        ws = G.mapping(z(), cond, update_w_avg=track).unsqueeze(1).repeat(1, num_ws, 1)
        if self.config.style_mixing > 0:
            other = G.mapping(z(), cond).unsqueeze(1)
            mix = torch.rand(n, generator=g, device=g.device) < self.config.style_mixing
            cutoff = torch.randint(1, num_ws, (n,), generator=g, device=g.device)
            layer = torch.arange(num_ws, device=g.device).view(1, num_ws)
            take = (mix.view(n, 1) & (layer >= cutoff.view(n, 1))).to(self.device)
            ws = torch.where(take.unsqueeze(2), other, ws)
        return ws

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        if self.device.type == "cpu" and ctx.precision != "fp32":
            # bf16 autocast made a StyleGAN step ~10x slower on the project's CPU (57 s vs 5 s
            # at 32 px, batch 16): on a CPU this family trains in fp32 whatever --precision says.
            ctx = dataclasses.replace(ctx, precision="fp32")
        config, g = self.config, ctx.generator
        G, D = self.modules["generator"], self.modules["discriminator"]
        self.steps_done = ctx.step + 1
        if self.text_encoder is not None:
            self.remember_captions(batch.get("caption", []))
        r1_now = config.r1_gamma > 0 and ctx.step % config.r1_every == 0
        pl_now = config.pl_weight > 0 and ctx.step % config.pl_every == 0

        def d_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            real, cond = chunk["image"], self._condition(chunk)
            with torch.no_grad():
                fake = G.synthesis(self._training_ws(len(real), cond, g, False), "random", g)
            real_in = real.detach().requires_grad_(r1_now)
            real_logits = D(self._augment(real_in, g), cond).float()
            fake_logits = D(self._augment(fake, g), cond).float()
            loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
            logged = {
                "d_loss": loss.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(),
                "d_fake": torch.sigmoid(fake_logits).mean().item(),
            }
            if r1_now:
                r1 = r1_penalty(real_logits, real_in, ctx.loss_scale())
                loss = loss + 0.5 * config.r1_gamma * config.r1_every * r1
                logged["r1"] = r1.item()
            if self.ada is not None:
                self.ada.observe(real_logits)
            return loss, logged

        def g_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            n, cond = len(chunk["image"]), self._condition(chunk)
            fake = G.synthesis(self._training_ws(n, cond, g, True), "random", g)
            loss = F.softplus(-D(self._augment(fake, g), cond).float()).mean()
            logged = {"g_loss": loss.item()}
            if pl_now:
                pl = self._path_length(max(1, n // 2), None if cond is None else cond[: n // 2], g)
                loss = loss + config.pl_weight * config.pl_every * pl
                logged["pl"] = pl.item()
            return loss, logged

        logged = ctx.update(self.optimizers["discriminator"], batch, d_loss)
        if self.ada is not None:
            self.ada.step(len(batch["image"]))
            logged["ada_p"] = self.ada.p
        logged |= ctx.update(self.optimizers["generator"], batch, g_loss, frozen=[D])
        return logged

    def _path_length(self, n: int, cond: torch.Tensor | None, g: torch.Generator) -> torch.Tensor:
        """(|J_w^T y| - a)^2 with y random image-space noise and a the running mean length."""
        G = self.modules["generator"]
        ws = self._training_ws(n, cond, g, False)
        images = G.synthesis(ws, "random", g)
        y = torch.randn(images.shape, generator=g, device=g.device).to(images.device)
        y = y / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images.float() * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()
        with torch.no_grad():
            self.pl_mean.lerp_(lengths.mean().detach(), self.config.pl_decay)
        return (lengths - self.pl_mean).square().mean()

    def update_ema(self, step: int | None = None) -> None:
        """The trainer's EMA, with StyleGAN's own ramp-up (``--ema-rampup``) when asked
        instead of the generic warm-up."""
        for name, ema in self.ema.items():
            decay = ema.decay
            if self.config.ema_rampup > 0 and self.steps_done > 0:
                ema.decay = min(decay, 0.5 ** (1.0 / (self.config.ema_rampup * self.steps_done)))
                step = None
            ema.update(self.modules[name], step)
            ema.decay = decay

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, meta = super().state_tensors()
        tensors["stylegan/pl_mean"] = self.pl_mean.detach().clone()
        return tensors, meta

    def load_state_tensors(
        self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], weights_only: bool = False
    ) -> None:
        super().load_state_tensors(tensors, meta, weights_only)
        if "stylegan/pl_mean" in tensors:
            self.pl_mean = tensors["stylegan/pl_mean"].to(self.device).clone()

    # --- sampling and the latent contract -------------------------------------------------------

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.z_dim,)

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def num_ws(self) -> int:
        return self.modules["generator"].num_ws

    @property
    def w_avg(self) -> torch.Tensor:
        return self.sampling_module("generator").mapping.w_avg.detach().clone()

    def _sampling_condition(
        self, n: int, label: Any = None, prompt: str | None = None
    ) -> torch.Tensor | None:
        """The condition of ``n`` images: ``label`` (a class number or name, or a list of one per
        image; default: image i gets class i mod classes) or ``prompt``."""
        kind = self.config.condition
        if kind == "none":
            if prompt is not None or label is not None:
                raise HuashiError(
                    "this model is unconditional: it takes no --prompt or --label (train with "
                    "--condition class or text for that)."
                )
            return None
        if kind == "class":
            if prompt is not None:
                raise HuashiError("this model is conditioned on class labels: use --label.")
            if label is None:
                labels = [i % self.data.num_classes for i in range(n)]
            elif isinstance(label, (list, tuple)):
                if len(label) != n:
                    raise HuashiError(f"got {len(label)} values for label but {n} images.")
                labels = [self.label_index(x) for x in label]
            else:
                labels = [self.label_index(label)] * n
            return torch.tensor(labels, dtype=torch.long, device=self.device)
        if label is not None:
            raise HuashiError("this model is conditioned on text: use --prompt, not --label.")
        prompts = list(prompt) if isinstance(prompt, (list, tuple)) else [prompt] * n
        if len(prompts) != n or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise HuashiError(
                f'this model is conditioned on text: pass --prompt "a red heart" (one, or {n}).'
            )
        return self.text_encoder.encode(prompts).pooled.to(self.device)

    def label_index(self, label: int | str) -> int:
        names = list(self.data.class_names)
        if isinstance(label, str) and not label.lstrip("-").isdigit():
            if label not in names:
                raise HuashiError(
                    f"unknown class {label!r}: choose one of {', '.join(names)} "
                    f"(or a number 0-{len(names) - 1})."
                )
            return names.index(label)
        index = int(label)
        if not 0 <= index < self.data.num_classes:
            raise HuashiError(
                f"--label {index} is out of range: this model knows {self.data.num_classes} "
                f"classes, 0-{self.data.num_classes - 1}."
            )
        return index

    def map_latents(
        self,
        z: torch.Tensor,
        truncation: float = 1.0,
        label: Any = None,
        prompt: str | None = None,
    ) -> torch.Tensor:
        """w [B, w_dim] for z [B, z_dim], truncated towards the average w by ``truncation``."""
        cond = self._sampling_condition(len(z), label, prompt)
        mapping = self.sampling_module("generator").mapping
        return mapping(z.to(self.device), cond, float(truncation))

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w [B, w_dim] -> ws [B, num_ws, w_dim] (the same w for every layer)."""
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def const_noise(self) -> list[torch.Tensor]:
        """Copies of the stored noise maps ([1, 1, r, r], one per synthesis conv) that
        ``noise_mode="const"`` uses: where a noise optimization starts."""
        convs = self.sampling_module("generator").synthesis.convs
        return [c.noise.const_noise.detach().clone() for c in convs]

    def synthesize(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        return_features: bool = False,
        noise: list[torch.Tensor] | None = None,
    ) -> Any:
        """Images from ws [B, num_ws, w_dim] (and the feature maps by resolution), not clipped:
        a trained model paints in about [-1, 1]; inversion and dragging want the raw values.
        ``noise`` (maps shaped like :meth:`const_noise`'s, batch 1 or B) replaces the noise
        mode's."""
        if noise_mode not in NOISE_MODES:
            raise HuashiError(
                f"unknown noise mode {noise_mode!r}: choose {', '.join(NOISE_MODES)}."
            )
        if ws.dim() != 3 or tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise HuashiError(
                f"ws must have shape [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}."
            )
        synthesis = self.sampling_module("generator").synthesis
        if noise is not None:
            shapes = [tuple(n.shape[1:]) for n in self.const_noise()]
            if len(noise) != len(shapes) or [tuple(n.shape[1:]) for n in noise] != shapes:
                raise HuashiError(
                    f"noise must be {len(shapes)} maps shaped like the model's (1, r, r), got "
                    f"{[tuple(n.shape) for n in noise]}."
                )
            noise = [n.to(self.device) for n in noise]
        out = synthesis(
            ws.to(self.device), noise_mode, return_features=return_features, noise=noise
        )
        if return_features:
            return out[0].float(), out[1]
        return out.float()

    def generate_from_latents(
        self,
        latents: torch.Tensor,
        truncation: float = 1.0,
        label: Any = None,
        prompt: str | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """Images in [-1, 1] (clipped) from z [B, z_dim]; gradients flow back to z."""
        if not isinstance(latents, torch.Tensor) or tuple(latents.shape[1:]) != self.latent_shape:
            got = list(latents.shape) if isinstance(latents, torch.Tensor) else type(latents)
            raise HuashiError(
                f"a stylegan model takes latents of shape [B, {self.config.z_dim}], got {got}."
            )
        w = self.map_latents(latents.float(), truncation, label, prompt)
        return self.synthesize(self.broadcast(w), noise_mode).clamp(-1, 1)

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """One image per seed; options: truncation, label (default: seed mod classes), prompt,
        noise_mode."""
        unknown = sorted(set(options) - {"truncation", "label", "prompt", "noise_mode"})
        if unknown:
            raise HuashiError(
                f"unknown sampling option(s) {', '.join(unknown)}: the stylegan family takes "
                "truncation, label, prompt and noise_mode."
            )
        if self.config.condition == "class" and options.get("label") is None:
            options["label"] = [int(s) % self.data.num_classes for s in seeds]
        return self.generate_from_latents(self.latents_for_seeds(seeds), **options)

    @torch.no_grad()
    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Progress grids cycle through the class labels, or through captions seen in training."""
        if self.config.condition != "text":
            return self.generate(seeds)
        captions = self.preview_captions or [""]
        z = self.latents_for_seeds(seeds)
        cond = self.text_encoder.encode(
            [captions[i % len(captions)] for i in range(len(seeds))]
        ).pooled.to(self.device)
        G = self.sampling_module("generator")
        return G.synthesis(self.broadcast(G.mapping(z, cond)), "const").float().clamp(-1, 1)

    def discriminator_features(self) -> Callable[[torch.Tensor], list[torch.Tensor]]:
        return self.modules["discriminator"].features

    def onnx_graph(self, batch: int = 2) -> OnnxGraph:
        """``z`` [B, z_dim] and ``truncation`` (float [1], 1 = none) -> ``image``, with the
        constant noise inputs."""
        inputs = {"z": torch.randn(batch, *self.latent_shape), "truncation": torch.tensor([0.7])}
        return OnnxGraph(MappedGeneratorGraph(self), inputs, ("z",))
