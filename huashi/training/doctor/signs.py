"""The failure signs of GAN training, each a pure check of the log records, and the vital signs
a GAN family logs for them (diversity, gradient norms)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from huashi.training.doctor.remedies import remedy

MIN_WINDOW = 5  # records in the window a trend check needs

MIN_RECORDS = 12  # records a trend check needs in all

#: Steps of a GAN's opening, when D first learns fast and G then catches up: G's loss falls and
#: D's rises by design, so the "D not working" trend is judged only after them.
OPENING_STEPS = 200


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


def check_nan(records: Sequence[dict[str, Any]], config: Mapping[str, Any]) -> Finding | None:
    for record in records:
        bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            shown = ", ".join(f"{k}={record[k]}" for k in bad)
            return Finding(
                "nan", "a loss or gradient became NaN/inf", f"{shown} at step {record['step']}",
                remedy("nan", config), int(record["step"]),
            )  # fmt: skip
    return None


def check_d_collapse(
    records: Sequence[dict[str, Any]], config: Mapping[str, Any]
) -> Finding | None:
    """D's loss near 0: it separates real from fake perfectly (not for WGAN, whose critic loss
    has no floor)."""
    loss = config.get("loss", "nsgan")
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
            remedy("d_collapse", config), window[-1][0],
        )  # fmt: skip
    return None


def check_d_not_working(
    records: Sequence[dict[str, Any]], config: Mapping[str, Any]
) -> Finding | None:
    """G's loss falls steadily while D's rises, after the opening."""
    loss = config.get("loss", "nsgan")
    if loss.startswith("wgan"):
        return None
    after_opening = [r for r in records if r["step"] > OPENING_STEPS]
    g, d = _series(after_opening, "g_loss"), _series(after_opening, "d_loss")
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
            remedy("d_not_working", config), g_w[-1][0],
        )  # fmt: skip
    return None


def check_saturated(records: Sequence[dict[str, Any]], config: Mapping[str, Any]) -> Finding | None:
    """D(x) -> 1 and D(G(z)) -> 0 (only for losses that log probabilities)."""
    real, fake = _series(records, "d_real"), _series(records, "d_fake")
    if min(len(real), len(fake)) < MIN_RECORDS:
        return None
    real_w, fake_w = _window(real), _window(fake)
    if _mean(real_w) > 0.99 and _mean(fake_w) < 0.01:
        return Finding(
            "saturated", "D is saturated: D(x) -> 1 and D(G(z)) -> 0",
            f"mean D(x) {_mean(real_w):.4f}, D(G(z)) {_mean(fake_w):.4f} over {_span(real_w)}",
            remedy("saturated", config), real_w[-1][0],
        )  # fmt: skip
    return None


def check_exploding(records: Sequence[dict[str, Any]], config: Mapping[str, Any]) -> Finding | None:
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
                remedy("exploding", config), window[-1][0],
            )  # fmt: skip
    return None


def check_mode_collapse(
    records: Sequence[dict[str, Any]], config: Mapping[str, Any]
) -> Finding | None:
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
            remedy("mode_collapse", config), window[-1][0],
        )  # fmt: skip
    return None


def check_fixed_seed_collapse(
    series: Sequence[tuple[int, float]],
    config: Mapping[str, Any],
    data_diversity: float | None = None,
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
            remedy("mode_collapse", config), step,
        )  # fmt: skip
    return None


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean L2 distance between the images of a batch, per pixel (RMS): a diversity measure."""
    flat = images.detach().float().flatten(1)
    if len(flat) < 2:
        return 0.0
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5
    n = len(flat)
    return float(distances.sum() / (n * (n - 1)))


def grad_norm(module: nn.Module) -> float:
    norms = [p.grad.detach().float().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0
