"""Real images of a dataset as PNG files (``huashi data export``), for the commands that take
an input image (invert, translate, dream, upscale, paint --init)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from huashi.core.errors import HuashiError
from huashi.core.images import save_png, to_pil
from huashi.data.base import ImageSet


@dataclass
class ExportedImage:
    """One written file: its path, the dataset index it holds and its caption or label name."""

    path: Path
    index: int
    text: str


def describe(ds: ImageSet, index: int) -> str:
    """The caption of image ``index``, else its class name, else ''."""
    if ds.captions is not None and ds.captions[index]:
        return ds.captions[index]
    names = ds.label_names()
    return names[index] if names is not None else ""


def select(
    ds: ImageSet, n: int = 1, indices: list[int] | None = None, caption: str | None = None
) -> list[int]:
    """Which images to export: ``indices`` as given, else the first ``n`` whose caption (or class
    name) is ``caption`` (exactly, else containing it, case-insensitive), else the first ``n``."""
    if indices:
        bad = [i for i in indices if not 0 <= i < len(ds)]
        if bad:
            raise HuashiError(
                f"--index {bad[0]} is outside {ds.name}'s {len(ds):,} images: use 0 to {len(ds) - 1}."
            )
        return list(indices)
    if n < 1:
        raise HuashiError(f"--n must be at least 1, not {n}.")
    if caption is None:
        return list(range(min(n, len(ds))))
    if ds.captions is None and ds.labels is None:
        raise HuashiError(
            f"{ds.name} has neither captions nor labels to match --caption: use --index."
        )
    wanted = caption.strip().lower()
    texts = [describe(ds, i).lower() for i in range(len(ds))]
    exact = [i for i, text in enumerate(texts) if text == wanted]
    found = exact or [i for i, text in enumerate(texts) if wanted in text]
    if not found:
        example = describe(ds, 0)
        raise HuashiError(
            f'no image of {ds.name} has a caption or label matching "{caption}" '
            f'(e.g. "{example}"): see `huashi data preview {ds.name}`.'
        )
    return found[:n]


def _slug(text: str) -> str:
    return re.sub(r"\W+", "-", text.lower()).strip("-")[:40]


def shifted(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``image`` [C, H, W] moved ``dx`` px right and ``dy`` px down; the strip it uncovers
    repeats the border pixels (the white of an emoji's background)."""
    pad = max(abs(dx), abs(dy))
    if pad == 0:
        return image
    height, width = image.shape[-2:]
    padded = torch.nn.functional.pad(image[None].float(), (pad,) * 4, mode="replicate")[0]
    top, left = pad - dy, pad - dx
    return padded[:, top : top + height, left : left + width].to(image.dtype)


def export_images(
    ds: ImageSet,
    indices: list[int],
    out: Path,
    target: bool = False,
    on_written: Callable[[int, int], None] | None = None,
    shift: int = 0,
    copies: int = 1,
    seed: int = 0,
) -> list[ExportedImage]:
    """Write the images ``indices`` of ``ds`` (or their paired targets) as PNGs that record the
    dataset, index and caption (as ``options.prompt`` too, which ``huashi upscale`` reads).

    ``out`` ending in ``.png`` names the one file of a single image; otherwise it is a folder
    that gets ``<index>-<caption>.png`` per image. ``shift`` > 0 moves each image by a random
    whole number of pixels in [-shift, shift] along x and y (drawn from ``seed``; a training set
    in which the content sits at many places), and ``copies`` writes that many differently
    shifted copies of each (``<index>-<caption>-<k>.png``). ``on_written(done, total)`` is
    called after each file."""
    if target and ds.targets is None:
        raise HuashiError(f"{ds.name} has no paired targets: drop --target.")
    if shift < 0 or copies < 1:
        raise HuashiError(
            f"--shift must be 0 or more and --copies 1 or more, not {shift}, {copies}."
        )
    if copies > 1 and shift == 0:
        raise HuashiError("--copies without --shift writes identical files: add --shift PX.")
    side = min(ds.images.shape[-2:]) if len(ds) else 0
    if shift and 2 * shift >= side:
        raise HuashiError(
            f"--shift {shift} moves a {side}-px image out of itself: use under {side // 2}."
        )
    pixels = ds.targets if target else ds.images
    out = Path(out)
    single = out.suffix.lower() == ".png"
    if single and len(indices) * copies != 1:
        raise HuashiError(
            f"--out {out} names one file but {len(indices) * copies} images are selected: "
            "give a folder, or select one image (--n 1 or one --index, no --copies)."
        )
    if out.exists() and (out.is_dir() == single):
        kind = "a folder" if single else "a file"
        raise HuashiError(f"cannot write to {out}: it is {kind}.")
    generator = torch.Generator().manual_seed(seed)
    written = []
    for i in indices:
        text = describe(ds, i)
        stem = f"{i:06d}-{_slug(text)}" if _slug(text) else f"{i:06d}"
        params = {"dataset": ds.name, "index": i, "split": ds.info.get("split", "")}
        if text:
            params["caption"] = text
        if ds.captions is not None and ds.captions[i]:  # text upsamplers read it as the prompt
            params["options"] = {"prompt": ds.captions[i]}
        for k in range(copies):
            image = torch.as_tensor(pixels[i])
            extra = {}
            if shift:
                dx, dy = torch.randint(-shift, shift + 1, (2,), generator=generator).tolist()
                image, extra = shifted(image, dx, dy), {"shift": [dx, dy]}
            name = f"{stem}-{k}.png" if copies > 1 else f"{stem}.png"
            path = out if single else out / name
            save_png(to_pil(image), path, {"source": "data export", **params, **extra})
            written.append(ExportedImage(path, i, text))
            if on_written is not None:
                on_written(len(written), len(indices) * copies)
    return written
