"""The one training loop, shared by every model family.

It drives a model family (:class:`~huashi.training.step.Trainable`) through ``steps`` training
steps on an in-memory dataset and takes care of everything around the step: data order, device
and speed switches, EMA, JSONL logs and the loss plot, sample grids from fixed seeds,
checkpoints, exact resume, NaN detection and clean interruption (Ctrl-C or SIGTERM saves a
checkpoint first). How to train is a :class:`~huashi.training.config.TrainConfig`.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from huashi.core.errors import HuashiError
from huashi.core.images import save_grid
from huashi.training import distributed, stopping
from huashi.training.checkpoint import (
    check_built_on,
    check_training_meta,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from huashi.training.config import TrainConfig, TrainResult, lr_factor
from huashi.training.device import (
    check_compile,
    gradient_scaler,
    memory_format,
)
from huashi.training.interrupt import PreviewInterrupted, stop_on_signals
from huashi.training.lock import RunLock
from huashi.training.logging import NoLog, RunLog, plot_losses
from huashi.training.rng import random_state, seed_everything, set_random_state
from huashi.training.step import StepContext, Trainable
from huashi.training.threads import set_threads, threads_line


class TrainingDiverged(HuashiError):
    """A loss became NaN, infinite or huge, or the weights exploded."""


#: A loss beyond this, or a weight beyond WEIGHT_LIMIT in size, means training has diverged.
LOSS_LIMIT = 1e8
WEIGHT_LIMIT = 1e4


class Trainer:
    """Trains ``family`` on ``dataset`` (anything with ``len`` and ``batch(indices)``)."""

    def __init__(
        self,
        family: Trainable,
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
        self.in_preview = False
        self.preview_interrupted = False
        self._bar: tqdm | None = None
        #: The run's identity (see :func:`huashi.training.resume.run_identity`), written into
        #: every checkpoint and checked on resume; None skips the check.
        self.identity: str | None = None
        #: What a resume changed ({field: [before, now]}), recorded in the log.
        self.resume_note: dict[str, list] | None = None
        self._permutation: tuple[int, torch.Tensor] | None = None
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(distributed.rank_seed(config.seed, self.dist.rank))
        #: fp16 only (GPUs without bf16): the loss scale, checkpointed so a resume is exact
        self.scaler = gradient_scaler(self.device, config.precision)
        if self.device.type == "cuda":  # TF32 tensor cores for fp32 matrix products and convs
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if self.device.type == "cpu":
            set_threads(config.threads, processes=distributed.local_processes(self.dist))
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
            check_compile(self.device)
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
                if self.device.type == "cuda":  # page-locked, so the copy overlaps compute
                    value = value.pin_memory()
                value = value.to(self.device, non_blocking=True)
                if value.dim() == 4:
                    value = value.contiguous(memory_format=fmt)
                batch[key] = value
        return batch

    # --- checkpoints ---------------------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def save(self) -> Path | None:
        """Write a checkpoint (rank 0; the other ranks hand it their random states and wait)."""
        self.family.before_checkpoint()
        rng, rng_meta = random_state(self.generator)
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
        if self.identity is not None:
            meta["run_identity"] = self.identity
        if getattr(self.family, "built_on", None):
            meta["built_on"] = self.family.built_on  # e.g. the autoencoder's weights hash
        if self.scaler is not None:
            meta["grad_scaler"] = self.scaler.state_dict()
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
        check_training_meta(meta, json_path)
        theirs = meta.get("run_identity")
        if self.identity is not None and theirs is not None and theirs != self.identity:
            raise HuashiError(
                f"checkpoint {json_path} belongs to another run (another dataset or "
                f"configuration: identity {theirs}, this run is {self.identity}): remove it from "
                f"{self.checkpoint_dir}, or resume the run it came from."
            )
        check_built_on(meta, self.family, json_path)
        missing = sorted(set(self.family.optimizers) - set(meta["optimizers"]))
        if missing:
            raise HuashiError(
                f"checkpoint {json_path} has no state for the optimizer(s) {', '.join(missing)}: "
                "it is damaged or comes from another model; delete it to fall back to the "
                "previous checkpoint."
            )
        # Learning rates come from the config, so that a resume may change them.
        fresh = {k: [g["lr"] for g in o.param_groups] for k, o in self.family.optimizers.items()}
        self.family.load_state_tensors(tensors, meta)
        if self.scaler is not None and "grad_scaler" in meta:
            self.scaler.load_state_dict(meta["grad_scaler"])
        for name, optimizer in self.family.optimizers.items():
            for group, lr in zip(optimizer.param_groups, fresh[name], strict=True):
                group["lr"] = lr
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
        set_random_state(tensors, meta, self.generator, json_path)

    def _fresh_random_state(self) -> None:
        seed_everything(
            distributed.rank_seed(self.config.seed, self.dist.rank, self.step), self.generator
        )

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
        """The progress grid of the fixed seeds (rank 0); Ctrl-C during it skips it and stops
        the run."""
        if not self.family.makes_images or self.preview_interrupted or not self.dist.is_main:
            return None
        self.in_preview = True
        if self._bar is not None:
            self._bar.set_description_str(f"{self.run_dir.name} (progress grid)", refresh=True)
        try:
            images = self.family.preview(self.fixed_seeds())
        except PreviewInterrupted:
            self.preview_interrupted = True
            self.request_stop()
            tqdm.write(
                "huashi: progress grid skipped; stopping after a checkpoint.", file=sys.stderr
            )
            return None
        finally:
            self.in_preview = False
            if self._bar is not None:
                self._bar.set_description_str(self.run_dir.name, refresh=False)
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
        lock = RunLock(self.run_dir).acquire() if main else None  # a no-op under api.train's
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        log = (
            RunLog(
                self.run_dir / "log.jsonl",
                self.run_dir / "tensorboard" if config.tensorboard else None,
            )
            if main
            else NoLog()
        )
        log.truncate_after(self.step)
        if self.resume_note is not None:
            log.event(self.step, "resume", changed=self.resume_note)
        self.family.train(True)
        if self.progress:
            plan = stopping.plan_line(
                self.run_dir, self.step, config.steps, config.max_minutes, self.train_seconds
            )
            if self.device.type == "cpu":
                plan += f" {threads_line(torch.get_num_threads())}."
            tqdm.write(plan, file=sys.stderr)
        bar = tqdm(
            total=config.steps,
            initial=self.step,
            desc=self.run_dir.name,
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        self._bar = bar
        result = TrainResult(self.run_dir, self.step)
        result.steps, result.max_minutes = config.steps, config.max_minutes
        last_saved, saved = self.step, False
        stop = self.stop_requested
        # The configured learning rates (a restore puts them back from the config).
        base_lrs = {
            name: [group["lr"] for group in optimizer.param_groups]
            for name, optimizer in self.family.optimizers.items()
        }
        try:
            with stop_on_signals(self):
                while self.step < config.steps and not stop:
                    started = time.perf_counter()
                    if config.lr_decay > 0:
                        factor = lr_factor(self.step, config.steps, config.lr_decay)
                        self._scale_learning_rates(base_lrs, factor)
                    batch = self._next_batch()
                    ctx = StepContext(
                        self.step, self.device, config.precision, config.accumulate, self.generator
                    )
                    ctx.scaler = self.scaler
                    if self.dist.active:
                        ctx.after_backward = self._sync_gradients
                    losses = self.family.train_step(batch, ctx)
                    self.family.update_ema(self.step)
                    self.step += 1
                    self.images_seen += len(batch["image"]) * self.dist.world_size
                    self.train_seconds += time.perf_counter() - started
                    losses = self.dist.agree(losses, (), self.device)[0]  # the mean over ranks
                    logging_now = self.step % config.log_every == 0 or self.step == 1
                    due = logging_now or self.step % config.checkpoint_every == 0
                    problem = self._divergence(losses, check_weights=due)
                    if problem:
                        message = self._diverged_message(problem)
                        last = latest_checkpoint(self.checkpoint_dir)
                        log.event(
                            self.step, "diverged", reason=problem, command=self.rescue_command(),
                            checkpoint=str(last) if last else None,
                        )  # fmt: skip
                        raise TrainingDiverged(message)
                    result.last_losses = losses
                    if logging_now:
                        record = {"step": self.step, "images_seen": self.images_seen}
                        record |= {"train_seconds": round(self.train_seconds, 3), **losses}
                        self._keep_going(partial(log.write, record), "the log")
                        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                    for callback in self.callbacks:
                        callback(self, losses)
                    bar.update(1)
                    if self.step % config.sample_every == 0:
                        self._keep_going(self.write_samples, "the progress grid")
                        self.family.train(True)
                    if self.step % config.checkpoint_every == 0:
                        saved_path = self._keep_going(self.save, "the checkpoint")
                        if saved_path is not None or not main:  # other ranks save nothing
                            result.checkpoint, last_saved, saved = saved_path, self.step, True
                            if main:
                                self._keep_going(
                                    lambda: plot_losses(log.path, self.run_dir / "losses.png"),
                                    "the loss plot",
                                )
                    limited = 0 < config.max_minutes * 60 <= self.train_seconds
                    stop = self.stop_requested
                    if self.dist.active:  # every rank stops after the same step
                        stop, limited = self.dist.agree({}, (stop, limited), self.device)[1]
                        self.stop_requested = stop
                    if limited:
                        result.time_limited = True
                        break
                if self.step != last_saved or not saved:
                    try:
                        result.checkpoint = self.save()
                    except OSError as error:
                        last = latest_checkpoint(self.checkpoint_dir)
                        raise HuashiError(
                            f"could not write the final checkpoint of step {self.step} in "
                            f"{self.checkpoint_dir} ({error}); the newest saved one is {last}. "
                            "Make the folder writable (or free space), then resume."
                        ) from None
                self._keep_going(self.write_samples, "the progress grid")
                if main:
                    self._keep_going(
                        lambda: plot_losses(log.path, self.run_dir / "losses.png"), "the loss plot"
                    )
        finally:
            bar.close()
            log.close()
            if lock is not None:
                lock.release()
        result.step = self.step
        result.interrupted = self.stop_requested and self.step < config.steps
        result.train_seconds = self.train_seconds
        return result

    def _scale_learning_rates(self, base_lrs: dict[str, list[float]], factor: float) -> None:
        """Set every optimizer's learning rates to ``factor`` times their configured values."""
        for name, optimizer in self.family.optimizers.items():
            for group, lr in zip(optimizer.param_groups, base_lrs[name], strict=True):
                group["lr"] = lr * factor

    def _keep_going(self, write: Callable[[], Any], what: str) -> Any:
        """Write an output; when the disk refuses (read-only, full), warn and keep training: the
        training state stays in memory and the next checkpoint tries again."""
        try:
            return write()
        except OSError as error:
            last = latest_checkpoint(self.checkpoint_dir)
            tqdm.write(
                f"huashi: warning: could not write {what} at step {self.step} ({error}); "
                f"training goes on with its state in memory (newest checkpoint: {last}).",
                file=sys.stderr,
            )
            return None

    def _divergence(self, losses: dict[str, float], check_weights: bool) -> str | None:
        """Why training has diverged (a non-finite or huge loss, or exploding weights), or None."""
        bad = [k for k, v in losses.items() if not math.isfinite(v) or abs(v) > LOSS_LIMIT]
        if bad:
            return "loss " + ", ".join(f"{k}={losses[k]:.4g}" for k in bad)
        if check_weights:
            for name, module in self.family.modules.items():
                for key, param in module.named_parameters():
                    worst = param.detach().abs().max().item() if param.numel() else 0.0
                    if not math.isfinite(worst) or worst > WEIGHT_LIMIT:
                        return f"weights exploding: |{name}.{key}| reaches {worst:.4g}"
        return None

    def _diverged_message(self, problem: str) -> str:
        last = latest_checkpoint(self.checkpoint_dir)
        if last is None:
            return (
                f"training diverged at step {self.step} ({problem}) before its first checkpoint;"
                f" start it again with lower learning rates and full precision: "
                f"`{self.rescue_command()}`."
            )
        return (
            f"training diverged at step {self.step} ({problem}); the last good checkpoint {last}"
            f" is kept. Continue from it with lower learning rates and full precision: "
            f"`{self.rescue_command()}`."
        )

    def rescue_command(self) -> str:
        """The command that continues this run after a divergence (see
        :func:`huashi.training.stopping.rescue_command`)."""
        has_checkpoint = latest_checkpoint(self.checkpoint_dir) is not None
        return stopping.rescue_command(
            self.family.name, self.family.config, self.run_dir, self.config.steps, has_checkpoint
        )
