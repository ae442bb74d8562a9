"""The small interface every model family fills in; the trainer knows families only through it.

A family owns its modules and optimizers, does one training step on a batch, and generates
images from per-image seeds. Everything else (the loop, checkpoints, EMA, logs, sample grids,
resume) is the shared machinery in :mod:`huashi.training`, which drives a family through the
:class:`~huashi.training.step.Trainable` protocol that :class:`Family` fills in.

What shared code may ask a family, instead of testing its class, name, attributes or config:

- ``condition`` ("none", "class", "text" or "image"), ``conditions`` (all it takes),
  ``sampling_options_class`` (what ``generate`` takes; unknown options are refused) and
  ``sampling_defaults``; labels and prompts are checked by :mod:`~huashi.families.conditioning`;
- its abilities: ``paints_from_seeds``, ``paints_from_prompt``, ``translates``,
  ``repaints_images`` (img2img), ``upscales``, ``makes_images``, ``feature_kind`` (a feature
  network for metrics and DeepDream), ``discriminator_features``, and ``onnx_graph`` (what it
  exports to ONNX and how, or a one-line refusal);
- the latent contract: ``latent_shape``, ``latents_for_seeds``, ``generate_from_latents``; with
  ``style_latents`` also the mapping and synthesis (``map_latents``, ``broadcast``,
  ``synthesize``, ``w_avg``, ``num_ws``) and with ``noise_inputs`` the noise maps;
- ``required_runs``: trained runs the model is built on (a latent diffusion model's
  :class:`~huashi.families.autoencoder.LatentAutoencoder`), which
  :func:`huashi.runs.make_family` loads and passes in.

Generating never leaves module state changed (:meth:`Family.sampling_mode`); every family is
held to these promises by ``tests/families/test_family_contract.py``. Families may import the
building blocks, the training package and the zoo; never the run loader or anything above.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from huashi.core.errors import HuashiError
from huashi.core.validation import check_values
from huashi.families.conditioning import preview_options
from huashi.families.onnx import OnnxGraph
from huashi.training.checkpoint import (
    load_module_state,
    pack_optimizer,
    pack_state_dict,
    unpack_optimizer,
    unpack_state_dict,
)
from huashi.training.device import resolve_precision
from huashi.training.ema import EMA, has_batchnorm, recalibrate_batchnorm
from huashi.training.step import StepContext

#: What a family can condition its images on (see :attr:`Family.condition`).
CONDITIONS = ("none", "class", "text", "image")


@dataclass(frozen=True)
class DataInfo:
    """What a family may know about its training data."""

    channels: int
    resolution: int
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    has_captions: bool = False
    has_targets: bool = False
    target_channels: int = 0


@dataclass(frozen=True)
class NoSampling:
    """The sampling options of a family that takes none."""


class Family(ABC):
    """Base class of a model family (DCGAN, GAN, VAE, diffusion, ...)."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    #: Modules whose EMA copy is kept when the run asks for EMA, and used for sampling.
    ema_targets: ClassVar[tuple[str, ...]] = ()
    #: False for families that learn features rather than images (CLIP, classifiers): the
    #: trainer then writes no sample grids.
    makes_images: ClassVar[bool] = True
    #: True for image-to-image families trained on pairs (Pix2Pix): their runs translate
    #: images and are measured on held-out pairs at the end of training.
    paired_data: ClassVar[bool] = False
    #: Images per row of the progress grid (None: a square grid).
    preview_nrow: ClassVar[int | None] = None
    #: What the family's images are conditioned on: one of :data:`CONDITIONS`.
    condition_kind: ClassVar[str] = "none"
    #: True when ``generate`` takes ``sampler=`` and ``steps=`` (quality against speed) and
    #: reports each step through a ``progress(done, total, message)`` callback.
    sampling_steps: ClassVar[bool] = False
    #: True when ``generate`` takes a list of labels or prompts, one per seed; otherwise it takes
    #: one label or prompt per call.
    condition_per_seed: ClassVar[bool] = False
    #: The dataclass of the keyword options ``generate`` takes (see
    #: :meth:`parse_sampling_options`).
    sampling_options_class: ClassVar[type] = NoSampling
    #: True when the model paints a bigger image from a smaller one (the upsampler).
    upscales: ClassVar[bool] = False
    #: True when the latent z goes through a mapping network to per-layer styles w that a
    #: synthesis network paints from (StyleGAN): the w and w+ spaces, :meth:`map_latents`,
    #: :meth:`broadcast`, :meth:`synthesize`, :attr:`w_avg`, :attr:`num_ws`.
    style_latents: ClassVar[bool] = False
    #: True when the synthesis takes per-layer noise maps (:meth:`const_noise`).
    noise_inputs: ClassVar[bool] = False
    #: The kind of feature network the family learns ("classifier" or "clip"; None for the
    #: painters): what metrics and DeepDream may use it as (:meth:`feature_module`).
    feature_kind: ClassVar[str | None] = None

    def __init__(self, config: Any, data: DataInfo, device: torch.device) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema: dict[str, EMA] = {}
        self.ema_stale = False  # EMA weights moved since their BatchNorm statistics were fitted
        #: Captions seen in training (the first 64 distinct ones): text-conditioned families
        #: cycle through them in the progress grids; they travel with the checkpoint.
        self.preview_captions: list[str] = []

    @property
    def condition(self) -> str:
        """What this model's images are conditioned on: "none", "class", "text" or "image".
        Shared code asks this; it never reads config keys or family names."""
        return self.condition_kind

    # --- abilities: what shared code asks, instead of testing names, classes or attributes ---

    @property
    def conditions(self) -> frozenset[str]:
        """Every condition the model's images take (an upsampler trained with captions takes
        the image and a prompt); empty for an unconditional model."""
        return frozenset() if self.condition == "none" else frozenset({self.condition})

    @property
    def paints_from_seeds(self) -> bool:
        """True when ``generate(seeds)`` paints new images (no input image needed)."""
        return self.makes_images and self.condition != "image"

    @property
    def paints_from_prompt(self) -> bool:
        """True when the model paints what a text prompt says."""
        return "text" in self.conditions

    @property
    def translates(self) -> bool:
        """True when the model maps an input image to an output image of the same size."""
        return self.makes_images and self.condition == "image" and not self.upscales

    @property
    def repaints_images(self) -> bool:
        """True when ``generate`` can start from an existing image (``init``, img2img)."""
        return "init" in self.sampling_option_names()

    def feature_module(self) -> nn.Module:
        """The network of a feature family (see :attr:`feature_kind`)."""
        if self.feature_kind is None:
            raise HuashiError(f"a {self.name} model is not a feature network.")
        return self.modules[self.feature_kind]

    def discriminator_features(self) -> Callable[[torch.Tensor], list[torch.Tensor]] | None:
        """The discriminator's feature maps by depth, for perceptual distances (inversion);
        None when the family's discriminator gives none."""
        return None

    def onnx_graph(self, batch: int = 2) -> OnnxGraph:
        """The module and ``batch`` example inputs to export to ONNX (see
        :mod:`huashi.tools.export`), or a one-line :class:`HuashiError` saying why this model
        cannot be exported."""
        if not self.makes_images:
            raise HuashiError(
                f"a {self.name} model makes no images, so there is no painter to export."
            )
        raise HuashiError(
            f"a {self.name} model cannot be exported to ONNX yet: only one-step generators can "
            "(dcgan, gan, ae/vae/kl-vae decoders, pix2pix, stylegan); diffusion paints in many "
            "network steps."
        )

    @classmethod
    def required_runs(cls, config: Any) -> dict[str, str]:
        """Trained runs this model is built on, as {constructor argument: run folder} (e.g. the
        autoencoder of a latent diffusion model). :func:`huashi.runs.build_family` loads each
        one and passes its family to the constructor under that name."""
        return {}

    @classmethod
    def sampling_option_names(cls) -> tuple[str, ...]:
        """The keyword options ``generate`` takes."""
        return tuple(f.name for f in dataclasses.fields(cls.sampling_options_class))

    def sampling_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        """The values ``generate`` gives the options that ``options`` leave out, for the ones a
        PNG's settings line reports (sampler, steps, cfg, strength); {} when there are none."""
        return {}

    @classmethod
    def parse_sampling_options(cls, **options: Any) -> Any:
        """The typed sampling options (an instance of :attr:`sampling_options_class`); a value
        of None means the default. Unknown names are refused with the list of valid ones."""
        valid = cls.sampling_option_names()
        unknown = [name for name in options if name not in valid]
        if unknown:
            if not valid:
                raise HuashiError(
                    f"a {cls.name} model takes no sampling options (got {', '.join(unknown)})."
                )
            raise HuashiError(
                f"unknown sampling option(s) {', '.join(unknown)}: a {cls.name} model takes "
                f"{', '.join(valid)}."
            )
        given = {name: value for name, value in options.items() if value is not None}
        check_values(cls.sampling_options_class, given, "sampling")  # types; NaN and inf refused
        return cls.sampling_options_class(**given)

    def resolve_precision(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` with ``precision`` (``auto`` when not given) resolved to the one this
        device runs, fp32 or bf16, for families that take it, so a PNG records what painted it
        and ``huashi regenerate`` repeats exactly that on any machine."""
        if "precision" not in self.sampling_option_names():
            return options
        return options | {
            "precision": resolve_precision(options.get("precision", "auto"), self.device)
        }

    # --- what each family writes -------------------------------------------------------------

    @abstractmethod
    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        """One optimization step (all of the family's updates); returns values to log."""

    @abstractmethod
    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """Images in [-1, 1], one per seed; image i depends only on ``seeds[i]`` (and options)."""

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """The images of the training-progress grids (fixed seeds): class models cycle through
        their classes, text models through the captions seen in training."""
        options = preview_options(self.condition, len(seeds), self.data, self.preview_captions)
        return self.generate(seeds, **options)

    # --- module state while sampling ----------------------------------------------------------

    def sampling_flag(self, module: nn.Module) -> bool:
        """The ``training`` flag a submodule has while sampling: False (eval mode: BatchNorm
        running statistics, dropout off) unless a family keeps some noise on at test time."""
        return False

    @contextmanager
    def sampling_mode(self, module: nn.Module) -> Iterator[nn.Module]:
        """Run with every submodule of ``module`` in its sampling mode (:meth:`sampling_flag`)
        and put back the flags that had to change. A loaded run is already in sampling mode
        (``train(False)``), so generating from it writes no shared state at all and threads
        may generate from one run at once."""
        changed = [(m, m.training) for m in module.modules() if m.training != self.sampling_flag(m)]
        for m, flag in changed:
            m.training = not flag
        try:
            yield module
        finally:
            for m, flag in changed:
                m.training = flag

    # --- the latent contract: generators with a latent space fill these in ----------------------

    @property
    def latent_shape(self) -> tuple[int, ...] | None:
        """Shape of one image's latent (e.g. ``(z_dim,)``); None when the family has none."""
        return None

    def latents_for_seeds(self, seeds: Sequence[int]) -> torch.Tensor:
        """The latents that :meth:`generate` uses for ``seeds`` (row i from ``seeds[i]`` only)."""
        if self.latent_shape is None:
            raise HuashiError(f"a {self.name} model has no latent space to start from.")
        return noise_for_seeds(seeds, self.latent_shape, self.device)

    def generate_from_latents(self, latents: torch.Tensor, **options: Any) -> torch.Tensor:
        """Images in [-1, 1] from latents [B, *latent_shape], with gradients allowed (inversion,
        editing and dragging optimize through it); ``generate(seeds)`` equals
        ``generate_from_latents(latents_for_seeds(seeds))``. Leaves no module state changed."""
        raise HuashiError(f"a {self.name} model has no latent space to generate from.")

    # --- style latents (:attr:`style_latents`): families with a mapping network fill these in

    def _no_styles(self) -> HuashiError:
        return HuashiError(
            f"a {self.name} model has no mapping network (w space): use a stylegan run."
        )

    @property
    def num_ws(self) -> int:
        """How many per-layer styles the synthesis takes."""
        raise self._no_styles()

    @property
    def w_avg(self) -> torch.Tensor:
        """The average w (the centre truncation pulls toward)."""
        raise self._no_styles()

    def map_latents(self, z: torch.Tensor, truncation: float = 1.0, **options: Any) -> torch.Tensor:
        """w [B, w_dim] for z [B, *latent_shape], truncated toward :attr:`w_avg`."""
        raise self._no_styles()

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w [B, w_dim] -> ws [B, num_ws, w_dim] (the same w for every layer)."""
        raise self._no_styles()

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "const", **options: Any) -> Any:
        """Images (not clipped) from per-layer styles ws [B, num_ws, w_dim]."""
        raise self._no_styles()

    def const_noise(self) -> list[torch.Tensor]:
        """The stored noise maps of a synthesis with noise inputs (:attr:`noise_inputs`)."""
        raise HuashiError(f"a {self.name} model has no noise inputs to set.")

    def check_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``latents`` as float32 on the model's device, or a clear error for a wrong shape."""
        shape = self.latent_shape
        if shape is None:
            raise HuashiError(f"a {self.name} model has no latent space to generate from.")
        if not isinstance(latents, torch.Tensor) or tuple(latents.shape[1:]) != tuple(shape):
            got = list(latents.shape) if isinstance(latents, torch.Tensor) else type(latents)
            raise HuashiError(
                f"a {self.name} model takes latents of shape [B, {', '.join(map(str, shape))}], "
                f"got {got}."
            )
        return latents.to(self.device, torch.float32)

    def remember_captions(self, captions: Sequence[str], limit: int = 64) -> None:
        """Keep the first ``limit`` distinct training captions for the progress grids."""
        for caption in captions:
            if len(self.preview_captions) >= limit:
                return
            if caption not in self.preview_captions:
                self.preview_captions.append(caption)

    def training_callbacks(self) -> list[Callable[[Any, dict[str, float]], None]]:
        """Callbacks the trainer adds to every run of this family (e.g. the GAN doctor)."""
        return []

    def use_dataset(self, dataset: Any) -> None:
        """Called once by the trainer with the training set, for families that show or measure
        data beyond the batches (Pix2Pix's input/target previews, an autoencoder's
        reconstructions and statistics). Must not draw from the training RNG."""
        return None

    def before_checkpoint(self) -> None:
        """Called by the trainer just before each checkpoint is written, to refresh derived
        state that is saved with it (e.g. an autoencoder's latent scale). Must be deterministic
        and must not draw from the training RNG, so that resume stays exact."""
        return None

    @classmethod
    def check_data(cls, data: DataInfo, config: Any) -> None:
        """Raise :class:`HuashiError` when the family cannot train on this data."""
        return None

    # --- shared helpers ----------------------------------------------------------------------

    @classmethod
    def make_config(cls, values: dict[str, Any]) -> Any:
        """Build the config dataclass, rejecting unknown keys with the list of valid ones."""
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise HuashiError(
                f"unknown {cls.name} option(s) {', '.join(unknown)}: valid ones are "
                f"{', '.join(sorted(fields))}."
            )
        check_values(cls.config_class, values, cls.name)
        return cls.config_class(**values)

    def sampling_module(self, name: str) -> nn.Module:
        """The EMA copy of a module when there is one, else the live module."""
        if name in self.ema:
            self.calibrate_ema()
            return self.ema[name].module
        return self.modules[name]

    def enable_ema(self, decay: float) -> None:
        for name in self.ema_targets:
            self.ema[name] = EMA(self.modules[name], decay)

    def update_ema(self, step: int | None = None) -> None:
        """Move every EMA copy toward its live module (``step``: 0-based, for the warm-up)."""
        for name, ema in self.ema.items():
            ema.update(self.modules[name], step)
        self.ema_stale = any(has_batchnorm(ema.module) for ema in self.ema.values())

    def ema_calibration_batches(self, name: str) -> list[tuple] | None:
        """Inputs on which the EMA copy of module ``name`` recomputes its BatchNorm statistics
        (families whose EMA targets use BatchNorm give them; fixed seeds, so it is exact)."""
        return None

    def calibrate_ema(self) -> None:
        """Fit the EMA copies' BatchNorm statistics to their weights, if updated since last
        time. Draws nothing from the global random state, so training is not changed by it."""
        if not self.ema_stale:
            return
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            for name, ema in self.ema.items():
                batches = self.ema_calibration_batches(name)
                if batches is not None:
                    recalibrate_batchnorm(ema.module, batches)
        self.ema_stale = False

    def train(self, mode: bool = True) -> None:
        """Training mode, or (``mode=False``) the sampling mode of :meth:`sampling_flag` for
        every module and EMA copy."""
        for module in self.modules.values():
            module.train(mode)
        if not mode:
            for module in [*self.modules.values(), *(e.module for e in self.ema.values())]:
                for m in module.modules():
                    m.training = self.sampling_flag(m)

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Every tensor of the family (weights, EMA, optimizers) and the JSON-able rest."""
        self.calibrate_ema()
        tensors: dict[str, torch.Tensor] = {}
        meta: dict[str, Any] = {"family": self.name, "optimizers": {}}
        for name, module in self.modules.items():
            tensors |= pack_state_dict(f"modules/{name}", module.state_dict())
        for name, ema in self.ema.items():
            tensors |= pack_state_dict(f"ema/{name}", ema.module.state_dict())
        for name, optimizer in self.optimizers.items():
            optim_tensors, optim_meta = pack_optimizer(f"optim/{name}", optimizer)
            tensors |= optim_tensors
            meta["optimizers"][name] = optim_meta
        if self.preview_captions:
            meta["preview_captions"] = list(self.preview_captions)
        return tensors, meta

    def load_state_tensors(
        self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], weights_only: bool = False
    ) -> None:
        """Restore :meth:`state_tensors`; ``weights_only`` skips optimizers (for sampling)."""
        if meta.get("family") != self.name:
            raise HuashiError(
                f"the checkpoint belongs to a '{meta.get('family')}' model, not '{self.name}': "
                "use the run folder it was trained in."
            )
        self.preview_captions = list(meta.get("preview_captions", []))
        for name, module in self.modules.items():
            load_module_state(module, unpack_state_dict(f"modules/{name}", tensors), name)
        for name in self.ema_targets:
            state = unpack_state_dict(f"ema/{name}", tensors)
            if state:
                if name not in self.ema:
                    self.ema[name] = EMA(self.modules[name], 0.999)
                load_module_state(self.ema[name].module, state, f"EMA {name}")
        # recomputed on load too: checkpoints written before the statistics were calibrated
        # sample properly, and a calibrated one gets the same statistics back
        self.ema_stale = any(has_batchnorm(ema.module) for ema in self.ema.values())
        self.calibrate_ema()
        if weights_only:
            return
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(
                unpack_optimizer(f"optim/{name}", tensors, meta["optimizers"][name])
            )


CALIBRATION_SEEDS = range(2**30, 2**30 + 1024)  # seeds no preview or sample uses by default


def calibration_latents(
    latents_for_seeds: Callable[[Sequence[int]], torch.Tensor], batch_size: int = 256
) -> list[torch.Tensor]:
    """Latents of the fixed calibration seeds in batches (for EMA BatchNorm statistics)."""
    seeds = list(CALIBRATION_SEEDS)
    return [latents_for_seeds(seeds[i : i + batch_size]) for i in range(0, len(seeds), batch_size)]


def require_power_of_two(resolution: int, minimum: int, model: str) -> None:
    """A clear error unless ``resolution`` is a power of two of at least ``minimum``."""
    if resolution < minimum or resolution & (resolution - 1):
        sizes = ", ".join(str(minimum * 2**i) for i in range(4))
        raise HuashiError(
            f"{model} needs a power-of-two resolution of at least {minimum} ({sizes}, ...), "
            f"got {resolution}: pass --resolution 32 or 64."
        )


def noise_for_seeds(
    seeds: Sequence[int], shape: tuple[int, ...], device: torch.device
) -> torch.Tensor:
    """Standard normal noise [len(seeds), *shape]; row i depends only on ``seeds[i]``, so the
    same seed gives the same image at any batch size and on any device."""
    rows = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows).to(device)
