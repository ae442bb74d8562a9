"""The public Python API: every action of the command line, as functions that return typed
results. The CLI and the studio are thin faces over these functions.

Long actions take an optional ``progress(done, total, message)`` callback (called with growing
``done`` and ending with ``done == total``); nothing here prints or draws a progress bar.
Loaded runs are kept in a small cache (:func:`load_run`), and generating from one loaded run
in several threads at once gives each thread the images it would get alone.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import random
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from huashi import tiny
from huashi.errors import HuashiError
from huashi.families import DataInfo, get_family
from huashi.images import make_grid, read_params, save_png, to_pil
from huashi.interpolate import Interpolation
from huashi.runs import LoadedRun, RunConfig, build_family
from huashi.training import distributed
from huashi.training import resume as resuming
from huashi.training.checkpoint import latest_checkpoint
from huashi.training.device import pick_device, resolve_precision
from huashi.training.lock import holding_run_lock
from huashi.training.loop import TrainConfig, Trainer, TrainResult
from huashi.translate import TranslateResult, evaluate_pairs, retranslate
from huashi.upscale import UpscaleResult
from huashi.validation import (
    MAX_GRID_IMAGES,
    MAX_SAMPLES,
    check_count,
    check_new_run_folder,
    check_number,
    check_output_dir,
    check_output_file,
    check_parameter_count,
    check_resolution,
    check_sample_request,
    check_sampling_options,
    check_seed,
    model_parameter_count,
)

__all__ = [
    "ClipLabels",
    "CompareResult",
    "DataPreview",
    "DoctorReport",
    "EvalResult",
    "Interpolation",
    "LoadedRun",
    "PaintPass",
    "PaintResult",
    "Progress",
    "SampleResult",
    "TrainConfig",
    "TrainResult",
    "TranslateResult",
    "UpscaleResult",
    "clear_run_cache",
    "clip_labels",
    "compare",
    "doctor",
    "evaluate",
    "evaluate_pairs",
    "interpolate",
    "load_run",
    "paint",
    "parse_label",
    "preview_data",
    "regenerate",
    "sample",
    "train",
    "translate",
    "upscale",
]

#: ``progress(done, total, message)``: how much of a long action is done.
Progress = Callable[[int, int, str], None]


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
    recipe: str | None = None,
    **train_options: Any,
) -> TrainResult:
    """Train a model family on a dataset into the run folder ``out``.

    ``model`` holds the family's config fields, ``train_options`` the :class:`TrainConfig`
    fields. With ``resume=True`` the run continues from its newest checkpoint, exactly as if it
    had never stopped; only schedule fields (``steps``, intervals, device) may change.
    ``recipe`` names a shipped recipe (:func:`recipes`) whose settings fill in what is not given.
    """
    from huashi.data import load_dataset

    if recipe is not None and not resume:
        family, data, resolution, model, data_options, train_options = _apply_recipe(
            recipe, family, data, resolution, model, data_options, train_options
        )

    if tiny.enabled():  # the docs' tests (huashi/tiny.py)
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
    count = model_parameter_count(family_class, model_config, info)
    if count is not None:
        check_parameter_count(count, family_class.name)
    _seed_everything(train_config.seed)
    model_family = build_family(config, device)
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
    result = trainer.run()
    if family_class.paired_data and not result.interrupted and place.is_main:
        try:  # image-to-image runs are measured on the held-out pairs
            result.reports["pairs_eval"] = evaluate_pairs(run_dir, device=train_config.device)
        except HuashiError as error:
            result.reports["pairs_eval"] = {"skipped": str(error)}
    return result


# --- loading runs ------------------------------------------------------------------------------

RUN_CACHE_SIZE = 4
_run_cache: OrderedDict[tuple, LoadedRun] = OrderedDict()
_run_cache_lock = threading.Lock()


def load_run(
    run_dir: str | Path,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    cache: bool = True,
) -> LoadedRun:
    """A run's newest checkpoint (or ``checkpoint``) loaded for sampling, with EMA weights.

    The last :data:`RUN_CACHE_SIZE` loaded runs are kept, keyed by the run folder, the
    checkpoint file (and its modification time: a newer checkpoint is loaded fresh) and the
    device, so painting twice from one run loads it once. ``cache=False`` always loads."""
    from huashi.runs import load_run as load

    run_dir = Path(run_dir)
    path = Path(checkpoint) if checkpoint else latest_checkpoint(run_dir / "checkpoints")
    if path is not None and not path.is_absolute() and not path.exists():
        path = run_dir / "checkpoints" / path
    if not cache or path is None or not path.exists():
        return load(run_dir, path, device)  # (load raises the clear errors)
    key = (str(run_dir.resolve()), str(path.resolve()), path.stat().st_mtime_ns, str(device))
    with _run_cache_lock:
        if key in _run_cache and not _built_on_changed(_run_cache[key]):
            _run_cache.move_to_end(key)
            return _run_cache[key]
    loaded = load(run_dir, path, device)  # (a changed autoencoder is refused here)
    with _run_cache_lock:
        _run_cache[key] = loaded
        while len(_run_cache) > RUN_CACHE_SIZE:
            _run_cache.popitem(last=False)
    return loaded


def _built_on_changed(loaded: LoadedRun) -> bool:
    """Whether a run this one is built on (a latent model's autoencoder) has a newer
    checkpoint than the one loaded with it."""
    for source in (getattr(loaded.family, "built_on", None) or {}).values():
        newest = latest_checkpoint(Path(source["run"]) / "checkpoints")
        if newest is None or newest.name != source["checkpoint"]:
            return True
    return False


def clear_run_cache() -> None:
    """Forget every cached loaded run (their memory is freed when nothing else holds them)."""
    with _run_cache_lock:
        _run_cache.clear()


def _loaded(run: str | Path | LoadedRun, checkpoint: str | Path | None, device: str) -> LoadedRun:
    return run if isinstance(run, LoadedRun) else load_run(run, checkpoint, device)


# --- sampling and painting ---------------------------------------------------------------------


def parse_label(label: Any, class_names: Sequence[str]) -> Any:
    """A class given as a number (``3`` or ``"3"``) or by name (``"star"``) -> its index; a list
    is parsed item by item. Whether the index is in range is the model's to say."""
    if isinstance(label, (list, tuple)):
        return [parse_label(item, class_names) for item in label]
    if isinstance(label, int) and not isinstance(label, bool):
        return label
    text = str(label).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    names = list(class_names)
    if text in names:
        return names.index(text)
    if not names:
        raise HuashiError(
            f"this model's classes have no names: give --label as a number, not {text!r}."
        )
    raise HuashiError(
        f"unknown class {text!r}: choose one of {', '.join(names)} (or a number 0-{len(names) - 1})."
    )


class _Tally:
    """One running count of image-steps over several ``generate`` calls, for a progress
    callback: a call of b images counts b per denoising step for families with sampling steps
    (the step count is learned from the family's first report), else b when it returns. The total
    is re-estimated when a call reports another step count (a sweep), and equals ``done`` at the
    end."""

    def __init__(self, progress: Progress | None, images: int) -> None:
        self.progress, self.left, self.finished, self.per_image = progress, images, 0, 1
        self.shown = (-1, -1)

    def steps(self, size: int, message: str) -> Progress:
        def report(done: int, total: int, what: str) -> None:
            self.per_image = total
            self._show(self.finished + size * done, f"{message} ({what} step {done}/{total})")

        return report

    def finish(self, size: int, message: str) -> None:
        self.finished += size * self.per_image
        self.left -= size
        self._show(self.finished, message)

    def _show(self, done: int, message: str) -> None:
        total = self.finished + self.left * self.per_image
        if self.progress is not None and (done, total) != self.shown:
            self.shown = (done, total)
            self.progress(done, total, message)


def _apply_recipe(
    name: str,
    family: str | None,
    data: str | None,
    resolution: int | None,
    model: dict[str, Any] | None,
    data_options: dict[str, Any] | None,
    train_options: dict[str, Any],
) -> tuple:
    """The recipe's settings, overridden by whatever the caller gave explicitly."""
    from huashi.recipes import get_recipe

    chosen = get_recipe(name)
    if family not in (None, chosen.family):
        raise HuashiError(
            f"the recipe {name} trains a '{chosen.family}' model, not '{family}': drop the "
            "family or choose another recipe (huashi recipes)."
        )
    return (
        chosen.family,
        data or chosen.data,
        resolution or chosen.resolution,
        chosen.model | (model or {}),
        chosen.data_options | (data_options or {}),
        chosen.train_options() | train_options,
    )


def recipes() -> list:
    """The shipped recipes (:class:`huashi.recipes.Recipe`), by dataset and budget."""
    from huashi.recipes import list_recipes

    return list_recipes()


@dataclass
class SampleResult:
    images: torch.Tensor  # [n, C, H, W] in [-1, 1]
    seeds: list[int]
    grid: Path | None
    files: list[Path]


def _generate(
    loaded: LoadedRun, seeds: list[int], batch_size: int, tally: _Tally, message: str, options: dict
) -> torch.Tensor:
    family = loaded.family
    out = []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i : i + batch_size]
        extra = {"progress": tally.steps(len(chunk), message)} if family.sampling_steps else {}
        out.append(family.generate(chunk, **options, **extra).cpu())
        tally.finish(len(chunk), message)
    return torch.cat(out)


def sample(
    run: str | Path | LoadedRun,
    n: int = 64,
    seed: int = 0,
    out: str | Path | None = None,
    batch_size: int = 64,
    per_image: bool = True,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    **options: Any,
) -> SampleResult:
    """Generate ``n`` images with seeds ``seed, seed+1, ...``; image i depends only on its seed.

    ``options`` are the family's sampling options (a ``label`` may be a number or a class name).
    With ``out`` (a .png path) the grid is written there and, with ``per_image``, each image to
    ``<out stem>/seed-<seed>.png``; every PNG carries the parameters that regenerate it.
    """
    if tiny.enabled():  # the docs' tests (huashi/tiny.py)
        n, options = tiny.cap("n", n), tiny.sampling(options)
    return _sample(run, n, seed, out, batch_size, per_image, checkpoint, device,
                   _Tally(progress, n), "sampling", options)  # fmt: skip


def resolved_precision(family: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options with ``precision`` (``auto`` when not given) resolved to the one this device
    runs, fp32 or bf16, for families that take it, so a PNG records what painted it and
    ``huashi regenerate`` repeats exactly that on any machine."""
    if "precision" not in family.sampling_option_names():
        return options
    return options | {
        "precision": resolve_precision(options.get("precision", "auto"), family.device)
    }


def with_defaults(family: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options with the family's defaults for what they leave out (sampler, steps, CFG,
    strength), so every PNG's parameters say exactly how it was painted."""
    return family.sampling_defaults(options) | options


def _sample(
    run: str | Path | LoadedRun,
    n: int,
    seed: int,
    out: str | Path | None,
    batch_size: int,
    per_image: bool,
    checkpoint: str | Path | None,
    device: str,
    tally: _Tally,
    message: str,
    options: dict[str, Any],
) -> SampleResult:
    check_sample_request(n, batch_size)
    check_seed(seed, n)
    check_sampling_options(options)
    if out is not None:
        if Path(out).suffix.lower() != ".png":
            raise HuashiError(f"--out must name a .png file, got {out}.")
        check_output_file(out)
    loaded = _loaded(run, checkpoint, device)
    if "label" in options and loaded.family.condition == "class":
        options = options | {"label": parse_label(options["label"], loaded.family.data.class_names)}
    options = with_defaults(loaded.family, resolved_precision(loaded.family, options))
    seeds = list(range(seed, seed + n))
    images = _generate(loaded, seeds, batch_size, tally, message, options)
    grid_path, files = None, []
    if out is not None:
        out = Path(out)
        base = {
            "run": str(loaded.run_dir.resolve()),
            "checkpoint": loaded.checkpoint.name,
            "step": loaded.step,
            "family": loaded.config.family,
            "options": options,
        }
        grid_path = save_png(make_grid(images), out, base | {"seeds": seeds})
        if per_image:
            for i, (s, image) in enumerate(zip(seeds, images, strict=True)):
                files.append(
                    save_png(
                        to_pil(image),
                        out.parent / out.stem / f"seed-{s:06d}.png",
                        base | {"seed": s} | _batch_of(seeds, i, batch_size),
                    )
                )
    return SampleResult(images, seeds, grid_path, files)


def _batch_of(seeds: list[int], index: int, batch_size: int) -> dict[str, list[int]]:
    """``{"batch": [first seed, count]}`` of the batch image ``index`` was painted in, when it
    had company. Kernels may sum in another order for another batch size (a StyleGAN's grouped
    convolution differed by 1e-6 between a batch of 3 and of 1, enough to move a pixel), so
    ``huashi regenerate`` paints that same batch again and keeps this image: exact by
    construction."""
    start = index - index % batch_size
    chunk = seeds[start : start + batch_size]
    return {"batch": [chunk[0], len(chunk)]} if len(chunk) > 1 else {}


@dataclass
class PaintPass:
    """The images of one sampler and step count (the run's defaults when None)."""

    sampler: str | None
    steps: int | None
    images: torch.Tensor  # [n, C, H, W] in [-1, 1]
    seconds: float
    grid: Path | None = None
    files: list[Path] = field(default_factory=list)


@dataclass
class PaintResult:
    """What :func:`paint` made: one pass, or one per sweep pair (same seeds), and for a sweep an
    overview with one labelled row per pair."""

    passes: list[PaintPass]
    seeds: list[int]
    options: dict[str, Any]
    overview: Path | None = None
    overview_image: Any = None  # PIL image of the sweep overview
    notes: list[str] = field(default_factory=list)

    @property
    def images(self) -> torch.Tensor:
        """The images of the first (or only) pass."""
        return self.passes[0].images


def _checked_file(path: Any, what: str) -> Any:
    if not isinstance(path, (str, Path)):
        return path  # a tensor
    if not Path(path).is_file():
        raise HuashiError(f"the {what} {path} does not exist.")
    return str(Path(path).resolve())  # absolute, so `huashi regenerate` works from anywhere


def paint(
    run: str | Path | LoadedRun,
    prompt: str | None = None,
    *,
    n: int = 8,
    seed: int = 0,
    out: str | Path | None = None,
    sweep: Sequence[tuple[str, int]] | None = None,
    per_image: bool = True,
    batch_size: int = 16,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    **options: Any,
) -> PaintResult:
    """Paint ``n`` images (seeds ``seed..seed+n-1``) with the sampling ``options`` (label,
    sampler, steps, cfg, eta, init, strength, mask, precision; None values are dropped).

    ``sweep=[("ddim", 10), ("dpmpp-2m", 20)]`` paints the same seeds once per sampler and step
    count, timing each pass; with ``out`` each pass's grid goes to ``<out stem>-<sampler>-
    <steps>.png`` and the overview (one labelled row per pair) to ``out``. Without a sweep,
    ``out`` is the grid and, with ``per_image``, each image goes to ``<out stem>/``."""
    options = {key: value for key, value in options.items() if value is not None}
    if prompt is not None:
        options["prompt"] = prompt
    for key, what in (("init", "init image"), ("mask", "mask")):
        if key in options:
            options[key] = _checked_file(options[key], what)
    if out is not None:
        if Path(out).suffix.lower() != ".png":
            raise HuashiError(f"--out must name a .png file, got {out}.")
        check_output_file(out)
    loaded = _loaded(run, checkpoint, device)
    family = loaded.family
    if "label" in options and family.condition == "class":
        options["label"] = parse_label(options["label"], family.data.class_names)
    options = with_defaults(family, resolved_precision(family, options))
    notes = []
    if isinstance(options.get("init"), str):
        from huashi.diffusion.inputs import load_init

        note = load_init(options["init"], family.data.channels, family.data.resolution)[2]
        notes += [note] if note else []
    from huashi.data import has_exact_captions

    if options.get("prompt") and n > 1 and has_exact_captions(loaded.config.data.get("spec")):
        notes.append(
            f"{loaded.config.data['spec']} has exactly one picture per caption, so a model "
            "trained on it paints nearly the same picture for every seed of one prompt: vary "
            "the prompt, not the seed, for variety."
        )
    if sweep:
        check_count("--sweep's number of passes", len(sweep), 32, "sweep fewer pairs")
    pairs = [(None, None)] if not sweep else [(str(s), int(k)) for s, k in sweep]
    if tiny.enabled():  # the docs' tests (huashi/tiny.py)
        n, options = tiny.cap("n", n), tiny.sampling(options)
        pairs = [(s, k if k is None else tiny.cap("steps", k)) for s, k in pairs]
    if sweep and not family.sampling_steps:
        raise HuashiError(
            f"a {loaded.config.family} model has no sampler or steps to sweep: drop --sweep."
        )
    tally = _Tally(progress, n * len(pairs))
    passes = []
    for sampler, steps in pairs:
        chosen = options if sampler is None else options | {"sampler": sampler, "steps": steps}
        path = out
        if sweep and out is not None:
            path = Path(out).with_name(f"{Path(out).stem}-{sampler}-{steps}.png")
        message = "painting" if sampler is None else f"{sampler} {steps} steps"
        started = time.perf_counter()
        result = _sample(loaded, n, seed, path, batch_size, per_image and not sweep, None,
                         device, tally, message, chosen)  # fmt: skip
        seconds = time.perf_counter() - started
        passes.append(PaintPass(sampler, steps, result.images, seconds, result.grid, result.files))
    painted = PaintResult(passes, list(range(seed, seed + n)), options, notes=notes)
    if sweep:
        labels = [f"{p.sampler} {p.steps}" for p in passes]
        painted.overview_image = _overview([p.images for p in passes], labels)
        if out is not None:
            meta = {"run": str(loaded.run_dir.resolve()), "sweep": labels, "options": options}
            painted.overview = save_png(painted.overview_image, Path(out), meta)
    return painted


def _overview(rows: list[torch.Tensor], labels: list[str]) -> Any:
    """One grid row per sweep pass with its label on the left."""
    from PIL import Image, ImageDraw

    grids = [make_grid(images, nrow=len(images)) for images in rows]
    margin = 90
    width = margin + max(g.width for g in grids)
    overview = Image.new("RGB", (width, sum(g.height for g in grids)), "white")
    draw = ImageDraw.Draw(overview)
    y = 0
    for grid, label in zip(grids, labels, strict=True):
        overview.paste(grid.convert("RGB"), (margin, y))
        draw.text((4, y + grid.height // 2 - 6), label, fill="black")
        y += grid.height
    return overview


def regenerate(png: str | Path, out: str | Path) -> Path:
    """Make an image again from the parameters stored in a single-image huashi PNG."""
    check_output_file(out)
    from huashi.metadata import localized

    written = read_params(Path(png))
    params = localized(written, png)  # relative runs and files (the studio's) found from the PNG
    if "latent" in params and "run" in params:  # an inverted or edited image (huashi invert)
        from huashi.latents import load_latent, render

        loaded = load_run(params["run"], Path(params["run"]) / "checkpoints" / params["checkpoint"])
        latent = load_latent(params["latent"])
        with torch.no_grad():
            image = render(
                loaded.family,
                latent.tensor.to(loaded.family.device),
                latent.space,
                noise=latent.noise,
                **latent.options,
            )[0]
        keep = {k: v for k, v in params.items() if k != "huashi_version"}
        return save_png(to_pil(image), Path(out), keep)
    if "upscale" in params and "run" in params:  # an upscaled image (huashi upscale)
        from huashi.upscale import reupscale

        keep = {k: v for k, v in params.items() if k != "huashi_version"}
        return save_png(to_pil(reupscale(params)), Path(out), keep)
    if "seed" not in params or "run" not in params:
        raise HuashiError(f"{png} does not describe a single generated image (no seed/run in it).")
    if "dream" in params:  # a DeepDream image (huashi dream)
        from huashi.dream import redream

        image = redream(params)
    elif "input" in params:  # a translated image (huashi translate)
        image = retranslate(params)
    else:
        loaded = load_run(params["run"], Path(params["run"]) / "checkpoints" / params["checkpoint"])
        options = check_sampling_options(dict(params.get("options", {})))
        if "precision" in loaded.family.sampling_option_names():
            options.setdefault("precision", "fp32")  # PNGs from before it was recorded: fp32
        seeds = [check_seed(params["seed"], name=f"{png}'s seed")]
        if "batch" in params:  # painted among others: the same batch again, this image of it
            batch = params["batch"]
            if not isinstance(batch, list) or len(batch) != 2:
                raise HuashiError(f"{png}'s batch must be [first seed, count], not {batch!r}.")
            first, count = batch
            check_count(
                f"{png}'s batch size", count, MAX_SAMPLES, "its parameters were edited or damaged"
            )
            seeds = list(range(check_seed(first, count, f"{png}'s batch"), first + count))
            if params["seed"] not in seeds:
                raise HuashiError(
                    f"{png} says seed {params['seed']} was painted in the batch of seeds "
                    f"{first}..{first + count - 1}: its parameters were edited or damaged."
                )
        image = loaded.family.generate(seeds, **options)[seeds.index(params["seed"])]
    keep = {k: v for k, v in params.items() if k != "huashi_version"}
    return save_png(to_pil(image), Path(out), keep)


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class EvalResult:
    """An evaluation: its metrics (``{name: value}``, see :mod:`huashi.metrics.registry`), the
    whole record saved as JSON (how every score was made), its path and its warnings."""

    metrics: dict[str, Any]
    record: dict[str, Any]
    path: Path | None
    warnings: list[str]


def evaluate(
    run: str | Path | LoadedRun,
    features: str | None = None,
    n: int = 5000,
    seed: int = 0,
    *,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> EvalResult:
    """Measure ``run`` on ``n`` generated images with the feature network ``features``
    (``classifier:RUN``, ``clip:RUN``, ``texture:SPEC`` or ``inception:WEIGHTS``; default: the
    dataset's validated view, ``texture:zoo:reference-<dataset>``, with the plain reference
    network as the second view) against its real data, with every registered metric that
    applies, the FID's multiple of its floor and the copy check; ``options`` are sampling
    options (e.g. steps). ``settings`` go to :func:`huashi.evaluate.evaluate` (split,
    batch_size, kid_subsets, kid_subset_size, pr_k, is_splits, cache, save, also).
    ``progress`` counts the generated images."""
    from huashi.evaluate import EvalWarning
    from huashi.evaluate import evaluate as measure

    loaded = _loaded(run, checkpoint, device)
    n = tiny.cap("eval_n", n)
    if options and "steps" in options:
        options = {**options, "steps": tiny.cap("steps", options["steps"])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalWarning)  # they are in the record
        record = measure(loaded, features, n=n, seed=seed, checkpoint=checkpoint, device=device,
                         options=options, progress=progress, **settings)  # fmt: skip
    path = Path(record["path"]) if "path" in record else None
    return EvalResult(record["metrics"], record, path, list(record["warnings"]))


def validate_features(
    features: str, run: str | Path | None = None, seed: int = 0, device: str = "auto",
    out: str | Path | None = None,
):  # fmt: skip
    """The validation ladder (:mod:`huashi.metrics.ladder`) of a feature network on the real
    images it was trained on; ``run``: a GAN run whose checkpoints at a quarter, half and all
    of its steps add the last ladder. Writes the report as JSON to ``out`` when given."""
    from huashi.data import load_dataset
    from huashi.features import load_features
    from huashi.metrics.ladder import validate

    net = load_features(features, device)
    data = net.trained_on or {}
    if "spec" not in data:
        raise HuashiError(f"{features} does not say what it was trained on: validate an "
                          "in-domain network (zoo:reference-*, clip:RUN, classifier:RUN).")  # fmt: skip
    dataset = load_dataset(str(data["spec"]), resolution=int(data["resolution"]),
                           **(data.get("options") or {}))  # fmt: skip
    batch = dataset.batch(torch.arange(len(dataset)))
    images = batch["target"] if "target" in batch else batch["image"]
    count = len(images) // 2
    report = validate(net.features, images, batch.get("label"),
                      _ladder_checkpoints(run, count, device) if run else (), seed,
                      features, str(data["spec"]))  # fmt: skip
    if out is not None:
        Path(out).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _ladder_checkpoints(run: str | Path, count: int, device: str) -> list[tuple[str, torch.Tensor]]:
    """(label, ``count`` images) from a run's checkpoints nearest a quarter, half and all of
    its last step, earliest first."""
    from huashi.evaluate import generate_all

    checkpoints = sorted(Path(run, "checkpoints").glob("step-*.json"))
    if not checkpoints:
        raise HuashiError(f"{run} has no checkpoints: pass a trained GAN run to --run.")
    steps = [int(p.stem.split("-")[1]) for p in checkpoints]
    out = []
    for part in (0.25, 0.5, 1.0):
        step = min(steps, key=lambda s, t=part * steps[-1]: abs(s - t))
        loaded = load_run(run, checkpoints[steps.index(step)], device)
        out.append((f"step {step} of {steps[-1]}", generate_all(loaded, list(range(count)))))
    return out


@dataclass
class CompareResult:
    """The comparison page, the numbers written beside it, and what was warned about."""

    path: Path
    numbers_path: Path
    numbers: dict[str, Any]
    warnings: list[str]


def compare(
    runs: Sequence[str | Path],
    out: str | Path = "report.html",
    features: str | None = None,
    n: int = 1000,
    *,
    progress: Progress | None = None,
    **options: Any,
) -> CompareResult:
    """One self-contained HTML page comparing ``runs`` (samples from the same seeds, metrics,
    training time, sampling speed, plots). With ``features``, missing metrics are computed with
    ``n`` samples. ``options`` go to :func:`huashi.compare.compare` (force, all_checkpoints,
    sampler_steps, speed_n, grid_n, device, title, notes). ``progress`` counts the runs."""
    from huashi.compare import compare as write_page

    n = tiny.cap("eval_n", n)
    if tiny.enabled():  # one sampler step count, few images timed and shown
        options |= {"sampler_steps": [tiny.CAPS["steps"]], "speed_n": 4, "grid_n": 4}
    path = write_page(runs, out, features=features, n=n, progress=progress, **options)
    numbers_path = path.with_suffix(".json")
    numbers = json.loads(numbers_path.read_text())
    return CompareResult(path, numbers_path, numbers, list(numbers["warnings"]))


@dataclass
class ClipLabels:
    """Zero-shot labels: for image i, ``labels[i]`` is the prompt with the highest cosine
    similarity (``similarity`` [images, prompts]); ``notes`` say how input files were fitted."""

    labels: list[str]
    similarity: torch.Tensor
    notes: list[str] = field(default_factory=list)

    @property
    def best_cosine(self) -> list[float]:
        return self.similarity.max(dim=1).values.tolist()


def clip_labels(
    run: str | Path,
    images: Sequence[str | Path] | torch.Tensor,
    prompts: Sequence[str],
    device: str = "auto",
    progress: Progress | None = None,
) -> ClipLabels:
    """Label ``images`` (files, or a tensor [N, C, H, W] in [-1, 1]) zero-shot with a trained
    huashi CLIP run: each gets the prompt its embedding is closest to."""
    from huashi.features import load_features, zero_shot
    from huashi.translate import load_image

    net = load_features(f"clip:{run}", device)
    notes: list[str] = []
    if not isinstance(images, torch.Tensor):
        read = []
        for done, path in enumerate(images, 1):
            image, changed = load_image(Path(path), net.resolution, net.channels)
            read.append(image)
            notes += changed
            if progress is not None:
                progress(done, len(images) + 1, "reading images")
        if not read:
            raise HuashiError("give at least one image to label.")
        images = torch.stack(read)
    chosen, similarity = zero_shot(net, images, list(prompts))
    if progress is not None:
        progress(len(images) + 1, len(images) + 1, "labelled")
    return ClipLabels(chosen, similarity, notes)


# --- image-to-image, autoencoders, data and the doctor ---------------------------------------


def translate(
    run: str | Path | LoadedRun,
    inputs: str | Path | list,
    out: str | Path,
    seed: int = 0,
    batch_size: int = 64,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> TranslateResult:
    """Translate an image file, a folder or a list of files with a trained image-to-image run
    (see :func:`huashi.translate.translate`); ``progress`` counts the translated images."""
    from huashi.translate import translate as run_translate

    check_output_dir(out)
    check_number("--batch-size", batch_size, 1, whole=True)
    check_seed(seed)
    return run_translate(_loaded(run, checkpoint, device), inputs, out, seed=seed,
                         batch_size=batch_size, progress=progress)  # fmt: skip


def upscale(
    run: str | Path | LoadedRun,
    inputs: str | Path | list,
    out: str | Path,
    seed: int = 0,
    batch_size: int = 64,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    prompt: str | None = None,
) -> UpscaleResult:
    """Upscale an image file, a folder or a list of files with a trained upsampler run (see
    :func:`huashi.upscale.upscale`): one PNG per input under ``out``, with the input's own
    huashi parameters kept in its metadata; ``progress`` counts the upscaled images.
    ``prompt``: what the pictures show, for a text-conditioned upsampler (default: the prompt
    each input painted by huashi records)."""
    from huashi.upscale import upscale as run_upscale

    check_output_dir(out)
    check_number("--batch-size", batch_size, 1, whole=True)
    check_seed(seed)
    return run_upscale(_loaded(run, checkpoint, device), inputs, out, seed=seed,
                       batch_size=batch_size, progress=progress, prompt=prompt)  # fmt: skip


def interpolate(
    run: str | Path | LoadedRun,
    image_a: str | Path | torch.Tensor,
    image_b: str | Path | torch.Tensor,
    steps: int = 8,
    path: str = "linear",
    out: str | Path | None = None,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> Interpolation:
    """A latent walk of ``steps`` images from A to B with an autoencoder run (see
    :func:`huashi.interpolate.interpolate`); ``progress`` is told when the strip is made."""
    from huashi.interpolate import interpolate as walk

    if out is not None:
        check_output_file(out)
    result = walk(run, image_a, image_b, steps=steps, path=path, out=out, checkpoint=checkpoint,
                  device=device)  # fmt: skip
    if progress is not None:
        progress(1, 1, "walked")
    return result


class DataPreview(NamedTuple):
    """The preview grid's path and a one-paragraph summary of the dataset."""

    path: Path
    summary: str


def preview_data(
    spec: str,
    resolution: int = 64,
    n: int = 64,
    out: str | Path | None = None,
    split: str = "train",
    data_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> DataPreview:
    """Write a grid of ``n`` images of a dataset with their captions or labels.

    Returns the grid's path and a one-paragraph summary (size, resolution, what it holds)."""
    from huashi.data import dataset_summary, load_dataset
    from huashi.data.preview import preview_grid

    check_resolution(resolution)
    check_count("--n", n, MAX_GRID_IMAGES, "preview fewer images")
    name = Path(spec).name if Path(spec).exists() else spec
    path = check_output_file(Path(out) if out else Path(f"{name}-preview.png"))
    dataset = load_dataset(spec, resolution=resolution, split=split, **(data_options or {}))
    if progress is not None:
        progress(1, 2, "loaded")
    preview_grid(dataset, n=n, path=path)
    if progress is not None:
        progress(2, 2, "wrote the grid")
    return DataPreview(path, dataset_summary(dataset))


def export_data(
    spec: str,
    out: str | Path,
    n: int = 1,
    indices: list[int] | None = None,
    caption: str | None = None,
    resolution: int = 64,
    split: str = "train",
    target: bool = False,
    data_options: dict[str, Any] | None = None,
) -> list:
    """Write real images of a dataset as PNGs (``out``: a folder, or one ``.png`` file); pick
    them by ``indices``, by ``caption`` (exact, else contained) or take the first ``n``.

    Returns the written files (:class:`huashi.data.export.ExportedImage`: path, index, text)."""
    from huashi.data import load_dataset
    from huashi.data.export import export_images, select

    check_resolution(resolution)
    dataset = load_dataset(spec, resolution=resolution, split=split, **(data_options or {}))
    dataset.info["split"] = split
    return export_images(dataset, select(dataset, n, indices, caption), Path(out), target)


def device_name(device: str = "auto") -> str:
    return str(pick_device(device))


@dataclass
class DoctorReport:
    run_dir: Path
    records: int
    first_step: int
    last_step: int
    findings: list  # list[huashi.doctor.Finding]
    note: str = ""  # e.g. that the GAN checks do not apply to this family

    def summary(self) -> str:
        if not self.records:
            return f"{self.run_dir}: no log records yet."
        if self.note and not self.findings:
            return f"{self.run_dir}: {self.records} log records: {self.note}; no failure signs."
        head = (
            f"{self.run_dir}: {self.records} log records, steps {self.first_step}-{self.last_step}"
        )
        if not self.findings:
            return head + ": no failure signs."
        return head + f": {len(self.findings)} failure sign(s):"


def doctor(run: str | Path, progress: Progress | None = None) -> DoctorReport:
    """The training doctor's findings for a (finished or running) GAN run, from its log and the
    diversity of its fixed-seed progress grids; ``progress`` counts the grids read."""
    from huashi.doctor import diagnose, grid_diversity, is_gan_log, run_checks
    from huashi.training.logging import read_log

    run_dir = Path(run)
    config = RunConfig.load(run_dir)
    # What the remedies read: the family's config and the run's precision.
    run_config = {**config.model, "precision": config.train.get("precision", "auto")}
    records = read_log(run_dir / "log.jsonl")
    steps = [int(r["step"]) for r in records] or [0]
    resolution, n_fixed = config.data["resolution"], config.train.get("n_fixed", 64)
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    fixed = []
    for done, path in enumerate(grids, 1):
        fixed.append((int(path.stem.removeprefix("step-")),
                      grid_diversity(path, resolution, n_fixed)))  # fmt: skip
        if progress is not None:
            progress(done, len(grids) + 1, "reading progress grids")
    findings = diagnose(records, run_config, fixed) if is_gan_log(records) else []
    more, note = run_checks(run_dir, records, run_config)
    if progress is not None:
        progress(len(grids) + 1, len(grids) + 1, "diagnosed")
    return DoctorReport(run_dir, len(records), steps[0], steps[-1], more + findings, note)
