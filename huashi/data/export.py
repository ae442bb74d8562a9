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


def export_images(
    ds: ImageSet,
    indices: list[int],
    out: Path,
    target: bool = False,
    on_written: Callable[[int, int], None] | None = None,
) -> list[ExportedImage]:
    """Write the images ``indices`` of ``ds`` (or their paired targets) as PNGs that record the
    dataset, index and caption (as ``options.prompt`` too, which ``huashi upscale`` reads).

    ``out`` ending in ``.png`` names the one file of a single image; otherwise it is a folder
    that gets ``<index>-<caption>.png`` per image. ``on_written(done, total)`` is called after
    each file."""
    if target and ds.targets is None:
        raise HuashiError(f"{ds.name} has no paired targets: drop --target.")
    pixels = ds.targets if target else ds.images
    out = Path(out)
    single = out.suffix.lower() == ".png"
    if single and len(indices) != 1:
        raise HuashiError(
            f"--out {out} names one file but {len(indices)} images are selected: "
            "give a folder, or select one image (--n 1 or one --index)."
        )
    if out.exists() and (out.is_dir() == single):
        kind = "a folder" if single else "a file"
        raise HuashiError(f"cannot write to {out}: it is {kind}.")
    written = []
    for i in indices:
        text = describe(ds, i)
        name = f"{i:06d}-{_slug(text)}.png" if _slug(text) else f"{i:06d}.png"
        path = out if single else out / name
        params = {"dataset": ds.name, "index": i, "split": ds.info.get("split", "")}
        if text:
            params["caption"] = text
        if ds.captions is not None and ds.captions[i]:  # text upsamplers read it as the prompt
            params["options"] = {"prompt": ds.captions[i]}
        save_png(to_pil(torch.as_tensor(pixels[i])), path, {"source": "data export", **params})
        written.append(ExportedImage(path, i, text))
        if on_written is not None:
            on_written(len(written), len(indices))
    return written
