"""Upscale image files with a trained upsampler run (``huashi upscale``), and measure it against
bicubic interpolation on held-out images (PSNR, SSIM and, with a feature network, FID)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from huashi.core.errors import HuashiError
from huashi.core.images import read_params, save_png, to_pil, to_uint8
from huashi.families.base import Family
from huashi.runs import LoadedRun, load_run
from huashi.tools.translate import load_image, map_images, run_parameters

#: The metadata key of an upscaled PNG: {"scale", "input", "seed", "source", "prompt"}.
UPSCALE = "upscale"


@dataclass
class UpscaleResult:
    images: torch.Tensor  # [n, C, R, R] in [-1, 1]
    files: list[Path]
    notes: list[str] = field(default_factory=list)


def upsampler_of(loaded: LoadedRun) -> Family:
    """The loaded run's upsampler, or a clear error for a run of another kind."""
    if not loaded.family.upscales:
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
    prompt: str | None = None,
) -> UpscaleResult:
    """Upscale an image file, a folder of images (recursively) or a list of files with a trained
    upsampler run; writes one PNG per input under ``out`` (a folder keeps its layout).

    Inputs of another size than the run's input size are centre-cropped and resized to it
    (``notes`` says so). Image i's detail comes from seed ``seed + i``. Each PNG carries the
    run, checkpoint, input file and seed, and under ``source`` the parameters of an input that
    huashi painted (so where it came from is kept).

    A text-conditioned upsampler paints each image's detail from ``prompt``, or, without one,
    from the prompt an input painted by huashi records; the PNG keeps the prompt used.
    """
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    family = upsampler_of(loaded)
    size, channels = family.in_resolution, family.data.channels
    text = family.paints_from_prompt
    if prompt is not None and not text:
        raise HuashiError(
            f"{loaded.run_dir} is not text-conditioned: drop --prompt (train an upsampler with "
            "--condition text on captioned data for that)."
        )

    prompts: dict[Path, str] = {}  # each input's prompt, read once from its metadata

    def options_for(paths: list[Path]) -> dict[str, list]:
        if not text:
            return {}
        prompts.update({p: prompt if prompt is not None else _source_prompt(p) for p in paths})
        return {"prompt": [prompts[p] for p in paths]}

    mapped = map_images(family, inputs, size, channels, seed, batch_size, progress, "upscaling",
                        options_for)  # fmt: skip
    base = run_parameters(loaded)
    files = []
    for (path, relative), image, s in zip(mapped.files, mapped.images, mapped.seeds, strict=True):
        record = {"scale": family.config.scale, "input": str(path.resolve()), "seed": s}
        if text:
            record["prompt"] = prompts[path]
        source = _source_params(path)
        if source is not None:
            record["source"] = source
        files.append(save_png(to_pil(image), Path(out) / relative, base | {UPSCALE: record}))
    return UpscaleResult(mapped.images, files, mapped.notes)


def _source_prompt(path: Path) -> str:
    """The prompt a huashi PNG was painted from, or a clear error naming the file."""
    source = _source_params(path) or {}
    prompt = source.get("options", {}).get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise HuashiError(
            f"this upsampler follows a caption and {path} records no prompt: pass --prompt "
            'with what the picture shows, e.g. --prompt "a small red circle".'
        )
    return prompt


def reupscale(params: dict[str, Any]) -> torch.Tensor:
    """The image an upscaled PNG describes (run, checkpoint, input file, seed), made again:
    [C, H, W] in [-1, 1]. Used by ``huashi regenerate``."""
    run_dir, record = Path(params["run"]), params[UPSCALE]
    family = upsampler_of(load_run(run_dir, run_dir / "checkpoints" / params["checkpoint"]))
    image, _ = load_image(Path(record["input"]), family.in_resolution, family.data.channels)
    prompt = {"prompt": record["prompt"]} if "prompt" in record else {}
    return family.generate([record["seed"]], inputs=image[None], **prompt)[0].cpu()


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


@dataclass
class HeldOutComparison:
    """Nearest, bicubic and the upsampler against the originals of held-out images."""

    originals: torch.Tensor  # [n, C, R, R] in [-1, 1]
    images: dict[str, torch.Tensor]  # method -> its upscaled images, like ``originals``
    rows: dict[str, dict[str, float]]  # method -> l1, psnr, ssim (and fid, kid with features)
    upsampler_seconds: float


def compare_on_held_out(
    run: str | Path | LoadedRun,
    split: str = "test",
    n: int = 0,
    features: str | None = None,
    batch_size: int = 64,
) -> HeldOutComparison:
    """Downsample the first ``n`` (0: all) images of the run's dataset's ``split`` as in training
    (8-bit block means), upscale them back by nearest, PIL bicubic and the upsampler (seed i for
    image i; a text upsampler reads each image's own caption) and compare each with the
    originals: mean L1, PSNR and SSIM, and with a feature network (``clip:RUN``, ``zoo:NAME``,
    ...) FID and KID against the originals."""
    from huashi.data import load_dataset
    from huashi.metrics.evaluate import generate_all
    from huashi.metrics.features import load_features
    from huashi.metrics.fid import fid
    from huashi.metrics.image_to_image import pair_metrics
    from huashi.metrics.kid import kid
    from huashi.models.gigagan.upsampler import downsample

    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    family = upsampler_of(loaded)
    data = loaded.config.data
    dataset = load_dataset(data["spec"], resolution=data["resolution"], split=split,
                           **data["options"])  # fmt: skip
    count = len(dataset) if n <= 0 else min(n, len(dataset))
    held_out = dataset.batch(torch.arange(count))
    originals = held_out["image"].float()
    scale = family.config.scale
    low = downsample(originals, scale)
    per_image: dict[str, Any] = {"inputs": low}
    if family.paints_from_prompt:
        per_image["prompt"] = list(held_out["caption"])
    started = time.perf_counter()
    painted = generate_all(loaded, list(range(count)), batch_size, per_image)
    seconds = time.perf_counter() - started
    images = {
        "nearest": torch.nn.functional.interpolate(low, scale_factor=scale, mode="nearest"),
        "bicubic": bicubic(low, scale),
        "upsampler": painted.float().clamp(-1, 1),
    }
    net = load_features(features) if features else None
    real = net.features(originals) if net is not None else None
    rows = {}
    for name, upscaled in images.items():
        row = {
            key: float(v.double().mean()) for key, v in pair_metrics(upscaled, originals).items()
        }
        if net is not None:
            fake = net.features(upscaled)
            row |= {"fid": fid(real, fake), "kid": kid(real, fake, subsets=10).mean}
        rows[name] = row
    return HeldOutComparison(originals, images, rows, seconds)
