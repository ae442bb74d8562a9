"""The painting tools: translate, upscale, latent walks, DeepDream, distillation, ONNX export,
and the data preview (see :mod:`huashi.tools`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from huashi.api.runs import resolve_run
from huashi.core.progress import Progress
from huashi.core.validation import (
    MAX_GRID_IMAGES,
    check_count,
    check_number,
    check_output_dir,
    check_output_file,
    check_resolution,
    check_seed,
)
from huashi.runs import LoadedRun
from huashi.tools.distill import DistillReport
from huashi.tools.dream import DreamSettings, dream
from huashi.tools.dream_net import list_layers, load_dream_net
from huashi.tools.export import ExportResult
from huashi.tools.interpolate import Interpolation
from huashi.tools.translate import TranslateResult, evaluate_pairs
from huashi.tools.upscale import UpscaleResult

#: DeepDream is the tool's own functions (a dream net is loaded once, then dreamed with).
__all__ = [
    "DataPreview",
    "DreamSettings",
    "distill",
    "dream",
    "evaluate_pairs",
    "export",
    "export_data",
    "interpolate",
    "list_layers",
    "load_dream_net",
    "preview_data",
    "translate",
    "upscale",
]


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
    (see :func:`huashi.tools.translate.translate`); ``progress`` counts the translated images."""
    from huashi.tools.translate import translate as run_translate

    check_output_dir(out)
    check_number("--batch-size", batch_size, 1, whole=True)
    check_seed(seed)
    return run_translate(resolve_run(run, checkpoint, device), inputs, out, seed=seed,
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
    :func:`huashi.tools.upscale.upscale`): one PNG per input under ``out``, with the input's own
    huashi parameters kept in its metadata; ``progress`` counts the upscaled images.
    ``prompt``: what the pictures show, for a text-conditioned upsampler (default: the prompt
    each input painted by huashi records)."""
    from huashi.tools.upscale import upscale as run_upscale

    check_output_dir(out)
    check_number("--batch-size", batch_size, 1, whole=True)
    check_seed(seed)
    return run_upscale(resolve_run(run, checkpoint, device), inputs, out, seed=seed,
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
    :func:`huashi.tools.interpolate.interpolate`); ``progress`` counts its stages (loading,
    encoding, decoding, writing)."""
    from huashi.tools.interpolate import interpolate as walk

    if out is not None:
        check_output_file(out)
    return walk(run, image_a, image_b, steps=steps, path=path, out=out, checkpoint=checkpoint,
                device=device, progress=progress)  # fmt: skip


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
    progress: Progress | None = None,
    shift: int = 0,
    copies: int = 1,
    seed: int = 0,
) -> list:
    """Write real images of a dataset as PNGs (``out``: a folder, or one ``.png`` file); pick
    them by ``indices``, by ``caption`` (exact, else contained) or take the first ``n``.
    ``shift`` moves each by random whole pixels in [-shift, shift] (from ``seed``), ``copies``
    writes that many shifted copies of each. ``progress`` counts loading the dataset (1) and
    each file written (1 each).

    Returns the written files (:class:`huashi.data.export.ExportedImage`: path, index, text)."""
    from huashi.data import load_dataset
    from huashi.data.export import export_images, select

    check_resolution(resolution)
    dataset = load_dataset(spec, resolution=resolution, split=split, **(data_options or {}))
    dataset.info["split"] = split
    chosen = select(dataset, n, indices, caption)
    files = len(chosen) * copies
    doing = f"writing {files} PNG file{'s' * (files != 1)}"

    def written(done: int, total: int) -> None:
        if progress is not None:
            progress(done + 1, total + 1, doing)

    written(0, files)
    return export_images(dataset, chosen, Path(out), target, written, shift, copies, seed)


def distill(
    teacher: str | Path,
    data: str,
    out: str | Path,
    pairs: int = 2000,
    heldout: int = 64,
    task: str = "img2img",
    prompt: str | None = None,
    label: int | None = None,
    strength: float = 0.6,
    teacher_steps: int = 20,
    sampler: str = "ddim",
    cfg: float | None = None,
    seed: int = 0,
    data_options: dict[str, Any] | None = None,
    student: dict[str, Any] | None = None,
    speed_batch: int = 16,
    device: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
    train_progress: bool = True,
    **train_options: Any,
) -> DistillReport:
    """Make ``pairs`` training pairs and ``heldout`` held-out pairs with the teacher run, train
    a Pix2Pix student into ``out`` on them (``student``: Pix2Pix config fields;
    ``train_options``: TrainConfig fields such as ``steps``), and report the student against the
    teacher (``OUT/distill.json`` and ``OUT/distill.png``: input | teacher | student rows).
    ``speed_batch=0`` skips the speed measurement (see :mod:`huashi.tools.distill`)."""
    from huashi.api.train import train
    from huashi.tools import distill as distilling

    plan = distilling.make_all_pairs(
        teacher, data, out, pairs, heldout, task, prompt, label, strength, teacher_steps,
        sampler, cfg, seed, data_options, device, progress,
    )  # fmt: skip
    resolution = plan.teacher.family.data.resolution
    result = train(
        out, None if plan.resume else "pix2pix", str(plan.train_folder.inputs), resolution,
        model=None if plan.resume else student, data_options=plan.train_folder.data_options(),
        resume=plan.resume, progress=train_progress, device=device, **train_options,
    )  # fmt: skip
    return distilling.report_student(plan, out, result.step, speed_batch, device)


def export(
    run: str | Path,
    out: str | Path,
    format: str = "onnx",
    checkpoint: str | Path | None = None,
    check: bool = True,
    progress: Progress | None = None,
) -> ExportResult:
    """Export a trained run's one-step painter (see :func:`huashi.tools.export.export_run`);
    ``progress`` counts its stages (loading, tracing, writing, checking with onnxruntime)."""
    from huashi.tools.export import export_run

    return export_run(run, out, format, checkpoint, check, progress)
