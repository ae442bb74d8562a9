"""The seed's remedies, built from the run's config: only settings the run does not use yet, and
for a setting in use, what to change about it (config field -> value, so a test can apply each)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
