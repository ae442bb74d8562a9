"""Reading the init image and the mask of img2img and inpainting (F6).

Decision on sizes: an init image of another size is center-cropped to a square and resized to
the model's resolution (:func:`load_init` returns a note saying so, which the CLI prints); a mask
must have exactly the init image's size (a mismatch is an error, since a silently stretched mask
would repaint the wrong region). Mask convention: white (> 50 %) = repaint, black = keep.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from huashi.errors import HuashiError


def _open(path: str | Path, what: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except FileNotFoundError:
        raise HuashiError(f"the {what} {path} does not exist.") from None
    except (UnidentifiedImageError, OSError):
        raise HuashiError(f"the {what} {path} is not a readable image.") from None


def _square(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), resample)


def _to_tensor(image: Image.Image) -> torch.Tensor:
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    channels = len(image.getbands())
    return data.reshape(image.size[1], image.size[0], channels).permute(2, 0, 1).contiguous()


def load_init(
    path: str | Path, channels: int, resolution: int
) -> tuple[torch.Tensor, tuple[int, int], str | None]:
    """The init image as [C, R, R] in [-1, 1], its original (width, height), and a note when it
    had to be cropped or resized."""
    image = _open(path, "init image")
    size = image.size
    image = image.convert("L" if channels == 1 else "RGB")
    note = None
    if size != (resolution, resolution):
        note = (
            f"the init image {path} is {size[0]}x{size[1]}; it was center-cropped to a square and "
            f"resized to the model's {resolution}x{resolution}."
        )
        image = _square(image, resolution, Image.Resampling.BICUBIC)
    return _to_tensor(image).float() / 127.5 - 1, size, note


def load_mask(path: str | Path, init_size: tuple[int, int], resolution: int) -> torch.Tensor:
    """The mask as float [1, R, R], 1 = repaint; it must be exactly the init image's size."""
    image = _open(path, "mask")
    if image.size != tuple(init_size):
        raise HuashiError(
            f"the mask {path} is {image.size[0]}x{image.size[1]} but the init image is "
            f"{init_size[0]}x{init_size[1]}: give a mask of the same size (white = repaint)."
        )
    image = image.convert("L")
    if image.size != (resolution, resolution):
        image = _square(image, resolution, Image.Resampling.NEAREST)
    return (_to_tensor(image).float() > 127.5).float()
