"""The small interface every model family fills in; the trainer knows families only through it.

A family owns its modules and optimizers, does one training step on a batch, and generates
images from per-image seeds. Everything else (the loop, checkpoints, EMA, logs, sample grids,
resume) is the shared machinery in :mod:`huashi.training`.

What shared code may ask a family, instead of testing its name or config keys:

- ``condition`` ("none", "class", "text" or "image") and ``sampling_options_class``, the
  dataclass of the options ``generate`` takes (``parse_sampling_options`` refuses unknown ones);
  labels and prompts are checked by :mod:`huashi.families.conditioning`, the same for all;
- the latent contract: ``latent_shape``, ``latents_for_seeds``, ``generate_from_latents``;
- ``required_runs``: trained runs the model is built on (a latent diffusion model's
  :class:`LatentAutoencoder`), which :func:`huashi.runs.build_family` loads and passes in.

Generating never leaves module state changed (see :meth:`Family.sampling_mode`). Every
registered family is held to these promises by ``tests/test_family_contract.py``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from huashi.errors import HuashiError
from huashi.families.conditioning import preview_options
from huashi.training.checkpoint import (
    load_module_state,
    pack_optimizer,
    pack_state_dict,
    unpack_optimizer,
    unpack_state_dict,
)
from huashi.training.device import autocast
from huashi.training.ema import EMA, has_batchnorm, recalibrate_batchnorm
from huashi.validation import check_values

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
class StepContext:
    """Handed to ``train_step``: the step number, the speed switches and the noise generator."""

    step: int
    device: torch.device
    precision: str
    accumulate: int
    generator: torch.Generator
    #: Called once after the last micro-batch's backward pass, before the optimizer step (the
    #: trainer averages gradients over the processes here when training with torchrun).
    after_backward: Callable[[], None] | None = None
    #: fp16 only: scales each loss before backward; :meth:`step_optimizer` unscales, skips a
    #: step whose gradients overflowed and adapts the scale (see ``huashi.training.device``).
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> AbstractContextManager:
        return autocast(self.device, self.precision)

    def backward(
        self, batch: dict[str, Any], loss_fn: Callable[[dict[str, Any]], tuple[torch.Tensor, dict]]
    ) -> dict[str, float]:
        """Run ``loss_fn`` on ``accumulate`` micro-batches, backpropagating each (gradient
        accumulation), under autocast. Returns the mean of the logged values."""
        chunks = split_batch(batch, self.accumulate)
        totals: dict[str, float] = {}
        for chunk in chunks:
            with self.autocast():
                loss, logged = loss_fn(chunk)
            loss = loss.float() / len(chunks)
            (loss if self.scaler is None else self.scaler.scale(loss)).backward()
            for key, value in logged.items():
                totals[key] = totals.get(key, 0.0) + float(value) / len(chunks)
        if self.after_backward is not None:
            self.after_backward()
        return totals

    def update(
        self,
        optimizer: torch.optim.Optimizer,
        batch: dict[str, Any],
        loss_fn: Callable[[dict[str, Any]], tuple[torch.Tensor, dict]],
        frozen: Sequence[nn.Module] = (),
    ) -> dict[str, float]:
        """One optimizer update: clear gradients, :meth:`backward`, step; returns what it logged.
        ``frozen`` modules get no weight gradients in it (see :func:`frozen_modules`)."""
        optimizer.zero_grad(set_to_none=True)
        with frozen_modules(*frozen):
            logged = self.backward(batch, loss_fn)
        self.step_optimizer(optimizer)
        return logged

    def loss_scale(self) -> float:
        """The gradient scaler's scale (fp16), else 1: for penalties that take an input
        gradient inside the loss (:func:`huashi.losses.gan.input_gradient`)."""
        return 1.0 if self.scaler is None else float(self.scaler.get_scale())

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Give ``optimizer``'s gradients their true size before reading them (fp16 training
        divides them by the loss scale; otherwise nothing to do). At most once per step."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step_optimizer(
        self, optimizer: torch.optim.Optimizer, clip_norm: float | None = None
    ) -> float | None:
        """The optimizer step after :meth:`backward`; with ``clip_norm`` the gradients' norm is
        clipped to it first and returned. With a gradient scaler the gradients are unscaled, a
        step whose gradients hold inf or NaN is skipped, and the scale adapts (after every
        step, so a family may step several optimizers, or one several times, per training
        step)."""
        norm = None
        if clip_norm is not None:
            self.unscale(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            norm = float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()
        return norm


@contextmanager
def frozen_modules(*modules: nn.Module) -> Iterator[None]:
    """Backpropagate through ``modules`` without computing their weight gradients, then put
    every parameter's ``requires_grad`` back as it was. For a GAN's D during G's update: the
    gradient still flows through D to G, but D's own weight gradient would be cleared unused
    before D's next update, so skipping it gives the same numbers faster (a DCGAN step 8-12 %)."""
    parameters = [p for module in modules for p in module.parameters() if p.requires_grad]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in parameters:
            parameter.requires_grad_(True)


def split_batch(batch: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """Split every tensor or list in ``batch`` into ``parts`` equal micro-batches."""
    size = len(batch["image"])
    if parts < 1 or size % parts:
        raise HuashiError(
            f"the batch size {size} does not split into {parts} accumulation steps: "
            "choose --accumulate that divides --batch-size."
        )
    step = size // parts
    return [
        {key: value[i * step : (i + 1) * step] for key, value in batch.items()}
        for i in range(parts)
    ]


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
