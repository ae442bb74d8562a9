"""Latent walks between two images with a trained autoencoder (the seed's "new moon -> half moon
-> full moon"): encode both, move along a path in latent space, decode every point.

Input images of another size or mode are converted the way the data layer converts a folder
(transparency onto white, grayscale or RGB as the run was trained, centre crop to a square,
Lanczos resize to the run's resolution), and each conversion is reported in ``notes``: a walk
between two photos should not fail because they are 512 px, but the user should know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from huashi.core.errors import HuashiError
from huashi.core.images import read_image_tensor, save_grid
from huashi.core.validation import MAX_GRID_IMAGES, check_count
from huashi.families.autoencoder import LatentAutoencoder, require_autoencoder
from huashi.gan.latent_paths import lerp, slerp
from huashi.runs import LoadedRun, RunConfig, build_family, load_weights
from huashi.training.device import pick_device

PATHS = ("linear", "slerp")
#: "data:12" names image 12 of the run's training set instead of a file.
DATA_PREFIX = "data:"


@dataclass
class Interpolation:
    images: torch.Tensor  # [steps, C, R, R] in [-1, 1]; the first and last reconstruct A and B
    latents: torch.Tensor  # [steps, *latent_shape], unscaled
    notes: list[str] = field(default_factory=list)  # conversions applied to the inputs
    out: Path | None = None


def load_autoencoder(
    run: str | Path | LoadedRun, checkpoint=None, device: str = "auto"
) -> tuple[LoadedRun, LatentAutoencoder]:
    """``load_run`` for autoencoder runs (anything that fills in :class:`LatentAutoencoder`);
    a clear error for any other kind of run, before its weights are read."""
    if isinstance(run, LoadedRun):
        return run, require_autoencoder(run.family, str(run.run_dir))
    config = RunConfig.load(Path(run))
    family = build_family(config, pick_device(device))
    autoencoder = require_autoencoder(family, str(run))
    return load_weights(Path(run), config, family, checkpoint), autoencoder


def interpolate(
    run: str | Path | LoadedRun,
    image_a: str | Path | torch.Tensor,
    image_b: str | Path | torch.Tensor,
    steps: int = 8,
    path: str = "linear",
    out: str | Path | None = None,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Callable[[int, int, str], None] | None = None,
) -> Interpolation:
    """Decode ``steps`` evenly spaced points from the code of A to the code of B (both ends
    included). ``path`` is "linear" or "slerp" (spherical: keeps the norm typical of Gaussian
    codes in the middle of the walk). Images are files, "data:N" (image N of the run's training
    set) or tensors [C, R, R] in [-1, 1]. With ``out`` (.png) the strip is written there with
    the parameters in its metadata. ``progress(done, total, message)`` counts the stages:
    loading the run, encoding, decoding, and writing the strip when there is ``out``."""
    if steps < 2:
        raise HuashiError(f"--steps must be at least 2 (the two ends), got {steps}.")
    check_count("--steps", steps, MAX_GRID_IMAGES, "walk in fewer steps")
    if path not in PATHS:
        raise HuashiError(f"unknown --path {path!r}: choose one of {', '.join(PATHS)}.")
    if out is not None and Path(out).suffix.lower() != ".png":
        raise HuashiError(f"--out must name a .png file, got {out}.")
    total = 4 if out is not None else 3
    tell = progress or (lambda done, total, message: None)
    tell(0, total, f"loading {getattr(run, 'run_dir', run)}")
    loaded, family = load_autoencoder(run, checkpoint, device)
    tell(1, total, "reading and encoding the two images")
    channels, resolution = family.data.channels, family.data.resolution
    inputs, notes, dataset = [], [], None
    for image in (image_a, image_b):
        if isinstance(image, torch.Tensor):
            inputs.append(image)
        elif str(image).startswith(DATA_PREFIX):
            dataset = _training_data(loaded) if dataset is None else dataset
            inputs.append(_data_image(dataset, str(image)))
        else:
            tensor, converted = read_image_tensor(image, channels, resolution)
            inputs.append(tensor)
            notes += converted
    a, b = family.encode(torch.stack(inputs))
    tell(2, total, f"decoding {steps} images")
    t = torch.linspace(0.0, 1.0, steps, device=a.device)
    latents = (lerp if path == "linear" else slerp)(a, b, t)
    images = family.decode(latents).cpu()
    result = Interpolation(images, latents.cpu(), notes)
    if out is not None:
        tell(3, total, f"writing {out}")
        params = {
            "run": str(loaded.run_dir.resolve()),
            "checkpoint": loaded.checkpoint.name,
            "step": loaded.step,
            "family": loaded.config.family,
            "image_a": _describe(image_a),
            "image_b": _describe(image_b),
            "steps": steps,
            "path": path,
        }
        result.out = save_grid(images, Path(out), params, nrow=steps)
    tell(total, total, "walked")
    return result


def _training_data(loaded: LoadedRun) -> Any:
    from huashi.data import load_dataset

    data = loaded.config.data
    return load_dataset(data["spec"], resolution=data["resolution"], **data["options"])


def _data_image(dataset: Any, name: str) -> torch.Tensor:
    index = name[len(DATA_PREFIX) :]
    if not index.isdigit() or int(index) >= len(dataset):
        raise HuashiError(
            f"{name!r} names no training image: use data:0 to data:{len(dataset) - 1}."
        )
    return dataset.batch(torch.tensor([int(index)]))["image"][0]


def _describe(image: str | Path | torch.Tensor) -> str:
    if isinstance(image, torch.Tensor):
        return "<tensor>"
    return str(image) if str(image).startswith(DATA_PREFIX) else str(Path(image).resolve())
