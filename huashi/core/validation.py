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
import os
import tempfile
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
            "checkpoint_every", "z_dim", "width", "base_channels",
            "norm_groups", "text_length", "embed_dim",
            "text_hidden", "cond_dim", "factor", "z_channels", "r1_every",
            "g_max_mult", "channel_mults", "attention_resolutions",
        ),
        _ONE_OR_MORE,
    ),
    **dict.fromkeys(
        (
            "keep_last", "max_minutes", "weight_decay", "grad_clip", "guidance",
            "instance_noise", "instance_noise_steps", "adv_start", "clip",
            "d_layers", "dropout_blocks", "disc_layers",
        ),
        _ZERO_OR_MORE,
    ),
    **dict.fromkeys(
        ("ema", "dropout", "cond_dropout", "beta1", "beta2", "label_flip", "lr_decay"),
        _FRACTION,
    ),
    **dict.fromkeys(("temperature", "min_snr_gamma"), _POSITIVE),
    "seed": (0, 2**32, True),  # a training seed is mixed with step and epoch numbers
    "n_fixed": (1, 1_001, True),  # the progress grid: at most MAX_GRID_IMAGES
    # Counts whose huge values hang before any size check could see them:
    "timesteps": (1, 100_001, True), "sample_steps": (1, 100_001, True),
    "heads": (1, 1_025, True), "d_steps": (1, 101, True),
    "mapping_layers": (1, 65, True), "res_blocks": (0, 65, True),
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
                if high is not None and isinstance(number, int):
                    where += f" and <= {high - 1:,}"
                elif high is not None:
                    where += f" and < {high:g}"
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


#: Seeds are 64-bit numbers: image i of a call uses seed + i, which must stay in this range.
MIN_SEED, MAX_SEED = -(2**63), 2**63 - 1
#: The most images one strip or grid holds (interpolate and edit --steps, edit strengths,
#: data preview --n).
MAX_GRID_IMAGES = 1_000
#: The most optimization steps one invert, drag or dream call takes (per octave for dream).
MAX_OPTIMIZATION_STEPS = 100_000
#: The most images one ``eval`` generates (FID's customary 50,000; they are held in memory).
MAX_EVAL_SAMPLES = 50_000
#: The most bytes of decoded uint8 images a generated dataset (its ``n`` option) may hold.
MAX_DATA_BYTES = 8_000_000_000
#: The most parameters one model may have (about 4 GB of fp32 weights, 16 GB with Adam).
MAX_PARAMETERS = 1_000_000_000


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_included: bool = True,
    whole: bool = False,
) -> Any:
    """``value`` of the option ``name`` (e.g. ``--cfg``): a finite number (a whole one with
    ``whole``) from ``low`` to ``high`` (both included, ``low`` excluded unless
    ``low_included``); returns it, else raises one clear line."""
    kind = "a whole number" if whole else "a number"
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or (whole and not isinstance(value, int)):
        raise HuashiError(f"{name} must be {kind}, not {value!r}.")
    if not math.isfinite(value):
        raise HuashiError(f"{name} must be a finite number, not {value!r}.")
    below = low is not None and (value < low if low_included else value <= low)
    if below or (high is not None and value > high):
        where = []
        if low is not None:
            where.append(f"{'>=' if low_included else '>'} {low:g}")
        if high is not None:
            where.append(f"<= {high:,}" if whole else f"<= {high:g}")
        raise HuashiError(f"{name} must be {' and '.join(where)}, not {value!r}.")
    return value


def check_count(name: str, value: Any, limit: int, remedy: str = "") -> int:
    """A whole number from 1 to ``limit`` for the option ``name``; above the limit the error
    names it and says what to do (``remedy``)."""
    check_number(name, value, 1, whole=True)
    if value > limit:
        raise HuashiError(
            f"{name} {value:,} is more than huashi's limit of {limit:,}"
            + (f": {remedy}." if remedy else ".")
        )
    return value


def check_dataset_size(n: Any, resolution: int, channels: int = 3) -> int:
    """A dataset's ``n`` option (images made or kept): a whole number >= 1 whose decoded pixels
    stay under :data:`MAX_DATA_BYTES` (they are held in memory)."""
    check_number("--data-option n", n, 1, whole=True)
    size = n * resolution * resolution * channels
    if size > MAX_DATA_BYTES:
        raise HuashiError(
            f"--data-option n={n:,} at {resolution} px is {size / 1e9:,.0f} GB of decoded "
            f"images, more than huashi's limit of {MAX_DATA_BYTES / 1e9:.0f} GB: ask for fewer "
            "images or a lower resolution."
        )
    return n


def check_seed(seed: Any, n: int = 1, name: str = "--seed") -> int:
    """A seed whose ``n`` consecutive seeds (``seed .. seed+n-1``) are all 64-bit numbers."""
    check_number(name, seed, whole=True)
    if seed < MIN_SEED or seed + max(n, 1) - 1 > MAX_SEED:
        raise HuashiError(
            f"{name} {seed} is out of range: seeds are 64-bit numbers, from -2**63 to 2**63-1 "
            "for every image's seed (seed + i); choose a smaller one."
        )
    return seed


def check_sampling_options(options: dict[str, Any]) -> dict[str, Any]:
    """Sampling options (``--cfg``, ``--eta``, ``--truncation``, ``--strength``, ``steps``, ...)
    given as numbers must be finite: a NaN guidance scale paints black images without a word."""
    for key, value in options.items():
        if isinstance(value, str) and value.strip().lower().lstrip("+-") in _NOT_FINITE:
            value = float(value)  # "nan" typed in --option cfg=nan
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            check_number("--" + key.replace("_", "-"), value)
    return options


_NOT_FINITE = ("nan", "inf", "infinity")


def check_parameter_count(count: int, what: str, hint: str = "") -> None:
    """Refuse a model of more than :data:`MAX_PARAMETERS` parameters before it is allocated."""
    if count > MAX_PARAMETERS:
        gigabytes = count * 4 / 1e9
        raise HuashiError(
            f"this {what} model would have {count:,} parameters ({gigabytes:,.0f} GB of fp32 "
            f"weights), more than huashi's limit of {MAX_PARAMETERS:,}: "
            f"{hint or 'choose smaller widths'}."
        )


def model_parameter_count(family_class: Any, model_config: Any, info: Any) -> int | None:
    """How many parameters ``family_class`` would have, counted on PyTorch's meta device (no
    memory is allocated), or None where a family cannot be built there (one that loads a
    pretrained text encoder)."""
    import torch

    try:
        with torch.device("meta"):
            family = family_class(model_config, info, torch.device("meta"))
    except Exception:  # a probe only: the real build reports its own errors
        return None
    return sum(p.numel() for m in family.modules.values() for p in m.parameters())


def check_text(value: Any, name: str) -> Any:
    """Text that can be written as UTF-8 (a command-line argument of undecodable bytes cannot)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise HuashiError(
                f"{name} is not valid UTF-8 text ({value!r}): retype it, or set a UTF-8 locale."
            ) from None
    return value


def _probe_writing(folder: Path, target: Path) -> None:
    """Create and remove an empty file in ``folder``: the one honest test that ``target`` can be
    written there (a read-only disk, /proc, or permissions, which ``os.access`` misjudges for
    root)."""
    try:
        handle, name = tempfile.mkstemp(prefix=".huashi-probe-", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise HuashiError(
            f"cannot write {target}: {folder} does not take new files ({reason}); choose "
            "another --out."
        ) from None


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output_file(path: str | Path) -> Path:
    """A clear error, before any work, when a file cannot be written at ``path``."""
    if str(path).strip() == "":
        raise HuashiError("--out is empty: give a file name.")
    path = Path(path).absolute()
    probe = _nearest_existing(path.parent)
    if not probe.is_dir():
        raise HuashiError(f"cannot write {path}: {probe} is a file, not a folder.")
    if path.is_dir():
        raise HuashiError(f"cannot write {path}: it is a folder; give a file name.")
    if path.exists() and not path.is_file():
        raise HuashiError(f"cannot write {path}: it is not a regular file.")
    _probe_writing(probe, path)
    return path


def check_output_dir(path: str | Path) -> Path:
    """A clear error, before any work, when a folder cannot be made or written at ``path``."""
    if str(path).strip() == "":
        raise HuashiError("--out is empty: give a folder name.")
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise HuashiError(f"cannot write into {path}: it is a file, not a folder.")
    probe = _nearest_existing(path)
    if not probe.is_dir():
        raise HuashiError(f"cannot make {path}: {probe} is a file, not a folder.")
    _probe_writing(probe, path)
    return path


#: What a training run writes into its folder (``config.json`` first, before any other).
RUN_FILES = ("config.json", "log.jsonl", "samples.png", "losses.png", "samples", "checkpoints")


def check_new_run_folder(out: str | Path, data: str | Path | None = None) -> Path:
    """Where a new run may be created: never '' (the current folder), the filesystem root or
    the current folder itself, never inside its own ``data`` folder (its grids would become
    training images), and never over files of the user's: a folder that already holds one of
    :data:`RUN_FILES` must be an earlier huashi run (its config.json says so)."""
    if str(out).strip() == "":
        raise HuashiError("--out is empty: give a new folder for the run, e.g. runs/my-run.")
    if data is not None and not str(data).strip():
        raise HuashiError("--data is empty: give a dataset name or an image folder.")
    path = Path(out).expanduser().absolute().resolve()
    if path == Path(path.anchor):
        raise HuashiError(f"--out {out} is the filesystem root: give a folder for the run.")
    if path == Path.cwd().resolve():
        raise HuashiError(
            f"--out {out} is the current folder: give a new folder for the run (e.g. "
            "runs/my-run), so that its config, logs and checkpoints stay together."
        )
    if data is not None and str(data).strip() and Path(str(data)).expanduser().is_dir():
        source = Path(str(data)).expanduser().resolve()
        if path == source or source in path.parents:
            raise HuashiError(
                f"--out {out} is inside --data {data}: the run's images would join the "
                "training data and change it; give a run folder outside the data."
            )
    if path.is_dir():
        config = path / RUN_FILES[0]
        if config.exists() and not _is_run_config(config):
            raise HuashiError(
                f"{config} is not a huashi run's config: training into {out} would overwrite "
                "it; give another --out folder."
            )
        present = [name for name in RUN_FILES[1:] if (path / name).exists()]
        if present and not config.exists():
            raise HuashiError(
                f"{out} already holds {', '.join(present)} of something other than a huashi "
                "run (no config.json): training there would overwrite them; give another --out "
                "folder."
            )
    return path


def _is_run_config(path: Path) -> bool:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(value, dict) and {"family", "model", "data", "train"} <= set(value)


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
