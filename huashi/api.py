"""The public Python API. The CLI and the studio are thin faces over these functions."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from huashi.errors import HuashiError
from huashi.families import DataInfo, get_family
from huashi.images import make_grid, read_params, save_png, to_pil
from huashi.interpolate import Interpolation, interpolate
from huashi.runs import LoadedRun, RunConfig, build_family, load_run
from huashi.training.checkpoint import latest_checkpoint
from huashi.training.device import pick_device
from huashi.training.loop import TrainConfig, Trainer, TrainResult
from huashi.translate import TranslateResult, evaluate_pairs, retranslate, translate

__all__ = [
    "DoctorReport",
    "Interpolation",
    "LoadedRun",
    "TrainConfig",
    "TrainResult",
    "TranslateResult",
    "doctor",
    "evaluate_pairs",
    "interpolate",
    "load_run",
    "preview_data",
    "regenerate",
    "sample",
    "train",
    "translate",
]


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
        if saved.model.get(key) != value:
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
    **train_options: Any,
) -> TrainResult:
    """Train a model family on a dataset into the run folder ``out``.

    ``model`` holds the family's config fields, ``train_options`` the :class:`TrainConfig`
    fields. With ``resume=True`` the run continues from its newest checkpoint, exactly as if it
    had never stopped; only schedule fields (``steps``, intervals, device) may change.
    """
    from huashi.data import load_dataset

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
        model_config = family_class.make_config(model or {})
        train_config = TrainConfig(**train_options)
        data_spec = {
            "spec": data,
            "resolution": resolution or 64,
            "options": dict(data_options or {}),
        }
    else:
        family_class = get_family(saved.family)
        model_config = family_class.make_config(saved.model)
        train_config = dataclasses.replace(saved.train_config(), **train_options)
        data_spec = saved.data
    if train_config.steps < 1 or train_config.batch_size < 1:
        raise HuashiError("--steps and --batch-size must be at least 1.")

    dataset = load_dataset(
        data_spec["spec"], resolution=data_spec["resolution"], **data_spec["options"]
    )
    info = data_info_of(dataset)
    family_class.check_data(info, model_config)
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
    _seed_everything(train_config.seed)
    model_family = build_family(config, device)
    trainer = Trainer(model_family, dataset, train_config, run_dir, list(callbacks), progress)
    if saved is not None:
        trainer.resume_latest()
    config.save(run_dir)
    result = trainer.run()
    if family_class.paired_data and not result.interrupted:
        try:  # image-to-image runs are measured on the held-out pairs (M3)
            result.reports["pairs_eval"] = evaluate_pairs(run_dir, device=train_config.device)
        except HuashiError as error:
            result.reports["pairs_eval"] = {"skipped": str(error)}
    return result


@dataclass
class SampleResult:
    images: torch.Tensor  # [n, C, H, W] in [-1, 1]
    seeds: list[int]
    grid: Path | None
    files: list[Path]


def sample(
    run: str | Path | LoadedRun,
    n: int = 64,
    seed: int = 0,
    out: str | Path | None = None,
    batch_size: int = 64,
    per_image: bool = True,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    **options: Any,
) -> SampleResult:
    """Generate ``n`` images with seeds ``seed, seed+1, ...``; image i depends only on its seed.

    With ``out`` (a .png path) the grid is written there and, with ``per_image``, each image to
    ``<out stem>/seed-<seed>.png``; every PNG carries the parameters that regenerate it.
    """
    if n < 1:
        raise HuashiError("--n must be at least 1.")
    loaded = run if isinstance(run, LoadedRun) else load_run(run, checkpoint, device)
    seeds = list(range(seed, seed + n))
    images = torch.cat(
        [
            loaded.family.generate(seeds[i : i + batch_size], **options).cpu()
            for i in range(0, n, batch_size)
        ]
    )
    grid_path, files = None, []
    if out is not None:
        out = Path(out)
        if out.suffix.lower() != ".png":
            raise HuashiError(f"--out must name a .png file, got {out}.")
        base = {
            "run": str(loaded.run_dir.resolve()),
            "checkpoint": loaded.checkpoint.name,
            "step": loaded.step,
            "family": loaded.config.family,
            "options": options,
        }
        grid_path = save_png(make_grid(images), out, base | {"seeds": seeds})
        if per_image:
            for s, image in zip(seeds, images, strict=True):
                files.append(
                    save_png(
                        to_pil(image),
                        out.parent / out.stem / f"seed-{s:06d}.png",
                        base | {"seed": s},
                    )
                )
    return SampleResult(images, seeds, grid_path, files)


def regenerate(png: str | Path, out: str | Path) -> Path:
    """Make an image again from the parameters stored in a single-image huashi PNG."""
    params = read_params(Path(png))
    if "latent" in params and "run" in params:  # an inverted or edited image (huashi invert)
        from huashi.latents import load_latent, render

        loaded = load_run(params["run"], Path(params["run"]) / "checkpoints" / params["checkpoint"])
        latent = load_latent(params["latent"])
        with torch.no_grad():
            image = render(
                loaded.family,
                latent.tensor.to(loaded.family.device),
                latent.space,
                **latent.options,
            )[0]
        keep = {k: v for k, v in params.items() if k != "huashi_version"}
        return save_png(to_pil(image), Path(out), keep)
    if "seed" not in params or "run" not in params:
        raise HuashiError(f"{png} does not describe a single generated image (no seed/run in it).")
    if "input" in params:  # a translated image (huashi translate)
        image = retranslate(params)
    else:
        loaded = load_run(params["run"], Path(params["run"]) / "checkpoints" / params["checkpoint"])
        image = loaded.family.generate([params["seed"]], **params.get("options", {}))[0]
    keep = {k: v for k, v in params.items() if k != "huashi_version"}
    return save_png(to_pil(image), Path(out), keep)


def preview_data(
    spec: str,
    resolution: int = 64,
    n: int = 64,
    out: str | Path | None = None,
    split: str = "train",
    data_options: dict[str, Any] | None = None,
) -> tuple[Path, str]:
    """Write a grid of ``n`` images of a dataset with their captions or labels.

    Returns the grid's path and a one-paragraph summary (size, resolution, what it holds)."""
    from huashi.data import dataset_summary, load_dataset
    from huashi.data.preview import preview_grid

    dataset = load_dataset(spec, resolution=resolution, split=split, **(data_options or {}))
    name = Path(spec).name if Path(spec).exists() else spec
    path = Path(out) if out else Path(f"{name}-preview.png")
    preview_grid(dataset, n=n, path=path)
    return path, dataset_summary(dataset)


def device_name(device: str = "auto") -> str:
    return str(pick_device(device))


@dataclass
class DoctorReport:
    run_dir: Path
    records: int
    first_step: int
    last_step: int
    findings: list  # list[huashi.doctor.Finding]

    def summary(self) -> str:
        if not self.records:
            return f"{self.run_dir}: no log records yet."
        head = (
            f"{self.run_dir}: {self.records} log records, steps {self.first_step}-{self.last_step}"
        )
        if not self.findings:
            return head + ": no failure signs."
        return head + f": {len(self.findings)} failure sign(s):"


def doctor(run: str | Path) -> DoctorReport:
    """The training doctor's findings for a (finished or running) GAN run, from its log and the
    diversity of its fixed-seed progress grids."""
    from huashi.doctor import diagnose, grid_diversity
    from huashi.training.logging import read_log

    run_dir = Path(run)
    config = RunConfig.load(run_dir)
    loss = config.model.get("loss", "nsgan")
    records = read_log(run_dir / "log.jsonl")
    steps = [int(r["step"]) for r in records] or [0]
    resolution, n_fixed = config.data["resolution"], config.train.get("n_fixed", 64)
    fixed = [
        (int(path.stem.removeprefix("step-")), grid_diversity(path, resolution, n_fixed))
        for path in sorted((run_dir / "samples").glob("step-*.png"))
    ]
    findings = diagnose(records, loss, fixed)
    return DoctorReport(run_dir, len(records), steps[0], steps[-1], findings)
