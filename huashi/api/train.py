"""Training: ``train`` resolves a request (a recipe, a family and data, or a run to resume)
once into typed configs and hands them to the training loop."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import random
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from huashi.core import tiny
from huashi.core.errors import HuashiError
from huashi.core.validation import (
    check_new_run_folder,
    check_parameter_count,
    check_resolution,
    model_parameter_count,
    read_json_object,
)
from huashi.families import DataInfo, get_family
from huashi.recipes import Recipe, get_recipe
from huashi.runs import RunConfig, make_family
from huashi.tools.translate import evaluate_pairs
from huashi.training import distributed
from huashi.training import resume as resuming
from huashi.training.checkpoint import latest_checkpoint
from huashi.training.device import pick_device
from huashi.training.lock import holding_run_lock
from huashi.training.loop import TrainConfig, Trainer, TrainResult
from huashi.training.threads import cpus_available, release_threads, set_threads


def data_info_of(dataset: Any) -> DataInfo:
    """What a family may know about an :class:`~huashi.data.ImageSet`."""
    return DataInfo(
        channels=dataset.channels,
        resolution=dataset.resolution,
        num_classes=len(dataset.class_names) if dataset.labels is not None else 0,
        class_names=tuple(dataset.class_names or ()) if dataset.labels is not None else (),
        has_captions=dataset.captions is not None,
        has_targets=dataset.targets is not None,
        target_channels=dataset.targets.shape[1] if dataset.targets is not None else 0,
    )


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _resolve_config(
    run_dir: Path,
    resume: bool,
    family: str | None,
    data: str | None,
    resolution: int | None,
    model: dict[str, Any] | None,
    data_options: dict[str, Any] | None,
    train: dict[str, Any],
) -> RunConfig | None:
    """The saved config when resuming (after checking the request agrees with it), else None."""
    has_checkpoint = latest_checkpoint(run_dir / "checkpoints") is not None
    if not resume:
        if has_checkpoint:
            raise HuashiError(
                f"{run_dir} already holds a trained run: add --resume to continue it, or choose "
                "another --out folder (nothing was changed)."
            )
        return None
    if not has_checkpoint:
        raise HuashiError(f"nothing to resume: {run_dir} has no checkpoint yet.")
    saved = RunConfig.load(run_dir)
    data = None if resuming.same_data(data, saved.data["spec"]) else data
    asked = {"family": family, "data": data, "resolution": resolution}
    have = {
        "family": saved.family,
        "data": saved.data["spec"],
        "resolution": saved.data["resolution"],
    }
    differences = [
        f"{k} {asked[k]!r} (run has {have[k]!r})" for k in asked if asked[k] not in (None, have[k])
    ]
    for key, value in (model or {}).items():
        if not resuming.tunable_model_field(key) and saved.model.get(key) != value:
            differences.append(f"{key}={value!r} (run has {saved.model.get(key)!r})")
    for key, value in (data_options or {}).items():
        if saved.data["options"].get(key) != value:
            differences.append(f"data {key}={value!r} (run has {saved.data['options'].get(key)!r})")
    for key, value in train.items():
        if key not in TrainConfig.RESUMABLE_CHANGES and saved.train.get(key) != value:
            differences.append(f"{key}={value!r} (run has {saved.train.get(key)!r})")
    if differences:
        raise HuashiError(
            f"cannot resume {run_dir} with a different configuration: {'; '.join(differences)}. "
            f"Drop those options, or train into a new --out folder."
        )
    return saved


def _absolute_run_paths(family_class: Any, model_config: Any) -> Any:
    """The config with the runs it is built on (``--latent runs/vae``) as absolute paths, so
    that ``resume`` and ``sample`` find them from any folder."""
    from huashi import zoo

    runs = {str(path) for path in family_class.required_runs(model_config).values()}
    changes = {}
    for f in dataclasses.fields(model_config):
        value = getattr(model_config, f.name)
        relative = (
            isinstance(value, str) and not zoo.is_zoo(value) and not Path(value).is_absolute()
        )
        if relative and value in runs and Path(value).exists():
            changes[f.name] = str(Path(value).resolve())
    return dataclasses.replace(model_config, **changes) if changes else model_config


def _checking_new_run_folder(function: Callable) -> Callable:
    """Decorator of :func:`train`: a new run's folder is checked (:func:`check_new_run_folder`)
    before the run lock creates it."""

    @functools.wraps(function)
    def wrapper(out: str | Path, *args: Any, **kwargs: Any) -> Any:
        given = inspect.signature(function).bind(out, *args, **kwargs).arguments
        if not given.get("resume"):
            check_new_run_folder(out, given.get("data"))
        return function(out, *args, **kwargs)

    return wrapper


@_checking_new_run_folder
@holding_run_lock
def train(
    out: str | Path,
    family: str | None = None,
    data: str | None = None,
    resolution: int | None = None,
    model: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callable] = (),
    recipe: str | Recipe | None = None,
    **train_options: Any,
) -> TrainResult:
    """Train a model family on a dataset into the run folder ``out``.

    ``model`` holds the family's config fields, ``train_options`` the :class:`TrainConfig`
    fields. With ``resume=True`` the run continues from its newest checkpoint, exactly as if it
    had never stopped; only schedule fields (``steps``, intervals, device) may change.
    ``recipe`` is a shipped recipe, by name or as :func:`huashi.api.recipe` resolved it, whose
    settings fill in what is not given (a resumed run keeps its own settings).
    """
    from huashi.data import load_dataset

    if recipe is not None and not resume:
        family, data, resolution, model, data_options, train_options = _apply_recipe(
            recipe, family, data, resolution, model, data_options, train_options
        )

    if tiny.enabled():  # the docs' tests (huashi/core/tiny.py)
        train_options = tiny.train_options(train_options, resume)
        model = model if resume else tiny.model_options(family, model)
    run_dir = Path(out)
    unknown = sorted(set(train_options) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise HuashiError(f"unknown training option(s): {', '.join(unknown)}.")
    saved = _resolve_config(
        run_dir, resume, family, data, resolution, model, data_options, train_options
    )
    if saved is None:
        if family is None or data is None:
            raise HuashiError("a new run needs a model family and --data.")
        family_class = get_family(family)
        model_config = _absolute_run_paths(family_class, family_class.make_config(model or {}))
        train_config = TrainConfig(**train_options)
        data_spec = {
            "spec": data,
            "resolution": check_resolution(64 if resolution is None else resolution),
            "options": dict(data_options or {}),
        }
    else:
        family_class = get_family(saved.family)
        model_config = family_class.make_config({**saved.model, **(model or {})})
        train_config = dataclasses.replace(saved.train_config(), **train_options)
        data_spec = saved.data
    if train_config.steps < 1 or train_config.batch_size < 1:
        raise HuashiError("--steps and --batch-size must be at least 1.")

    place = distributed.setup(train_config.device)  # several processes under torchrun
    if not place.is_main:
        place.barrier()  # rank 0 decodes the data (and writes its cache) first
    dataset = load_dataset(
        data_spec["spec"],
        resolution=data_spec["resolution"],
        mode=train_config.data_mode,
        **data_spec["options"],
    )
    if place.is_main:
        place.barrier()
    info = data_info_of(dataset)
    family_class.check_data(info, model_config)
    if saved is None:
        data_spec = resuming.data_record(data_spec, getattr(dataset, "info", {}))
    else:
        resuming.check_same_data(saved.data, getattr(dataset, "info", {}), run_dir)
    config = RunConfig(
        family=family_class.name,
        model=dataclasses.asdict(model_config),
        data=data_spec,
        data_info=json.loads(json.dumps(dataclasses.asdict(info))),  # as saved
        train=dataclasses.asdict(train_config),
    )
    if saved is not None and config.data_info != saved.data_info:
        raise HuashiError(
            f"the dataset changed since {run_dir} was trained ({saved.data_info} then, "
            f"{config.data_info} now): resume needs the same data."
        )
    device = pick_device(train_config.device)
    if device.type == "cpu":  # resolved once, saved, reused by resume (exactness)
        threads = _claim_threads(train_config.threads, saved, place)
        train_config = dataclasses.replace(train_config, threads=str(threads))
        if saved is None:
            config.train["threads"] = str(threads)
    count = model_parameter_count(family_class, model_config, info)
    if count is not None:
        check_parameter_count(count, family_class.name)
    _seed_everything(train_config.seed)
    model_family = make_family(family_class, model_config, info, device)  # typed, checked once
    trainer = Trainer(model_family, dataset, train_config, run_dir, list(callbacks), progress)
    trainer.identity = resuming.run_identity(config.family, config.model, data_spec, config.train)
    if saved is not None:
        trainer.resume_latest()
        trainer.resume_note = resuming.resume_changes(
            saved.model, saved.train, config.model, config.train
        )
        config.train = resuming.saved_train_config(saved.train, config.train)
    if place.is_main:
        config.save(run_dir)
    try:
        result = trainer.run()
    finally:
        release_threads()
    if family_class.paired_data and not result.interrupted and place.is_main:
        try:  # image-to-image runs are measured on the held-out pairs
            result.reports["pairs_eval"] = evaluate_pairs(run_dir, device=train_config.device)
        except HuashiError as error:
            result.reports["pairs_eval"] = {"skipped": str(error)}
    return result


def _claim_threads(threads: str, saved: Any, place: Any) -> int:
    """This session's CPU threads (:mod:`huashi.training.threads`), claimed for its duration.
    A resume reuses the count saved when the run started, and says so when this machine has
    fewer cores than that."""
    count = set_threads(threads, distributed.local_processes(place), claim=True)
    recorded = str(saved.train.get("threads", "auto")) if saved is not None else "auto"
    if recorded.isdigit() and int(recorded) != count:
        warnings.warn(
            f"the run trained with {recorded} CPU threads and this session uses {count}: the "
            "thread count changes the order of floating-point sums, so from here on the run is "
            "not bit-identical to one that never stopped.",
            stacklevel=3,
        )
    elif recorded.isdigit() and count > cpus_available():
        warnings.warn(
            f"the run trained with {count} CPU threads and this machine gives it "
            f"{cpus_available()} cores: resuming with {count} keeps the run bit-identical to one "
            f"that never stopped, but slower (huashi train --resume --threads "
            f"{cpus_available()} trades that for speed).",
            stacklevel=3,
        )
    return count


def _apply_recipe(
    recipe: str | Recipe,
    family: str | None,
    data: str | None,
    resolution: int | None,
    model: dict[str, Any] | None,
    data_options: dict[str, Any] | None,
    train_options: dict[str, Any],
) -> tuple:
    """The recipe's settings (``recipe`` a name, or one resolved already), overridden by
    whatever the caller gave explicitly."""
    chosen = get_recipe(recipe) if isinstance(recipe, str) else recipe
    if family not in (None, chosen.family):
        raise HuashiError(
            f"the recipe {chosen.name} trains a '{chosen.family}' model, not '{family}': drop "
            "the family or choose another recipe (huashi recipes)."
        )
    return (
        chosen.family,
        data or chosen.data,
        resolution or chosen.resolution,
        chosen.model | (model or {}),
        chosen.data_options | (data_options or {}),
        chosen.train_options() | train_options,
    )


def read_train_config(path: str | Path) -> dict[str, Any]:
    """A training's ``--config`` file: a JSON object (sections ``model``, ``train``, ``data``),
    or a one-line error naming the file."""
    return read_json_object(path, "--config")


def check_train(
    out: str | Path,
    family: str | None = None,
    model: dict[str, Any] | None = None,
    resume: bool = False,
    **train_options: Any,
) -> None:
    """Build the model and training configs that :func:`train` with these arguments would
    build, so their checks run before any work is queued (a :class:`HuashiError` naming the
    option); nothing is written."""
    if resume:
        saved = RunConfig.load(Path(out))
        dataclasses.replace(saved.train_config(), **train_options)
        return
    family_class = get_family(family)
    config = family_class.make_config(model or {})
    check = getattr(family_class, "check_config", None)
    if callable(check):
        check(config)
    try:
        TrainConfig(**train_options)
    except TypeError as error:  # a value of the wrong kind
        raise HuashiError(f"train: {error}.") from None
