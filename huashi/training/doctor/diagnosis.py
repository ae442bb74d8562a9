"""The diagnosis of a run: every sign in its log with its remedy (:func:`diagnose`), the
diversity of its progress grids, checks of a run folder, and the callback that watches a
training run."""

from __future__ import annotations

import dataclasses
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huashi.training.doctor.remedies import remedy
from huashi.training.doctor.signs import (
    Finding,
    check_d_collapse,
    check_d_not_working,
    check_exploding,
    check_fixed_seed_collapse,
    check_mode_collapse,
    check_nan,
    check_saturated,
)


def diagnose(
    records: Sequence[dict[str, Any]],
    config: Mapping[str, Any],
    fixed_seed_diversity: Sequence[tuple[int, float]] = (),
) -> list[Finding]:
    """Every failure sign present in the log ``records`` of a GAN run with ``config`` (the
    family's config as a dict, with the run's ``precision`` when known; its ``loss`` is nsgan
    when it names none), and in the diversity of its fixed-seed progress grids, when given.
    Each finding's remedy is built from ``config``."""
    data = [r["data_diversity"] for r in records if "data_diversity" in r]
    fixed = check_fixed_seed_collapse(
        fixed_seed_diversity, config, statistics.fmean(data) if data else None
    )
    batch = check_mode_collapse(records, config)
    checks = (
        check_nan(records, config),
        check_d_collapse(records, config),
        check_d_not_working(records, config),
        check_saturated(records, config),
        check_exploding(records, config),
        batch or fixed,
    )
    return [finding for finding in checks if finding is not None]


def grid_diversity(path: Path, resolution: int, n: int, padding: int = 2) -> float:
    """Mean pairwise RMS distance (images in [-1, 1]) between the ``n`` tiles of a progress grid
    written by :func:`huashi.core.images.save_grid` (``round(sqrt(n))`` tiles per row)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        grid = np.asarray(image.convert("RGB"), dtype=np.float64) / 127.5 - 1
    step = resolution + padding
    # Tiles per row and rows as the grid holds them (families may lay out their own grids).
    per_row = max(1, (grid.shape[1] - padding) // step)
    rows = max(0, (grid.shape[0] - padding) // step)
    n = min(n, per_row * rows)
    tiles = [
        grid[padding + (i // per_row) * step :, padding + (i % per_row) * step :][
            :resolution, :resolution
        ].ravel()
        for i in range(n)
    ]
    if len(tiles) < 2:
        return 0.0
    flat = np.stack(tiles)
    if len(flat) < 2:
        return 0.0
    squared = (flat**2).sum(1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None] - 2 * flat @ flat.T, 0))
    return float(distances.sum() / (len(flat) * (len(flat) - 1)) / flat.shape[1] ** 0.5)


def is_gan_log(records: Sequence[dict[str, Any]]) -> bool:
    """The GAN checks need a discriminator's and a generator's losses in the log."""
    return any("d_loss" in r for r in records) and any("g_loss" in r for r in records)


def run_checks(
    run_dir: Path, records: Sequence[dict[str, Any]], config: Mapping[str, Any]
) -> tuple[list[Finding], str]:
    """Checks for a run of any family (``config`` as for :func:`diagnose`): a recorded
    divergence, exploded or non-finite weights in its newest checkpoint. Also a note when the GAN
    checks do not apply to its log."""
    from huashi.training.checkpoint import latest_checkpoint
    from huashi.training.logging import read_events

    findings = []
    for event in read_events(run_dir / "log.jsonl"):
        if event["event"] == "diverged":
            findings.append(Finding(
                "diverged", "training diverged and stopped",
                f"{event.get('reason')} at step {event['step']}; the last good checkpoint is "
                f"{event.get('checkpoint') or 'none'}",
                f"continue from it with lower learning rates in fp32: `{event.get('command')}`",
                int(event["step"]),
            ))  # fmt: skip
    newest = latest_checkpoint(run_dir / "checkpoints")
    if newest is not None:
        worst = checkpoint_weight_size(newest.with_suffix(".safetensors"))
        if worst is not None and not worst <= WEIGHT_LIMIT:
            findings.append(Finding(
                "exploded", "the weights exploded: the model's images are saturated or blank",
                f"the largest weight in {newest.name} is {worst:.3g} (healthy: well under "
                f"{WEIGHT_LIMIT:g})", remedy("exploding", config) + "; train again from an earlier "
                "checkpoint or from scratch", int(newest.stem.removeprefix("step-")),
            ))  # fmt: skip
    note = ""
    if records and not is_gan_log(records):
        note = "no GAN checks for this family (its log has no d_loss/g_loss)"
    return findings, note


WEIGHT_LIMIT = 1e4  # as the trainer's divergence check


def checkpoint_weight_size(path: Path) -> float | None:
    """The largest absolute model weight (inf for NaN/inf) in a checkpoint's safetensors file."""
    import torch
    from safetensors import SafetensorError, safe_open

    worst = 0.0
    try:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (a safetensors file, not a dict)
                if key.startswith("modules/"):
                    value = f.get_tensor(key)
                    if value.is_floating_point() and value.numel():
                        if not torch.isfinite(value).all():
                            return float("inf")
                        worst = max(worst, value.abs().max().item())
    except (OSError, SafetensorError):
        return None
    return worst


def trainer_config(trainer: Any) -> dict[str, Any]:
    """The config the doctor reads from a live trainer: its family's config and precision."""
    return {**dataclasses.asdict(trainer.family.config), "precision": trainer.config.precision}


class DoctorCallback:
    """A trainer callback: keeps every step's losses, runs :func:`diagnose` every ``every``
    steps with the trainer's live config (its family's config and precision) and prints each kind
    of finding once, when it first appears."""

    def __init__(self, every: int = 10, stream: Any = None, keep: int = 5000) -> None:
        self.keep = keep
        self.every = every
        self.stream = stream
        self.records: list[dict[str, Any]] = []
        self.reported: dict[str, Finding] = {}

    def __call__(self, trainer: Any, losses: dict[str, float]) -> None:
        self.records.append({"step": trainer.step, **losses})
        del self.records[: -self.keep]
        if trainer.step % self.every:
            return
        for finding in diagnose(self.records, trainer_config(trainer)):
            if finding.code not in self.reported:
                self.reported[finding.code] = finding
                self._print(f"training doctor, step {trainer.step}: {finding}")

    def _print(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=self.stream or sys.stderr)
