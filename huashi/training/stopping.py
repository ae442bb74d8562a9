"""The rules that stop a training, said at its start, and the one line at its end saying which
rule stopped it and how to continue."""

from __future__ import annotations

from pathlib import Path


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
