"""Checkpoints as safetensors + JSON: never pickle.

A checkpoint is two files in a run's ``checkpoints/`` folder:

* ``step-00000500.safetensors`` holds every tensor: module weights (``modules/<name>/...``),
  EMA weights (``ema/<name>/...``), optimizer state tensors (``optim/<name>/<param>/<key>``) and
  RNG states (``rng/<name>``).
* ``step-00000500.json`` holds everything else: the step, the data position, optimizer
  hyper-parameters, Python/NumPy RNG states, timings. It is written last, so a checkpoint whose
  JSON exists is complete (both writes are atomic: a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from huashi.core.errors import HuashiError

FORMAT = "huashi-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step-(\d{8})\.json$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder`` (their JSON paths), oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(
    folder: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any], keep_last: int
) -> Path:
    """Write one checkpoint atomically and delete all but the newest ``keep_last``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = checkpoint_name(step)
    weights = folder / f"{stem}.safetensors"
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    meta = {"format": FORMAT, "version": VERSION, "step": step, **meta}
    header = checkpoint_header(meta, plain)
    _atomic_write_bytes(weights, lambda p: save_file(plain, str(p), metadata=header))
    text = json.dumps(meta, indent=1)
    _atomic_write_bytes(folder / f"{stem}.json", lambda p: p.write_text(text))
    if keep_last > 0:
        for old in list_checkpoints(folder)[:-keep_last]:
            old.with_suffix(".safetensors").unlink(missing_ok=True)
            old.unlink(missing_ok=True)
    return folder / f"{stem}.json"


def load_checkpoint(json_path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint; any damage becomes a one-line :class:`HuashiError`."""
    json_path = Path(json_path)
    if json_path.suffix == ".safetensors":
        json_path = json_path.with_suffix(".json")
    weights = json_path.with_suffix(".safetensors")
    try:
        meta = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise HuashiError(f"checkpoint {json_path} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HuashiError(
            f"checkpoint {json_path} is damaged (its JSON does not parse): "
            "delete it to fall back to the previous checkpoint of the run."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HuashiError(f"{json_path} is not a huashi checkpoint (no '{FORMAT}' format tag).")
    _check_meta(meta, json_path)
    try:
        tensors = load_file(str(weights))
    except FileNotFoundError:
        raise HuashiError(
            f"checkpoint {weights} is missing: delete {json_path.name} to fall back to the "
            "previous checkpoint of the run."
        ) from None
    except (SafetensorError, OSError, ValueError) as error:
        raise HuashiError(
            f"checkpoint {weights} is damaged or truncated ({error}): delete it and "
            f"{json_path.name} to fall back to the previous checkpoint of the run."
        ) from None
    _check_header(weights, meta, json_path)
    bad = [
        key
        for key, value in tensors.items()
        if key.startswith(("modules/", "ema/"))
        and value.is_floating_point()
        and not torch.isfinite(value).all()
    ]
    if bad:
        raise HuashiError(
            f"checkpoint {json_path} holds non-finite weights (NaN or infinity, e.g. {bad[0]}): "
            "it was saved by a diverged run; use an earlier checkpoint of the run."
        )
    return tensors, meta


#: What the safetensors header of a checkpoint repeats from its JSON: the two files of one
#: checkpoint must agree (another run's weights copied in beside this run's JSON are refused).
HEADER_FIELDS = ("step", "family", "run_identity")


def architecture_hash(tensors: dict[str, torch.Tensor]) -> str:
    """A hash of the modules' tensor names, shapes and dtypes: which network the weights fit."""
    digest = hashlib.sha256()
    for key in sorted(k for k in tensors if k.startswith("modules/")):
        digest.update(f"{key} {tuple(tensors[key].shape)} {tensors[key].dtype}\n".encode())
    return digest.hexdigest()[:16]


def weights_hash(path: Path) -> str:
    """sha256 of a checkpoint's weights file (first 16 hex digits)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def checkpoint_header(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """The identity written into the safetensors header (text only): format, run identity,
    family, architecture hash and step."""
    header = {"format": FORMAT, "architecture": architecture_hash(tensors)}
    return header | {k: str(meta[k]) for k in HEADER_FIELDS if meta.get(k) is not None}


def read_header(weights: Path) -> dict[str, str]:
    """The text metadata of a safetensors file's header ({} when it has none)."""
    with safe_open(str(weights), framework="pt") as handle:
        return dict(handle.metadata() or {})


def _check_header(weights: Path, meta: dict[str, Any], json_path: Path) -> None:
    """The weights file must be the JSON's partner: same step, family and run (checkpoints
    written before the header held them are taken as they are)."""
    header = read_header(weights)
    if header.get("format") != FORMAT:
        return
    differ = [
        f"{key} {header[key]} in the weights, {meta.get(key)} in the JSON"
        for key in HEADER_FIELDS
        if key in header and str(meta.get(key)) != header[key]
    ]
    if differ:
        raise HuashiError(
            f"checkpoint {weights.name} does not belong with {json_path.name} ({'; '.join(differ)}):"
            f" it was copied from another run or step; put back this run's own file, or delete "
            "both to fall back to the previous checkpoint."
        )


def check_identity(meta: dict[str, Any], identity: str, json_path: Path, run_dir: Path) -> None:
    """A checkpoint that records a run identity must carry ``identity``, the identity of the
    run folder it is loaded from."""
    theirs = meta.get("run_identity")
    if theirs is not None and theirs != identity:
        raise HuashiError(
            f"checkpoint {json_path} belongs to another run (identity {theirs}; {run_dir} is "
            f"{identity}): use it from the run folder it was trained in."
        )


def check_built_on(meta: dict[str, Any], family: Any, json_path: Path) -> None:
    """The runs a model is built on (a latent diffusion model's autoencoder) must be the ones it
    was trained with: another autoencoder decodes another latent space."""
    now = getattr(family, "built_on", {}) or {}
    for name, then in (meta.get("built_on") or {}).items():
        if name in now and now[name]["sha256"] != then.get("sha256"):
            raise HuashiError(
                f"the {name} run {then.get('run')} changed since checkpoint {json_path} was "
                f"written (its {then.get('checkpoint')} had sha256 {then.get('sha256')}; now "
                f"{now[name]['checkpoint']}, {now[name]['sha256']}): this model works in the old "
                "latent space. Put back that checkpoint of the autoencoder run (or delete its "
                "newer ones), or train this model again."
            )


#: The JSON fields of a checkpoint: (type, required). Numbers must also be >= 0.
META_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "step": (int, True),
    "family": (str, True),
    "epoch": (int, False),
    "position": (int, False),
    "images_seen": (int, False),
    "train_seconds": ((int, float), False),
    "optimizers": (dict, False),
    "python_random": (list, False),
    "numpy_random": (list, False),
    "preview_captions": (list, False),
    "run_identity": (str, False),
}
#: What resuming training needs beyond sampling.
TRAINING_FIELDS = ("epoch", "position", "images_seen", "train_seconds", "optimizers",
                   "python_random", "numpy_random")  # fmt: skip


def _check_meta(meta: dict[str, Any], json_path: Path) -> None:
    """One message listing every missing or mistyped field of a checkpoint's JSON."""
    found = []
    for key, (kind, required) in META_FIELDS.items():
        if key not in meta:
            if required:
                found.append(f"{key} is missing")
            continue
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            found.append(f"{key} must be {getattr(kind, '__name__', 'a number')}, not {value!r}")
        elif isinstance(value, (int, float)) and not 0 <= value < float("inf"):
            found.append(f"{key} must be a finite number >= 0, not {value!r}")
    if found:
        raise HuashiError(
            f"checkpoint {json_path} is damaged or was edited by hand: {'; '.join(found)}. "
            "Delete it (and its .safetensors) to fall back to the previous checkpoint."
        )


def check_training_meta(meta: dict[str, Any], json_path: Path) -> None:
    """Resuming needs the data position, RNG states and optimizer states."""
    missing = [k for k in TRAINING_FIELDS if k not in meta]
    if missing:
        raise HuashiError(
            f"checkpoint {json_path} lacks {', '.join(missing)}: it holds weights only and "
            "cannot continue training; delete it to fall back to the previous checkpoint."
        )


# --- packing module and optimizer states into flat tensor dicts -------------------------------


def pack_state_dict(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{key}": value for key, value in state.items()}


def unpack_state_dict(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = prefix + "/"
    return {k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)}


def pack_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split an optimizer state dict into tensors (for safetensors) and JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unpack_optimizer(
    prefix: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in unpack_state_dict(prefix, tensors).items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict`` with a clear error when the checkpoint belongs to another model."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = (missing and f"missing {missing[:3]}") or (
            unexpected and f"unexpected {unexpected[:3]}"
        )
        if wrong:
            k = wrong[0]
            detail = f"{k} has shape {tuple(state[k].shape)}, the model has {tuple(own[k].shape)}"
        raise HuashiError(
            f"the checkpoint does not fit this {what} ({detail}): it comes from another model or "
            "configuration; use the run folder it was trained in."
        )
    module.load_state_dict(state)
