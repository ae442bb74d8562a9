"""Upscale image files with a trained upsampler run (``huashi upscale``), and measure it against
bicubic interpolation on held-out images (PSNR, SSIM and, with a feature network, FID)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from huashi.errors import HuashiError
from huashi.families.upsampler import UpsamplerFamily
from huashi.images import read_params, save_png, to_pil, to_uint8
from huashi.runs import LoadedRun, load_run
from huashi.translate import _input_files, load_image

#: The metadata key of an upscaled PNG: {"scale", "input", "seed", "source"}.
UPSCALE = "upscale"


@dataclass
class UpscaleResult:
    images: torch.Tensor  # [n, C, R, R] in [-1, 1]
    files: list[Path]
    notes: list[str] = field(default_factory=list)


def upsampler_of(loaded: LoadedRun) -> UpsamplerFamily:
    """The loaded run's upsampler, or a clear error for a run of another kind."""
    if not isinstance(loaded.family, UpsamplerFamily):
        raise HuashiError(
            f"{loaded.run_dir} is a '{loaded.family.name}' run, which does not upscale images: "
            "train one with `huashi train upsampler --data DATA --resolution 64 --scale 4`."
        )
    return loaded.family


def _source_params(path: Path) -> dict[str, Any] | None:
    """The parameters a huashi PNG carries (how it was painted), else None."""
    try:
        return read_params(path)
    except (HuashiError, ValueError):
        return None


def upscale(
    run: str | Path | LoadedRun,
    inputs: str | Path | list,
    out: str | Path,
    seed: int = 0,
    batch_size: int = 64,
    progress: Callable[[int, int, str], None] | None = None,
) -> UpscaleResult:
    """Upscale an image file, a folder of images (recursively) or a list of files with a trained
    upsampler run; writes one PNG per input under ``out`` (a folder keeps its layout).

    Inputs of another size than the run's input size are centre-cropped and resized to it
    (``notes`` says so). Image i's detail comes from seed ``seed + i``. Each PNG carries the
    run, checkpoint, input file and seed, and under ``source`` the parameters of an input that
    huashi painted (so where it came from is kept).
    """
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    family = upsampler_of(loaded)
    size, channels = family.in_resolution, family.data.channels
    pairs = _input_files(inputs)
    read = [load_image(path, size, channels) for path, _ in pairs]
    batch = torch.stack([image for image, _ in read])
    changes = [note for _, notes in read for note in notes]
    seeds = list(range(seed, seed + len(pairs)))
    made = []
    for i in range(0, len(pairs), batch_size):
        made.append(family.generate(seeds[i : i + batch_size], inputs=batch[i : i + batch_size]))
        if progress is not None:
            progress(min(i + batch_size, len(pairs)), len(pairs), "upscaling")
    images = torch.cat(made).cpu()
    base = {
        "run": str(loaded.run_dir.resolve()),
        "checkpoint": loaded.checkpoint.name,
        "step": loaded.step,
        "family": loaded.config.family,
    }
    files = []
    for (path, relative), image, s in zip(pairs, images, seeds, strict=True):
        record = {"scale": family.config.scale, "input": str(path.resolve()), "seed": s}
        source = _source_params(path)
        if source is not None:
            record["source"] = source
        files.append(save_png(to_pil(image), Path(out) / relative, base | {UPSCALE: record}))
    notes = []
    if changes:
        shown = "; ".join(changes[:5]) + ("; ..." if len(changes) > 5 else "")
        notes.append(
            f"{len(changes)} change(s) to fit the run's {size}x{size} "
            f"{'grayscale' if channels == 1 else 'RGB'} inputs: {shown}"
        )
    return UpscaleResult(images, files, notes)


def reupscale(params: dict[str, Any]) -> torch.Tensor:
    """The image an upscaled PNG describes (run, checkpoint, input file, seed), made again:
    [C, H, W] in [-1, 1]. Used by ``huashi regenerate``."""
    run_dir, record = Path(params["run"]), params[UPSCALE]
    family = upsampler_of(load_run(run_dir, run_dir / "checkpoints" / params["checkpoint"]))
    image, _ = load_image(Path(record["input"]), family.in_resolution, family.data.channels)
    return family.generate([record["seed"]], inputs=image[None])[0].cpu()


def bicubic(low: torch.Tensor, scale: int) -> torch.Tensor:
    """PIL's bicubic upscaling of 8-bit images ``low`` [B, C, r, r] in [-1, 1] (the baseline)."""
    out = []
    for image in to_uint8(low):
        array = image.permute(1, 2, 0).numpy()
        pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
        big = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.BICUBIC)
        big_array = np.asarray(big).reshape(big.height, big.width, -1)
        out.append(torch.from_numpy(big_array.copy()).permute(2, 0, 1))
    return torch.stack(out).float() / 127.5 - 1
