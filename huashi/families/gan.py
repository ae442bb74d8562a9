"""The general GAN family: every loss and regularizer of losses/gan.py, the seed's stability kit,
DiffAugment and EMA for small data, and class- or text-conditional GANs.

One training step is ``d_steps`` discriminator updates then one generator update:

- D sees real and fake images (as separate all-real / all-fake batches, or one mixed batch),
  both passed through DiffAugment and instance noise when those are on. BCE and LSGAN targets
  may be smoothed (real in ``real_label_range``, fake in ``fake_label_range``) and flipped.
  A text-conditional D is matching-aware: (real, right caption) is real, (fake, right caption)
  and (real, wrong caption) are fake (:func:`huashi.losses.gan.matching_aware_batch`).
- Regularizers: a gradient penalty on interpolates (``wgan-gp``, or any loss with
  ``gp_weight``), lazy R1 on reals, WGAN weight clipping, spectral norm on D.
- G minimizes the loss's G side on fresh fakes through the same augmentations.
- ``--projected RUN``: D is trainable heads on the frozen features of a classifier or clip run
  (:mod:`huashi.models.gan.projected`); that network gets no gradient and no optimizer state.

Logged per step: d_loss, g_loss, d_real/d_fake (mean D(x), D(G(z)) as probabilities, for the
BCE losses) or real_score/fake_score (mean raw outputs), d_grad_norm and g_grad_norm, the
penalties, and ``diversity`` / ``data_diversity`` (mean pairwise distance of the fake and real
batch), which the training doctor reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from huashi.augment.ada import AdaptiveAugment
from huashi.augment.diffaugment import diff_augment, parse_policy
from huashi.core.config_fields import check_choices, option
from huashi.core.errors import HuashiError
from huashi.families.base import DataInfo, Family, calibration_latents, require_power_of_two
from huashi.families.conditioning import (
    check_condition_data,
    preview_options,
    prompt_needed,
    resolve_condition,
)
from huashi.families.gan_networks import (
    build_networks,
    check_projected,
    projected_encoder,
    trainable,
)
from huashi.families.onnx import GeneratorGraph, OnnxGraph
from huashi.losses.gan import (
    LOSSES,
    clip_weights,
    gradient_penalty,
    label_targets,
    matching_aware_batch,
    mean_scores,
    r1_due,
    r1_penalty,
    reconstruction_loss,
    top_fraction,
)
from huashi.models.gan.layers import CONDITIONS, NORMS, UPSAMPLES, Condition
from huashi.training.device import adam
from huashi.training.doctor import DoctorCallback, grad_norm, mean_pairwise_distance
from huashi.training.step import StepContext, frozen_modules

ARCHS = ("dcgan", "resnet", "fastgan")
D_OPTIMIZERS = ("adam", "sgd")
D_BATCHES = ("separate", "mixed")


@dataclass(frozen=True)
class GANSampling:
    """What ``generate`` takes: a prompt (text models) or a label (class models): one value
    for every seed or one per seed; a label is a class number or name."""

    prompt: str | Sequence[str] | None = None
    label: int | str | Sequence[int | str] | None = None


@dataclass
class GANConfig:
    arch: str = option(
        "dcgan", "architecture: DCGAN, SNGAN-style ResNet or a light FastGAN", choices=ARCHS
    )
    loss: str = option("nsgan", "adversarial loss", choices=tuple(LOSSES))
    z_dim: int = option(100, "length of the noise vector z")
    g_width: int = option(64, "channels of the generator's last hidden layer (ngf)")
    d_width: int = option(64, "channels of the discriminator's first layer (ndf)")
    lr_g: float = option(2e-4, "generator learning rate")
    lr_d: float = option(2e-4, "discriminator learning rate")
    beta1: float = option(0.5, "Adam beta1 (both networks)")
    beta2: float = option(0.999, "Adam beta2 (both networks)")
    d_optimizer: str = option(
        "adam",
        "discriminator optimizer (sgd: the seed's 'Adam for G, SGD for D')",
        choices=D_OPTIMIZERS,
    )
    d_steps: int = option(1, "D updates per G update (on the same real batch, fresh fakes)")
    # regularizers
    gp_weight: float | None = option(
        None, "WGAN-GP gradient penalty weight (unset: 10 for wgan-gp, else 0)"
    )
    r1_weight: float = option(
        0.0, "R1 penalty gamma: gamma/2 * E||grad D(x)||^2 on real images (0 = off)"
    )
    r1_every: int = option(16, "lazy R1: applied every this many D steps, scaled by it")
    clip: float = option(0.01, "WGAN weight clipping limit (loss wgan only)")
    spectral_norm: bool = option(False, "spectral normalization on every discriminator layer")
    # stability kit
    norm: str = option("batch", "generator normalization", choices=NORMS)
    d_norm: str = option(
        "auto",
        "discriminator normalization (auto: batch for dcgan, none for resnet)",
        choices=("auto", *NORMS),
    )
    upsample: str = option("convtranspose", "generator upsampling", choices=UPSAMPLES)
    label_smoothing: bool = option(
        False, "draw D's targets from the real/fake label ranges (bce, nsgan, lsgan)"
    )
    real_label_range: tuple[float, float] = option(
        (0.7, 1.2), "range of smoothed targets for real images, as JSON [low, high]"
    )
    fake_label_range: tuple[float, float] = option(
        (0.0, 0.3), "range of smoothed targets for fake images, as JSON [low, high]"
    )
    label_flip: float = option(
        0.0, "probability of swapping a sample's real/fake target in D's loss"
    )
    instance_noise: float = option(
        0.0, "std of Gaussian noise on D's inputs at step 0, annealed to 0"
    )
    instance_noise_steps: int = option(2000, "step at which the instance noise reaches 0")
    dropout: float = option(0.0, "dropout in the generator, on at training and sampling time")
    d_batches: str = option(
        "separate",
        "D sees separate all-real and all-fake batches, or mixed ones",
        choices=D_BATCHES,
    )
    # small data
    diffaugment: str = option(
        "", "DiffAugment policy for small data, e.g. color,translation,cutout"
    )
    ada_target: float = option(
        0.0, "adaptive augmentation toward this sign(D(real)) target, e.g. 0.6 (0 = off)"
    )
    recon_weight: float = option(1.0, "fastgan: weight of D's redrawing loss on real images")
    top_k: float = option(
        1.0, "G learns only from this fraction of its fakes, those D rates most real (Sinha 2020)"
    )
    # conditional
    condition: str = option("none", "what the images are conditioned on", choices=CONDITIONS)
    cond_dim: int = option(128, "width of the label or text embedding")
    text_encoder: str = option("minilm", "text encoder: minilm or a local Hugging Face folder")
    # projected discriminator
    projected: str = option(
        "",
        "folder (or zoo:NAME) of a classifier or clip run: D's trainable heads read its frozen "
        "features at three scales (Projected GAN; not a reference network used for scoring)",
    )
    projected_scales: int = option(
        3, "how many of the feature network's map sizes, smallest first, the projected D reads"
    )

    def __post_init__(self) -> None:
        check_choices(self)
        parse_policy(self.diffaugment)
        if (self.label_smoothing or self.label_flip > 0) and not LOSSES[self.loss][2]:
            raise HuashiError(
                f"label smoothing and flipping need labels, which the {self.loss} loss does "
                "not use: choose --loss bce, nsgan or lsgan, or drop those options."
            )
        if not 0 <= self.label_flip < 0.5 or not 0 <= self.dropout < 1:
            raise HuashiError("--label-flip must be in [0, 0.5) and --dropout in [0, 1).")
        if not 0 < self.top_k <= 1:
            raise HuashiError("--top-k is a fraction of the batch: give a number in (0, 1].")
        if self.arch == "fastgan" and self.condition != "none":
            raise HuashiError("the fastgan arch is unconditional: use --arch dcgan or resnet.")
        check_projected(self)
        if self.d_steps < 1 or self.r1_every < 1 or self.instance_noise < 0:
            raise HuashiError("--d-steps and --r1-every must be >= 1, --instance-noise >= 0.")
        penalties = self.penalty_weight > 0 or self.r1_weight > 0
        if penalties and self.d_norm == "batch":
            raise HuashiError(
                "gradient penalties need each D output to depend on its own image only, which "
                "BatchNorm breaks: use --d-norm instance or none (or auto)."
            )

    @property
    def penalty_weight(self) -> float:
        if self.gp_weight is not None:
            return float(self.gp_weight)
        return 10.0 if self.loss == "wgan-gp" else 0.0

    @property
    def discriminator_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        if self.arch == "resnet":
            return "none"
        return "instance" if self.penalty_weight > 0 or self.r1_weight > 0 else "batch"


class GAN(Family):
    """GANs with any loss, regularizer, stability switch, DiffAugment and conditioning."""

    name = "gan"
    config_class = GANConfig
    sampling_options_class = GANSampling
    ema_targets = ("generator",)

    def __init__(
        self,
        config: GANConfig,
        data: DataInfo,
        device: torch.device,
        features: Family | None = None,
    ) -> None:
        """``features``: the classifier or clip run of ``--projected`` (see :meth:`required_runs`)."""
        super().__init__(config, data, device)
        self.check_data(data, config)
        self.policy = parse_policy(config.diffaugment)
        self.ada = AdaptiveAugment(config.ada_target) if config.ada_target > 0 else None
        self.d_loss_fn, self.g_loss_fn, self.uses_labels = LOSSES[config.loss]
        self.text_encoder = None
        text_dim = 0
        if config.condition == "text":
            from huashi.text import load_text_encoder

            self.text_encoder = load_text_encoder(config.text_encoder, device)
            text_dim = self.text_encoder.dim
        condition = Condition(config.condition, data.num_classes, text_dim, config.cond_dim)
        encoder = projected_encoder(config.projected, features, data)
        G, D = build_networks(config, data.channels, data.resolution, condition, encoder)
        self.modules = {"generator": G.to(device), "discriminator": D.to(device)}
        if self.ada is not None:  # a module, so its p is checkpointed with the weights
            self.modules["ada"] = self.ada.to(device)
        betas = (config.beta1, config.beta2)
        self.optimizers = {
            "generator": adam(G.parameters(), lr=config.lr_g, betas=betas),
            "discriminator": (
                adam(trainable(D), lr=config.lr_d, betas=betas)
                if config.d_optimizer == "adam"
                else torch.optim.SGD(trainable(D), lr=config.lr_d)
            ),
        }

    @classmethod
    def required_runs(cls, config: GANConfig) -> dict[str, str]:
        """A projected discriminator is built on its feature network's run."""
        return {"features": config.projected} if config.projected else {}

    @property
    def condition(self) -> str:
        return self.config.condition

    def training_callbacks(self) -> list:
        """The training doctor watches every run and prints failure signs as they appear."""
        return [DoctorCallback()]

    @classmethod
    def check_data(cls, data: DataInfo, config: GANConfig) -> None:
        r = data.resolution
        require_power_of_two(r, 16, "the gan family")
        check_condition_data(config.condition, data)

    # --- the pieces of a step ---------------------------------------------------------------

    def _noise(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.config.z_dim, generator=g, device=g.device).to(self.device)

    def _condition(self, chunk: dict[str, Any]) -> torch.Tensor | None:
        if self.config.condition == "class":
            return chunk["label"].to(self.device)
        if self.config.condition == "text":
            return self.text_encoder.encode(chunk["caption"]).pooled.to(self.device)
        return None

    def _d_input(self, images: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """What D sees: DiffAugment, then annealed instance noise."""
        if self.policy:
            images = diff_augment(images, self.policy, ctx.generator)
        if self.ada is not None:
            images = self.ada(images, ctx.generator)
        std = self.config.instance_noise * max(
            0.0, 1.0 - ctx.step / max(1, self.config.instance_noise_steps)
        )
        if std > 0:
            noise = torch.randn(images.shape, generator=ctx.generator, device=ctx.generator.device)
            images = images + std * noise.to(images.device, images.dtype)
        return images

    def _d_loss(self, real_logits, fake_logits, ctx) -> torch.Tensor:
        if not self.uses_labels:
            return self.d_loss_fn(real_logits, fake_logits)
        real_t, fake_t = label_targets(
            self.config, len(real_logits), len(fake_logits), ctx.generator, self.device
        )
        return self.d_loss_fn(real_logits, fake_logits, real_t, fake_t)

    # --- one training step --------------------------------------------------------------------

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        config = self.config
        G, D = self.modules["generator"], self.modules["discriminator"]
        opt_g, opt_d = self.optimizers["generator"], self.optimizers["discriminator"]
        if self.text_encoder is not None:
            self.remember_captions(batch.get("caption", []))

        def d_loss(chunk: dict[str, Any], r1_now: bool) -> tuple[torch.Tensor, dict]:
            real, cond = chunk["image"], self._condition(chunk)
            n = len(real)
            with torch.no_grad():
                fake = G(self._noise(n, ctx.generator), cond)
            if config.condition == "text":
                images, index, _ = matching_aware_batch(real, fake, chunk["caption"], ctx.generator)
                d_cond = cond[index]  # rows: n real, then fakes and real-with-wrong-caption
            else:
                images, d_cond = (
                    torch.cat([real, fake]),
                    None if cond is None else torch.cat([cond, cond]),
                )
            seen = self._d_input(images, ctx)
            if r1_now:
                real_in = seen[:n].detach().requires_grad_(True)
                seen = torch.cat([real_in, seen[n:]])
            redraw = None
            if config.d_batches == "mixed":
                logits = D(seen, d_cond).float()
                real_logits, fake_logits = logits[:n], logits[n:]
            elif config.arch == "fastgan":  # D also redraws the real images it saw
                real_logits, redrawn = D.reconstruct(seen[:n])
                real_logits, fake_logits = real_logits.float(), D(seen[n:]).float()
                redraw = reconstruction_loss(redrawn, F.avg_pool2d(seen[:n], 2))
            else:  # one batch per kind, so a BatchNorm D sees in G's step the batch it judged here
                kinds = [(0, n), (n, 2 * n), (2 * n, len(seen))]
                real_logits, *fake_parts = [
                    D(seen[a:b], None if d_cond is None else d_cond[a:b]).float()
                    for a, b in kinds
                    if b > a
                ]
                fake_logits = torch.cat(fake_parts)
            loss = self._d_loss(real_logits, fake_logits, ctx)
            if self.ada is not None:
                self.ada.observe(real_logits)
            logged = {"d_loss": loss.item(), **mean_scores(config.loss, real_logits, fake_logits)}
            if redraw is not None:
                loss, logged["redraw"] = loss + config.recon_weight * redraw, redraw.item()
            if config.penalty_weight > 0:
                right = None if d_cond is None else d_cond[:n]
                alpha = torch.rand(n, generator=ctx.generator, device=ctx.generator.device)
                gp = gradient_penalty(
                    lambda x: D(x, right).float(),
                    seen[:n],
                    seen[n : 2 * n],
                    alpha.to(real.device),
                    ctx.loss_scale(),
                )
                loss = loss + config.penalty_weight * gp
                logged["gp"] = gp.item()
            if r1_now:
                r1 = r1_penalty(real_logits, real_in, ctx.loss_scale())
                loss = loss + 0.5 * config.r1_weight * config.r1_every * r1
                logged["r1"] = r1.item()
            logged["diversity"] = mean_pairwise_distance(fake)
            logged["data_diversity"] = mean_pairwise_distance(real)
            return loss, logged

        def g_loss(chunk: dict[str, Any]) -> tuple[torch.Tensor, dict]:
            cond = self._condition(chunk)
            fake = G(self._noise(len(chunk["image"]), ctx.generator), cond)
            logits = D(self._d_input(fake, ctx), cond).float()
            loss = self.g_loss_fn(top_fraction(logits, config.top_k))
            return loss, {"g_loss": loss.item()}

        logged: dict[str, float] = {}
        for d_round in range(config.d_steps):
            r1_now = config.r1_weight > 0 and r1_due(
                ctx.step * config.d_steps + d_round, config.r1_every
            )
            opt_d.zero_grad(set_to_none=True)
            logged = ctx.backward(batch, lambda chunk, r1_now=r1_now: d_loss(chunk, r1_now))
            ctx.unscale(opt_d)
            logged["d_grad_norm"] = grad_norm(D)
            ctx.step_optimizer(opt_d)
            if config.loss == "wgan":
                clip_weights(D, config.clip)
        if self.ada is not None:
            self.ada.step(len(batch["image"]))
            logged["ada_p"] = self.ada.p
        opt_g.zero_grad(set_to_none=True)
        with frozen_modules(D):  # G's step needs no D gradients
            logged |= ctx.backward(batch, g_loss)
        ctx.unscale(opt_g)
        logged["g_grad_norm"] = grad_norm(G)
        ctx.step_optimizer(opt_g)
        return logged

    # --- sampling -----------------------------------------------------------------------------

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.z_dim,)

    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """One image per seed (options: :class:`GANSampling`). A class model without a label
        paints class ``seed % classes``; a text model needs a prompt."""
        opts = self.parse_sampling_options(**options)
        checked = resolve_condition(self.condition, self.data, len(seeds), opts.prompt, opts.label)
        label, prompt = checked.labels, checked.prompts
        if self.condition == "class" and label is None:
            label = [int(s) % self.data.num_classes for s in seeds]
        if self.condition == "text" and not (prompt and all(p.strip() for p in prompt)):
            raise prompt_needed(self.preview_captions)
        with torch.no_grad():
            return self.generate_from_latents(
                self.latents_for_seeds(seeds), dropout_seeds=seeds, prompt=prompt, label=label
            )

    def generate_from_latents(
        self, latents: torch.Tensor, *, dropout_seeds: Sequence[int] | None = None, **options: Any
    ) -> torch.Tensor:
        """Images from z [B, z_dim] (options: :class:`GANSampling`; a class model needs a label,
        a text model a prompt). A generator trained with ``dropout`` keeps it on: image i's masks
        come from ``dropout_seeds[i]`` (default 0 for all, so the images are a fixed function
        of the latents)."""
        opts = self.parse_sampling_options(**options)
        z = self.check_latents(latents)
        cond = self._sampling_condition(len(z), opts)
        G = self.sampling_module("generator")
        with self.sampling_mode(G):  # BatchNorm running statistics: no batch-mate dependence
            if self.config.dropout == 0:
                return G(z, cond).float()
            seeds = [0] * len(z) if dropout_seeds is None else list(dropout_seeds)
            images = []
            for i, seed in enumerate(seeds):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(seed) + 1)
                    images.append(G(z[i : i + 1], None if cond is None else cond[i : i + 1]))
            return torch.cat(images).float()

    def ema_calibration_batches(self, name: str) -> list[tuple]:
        batches = []
        for z in calibration_latents(self.latents_for_seeds):
            options = preview_options(self.condition, len(z), self.data, self.preview_captions)
            batches.append((z, self._sampling_condition(len(z), GANSampling(**options))))
        return batches

    def _sampling_condition(self, n: int, opts: GANSampling) -> torch.Tensor | None:
        checked = resolve_condition(self.condition, self.data, n, opts.prompt, opts.label)
        if self.condition == "class":
            if checked.labels is None:
                raise HuashiError(
                    "this model is conditioned on class labels: give a label (a class number or "
                    "name, or one per image)."
                )
            return torch.tensor(checked.labels, dtype=torch.long, device=self.device)
        if self.condition == "text":
            if checked.prompts is None:
                raise prompt_needed(self.preview_captions)
            return self.text_encoder.encode(checked.prompts).pooled.to(self.device)
        return None

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """Progress grids cycle through the classes or the captions seen in training (the
        empty caption before any)."""
        if self.condition == "text" and not self.preview_captions:
            with torch.no_grad():
                return self.generate_from_latents(
                    self.latents_for_seeds(seeds), dropout_seeds=seeds, prompt=[""] * len(seeds)
                )
        return super().preview(seeds)

    def onnx_graph(self, batch: int = 2) -> OnnxGraph:
        """``z`` plus a ``label`` (int64 [B]) or a ``text_embedding`` [B, text_dim] (the frozen
        text encoder's pooled output; the encoder is not in the file) -> ``image``."""
        if self.config.dropout > 0:
            raise HuashiError(
                "this gan keeps dropout on while painting (--dropout > 0), and its seeded masks "
                "cannot be exported to ONNX yet: export a model trained without --dropout."
            )
        inputs = {"z": torch.randn(batch, self.config.z_dim)}
        if self.condition == "class":
            inputs["label"] = torch.arange(batch) % self.data.num_classes
        elif self.condition == "text":
            inputs["text_embedding"] = torch.randn(batch, self.text_encoder.dim)
        G = GeneratorGraph(self.sampling_module("generator"), self.condition != "none")
        return OnnxGraph(G, inputs, tuple(inputs))
