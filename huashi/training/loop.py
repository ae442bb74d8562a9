"""The one training loop, shared by every model family.

It drives a :class:`~huashi.families.base.Family` through ``steps`` training steps on an in-memory
dataset and takes care of everything around the step: data order, device and speed switches,
EMA, JSONL logs and the loss plot, sample grids from fixed seeds, checkpoints, exact resume,
NaN detection and clean interruption (Ctrl-C or SIGTERM saves a checkpoint first).
"""

from __future__ import annotations

import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from huashi.errors import HuashiError
from huashi.families.base import Family, StepContext
from huashi.images import save_grid
from huashi.training import distributed
from huashi.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from huashi.training.device import memory_format, set_threads
from huashi.training.logging import RunLog, plot_losses


@dataclass
class TrainConfig:
    """How to train (the same for every family). Saved in the run's ``config.json``."""

    steps: int = 2000
    batch_size: int = 64
    accumulate: int = 1
    precision: str = "bf16"
    channels_last: bool = True
    device: str = "auto"
    seed: int = 0
    ema: float = 0.0
    compile: bool = False
    log_every: int = 10
    sample_every: int = 250
    checkpoint_every: int = 500
    keep_last: int = 3
    n_fixed: int = 64
    tensorboard: bool = False
    #: Stop cleanly (checkpoint, samples) once this many minutes of training steps have run in
    #: all (``train_seconds``, summed over resumes; 0 = no limit). Where it stops depends on the
    #: machine's speed, so a time-limited run is not reproducible step for step.
    max_minutes: float = 0.0
    #: CPU threads: a number, or "auto" = OMP_NUM_THREADS when set, else the cores free at start
    #: (on a busy machine fewer threads run faster than threads fighting for cores).
    threads: str = "auto"

    #: Fields that may change when a run is resumed (the rest must match).
    RESUMABLE_CHANGES = (
        "steps", "log_every", "sample_every", "checkpoint_every", "keep_last", "device",
        "compile", "tensorboard", "n_fixed", "max_minutes", "threads",
    )  # fmt: skip


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


class TrainingDiverged(HuashiError):
    """A loss became NaN or infinite."""


class Trainer:
    """Trains ``family`` on ``dataset`` (anything with ``len`` and ``batch(indices)``)."""

    def __init__(
        self,
        family: Family,
        dataset: Any,
        config: TrainConfig,
        run_dir: Path,
        callbacks: list[Callable[[Trainer, dict[str, float]], None]] | None = None,
        progress: bool = True,
    ) -> None:
        self.family = family
        self.dataset = dataset
        self.config = config
        self.run_dir = Path(run_dir)
        #: This process's place among torchrun's processes (rank 0 of 1 when alone).
        self.dist = distributed.current()
        own = family.training_callbacks() if self.dist.is_main else []  # print once
        self.callbacks = list(callbacks or []) + own
        self.progress = progress and self.dist.is_main
        self.device = family.device
        self.step = 0
        self.epoch = 0
        self.position = 0
        self.images_seen = 0
        self.train_seconds = 0.0
        self.stop_requested = False
        self._permutation: tuple[int, torch.Tensor] | None = None
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(distributed.rank_seed(config.seed, self.dist.rank))
        if self.device.type == "cpu":
            set_threads(config.threads, processes=_local_processes(self.dist))
        if self.dist.active:
            self._join_ranks()
        if len(dataset) < config.batch_size:
            raise HuashiError(
                f"the dataset has {len(dataset)} images, fewer than the batch size "
                f"{config.batch_size}: lower --batch-size."
            )
        fmt = memory_format(config.channels_last)
        for module in family.modules.values():
            module.to(memory_format=fmt)
        if config.ema > 0:
            family.enable_ema(config.ema)
        family.use_dataset(dataset)
        if config.compile:
            for module in family.modules.values():
                module.compile()

    def _join_ranks(self) -> None:
        """Several processes: one global batch split evenly, identical starting weights, and
        each rank's own random streams."""
        world, rank = self.dist.world_size, self.dist.rank
        if self.config.batch_size % world:
            raise HuashiError(
                f"--batch-size {self.config.batch_size} (the global batch) does not split evenly "
                f"over {world} processes: choose a multiple of {world}."
            )
        if rank > 0:  # rank 0 keeps the single-process streams
            seed = distributed.rank_seed(self.config.seed, rank)
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
        ema = [copy.module for copy in self.family.ema.values()]
        self.dist.broadcast_modules([*self.family.modules.values(), *ema])

    def _sync_gradients(self) -> None:
        self.dist.average_gradients(self.family.modules.values())

    # --- data order: a fresh permutation per epoch, a pure function of (seed, epoch) ---------

    def _indices(self) -> torch.Tensor:
        per_epoch = len(self.dataset) // self.config.batch_size
        if self.position >= per_epoch:
            self.epoch += 1
            self.position = 0
        if self._permutation is None or self._permutation[0] != self.epoch:
            g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.epoch)
            self._permutation = (self.epoch, torch.randperm(len(self.dataset), generator=g))
        b = self.config.batch_size
        indices = self._permutation[1][self.position * b : (self.position + 1) * b]
        self.position += 1
        share = b // self.dist.world_size  # each rank reads its own slice of the global batch
        return indices[self.dist.rank * share : (self.dist.rank + 1) * share]

    def _next_batch(self) -> dict[str, Any]:
        batch = self.dataset.batch(self._indices())
        fmt = memory_format(self.config.channels_last)
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device, non_blocking=True)
                if value.dim() == 4:
                    value = value.contiguous(memory_format=fmt)
                batch[key] = value
        return batch

    # --- checkpoints ---------------------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def _random_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {"rng/torch": torch.get_rng_state(), "rng/noise": self.generator.get_state()}
        if torch.cuda.is_available():
            for i, state in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda{i}"] = state
        np_state = np.random.get_state()
        tensors["rng/numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
        meta = {
            "python_random": _python_random_state(),
            "numpy_random": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
        }
        return tensors, meta

    def save(self) -> Path | None:
        """Write a checkpoint (rank 0; the other ranks hand it their random states and wait)."""
        self.family.before_checkpoint()
        rng, rng_meta = self._random_state()
        ranks = distributed.gather_random_states(self.dist, rng, rng_meta, self.device)
        if not self.dist.is_main:
            self.dist.barrier()
            return None
        tensors, meta = self.family.state_tensors()
        tensors |= rng
        meta |= {
            "epoch": self.epoch,
            "position": self.position,
            "images_seen": self.images_seen,
            "train_seconds": self.train_seconds,
            **rng_meta,
        }
        if self.dist.active:
            meta["world_size"] = self.dist.world_size
            meta["rank_random"] = [m for _, m in ranks[1:]]
            for rank, (rank_tensors, _) in enumerate(ranks[1:], start=1):
                tensors |= {f"rank{rank}/{k}": v for k, v in rank_tensors.items()}
        path = save_checkpoint(
            self.checkpoint_dir, self.step, tensors, meta, keep_last=self.config.keep_last
        )
        self.dist.barrier()
        return path

    def restore(self, json_path: Path) -> None:
        tensors, meta = load_checkpoint(json_path)
        self.family.load_state_tensors(tensors, meta)
        self.step = int(meta["step"])
        self.epoch = int(meta["epoch"])
        self.position = int(meta["position"])
        self.images_seen = int(meta["images_seen"])
        self.train_seconds = float(meta["train_seconds"])
        rank = self.dist.rank
        if rank > 0:
            if int(meta.get("world_size", 1)) != self.dist.world_size:
                self._fresh_random_state()  # the run's note says it is no longer bit-identical
                return
            prefix = f"rank{rank}/"
            tensors = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            meta = meta["rank_random"][rank - 1]
        elif self.dist.is_main and int(meta.get("world_size", 1)) != self.dist.world_size:
            print(
                f"note: {json_path.name} was saved by {meta.get('world_size', 1)} process(es) and "
                f"resumes with {self.dist.world_size}: training continues, but not bit-identically "
                "to an uninterrupted run.",
                flush=True,
            )
        torch.set_rng_state(tensors["rng/torch"])
        self.generator.set_state(tensors["rng/noise"])
        if torch.cuda.is_available():
            states = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda")]
            if states:
                torch.cuda.set_rng_state_all(states)
        random.setstate(_python_random_tuple(meta["python_random"]))
        name, pos, has_gauss, cached = meta["numpy_random"]
        keys = tensors["rng/numpy"].numpy().astype(np.uint32)
        np.random.set_state((name, keys, pos, has_gauss, cached))

    def _fresh_random_state(self) -> None:
        seed = distributed.rank_seed(self.config.seed, self.dist.rank, self.step)
        self.generator.manual_seed(seed)
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)

    def resume_latest(self) -> bool:
        """Restore the newest checkpoint of the run; False when it has none."""
        path = latest_checkpoint(self.checkpoint_dir)
        if path is None:
            return False
        self.restore(path)
        return True

    # --- outputs ------------------------------------------------------------------------------

    def fixed_seeds(self) -> list[int]:
        return list(range(self.config.n_fixed))

    def write_samples(self) -> Path | None:
        if not self.family.makes_images or not self.dist.is_main:
            return None
        images = self.family.preview(self.fixed_seeds())
        path = self.run_dir / "samples" / f"step-{self.step:08d}.png"
        path.parent.mkdir(exist_ok=True)
        nrow = self.family.preview_nrow
        save_grid(images, path, params={"run": str(self.run_dir), "step": self.step}, nrow=nrow)
        save_grid(images, self.run_dir / "samples.png", params={"step": self.step}, nrow=nrow)
        return path

    # --- the loop -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stop_requested = True

    def run(self) -> TrainResult:
        config = self.config
        main = self.dist.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        log = (
            RunLog(
                self.run_dir / "log.jsonl",
                self.run_dir / "tensorboard" if config.tensorboard else None,
            )
            if main
            else _NoLog()
        )
        log.truncate_after(self.step)
        self.family.train(True)
        bar = tqdm(
            total=config.steps,
            initial=self.step,
            desc=self.run_dir.name,
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        result = TrainResult(self.run_dir, self.step)
        last_saved, saved = self.step, False
        stop = self.stop_requested
        try:
            with _stop_on_signals(self):
                while self.step < config.steps and not stop:
                    started = time.perf_counter()
                    batch = self._next_batch()
                    ctx = StepContext(
                        self.step, self.device, config.precision, config.accumulate, self.generator
                    )
                    if self.dist.active:
                        ctx.after_backward = self._sync_gradients
                    losses = self.family.train_step(batch, ctx)
                    self.family.update_ema()
                    self.step += 1
                    self.images_seen += len(batch["image"]) * self.dist.world_size
                    self.train_seconds += time.perf_counter() - started
                    losses = self.dist.agree(losses, (), self.device)[0]  # the mean over ranks
                    bad = [k for k, v in losses.items() if not math.isfinite(v)]
                    if bad:
                        raise TrainingDiverged(self._diverged_message(losses, bad))
                    result.last_losses = losses
                    if self.step % config.log_every == 0 or self.step == 1:
                        record = {"step": self.step, "images_seen": self.images_seen}
                        record |= {"train_seconds": round(self.train_seconds, 3), **losses}
                        log.write(record)
                        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                    for callback in self.callbacks:
                        callback(self, losses)
                    bar.update(1)
                    if self.step % config.sample_every == 0:
                        self.write_samples()
                        self.family.train(True)
                    if self.step % config.checkpoint_every == 0:
                        result.checkpoint = self.save()
                        last_saved, saved = self.step, True
                        if main:
                            plot_losses(log.path, self.run_dir / "losses.png")
                    limited = 0 < config.max_minutes * 60 <= self.train_seconds
                    stop = self.stop_requested
                    if self.dist.active:  # every rank stops after the same step
                        stop, limited = self.dist.agree({}, (stop, limited), self.device)[1]
                        self.stop_requested = stop
                    if limited:
                        result.time_limited = True
                        break
                if self.step != last_saved or not saved:
                    result.checkpoint = self.save()
                self.write_samples()
                if main:
                    plot_losses(log.path, self.run_dir / "losses.png")
        finally:
            bar.close()
            log.close()
        result.step = self.step
        result.interrupted = self.stop_requested and self.step < config.steps
        return result

    def _diverged_message(self, losses: dict[str, float], bad: list[str]) -> str:
        shown = ", ".join(f"{k}={losses[k]}" for k in bad)
        last = latest_checkpoint(self.checkpoint_dir)
        kept = f"the last good checkpoint {last} is kept" if last else "no checkpoint was written"
        return (
            f"training diverged at step {self.step} ({shown}); {kept}. Try a lower learning rate, "
            "--precision fp32, or a smaller batch, then --resume."
        )


class _NoLog:
    """The log of a rank other than 0: it writes nothing."""

    def truncate_after(self, step: int) -> None:
        return None

    def write(self, record: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None


def _local_processes(dist: distributed.Distributed) -> int:
    """Training processes sharing this machine's cores (torchrun's LOCAL_WORLD_SIZE)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size)))
    except ValueError:
        return 1


class _stop_on_signals:
    """While training, Ctrl-C or SIGTERM asks the loop to stop after the current step (a second
    Ctrl-C interrupts at once)."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.trainer.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.trainer.request_stop()

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handler)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _python_random_state() -> list:
    version, state, gauss = random.getstate()
    return [version, list(state), gauss]


def _python_random_tuple(saved: list) -> tuple:
    version, state, gauss = saved
    return (version, tuple(state), gauss)


def train_config_dict(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)
