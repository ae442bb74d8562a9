"""The rules that stop a training, said at its start, and the one line at its end saying which
rule stopped it and how to continue (also after a divergence: :func:`rescue_command`)."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def plan_line(run_dir: Path, step: int, steps: int, max_minutes: float, seconds: float) -> str:
    """``run: from step 0 to step 2000, or until 10 min of training in all (...)``."""
    start = "from step 0" if step == 0 else f"resuming at step {step}"
    line = f"{run_dir}: {start}, training to step {steps} (--steps)"
    if max_minutes > 0:
        used = f"; {_minutes(seconds)} used so far" if seconds > 0 else ""
        line += (
            f" or until {max_minutes:g} min of training in all (--max-minutes, a recipe's budget"
            f"{used}), whichever comes first"
        )
    return line + "."


def stop_line(
    run_dir: Path,
    step: int,
    steps: int,
    max_minutes: float,
    seconds: float,
    interrupted: bool,
    time_limited: bool,
) -> str:
    """Why a training stopped (steps reached, time cap, Ctrl-C/SIGTERM) and how to go on."""
    if interrupted:
        return (
            f"stopped at step {step} of {steps}: interrupted (Ctrl-C or SIGTERM). Continue with "
            f"`huashi resume {run_dir}`."
        )
    if time_limited and step < steps:
        return (
            f"stopped at step {step} of {steps}: the time cap of {max_minutes:g} min of training "
            f"in all was reached ({_minutes(seconds)}). Continue with `huashi resume {run_dir} "
            f"--max-minutes 0` (no cap) or a larger --max-minutes."
        )
    return (
        f"stopped at step {step}: the {steps} steps asked for are done. Train further with "
        f"`huashi resume {run_dir} --steps {2 * steps}`."
    )


def rescue_command(
    family: str, config: Any, run_dir: Path, steps: int, has_checkpoint: bool
) -> str:
    """The command that continues a diverged run (or, before its first checkpoint, starts it
    again from its saved config) to the same step count, in fp32, with a tenth of its
    learning rates, or of the family's defaults where the run's were higher."""
    flags = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        is_rate = f.name == "lr" or f.name.startswith("lr_") or f.name.endswith("_lr")
        if is_rate and isinstance(value, (int, float)) and not isinstance(value, bool):
            default = f.default if isinstance(f.default, (int, float)) else value
            flags.append(f"--{f.name.replace('_', '-')} {min(value, default) / 10:g}")
    out, steps_flag = shlex.quote(str(run_dir)), f"--steps {steps}"
    start = ["huashi train", family, "--out", out, steps_flag, "--resume"]
    if not has_checkpoint:
        config_file = shlex.quote(str(run_dir / "config.json"))
        start = ["huashi train", family, "--config", config_file, "--out", out, steps_flag]
    return " ".join([*start, *flags, "--precision fp32"])
