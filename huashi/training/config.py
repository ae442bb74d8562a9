"""How to train and what a training run gives back: :class:`TrainConfig` (the same for every
family; saved in the run's ``config.json``) and :class:`TrainResult`, plus the learning-rate
schedule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from huashi.core.config_fields import check_choices, option
from huashi.core.validation import check_config
from huashi.data.stream import DATA_MODES
from huashi.training import stopping
from huashi.training.device import (
    PRECISIONS,
)
from huashi.training.resume import SESSION_FIELDS, TUNABLE_TRAIN_FIELDS


@dataclass
class TrainConfig:
    """How to train (the same for every family). Saved in the run's ``config.json``."""

    steps: int = option(2000, "training steps in all")
    batch_size: int = option(64, "images per step")
    accumulate: int = option(1, "micro-batches per step (gradient accumulation)")
    precision: str = option(
        "auto",
        "autocast precision; auto = bf16 where the hardware computes it fast (CUDA with bf16, "
        "CPUs with AVX512-BF16 or AMX), fp16 with a gradient scaler on older CUDA GPUs, else fp32",
        choices=PRECISIONS,
    )
    channels_last: bool = option(True, "channels_last memory format (faster convolutions)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    seed: int = option(0, "seed of the weights, the data order and the noise")
    ema: float = option(0.0, "EMA decay of the weights used for sampling (0 = no EMA)")
    lr_decay: float = option(
        0.0,
        "the last fraction of the steps over which every learning rate falls linearly toward "
        "0 (0 = constant; Pix2Pix's paper: 0.5)",
    )
    compile: bool = option(
        False,
        "torch.compile the modules (CPU: needs g++, and the first steps compile for minutes)",
    )
    log_every: int = option(10, "log the losses every this many steps")
    sample_every: int = option(250, "write a preview grid every this many steps")
    checkpoint_every: int = option(500, "save a checkpoint every this many steps")
    keep_last: int = option(3, "how many checkpoints to keep")
    n_fixed: int = option(64, "images in the preview grid (fixed latents)")
    tensorboard: bool = option(False, "also write TensorBoard logs")
    #: Stop cleanly (checkpoint, samples) once this many minutes of training steps have run in
    #: all (``train_seconds``, summed over resumes; 0 = no limit). Where it stops depends on the
    #: machine's speed, so a time-limited run is not reproducible step for step.
    max_minutes: float = option(
        0.0, "stop cleanly after this many minutes of training in all (0 = no limit)"
    )
    data_mode: str = option(
        "auto",
        "how an image folder is held: memory, stream (decoded once into memory-mapped shards on "
        "disk, read batch by batch) or auto (stream when the decoded images would not fit "
        "comfortably in memory)",
        choices=DATA_MODES,
    )
    threads: str = option(
        "auto",
        "CPU threads: a number, all (every usable core), or auto = OMP_NUM_THREADS when set, "
        "else every core this "
        "process may use but one, less the cores other huashi processes use (torchrun's "
        "processes on one machine share them evenly); saved when the run starts and reused by "
        "resume",
    )

    #: Fields that may change when a run is resumed (the rest must match): the session's
    #: schedule, and precision (see :mod:`huashi.training.resume`).
    RESUMABLE_CHANGES = SESSION_FIELDS + TUNABLE_TRAIN_FIELDS

    def __post_init__(self) -> None:
        check_config(self, "training")
        check_choices(self)  # precision, data_mode


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool = False
    time_limited: bool = False
    checkpoint: Path | None = None
    last_losses: dict[str, float] = field(default_factory=dict)
    #: End-of-training reports by name (e.g. "pairs_eval" for image-to-image runs).
    reports: dict[str, Any] = field(default_factory=dict)
    #: The stopping rules of this session (steps in all, minutes of training in all, 0 = none)
    #: and the training seconds spent in all.
    steps: int = 0
    max_minutes: float = 0.0
    train_seconds: float = 0.0

    def stop_line(self) -> str:
        """One line: which rule stopped the training and how to continue."""
        return stopping.stop_line(
            self.run_dir, self.step, self.steps, self.max_minutes, self.train_seconds,
            self.interrupted, self.time_limited,
        )  # fmt: skip


def lr_factor(step: int, steps: int, decay: float) -> float:
    """The learning-rate multiplier of update ``step`` (0-based) of ``steps``: 1, then over the
    last ``round(decay * steps)`` updates a straight line down to ``1 / (decayed + 1)``."""
    decayed = round(decay * steps)
    start = steps - decayed
    return 1.0 - max(0, step + 1 - start) / (decayed + 1)


def train_config_dict(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)
