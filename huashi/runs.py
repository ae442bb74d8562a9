"""Run folders: the config saved beside the weights, and loading a trained model back.

A run folder holds ``config.json`` (family, model config, data, training config), ``log.jsonl``,
``losses.png``, ``samples.png`` (latest fixed-seed grid), ``samples/`` and ``checkpoints/``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from huashi import __version__, zoo
from huashi.core.errors import HuashiError
from huashi.core.validation import check_resolution, describe_type, fits_type, problems
from huashi.families import FAMILIES, DataInfo, Family, get_family
from huashi.training.checkpoint import (
    check_built_on,
    check_identity,
    latest_checkpoint,
    load_checkpoint,
    weights_hash,
)
from huashi.training.device import pick_device
from huashi.training.loop import TrainConfig
from huashi.training.resume import run_identity

CONFIG_FILE = "config.json"


@dataclass
class RunConfig:
    """Everything needed to rebuild a run's model and continue its training."""

    family: str
    model: dict[str, Any]
    data: dict[str, Any]  # {"spec": ..., "resolution": ..., "options": {...}}
    data_info: dict[str, Any]
    train: dict[str, Any]
    huashi_version: str = __version__

    def save(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / (CONFIG_FILE + ".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")
        os.replace(tmp, run_dir / CONFIG_FILE)

    @classmethod
    def load(cls, run_dir: Path) -> RunConfig:
        path = zoo.resolve(run_dir) / CONFIG_FILE
        if not path.exists():
            raise HuashiError(
                f"{run_dir} is not a huashi run folder (no {CONFIG_FILE}): pass the --out folder "
                "of a `huashi train` run."
            )
        try:
            values = check_run_config(json.loads(path.read_text()), path)
            return cls(**values)
        except (json.JSONDecodeError, TypeError) as error:
            raise HuashiError(f"{path} is damaged ({error}).") from None

    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)


def check_run_config(values: Any, path: Path) -> dict[str, Any]:
    """Check a ``config.json`` as read (types, ranges, known fields of each section)."""
    if not isinstance(values, dict):
        raise HuashiError(f"{path} is damaged (it holds no JSON object): train the run again.")
    found = []
    for key, kind in (("family", str), ("model", dict), ("data", dict), ("data_info", dict)):
        if key not in values:
            found.append(f"{key} is missing")
        elif not isinstance(values[key], kind):
            found.append(f"{key} must be {describe_type(kind)}, not {values[key]!r}")
    unknown = sorted(
        set(values) - {"family", "model", "data", "data_info", "train", "huashi_version"}
    )
    found += [f"{k} is not a known section" for k in unknown]
    if isinstance(values.get("train"), dict):
        found += problems(TrainConfig, values["train"], "train")
    family = FAMILIES.get(values.get("family")) if isinstance(values.get("family"), str) else None
    if isinstance(values.get("family"), str) and family is None:
        found.append(f"family {values['family']!r} is not a known model family")
    if family is not None and isinstance(values.get("model"), dict):
        found += problems(family.config_class, values["model"], "model")
    data = values.get("data")
    if isinstance(data, dict):
        for key, kind in (("spec", str), ("resolution", int), ("options", dict)):
            if key not in data:
                found.append(f"data.{key} is missing")
            elif not fits_type(data[key], kind):
                found.append(f"data.{key} must be {describe_type(kind)}, not {data[key]!r}")
        if fits_type(data.get("resolution"), int):
            try:
                check_resolution(data["resolution"])
            except HuashiError as error:
                found.append(f"data.{error}".rstrip("."))
    if isinstance(values.get("data_info"), dict):
        found += problems(DataInfo, values["data_info"], "data_info")
    if found:
        raise HuashiError(
            f"{path} is damaged or was edited by hand: {'; '.join(found)}. Fix those values "
            "(or train the run again)."
        )
    return values


def build_family(config: RunConfig, device: torch.device) -> Family:
    """A saved run's model, untrained: its config and data description read back and checked,
    then :func:`make_family`."""
    family_class = get_family(config.family)
    model_config = family_class.make_config(config.model)
    data_info = DataInfo(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in config.data_info.items()}
    )
    family_class.check_data(data_info, model_config)
    return make_family(family_class, model_config, data_info, device)


def make_family(
    family_class: type[Family], model_config: Any, data_info: DataInfo, device: torch.device
) -> Family:
    """The model of typed, checked configs, untrained, with the runs it is built on
    (``Family.required_runs``, e.g. a latent diffusion model's autoencoder) loaded and passed
    in."""
    built_on, sources = {}, {}
    for name, path in family_class.required_runs(model_config).items():
        try:
            loaded = load_run(path, device=str(device))
        except HuashiError as error:
            raise HuashiError(
                f"cannot use {path} as the {name} run of this {family_class.name} model: {error}"
            ) from None
        built_on[name] = loaded.family
        sources[name] = {"run": str(path), "checkpoint": loaded.checkpoint.name,
                         "sha256": weights_hash(loaded.checkpoint.with_suffix(".safetensors"))}  # fmt: skip
    family = family_class(model_config, data_info, device, **built_on)
    family.built_on = sources  # recorded in every checkpoint, checked when loaded again
    return family


@dataclass
class LoadedRun:
    """A trained model ready to generate: its family (weights loaded), config and checkpoint."""

    run_dir: Path
    config: RunConfig
    family: Family
    checkpoint: Path
    step: int


def load_run(
    run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "auto"
) -> LoadedRun:
    """Load a run's newest checkpoint (or ``checkpoint``) for sampling, with EMA weights if any.
    ``run_dir`` may name a shipped model as ``zoo:NAME``."""
    run_dir = zoo.resolve(run_dir)
    config = RunConfig.load(run_dir)
    return load_weights(run_dir, config, build_family(config, pick_device(device)), checkpoint)


def load_weights(
    run_dir: Path, config: RunConfig, family: Family, checkpoint: str | Path | None = None
) -> LoadedRun:
    """Put the weights of the run's newest checkpoint (or ``checkpoint``) into ``family`` (built
    by :func:`build_family`) and set it to sampling mode."""
    folder = zoo.resolve(run_dir)  # zoo:NAME is a shipped run's folder
    path = Path(checkpoint) if checkpoint else latest_checkpoint(folder / "checkpoints")
    if path is None:
        raise HuashiError(f"run {run_dir} has no checkpoint yet: train it first (huashi train).")
    if not path.is_absolute() and not path.exists():
        path = folder / "checkpoints" / path
    tensors, meta = load_checkpoint(path)
    identity = run_identity(config.family, config.model, config.data, config.train)
    check_identity(meta, identity, path, run_dir)
    check_built_on(meta, family, path)
    family.load_state_tensors(tensors, meta, weights_only=True)
    family.train(False)
    return LoadedRun(run_dir, config, family, path.with_suffix(".json"), int(meta["step"]))
