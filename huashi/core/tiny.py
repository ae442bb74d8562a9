"""``HUASHI_DOCS_TINY=1``: every command runs as written but with tiny work sizes.

The docs' examples are tests (``tests/test_docs.py``). They run each command exactly as the
docs print it, with this one environment variable set; the command line then caps the sizes that
only cost time (training steps and batch, a diffusion U-Net's width, images painted, sampler and
optimizer steps, distilled pairs, octaves, scores' sample counts) so a 2,000-step training
finishes in seconds. Nothing else
changes: flags, files and messages are those a user gets. Never set it for real work.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

ENV = "HUASHI_DOCS_TINY"

#: attribute of the parsed command line -> its largest value under HUASHI_DOCS_TINY.
CAPS = {
    "steps": 2,
    "n": 4,
    "pairs": 4,
    "octaves": 2,
    "batch_size": 4,
    "n_fixed": 4,
    "copies": 2,
    "eval_n": 130,  # images a score is computed on (FID needs one more than 128 features)
}
TRAIN_FIELDS = ("steps", "batch_size", "n_fixed")
#: A new run's model settings under HUASHI_DOCS_TINY, per family, where not given: the one
#: family whose default width makes its sampling cost minutes (a 64-channel U-Net) gets 16.
MODELS = {"diffusion": {"base_channels": 16, "norm_groups": 8}}


def enabled() -> bool:
    """Whether ``HUASHI_DOCS_TINY`` is set to something other than '' or '0'."""
    return os.environ.get(ENV, "") not in ("", "0")


def cap(name: str, value: int) -> int:
    """``value`` capped at ``CAPS[name]`` when :func:`enabled`, else unchanged."""
    return min(value, CAPS[name]) if enabled() and isinstance(value, int) else value


def sampling(options: dict[str, Any]) -> dict[str, Any]:
    """Sampling options with their sampler ``steps`` capped (when given)."""
    if options.get("steps") is None:
        return options
    return {**options, "steps": cap("steps", options["steps"])}


def train_options(options: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """A new training's options under ``HUASHI_DOCS_TINY``: 2 steps, a batch of 4, a 4-image
    preview, no time cap (whatever the flags, recipe or defaults said). A resume keeps its run's
    plan, with ``steps`` capped at 4 (2 more) when given."""
    if resume:  # the run's own (tiny) batch and preview; 2 more steps when --steps is given
        shrunk = {k: min(v, CAPS[k]) for k, v in options.items() if k in TRAIN_FIELDS and v}
        if options.get("steps"):
            shrunk["steps"] = min(options["steps"], 2 * CAPS["steps"])
        return {**options, **shrunk}
    tiny = {name: min(options.get(name) or CAPS[name], CAPS[name]) for name in TRAIN_FIELDS}
    return {**options, **tiny, "max_minutes": 0.0}


def model_options(family: str | None, model: dict[str, Any] | None) -> dict[str, Any]:
    """A new run's model settings with the family's tiny defaults (:data:`MODELS`) underneath."""
    return {**MODELS.get(str(family), {}), **(model or {})}


def shrink(args: argparse.Namespace) -> argparse.Namespace:
    """Cap a parsed command line's sizes (see :data:`CAPS`) in place. Trainings are shrunk by
    :func:`train_options` in :func:`huashi.api.train`."""
    command = getattr(args, "command", None)
    if command in ("train", "resume"):  # huashi.api.train shrinks them (train_options)
        return args
    for name, limit in CAPS.items():
        if name == "n" and command in ("eval", "compare"):
            limit = CAPS["eval_n"]
        value = getattr(args, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            setattr(args, name, limit)
    if isinstance(getattr(args, "sweep", None), str):
        args.sweep = _tiny_sweep(args.sweep)
    return args


def _tiny_sweep(sweep: str) -> str:
    """``ddim:50,heun:10`` -> ``ddim:2,heun:2``."""
    pairs = []
    for part in sweep.split(","):
        name, sep, steps = part.partition(":")
        pairs.append(f"{name}:{min(int(steps), CAPS['steps'])}" if steps.isdigit() else part)
    return ",".join(pairs)
