"""Image tensors to PNG files, grids, and the generation parameters every PNG carries (U4)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from huashi import __version__
from huashi.data.base import to_uint8 as unit_range_to_uint8
from huashi.errors import HuashiError
from huashi.metadata import PARAMETERS_KEY, format_parameters

METADATA_KEY = "huashi"


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] to uint8 in [0, 255] (uint8 passes through)."""
    if images.dtype == torch.uint8:
        return images
    return unit_range_to_uint8(images.detach().cpu())


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image [C, H, W] (float in [-1, 1] or uint8) to a PIL image (L or RGB)."""
    array = to_uint8(image).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """A batch [B, C, H, W] as one grid image, ``nrow`` images per row (square by default)."""
    from torchvision.utils import make_grid as tv_make_grid

    nrow = nrow or max(1, round(len(images) ** 0.5))
    grid = tv_make_grid(to_uint8(images), nrow=nrow, padding=padding, pad_value=255)
    return to_pil(grid[:1] if images.shape[1] == 1 else grid)


def save_png(image: Image.Image, path: Path, params: dict[str, Any] | None = None) -> Path:
    """Save a PNG atomically with ``params`` as JSON in a text chunk (plus the huashi version)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    info.add_text(METADATA_KEY, json.dumps({"huashi_version": __version__, **(params or {})}))
    info.add_text(PARAMETERS_KEY, format_parameters(params or {}, image.size))
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format="PNG", pnginfo=info)
    os.replace(tmp, path)
    return path


def save_grid(
    images: torch.Tensor, path: Path, params: dict[str, Any] | None = None, nrow: int | None = None
) -> Path:
    return save_png(make_grid(images, nrow), path, params)


def read_params(path: Path) -> dict[str, Any]:
    """The generation parameters stored in a PNG written by huashi."""
    try:
        with Image.open(path) as image:
            text = image.text.get(METADATA_KEY)  # type: ignore[attr-defined]
    except FileNotFoundError:
        raise HuashiError(f"{path} does not exist.") from None
    except (OSError, AttributeError):
        raise HuashiError(f"{path} is not a readable PNG image.") from None
    if text is None:
        raise HuashiError(f"{path} carries no huashi parameters (it was not made by huashi).")
    return json.loads(text)
