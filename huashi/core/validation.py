"""Checking values before anything is built: config types, ranges, sizes.

Every config dataclass (the training config and each family's model config) is checked the
same way, whether its values came from command-line flags, a ``--config`` file, the Python API
or a saved ``config.json``: each field's value must have the field's type, and numbers must lie
in the range declared once here by field name (:data:`RANGES`). All problems are reported at
once, one per field, as a single :class:`HuashiError`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError

#: Image sizes a run may use: powers of two in this range.
MIN_RESOLUTION, MAX_RESOLUTION = 4, 1024
#: The most images one ``sample`` call makes (they are held in memory together).
MAX_SAMPLES = 10_000

_ONE_OR_MORE = (1, None, True)
_ZERO_OR_MORE = (0, None, True)
_POSITIVE = (0, None, False)
_FRACTION = (0, 1, True)  # [0, 1)

#: Ranges by field name: (low, high, low included); high is always excluded. Names not here
#: need only be finite, except the patterns of :func:`range_of` (widths, rates, weights).
RANGES: dict[str, tuple[float, float | None, bool]] = {
    **dict.fromkeys(
        (
            "steps", "batch_size", "accumulate", "log_every", "sample_every",
            "checkpoint_every", "n_fixed", "z_dim", "width", "base_channels", "heads",
            "norm_groups", "timesteps", "sample_steps", "text_length", "embed_dim",
            "text_hidden", "cond_dim", "factor", "z_channels", "d_steps", "r1_every",
            "g_max_mult", "channel_mults", "attention_resolutions",
        ),
        _ONE_OR_MORE,
    ),
    **dict.fromkeys(
        (
            "keep_last", "seed", "max_minutes", "weight_decay", "grad_clip", "guidance",
            "instance_noise", "instance_noise_steps", "adv_start", "clip", "res_blocks",
            "d_layers", "dropout_blocks", "disc_layers",
        ),
        _ZERO_OR_MORE,
    ),
    **dict.fromkeys(
        ("ema", "dropout", "cond_dropout", "beta1", "beta2", "label_flip", "lr_decay"),
        _FRACTION,
    ),
    **dict.fromkeys(("temperature", "min_snr_gamma"), _POSITIVE),
}  # fmt: skip


def range_of(name: str) -> tuple[float, float | None, bool] | None:
    """The declared range of a field (by its name), or None (any finite number)."""
    if name in RANGES:
        return RANGES[name]
    if name.endswith("_width"):
        return _ONE_OR_MORE
    if name == "lr" or name.startswith("lr_") or name.endswith("_lr"):
        return _ZERO_OR_MORE  # 0 freezes a network (tests and ablations use it)
    if name.endswith("_weight"):
        return _ZERO_OR_MORE
    return None


def describe_type(kind: Any) -> str:
    names = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
    if kind in names:
        return names[kind]
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        return "a list of " + " or ".join(
            describe_type(a) + "s" for a in set(typing.get_args(kind)) - {...}
        )
    if origin in (typing.Union, types.UnionType):
        return " or ".join(
            "none" if a is type(None) else describe_type(a) for a in typing.get_args(kind)
        )
    return getattr(kind, "__name__", str(kind))


def fits_type(value: Any, kind: Any) -> bool:
    if kind is Any:
        return True
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(fits_type(value, a) for a in args)
    if kind is type(None):
        return value is None
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not ...:
            return len(value) == len(args) and all(map(fits_type, value, args))
        return all(fits_type(v, args[0]) for v in value) if args else True
    if origin is dict or kind is dict:
        return isinstance(value, dict)
    return True  # types this checker does not know are left to the code that uses them


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return []


def problems(cls: type, values: dict[str, Any], section: str = "") -> list[str]:
    """What is wrong with ``values`` for dataclass ``cls``: one line per field."""
    prefix = f"{section}." if section else ""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # annotations that cannot be resolved are not checked
        hints = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    found = []
    for name in sorted(set(values) - set(fields)):
        found.append(f"{prefix}{name} is not a known field")
    for name, f in fields.items():
        if name not in values:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required:
                found.append(f"{prefix}{name} is missing")
            continue
        value, kind = values[name], hints.get(name, Any)
        if not fits_type(value, kind):
            found.append(f"{prefix}{name} must be {describe_type(kind)}, not {value!r}")
            continue
        bounds = range_of(name)
        for number in _numbers(value):
            if not math.isfinite(number):
                found.append(f"{prefix}{name} must be finite, not {number!r}")
                break
            if bounds is None:
                continue
            low, high, low_included = bounds
            below = number < low if low_included else number <= low
            if below or (high is not None and number >= high):
                where = f"{'>=' if low_included else '>'} {low:g}"
                where += f" and < {high:g}" if high is not None else ""
                found.append(f"{prefix}{name} must be {where}, not {number!r}")
                break
    return found


def check_config(config: Any, what: str = "") -> None:
    """Raise one :class:`HuashiError` listing every field of a built config that is wrong."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    check_values(type(config), values, what)


def check_values(cls: type, values: dict[str, Any], what: str = "") -> None:
    """Raise one :class:`HuashiError` listing every wrong field of ``values`` for ``cls``."""
    found = problems(cls, values)
    if found:
        flagged = []
        for line in found:
            name, rest = line.split(" ", 1)
            flagged.append(f"--{name.replace('_', '-')} {rest}")
        raise HuashiError(f"invalid {what or cls.__name__} option(s): {'; '.join(flagged)}.")


def check_resolution(resolution: Any) -> int:
    """Image sizes are powers of two from MIN_RESOLUTION to MAX_RESOLUTION (checked before
    anything is allocated)."""
    ok = isinstance(resolution, int) and not isinstance(resolution, bool)
    if (
        not ok
        or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
        or resolution & (resolution - 1)
    ):
        raise HuashiError(
            f"resolution must be a power-of-two number of pixels from {MIN_RESOLUTION} to "
            f"{MAX_RESOLUTION} (16, 32, 64, ...), not {resolution!r}."
        )
    return resolution


def check_sample_request(n: Any, batch_size: Any) -> None:
    """``n`` images in batches of ``batch_size``: both whole numbers, n bounded."""
    for name, value in (("--n", n), ("--batch-size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise HuashiError(f"{name} must be a whole number >= 1, not {value!r}.")
    if n > MAX_SAMPLES:
        raise HuashiError(
            f"--n {n} is more than the {MAX_SAMPLES:,} images one call holds in memory: sample "
            f"in parts (e.g. --n {MAX_SAMPLES} --seed 0, then --seed {MAX_SAMPLES}, ...)."
        )


def check_output_file(path: str | Path) -> Path:
    """A clear error, before any work, when a file cannot be written at ``path``."""
    path = Path(path).absolute()
    probe = path.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise HuashiError(f"cannot write {path}: {probe} is a file, not a folder.")
    if path.is_dir():
        raise HuashiError(f"cannot write {path}: it is a folder; give a file name.")
    import os

    if not os.access(probe, os.W_OK | os.X_OK):
        raise HuashiError(f"cannot write {path}: {probe} is not writable.")
    return path


def check_output_dir(path: str | Path) -> Path:
    """A clear error, before any work, when a folder cannot be made or written at ``path``."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise HuashiError(f"cannot write into {path}: it is a file, not a folder.")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise HuashiError(f"cannot make {path}: {probe} is a file, not a folder.")
    import os

    if not os.access(probe, os.W_OK | os.X_OK):
        raise HuashiError(f"cannot write into {path}: {probe} is not writable.")
    return path


def read_json_object(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON object from a file, or a one-line error naming the file (e.g. ``--config``)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = "it is not UTF-8 JSON text" if isinstance(error, UnicodeDecodeError) else error
        raise HuashiError(f"cannot read {what} {path}: {reason}.") from None
    if not isinstance(value, dict):
        raise HuashiError(f"{what} {path} must hold a JSON object, not {type(value).__name__}.")
    return value
