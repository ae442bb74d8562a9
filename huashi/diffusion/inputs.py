"""Reading the init image and the mask of img2img and inpainting.

Both are read with :func:`huashi.core.images.read_image` (EXIF orientation, transparency on white,
the size limit). Decision on sizes: an init image of another size is center-cropped to a square
and resized to the model's resolution with the one resize rule of :mod:`huashi.core.images`
(:func:`load_init` returns a note saying so, which the CLI prints); a mask must have exactly the
init image's size (a mismatch is an error, since a silently stretched mask would repaint the
wrong region) and is resized by the same rule, then thresholded. Mask convention: white (> 50 %)
= repaint, black = keep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from huashi.core.errors import HuashiError
from huashi.core.images import fit_square, open_image, read_image, to_l_or_rgb


def load_init(
    path: str | Path, channels: int, resolution: int
) -> tuple[torch.Tensor, tuple[int, int], str | None]:
    """The init image as [C, R, R] in [-1, 1], its original (width, height), and a note when it
    had to be cropped or resized."""
    image = read_image(path, channels, resolution, what="init image")
    size = image.size
    note = None
    if size != (resolution, resolution):
        note = (
            f"the init image {path} is {size[0]}x{size[1]}; it was center-cropped to a square and "
            f"resized to the model's {resolution}x{resolution}."
        )
    return image.unit_range(), size, note


def load_mask(path: str | Path, init_size: tuple[int, int], resolution: int) -> torch.Tensor:
    """The mask as float [1, R, R], 1 = repaint; it must be exactly the init image's size."""
    image = open_image(path, "mask")
    size = image.size
    if size != tuple(init_size):
        raise HuashiError(
            f"the mask {path} is {size[0]}x{size[1]} but the init image is "
            f"{init_size[0]}x{init_size[1]}: give a mask of the same size (white = repaint)."
        )
    gray = fit_square(to_l_or_rgb(image).convert("L"), resolution)
    return (torch.from_numpy(np.asarray(gray, dtype=np.float32)) > 127.5).float()[None]
