"""The training doctor: the seed's failure signs of GAN training, read from the run log.

:func:`diagnose` is a pure function of the JSONL log records (``d_loss``, ``g_loss``, ``d_real``
/ ``d_fake``, ``d_grad_norm`` / ``g_grad_norm``, ``diversity`` / ``data_diversity``; keys a
family does not log are skipped). Each :class:`Finding` names the sign, the evidence in the log
and the seed's remedy. :class:`DoctorCallback` watches a run and prints each finding once, when
it first appears; ``huashi doctor RUN`` prints the diagnosis of a finished or running run.

The checks look at the most recent quarter of the records (at least ``MIN_WINDOW`` records) so
that a run that recovered is not reported for an old problem.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_WINDOW = 5  # records in the window a trend check needs
MIN_RECORDS = 12  # records a trend check needs in all

REMEDIES = {
    "nan": "lower the learning rates, train in --precision fp32, add a gradient penalty "
    "(--loss wgan-gp or --r1-weight) or spectral norm, then --resume from the last good checkpoint",
    "d_collapse": "D wins too easily: lower D's learning rate (--lr-d), add label smoothing "
    "(--label-smoothing), instance noise (--instance-noise 0.1), DiffAugment "
    "(--diffaugment color,translation,cutout) or spectral norm (--spectral-norm)",
    "d_not_working": "D is not doing its job (G fools it more and more easily): give D more "
    "updates (--d-steps 2) or capacity (--d-width), raise its learning rate, or weaken what "
    "handicaps it (less instance noise, label flipping or dropout)",
    "saturated": "G's gradients vanish when D is this sure: use the non-saturating G loss "
    "(--loss nsgan) or hinge, label smoothing (--label-smoothing), instance noise, or a lower "
    "D learning rate",
    "exploding": "lower the learning rates, add a gradient penalty (--loss wgan-gp or "
    "--r1-weight 1) or spectral norm (--spectral-norm), or use --precision fp32",
    "mode_collapse": "G makes almost the same image for every z: use label flipping "
    "(--label-flip 0.05), DiffAugment, spectral norm with the hinge loss, WGAN-GP, a lower G "
    "learning rate, or go back to an earlier checkpoint",
}


@dataclass(frozen=True)
class Finding:
    code: str
    sign: str
    evidence: str
    remedy: str
    step: int  # the last step of the evidence

    def __str__(self) -> str:
        return f"[{self.code}] {self.sign} ({self.evidence}). Remedy: {self.remedy}."


def _series(records: Sequence[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in records if key in r]


def _window(series: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return series[-max(MIN_WINDOW, len(series) // 4) :]


def _mean(series: list[tuple[int, float]]) -> float:
    return statistics.fmean(v for _, v in series)


def _span(series: list[tuple[int, float]]) -> str:
    return f"steps {series[0][0]}-{series[-1][0]}"


def _trend(series: list[tuple[int, float]]) -> float:
    """Pearson correlation of value with step (+1: rising steadily, -1: falling steadily)."""
    steps, values = [s for s, _ in series], [v for _, v in series]
    if len(set(values)) < 2 or len(set(steps)) < 2:
        return 0.0
    return statistics.correlation(steps, values)


def check_nan(records: Sequence[dict[str, Any]]) -> Finding | None:
    for record in records:
        bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            shown = ", ".join(f"{k}={record[k]}" for k in bad)
            return Finding(
                "nan", "a loss or gradient became NaN/inf", f"{shown} at step {record['step']}",
                REMEDIES["nan"], int(record["step"]),
            )  # fmt: skip
    return None


def check_d_collapse(records: Sequence[dict[str, Any]], loss: str) -> Finding | None:
    """D's loss near 0: it separates real from fake perfectly (not for WGAN, whose critic loss
    has no floor)."""
    if loss.startswith("wgan"):
        return None
    series = _series(records, "d_loss")
    if len(series) < MIN_RECORDS:
        return None
    window = _window(series)
    threshold = 0.01 if loss == "lsgan" else 0.05
    if _mean(window) < threshold and max(v for _, v in window) < 4 * threshold:
        return Finding(
            "d_collapse", "D loss collapsed to ~0",
            f"d_loss averaged {_mean(window):.4f} over {_span(window)}",
            REMEDIES["d_collapse"], window[-1][0],
        )  # fmt: skip
    return None


def check_d_not_working(records: Sequence[dict[str, Any]], loss: str) -> Finding | None:
    """G's loss falls steadily while D's rises."""
    if loss.startswith("wgan"):
        return None
    g, d = _series(records, "g_loss"), _series(records, "d_loss")
    if min(len(g), len(d)) < MIN_RECORDS:
        return None
    g_w, d_w = g[-max(MIN_RECORDS, len(g) // 2) :], d[-max(MIN_RECORDS, len(d) // 2) :]
    third = len(g_w) // 3
    g_drop = _mean(g_w[:third]) - _mean(g_w[-third:])
    d_rise = _mean(d_w[-third:]) - _mean(d_w[:third])
    scale = max(abs(_mean(g_w[:third])), 1e-3)
    if _trend(g_w) < -0.7 and _trend(d_w) > 0.7 and g_drop > 0.2 * scale and d_rise > 0:
        return Finding(
            "d_not_working", "G loss falls steadily while D loss rises",
            f"g_loss {_mean(g_w[:third]):.3f} -> {_mean(g_w[-third:]):.3f}, d_loss "
            f"{_mean(d_w[:third]):.3f} -> {_mean(d_w[-third:]):.3f} over {_span(g_w)}",
            REMEDIES["d_not_working"], g_w[-1][0],
        )  # fmt: skip
    return None


def check_saturated(records: Sequence[dict[str, Any]]) -> Finding | None:
    """D(x) -> 1 and D(G(z)) -> 0 (only for losses that log probabilities)."""
    real, fake = _series(records, "d_real"), _series(records, "d_fake")
    if min(len(real), len(fake)) < MIN_RECORDS:
        return None
    real_w, fake_w = _window(real), _window(fake)
    if _mean(real_w) > 0.99 and _mean(fake_w) < 0.01:
        return Finding(
            "saturated", "D is saturated: D(x) -> 1 and D(G(z)) -> 0",
            f"mean D(x) {_mean(real_w):.4f}, D(G(z)) {_mean(fake_w):.4f} over {_span(real_w)}",
            REMEDIES["saturated"], real_w[-1][0],
        )  # fmt: skip
    return None


def check_exploding(records: Sequence[dict[str, Any]]) -> Finding | None:
    """A gradient norm far above its early level (or astronomically large)."""
    for key in ("d_grad_norm", "g_grad_norm"):
        series = _series(records, key)
        if len(series) < MIN_RECORDS:
            continue
        early = statistics.median(v for _, v in series[: max(3, len(series) // 4)])
        window = _window(series)
        latest = statistics.median(v for _, v in window)
        if latest > 1e4 or (latest > 50 * max(early, 1e-3) and latest > 10):
            return Finding(
                "exploding", f"exploding gradients ({key})",
                f"{key} median {latest:.3g} over {_span(window)} against {early:.3g} early",
                REMEDIES["exploding"], window[-1][0],
            )  # fmt: skip
    return None


def check_mode_collapse(records: Sequence[dict[str, Any]]) -> Finding | None:
    """Sample diversity (mean pairwise distance of G's batch) far below the data's and far below
    its own best earlier level, or nearly zero."""
    fake, real = _series(records, "diversity"), _series(records, "data_diversity")
    if min(len(fake), len(real)) < MIN_RECORDS:
        return None
    data = statistics.fmean(v for _, v in real)
    if data <= 0:
        return None
    window = _window(fake)
    now = _mean(window) / data
    earlier = [v / data for _, v in fake[: len(fake) - len(window)]]
    peak = max(earlier, default=now)
    if now < 0.02 or (now < 0.3 and now < 0.3 * peak):
        return Finding(
            "mode_collapse", "sample diversity collapsed (mode collapse)",
            f"G's samples differ by {_mean(window):.4f} on average over {_span(window)}, "
            f"{now:.0%} of the data's {data:.4f} (best earlier: {peak:.0%})",
            REMEDIES["mode_collapse"], window[-1][0],
        )  # fmt: skip
    return None


def check_fixed_seed_collapse(
    series: Sequence[tuple[int, float]], data_diversity: float | None = None
) -> Finding | None:
    """Diversity of the fixed-seed progress grids, ``[(step, mean pairwise distance), ...]``:
    the latest far below its best earlier value (or, given the data's, nearly zero)."""
    if len(series) < 3:
        return None
    step, now = series[-1]
    peak = max(v for _, v in series[:-1])
    collapsed = peak > 0 and now < 0.3 * peak
    constant = data_diversity is not None and now < 0.02 * data_diversity
    if collapsed or constant:
        return Finding(
            "mode_collapse", "the fixed-seed samples lost their diversity (mode collapse)",
            f"the progress grid's images differ by {now:.4f} at step {step}, against "
            f"{peak:.4f} at best before",
            REMEDIES["mode_collapse"], step,
        )  # fmt: skip
    return None


def diagnose(
    records: Sequence[dict[str, Any]],
    loss: str = "nsgan",
    fixed_seed_diversity: Sequence[tuple[int, float]] = (),
) -> list[Finding]:
    """Every failure sign present in the log ``records`` of a GAN trained with ``loss`` (and in
    the diversity of its fixed-seed progress grids, when given)."""
    data = [r["data_diversity"] for r in records if "data_diversity" in r]
    fixed = check_fixed_seed_collapse(
        fixed_seed_diversity, statistics.fmean(data) if data else None
    )
    batch = check_mode_collapse(records)
    checks = (
        check_nan(records),
        check_d_collapse(records, loss),
        check_d_not_working(records, loss),
        check_saturated(records),
        check_exploding(records),
        batch or fixed,
    )
    return [finding for finding in checks if finding is not None]


def grid_diversity(path: Path, resolution: int, n: int, padding: int = 2) -> float:
    """Mean pairwise RMS distance (images in [-1, 1]) between the ``n`` tiles of a progress grid
    written by :func:`huashi.images.save_grid` (``round(sqrt(n))`` tiles per row)."""
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


def run_checks(run_dir: Path, records: Sequence[dict[str, Any]]) -> tuple[list[Finding], str]:
    """Checks for a run of any family: a recorded divergence, exploded or non-finite weights in
    its newest checkpoint. Also a note when the GAN checks do not apply to its log."""
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
                f"{WEIGHT_LIMIT:g})", REMEDIES["exploding"] + "; train again from an earlier "
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


class DoctorCallback:
    """A trainer callback: keeps every step's losses, runs :func:`diagnose` every ``every``
    steps and prints each kind of finding once, when it first appears."""

    def __init__(self, loss: str, every: int = 10, stream: Any = None, keep: int = 5000) -> None:
        self.loss = loss
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
        for finding in diagnose(self.records, self.loss):
            if finding.code not in self.reported:
                self.reported[finding.code] = finding
                self._print(f"training doctor, step {trainer.step}: {finding}")

    def _print(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=self.stream or sys.stderr)
