"""Painted images as files: a PNG written with the parameters that paint it again
(:func:`save_image`, :func:`save_grid`), and those parameters read back (:func:`read_parameters`
from a huashi PNG, :func:`text_parameters` from any PNG's text chunks, A1111's included)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from huashi.core.images import make_grid, read_params, save_png, to_pil
from huashi.core.metadata import PARAMETERS_KEY, parse_parameters


def save_image(
    image: torch.Tensor | Image.Image, path: str | Path, params: dict[str, Any] | None = None
) -> Path:
    """Write one image (a tensor [C, H, W] in [-1, 1] or uint8, or a PIL image) as a PNG at
    ``path``, atomically, carrying ``params`` (and the huashi version)."""
    picture = image if isinstance(image, Image.Image) else to_pil(image)
    return save_png(picture, Path(path), params)


def save_grid(
    images: torch.Tensor, path: str | Path, params: dict[str, Any] | None = None,
    nrow: int | None = None,
) -> Path:  # fmt: skip
    """Write a batch [B, C, H, W] as one grid PNG, ``nrow`` images per row, with ``params``."""
    return save_png(make_grid(images, nrow), Path(path), params)


def read_parameters(path: str | Path) -> dict[str, Any]:
    """The parameters a huashi PNG carries (a :class:`~huashi.core.errors.HuashiError` names a
    missing, unreadable or foreign file)."""
    return read_params(Path(path))


def text_parameters(text: Mapping[str, str]) -> dict[str, Any] | None:
    """The painting parameters in a PNG's text chunks, as a paint form takes them: A1111's
    ``parameters`` line (which huashi writes too), else an older huashi PNG's own JSON (its
    options, seed and model), else None."""
    if PARAMETERS_KEY in text:
        return parse_parameters(text[PARAMETERS_KEY])
    if "huashi" not in text:
        return None
    try:
        params = json.loads(text["huashi"])
        parameters = {**(params.get("options") or {}), "seed": params.get("seed")}
        parameters["model"] = Path(str(params.get("run", ""))).name or None
    except (json.JSONDecodeError, AttributeError):
        return None
    return parameters
