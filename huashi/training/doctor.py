"""The training doctor: the seed's failure signs of GAN training, read from the run log.

:func:`diagnose` is a pure function of the JSONL log records (``d_loss``, ``g_loss``, ``d_real``
/ ``d_fake``, ``d_grad_norm`` / ``g_grad_norm``, ``diversity`` / ``data_diversity``; keys a
family does not log are skipped) and the run's config. Each :class:`Finding` names the sign, the
evidence in the log and the seed's remedy, built from the config: only settings the run does not
use yet, and for a setting in use, what to change about it. :class:`DoctorCallback` watches a
run and prints each finding once, when it first appears; ``huashi doctor RUN`` prints the
diagnosis of a finished or running run.

The checks look at the most recent quarter of the records (at least ``MIN_WINDOW`` records) so
that a run that recovered is not reported for an old problem.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# --- remedies, built from the run's config ------------------------------------------------------
#
# Each remedy lists only what the run does not use yet; a setting already in use gets a stronger
# dose instead (or is left out when there is none). A suggestion is its text and the settings it
# proposes (config field -> value), so that a test can apply each one and check it is new.

LABEL_LOSSES = ("bce", "nsgan", "lsgan")  # the losses with real/fake targets (smoothing, flips)
AUGMENT_ORDER = ("color", "translation", "cutout")  # the DiffAugment policies
Suggestion = tuple[str, dict[str, Any]]


def _fmt(x: float) -> str:
    """A number as a person writes it on the command line: 2e-4, 0.05, 64."""
    if x == 0 or abs(x) >= 0.01:
        return f"{x:g}"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


class _Run:
    """The run's config as the remedies read it; options its family lacks are collected."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.loss = str(config.get("loss", "nsgan"))
        self.lacks: list[str] = []

    def has(self, key: str, flag: str = "") -> bool:
        if key in self.config:
            return True
        if (flag or _flag(key)) not in self.lacks:
            self.lacks.append(flag or _flag(key))
        return False

    def penalty_norm(self) -> dict[str, Any]:
        """Gradient penalties cannot work through BatchNorm in D: switch it off with them."""
        return {"d_norm": "instance"} if self.config.get("d_norm") == "batch" else {}

    def labels_off(self) -> dict[str, Any]:
        """A loss without labels cannot smooth or flip them: switch those off with it."""
        off: dict[str, Any] = {}
        if self.config.get("label_smoothing"):
            off["label_smoothing"] = False
        if self.config.get("label_flip", 0) > 0:
            off["label_flip"] = 0.0
        return off


def _settings_text(settings: dict[str, Any]) -> str:
    """{"loss": "hinge", "label_smoothing": False} -> "--loss hinge, without --label-smoothing"."""
    parts, offs = [], []
    for key, value in settings.items():
        if value is False or (key == "label_flip" and value == 0):
            offs.append(_flag(key))
        elif value is True:
            parts.append(_flag(key))
        elif isinstance(value, float):
            parts.append(f"{_flag(key)} {_fmt(value)}")
        else:
            parts.append(f"{_flag(key)} {value}")
    return " ".join(parts) + (f", without {' and '.join(offs)}" if offs else "")


def _lower_lr(run: _Run, nets: str) -> Suggestion | None:
    """Halve the learning rate of D, G or both ("d", "g", "gd"); one --lr for both in dcgan."""
    keys = [f"lr_{net}" for net in nets if f"lr_{net}" in run.config]
    if not keys and "lr" in run.config:
        keys = ["lr"]
    if not keys:
        return None
    settings = {key: float(run.config[key]) / 2 for key in keys}
    changes = " and ".join(
        f"{_flag(key)} from {_fmt(run.config[key])} to {_fmt(settings[key])}" for key in keys
    )
    return f"lower {changes}", settings


def _raise_lr_d(run: _Run) -> Suggestion | None:
    if "lr_d" not in run.config:
        return None  # dcgan's one --lr would speed up G as well
    value = float(run.config["lr_d"])
    return f"raise --lr-d from {_fmt(value)} to {_fmt(2 * value)}", {"lr_d": 2 * value}


def _precision(run: _Run) -> Suggestion | None:
    now = run.config.get("precision", "auto")
    if now == "fp32":
        return None
    why = "auto picks bf16 on some machines" if now == "auto" else f"not {now}"
    return f"train in full precision (--precision fp32; {why})", {"precision": "fp32"}


def _penalty(run: _Run) -> Suggestion | None:
    if not run.has("r1_weight"):
        return None
    gp = run.config.get("gp_weight")
    gp_weight = float(gp) if gp is not None else (10.0 if run.loss == "wgan-gp" else 0.0)
    r1 = float(run.config.get("r1_weight", 0.0))
    if gp_weight > 0:
        settings = {"gp_weight": 2 * gp_weight, **run.penalty_norm()}
        change = f"from {_fmt(gp_weight)} to {_fmt(2 * gp_weight)}"
        return f"raise the gradient penalty (--gp-weight {change})", settings
    if r1 > 0:
        settings = {"r1_weight": 2 * r1, **run.penalty_norm()}
        return f"raise the R1 penalty (--r1-weight from {_fmt(r1)} to {_fmt(2 * r1)})", settings
    settings = {"r1_weight": 1.0, **run.penalty_norm()}
    return f"add a gradient penalty ({_settings_text(settings)})", settings


def _spectral_norm(run: _Run) -> Suggestion | None:
    if not run.has("spectral_norm") or run.config["spectral_norm"]:
        return None
    return "spectral norm (--spectral-norm)", {"spectral_norm": True}


def _label_smoothing(run: _Run) -> Suggestion | None:
    if run.loss not in LABEL_LOSSES or not run.has("label_smoothing"):
        return None
    if not run.config["label_smoothing"]:
        return "label smoothing (--label-smoothing)", {"label_smoothing": True}
    low, high = run.config.get("real_label_range", (0.7, 1.2))
    if low <= 0.55:
        return None
    wider = [round(low - 0.1, 2), high]
    return (
        f"already --label-smoothing: widen --real-label-range from [{_fmt(low)}, {_fmt(high)}] "
        f"to [{_fmt(wider[0])}, {_fmt(high)}]",
        {"real_label_range": wider},
    )


def _instance_noise(run: _Run) -> Suggestion | None:
    if not run.has("instance_noise"):
        return None
    noise = float(run.config["instance_noise"])
    if noise == 0:
        return "instance noise (--instance-noise 0.1)", {"instance_noise": 0.1}
    steps = int(run.config.get("instance_noise_steps", 2000))
    return (
        f"already --instance-noise {_fmt(noise)}: anneal it over twice the steps "
        f"(--instance-noise-steps from {steps} to {2 * steps})",
        {"instance_noise_steps": 2 * steps},
    )


def _augment(run: _Run) -> Suggestion | None:
    if not run.has("diffaugment"):
        return None
    policy = [name.strip() for name in str(run.config["diffaugment"]).split(",") if name.strip()]
    missing = [name for name in AUGMENT_ORDER if name not in policy]
    if not policy:
        full = ",".join(AUGMENT_ORDER)
        return f"DiffAugment (--diffaugment {full})", {"diffaugment": full}
    if missing:
        full = ",".join(policy + missing)
        return (
            f"already --diffaugment {','.join(policy)}: add {' and '.join(missing)} "
            f"(--diffaugment {full})",
            {"diffaugment": full},
        )
    if not run.has("ada_target"):
        return None
    target = float(run.config["ada_target"])
    if target == 0:
        return (
            f"already --diffaugment {','.join(policy)}: add adaptive augmentation "
            "(--ada-target 0.6)",
            {"ada_target": 0.6},
        )
    if target <= 0.35:
        return None
    lower = round(target - 0.1, 2)
    return (
        f"already --ada-target {_fmt(target)}: lower it to {_fmt(lower)} (more augmentation)",
        {"ada_target": lower},
    )


def _label_flip(run: _Run) -> Suggestion | None:
    if run.loss not in LABEL_LOSSES or not run.has("label_flip"):
        return None
    flip = float(run.config["label_flip"])
    if flip == 0:
        return "label flipping (--label-flip 0.05)", {"label_flip": 0.05}
    if flip >= 0.2:
        return None
    more = round(min(2 * flip, 0.2), 3)
    return f"raise --label-flip from {_fmt(flip)} to {_fmt(more)}", {"label_flip": more}


def _hinge_with_spectral_norm(run: _Run) -> Suggestion | None:
    settings: dict[str, Any] = {}
    if run.has("loss", "--loss hinge") and run.loss != "hinge":
        settings |= {"loss": "hinge", **run.labels_off()}
    if run.has("spectral_norm") and not run.config["spectral_norm"]:
        settings["spectral_norm"] = True
    if not settings:
        return None
    return f"spectral norm with the hinge loss ({_settings_text(settings)})", settings


def _wgan_gp(run: _Run) -> Suggestion | None:
    if not run.has("loss", "--loss wgan-gp") or run.loss == "wgan-gp":
        return None
    settings = {"loss": "wgan-gp", **run.penalty_norm(), **run.labels_off()}
    return f"WGAN-GP ({_settings_text(settings)})", settings


def _non_saturating_remedy(run: _Run) -> Suggestion | None:
    if not run.has("loss", "--loss hinge"):
        return None
    if run.loss == "bce":
        return "the non-saturating G loss (--loss nsgan)", {"loss": "nsgan"}
    if run.loss != "hinge":
        settings = {"loss": "hinge", **run.labels_off()}
        return f"the hinge loss ({_settings_text(settings)})", settings
    return None


def _stronger_d(run: _Run) -> list[Suggestion | None]:
    found: list[Suggestion | None] = []
    if run.has("d_steps"):
        steps = int(run.config["d_steps"])
        text = f"give D more updates (--d-steps from {steps} to {steps + 1})"
        found.append((text, {"d_steps": steps + 1}))
    if "d_width" in run.config:
        width = int(run.config["d_width"])
        text = f"more capacity (--d-width from {width} to {2 * width})"
        found.append((text, {"d_width": 2 * width}))
    return [*found, _raise_lr_d(run)]


def _d_handicaps(run: _Run) -> list[Suggestion | None]:
    """What weakens D in this run (only what it uses)."""
    config = run.config
    found: list[Suggestion | None] = []
    if config.get("instance_noise", 0) > 0:
        noise = float(config["instance_noise"])
        text = f"lower --instance-noise from {_fmt(noise)} to {_fmt(noise / 2)}"
        found.append((text, {"instance_noise": noise / 2}))
    if config.get("label_flip", 0) > 0:
        found.append((f"drop --label-flip {_fmt(config['label_flip'])}", {"label_flip": 0.0}))
    if config.get("label_smoothing"):
        found.append(("drop --label-smoothing", {"label_smoothing": False}))
    if config.get("d_optimizer") == "sgd":
        found.append(("use Adam for D (--d-optimizer adam)", {"d_optimizer": "adam"}))
    return found


def _suggestions(code: str, run: _Run) -> tuple[str, list[Suggestion | None], str]:
    """The lead-in, the suggestions and the closing words of the remedy for ``code``."""
    if code == "d_collapse":
        return "D wins too easily", [
            _lower_lr(run, "d"), _label_smoothing(run), _instance_noise(run), _augment(run),
            _spectral_norm(run),
        ], ""  # fmt: skip
    if code == "d_not_working":
        return "D is not doing its job (G fools it more and more easily)", [
            *_stronger_d(run), *_d_handicaps(run),
        ], ""  # fmt: skip
    if code == "saturated":
        return "G's gradients vanish when D is this sure", [
            _non_saturating_remedy(run), _label_smoothing(run), _instance_noise(run),
            _lower_lr(run, "d"),
        ], ""  # fmt: skip
    if code == "mode_collapse":
        return "G makes almost the same image for every z", [
            _label_flip(run), _augment(run), _hinge_with_spectral_norm(run), _wgan_gp(run),
            _lower_lr(run, "g"),
        ], "or go back to an earlier checkpoint"  # fmt: skip
    if code in ("nan", "exploding"):
        tail = "then --resume from the last good checkpoint" if code == "nan" else ""
        return "", [
            _lower_lr(run, "gd"), _precision(run), _penalty(run), _spectral_norm(run),
        ], tail  # fmt: skip
    raise ValueError(f"no remedy for {code!r}")


def suggestions(code: str, config: Mapping[str, Any]) -> list[Suggestion]:
    """The remedy's suggestions for a finding ``code`` as (text, proposed settings) pairs."""
    _, found, _ = _suggestions(code, _Run(config))
    return [s for s in found if s is not None]


def remedy(code: str, config: Mapping[str, Any]) -> str:
    """The remedy for a finding ``code`` in a run with ``config`` (the family's config as a dict,
    with the run's ``precision`` when known): only settings the run does not use yet, and for a
    setting in use, what to change about it."""
    run = _Run(config)
    lead, found, tail = _suggestions(code, run)
    parts = [text for text, _ in (s for s in found if s is not None)]
    if run.lacks:
        lacks = ", ".join(run.lacks[:-1]) + (" or " if len(run.lacks) > 1 else "") + run.lacks[-1]
        parts.append(f"this family has no {lacks} (`huashi train gan` has)")
    if tail:
        parts.append(tail)
    text = "; ".join(parts)
    return f"{lead}: {text}" if lead else text


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
