"""What the training loop hands a model and what it needs back: the step context (one
optimizer update with gradient accumulation, autocast and fp16 loss scaling) and the
:class:`Trainable` protocol, the part of a model family the loop drives.

The loop knows a family only through :class:`Trainable`;
:class:`huashi.families.base.Family` fills it in for every family.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from huashi.core.errors import HuashiError
from huashi.training.device import autocast
from huashi.training.ema import EMA


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


class Trainable(Protocol):
    """The part of a model family the training loop drives (see :mod:`huashi.training.loop`)."""

    name: str
    config: Any
    device: torch.device
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    ema: dict[str, EMA]
    #: False for families that learn features, not images: no progress grids then.
    makes_images: bool
    #: Images per row of the progress grid (None: square).
    preview_nrow: int | None

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        """One optimization step (all of the family's updates); returns values to log."""

    def preview(self, seeds: Sequence[int]) -> torch.Tensor:
        """The images of the progress grids, one per fixed seed, in [-1, 1]."""

    def train(self, mode: bool = True) -> None:
        """Training mode, or (``False``) the sampling mode of every module."""

    def enable_ema(self, decay: float) -> None:
        """Keep an EMA copy of the modules that have one."""

    def update_ema(self, step: int | None = None) -> None:
        """Move every EMA copy toward its live module."""

    def training_callbacks(self) -> list[Callable[[Any, dict[str, float]], None]]:
        """Callbacks the loop adds to every run of this family."""

    def use_dataset(self, dataset: Any) -> None:
        """Called once with the training set."""

    def before_checkpoint(self) -> None:
        """Refresh derived state saved with each checkpoint."""

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Every tensor (weights, EMA, optimizers) and the JSON-able rest."""

    def load_state_tensors(
        self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], weights_only: bool = False
    ) -> None:
        """Restore :meth:`state_tensors`."""
