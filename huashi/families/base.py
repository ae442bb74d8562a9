"""The small interface every model family fills in; the trainer knows families only through it.

A family owns its modules and optimizers, does one training step on a batch, and generates
images from per-image seeds. Everything else (the loop, checkpoints, EMA, logs, sample grids,
resume) is the shared machinery in :mod:`huashi.training`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from huashi.errors import HuashiError
from huashi.training.checkpoint import (
    load_module_state,
    pack_optimizer,
    pack_state_dict,
    unpack_optimizer,
    unpack_state_dict,
)
from huashi.training.device import autocast
from huashi.training.ema import EMA

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
            (loss.float() / len(chunks)).backward()
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
    ) -> dict[str, float]:
        """One optimizer update: clear gradients, :meth:`backward`, step; returns what it logged."""
        optimizer.zero_grad(set_to_none=True)
        logged = self.backward(batch, loss_fn)
        optimizer.step()
        return logged


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

    def __init__(self, config: Any, data: DataInfo, device: torch.device) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema: dict[str, EMA] = {}
        #: Captions seen in training (the first 64 distinct ones): text-conditioned families
        #: cycle through them in the progress grids; they travel with the checkpoint.
        self.preview_captions: list[str] = []

    @property
    def condition(self) -> str:
        """What this model's images are conditioned on: "none", "class", "text" or "image".
        Shared code asks this; it never reads config keys or family names."""
        return self.condition_kind

    # --- what each family writes -------------------------------------------------------------

    @abstractmethod
    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        """One optimization step (all of the family's updates); returns values to log."""

    @abstractmethod
    def generate(self, seeds: Sequence[int], **options: Any) -> torch.Tensor:
        """Images in [-1, 1], one per seed; image i depends only on ``seeds[i]`` (and options)."""

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """The images of the training-progress grids (fixed seeds). Conditional families
        override it to cycle through labels or prompts."""
        return self.generate(seeds)

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
        return cls.config_class(**values)

    def sampling_module(self, name: str) -> nn.Module:
        """The EMA copy of a module when there is one, else the live module."""
        return self.ema[name].module if name in self.ema else self.modules[name]

    def enable_ema(self, decay: float) -> None:
        for name in self.ema_targets:
            self.ema[name] = EMA(self.modules[name], decay)

    def update_ema(self) -> None:
        for name, ema in self.ema.items():
            ema.update(self.modules[name])

    def train(self, mode: bool = True) -> None:
        for module in self.modules.values():
            module.train(mode)

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Every tensor of the family (weights, EMA, optimizers) and the JSON-able rest."""
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
        if weights_only:
            return
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(
                unpack_optimizer(f"optim/{name}", tensors, meta["optimizers"][name])
            )


def noise_for_seeds(
    seeds: Sequence[int], shape: tuple[int, ...], device: torch.device
) -> torch.Tensor:
    """Standard normal noise [len(seeds), *shape]; row i depends only on ``seeds[i]``, so the
    same seed gives the same image at any batch size and on any device."""
    rows = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows).to(device)
