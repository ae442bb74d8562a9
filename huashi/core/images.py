"""Images in and out: the one reader for image files, the channel and size rules every caller
shares, tensors to PNG files and grids, and the generation parameters every PNG carries.

Reading (:func:`read_image`; the data folders, img2img, translate, interpolate and the clip
command all go through it):

- Size limit first: the width and height in the file's header are checked against
  :data:`MAX_PIXELS` before any pixel is decoded, so a small file that would decode to gigabytes
  (a decompression bomb) is refused with a :class:`HuashiError` naming the file and the limit.
- EXIF orientation is applied, so a photo comes out upright.
- Modes (:func:`to_l_or_rgb`): transparent images are composited on white (LA gives L; RGBA,
  PA, and P, L or RGB with a transparent colour give RGB); 16-bit and 32-bit integer images (I;16, I) are scaled by 1/257
  to 8 bits and float images (F) are taken as 0-255, all as grayscale; "1" (bilevel) becomes L;
  CMYK, YCbCr, LAB, HSV and palette images are converted to RGB by Pillow (no colour profiles).
  Then, when a channel count is asked for, RGB -> gray uses Pillow's ITU-R 601-2 luma
  (L = 0.299 R + 0.587 G + 0.114 B in fixed point) and gray -> RGB repeats the channel.
- One resize rule (:func:`fit_square`): ``fit="crop"`` (the default) centre-crops to a square of
  the shorter side, ``fit="stretch"`` keeps the whole picture and changes its aspect ratio; then
  Pillow's Lanczos filter (antialiased: its support widens when shrinking) brings it to the
  resolution. A JPEG much larger than the target is first decoded at a reduced DCT scale that
  stays at least as large as the target (Pillow's ``draft``), which only saves time.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from huashi import __version__
from huashi.core.errors import HuashiError
from huashi.core.metadata import PARAMETERS_KEY, format_parameters

METADATA_KEY = "huashi"

DEFAULT_MAX_PIXELS = 8192 * 8192


def pixel_limit(environ: Mapping[str, str] = os.environ) -> int:
    """HUASHI_MAX_IMAGE_PIXELS when it is a positive whole number, else 64 megapixels."""
    raw = environ.get("HUASHI_MAX_IMAGE_PIXELS", "")
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    if raw:
        warnings.warn(
            f"HUASHI_MAX_IMAGE_PIXELS={raw!r} is not a positive whole number: using "
            f"{DEFAULT_MAX_PIXELS:,} pixels.",
            stacklevel=2,
        )
    return DEFAULT_MAX_PIXELS


#: The most pixels (width x height, as the file declares them) that :func:`read_image` decodes:
#: 64 megapixels, e.g. 8192x8192, which takes 256 MiB as RGBA. Override it with the environment
#: variable HUASHI_MAX_IMAGE_PIXELS (Pillow's own bomb limit, about 179 megapixels, stays above it).
MAX_PIXELS = pixel_limit()

#: How an image that is not square becomes square.
FITS = ("crop", "stretch")

#: What a file that cannot be decoded raises inside Pillow.
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError)

_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
_LUMA = (0.299, 0.587, 0.114)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [-1, 1] (exactly ``x / 127.5 - 1``)."""
    return images.to(torch.float32) / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float pixels in [-1, 1] -> uint8 (rounded, clamped; inverts ``to_unit_range`` exactly).
    uint8 passes through."""
    if images.dtype == torch.uint8:
        return images
    pixels = (images.detach().to(torch.float32) + 1.0) * 127.5
    return pixels.round().clamp(0, 255).to(torch.uint8)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Float images [B, C, H, W] between grayscale (1) and RGB (3): gray -> RGB repeats the
    channel, RGB -> gray is the ITU-R 601-2 luma 0.299 R + 0.587 G + 0.114 B."""
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3 and have == 1:
        return images.repeat(1, 3, 1, 1)
    if channels == 1 and have == 3:
        weights = torch.tensor(_LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    raise HuashiError(f"cannot turn {have}-channel images into {channels}-channel ones.")


# --- reading --------------------------------------------------------------------------------


def check_pixels(path: str | Path, width: int, height: int, what: str = "image") -> None:
    """Refuse an image whose declared size exceeds :data:`MAX_PIXELS`."""
    if width * height > MAX_PIXELS:
        raise HuashiError(
            f"the {what} {path} is {width}x{height} = {width * height:,} pixels, more than "
            f"huashi's limit of {MAX_PIXELS:,} (HUASHI_MAX_IMAGE_PIXELS): shrink the file, or "
            "raise the limit if you trust it (a small file can decode to gigabytes)."
        )


def open_image(path: str | Path, what: str = "image", resolution: int | None = None) -> Image.Image:
    """Decode an image file after checking its declared size, with EXIF orientation applied.
    Every failure is a :class:`HuashiError` naming the file. ``resolution`` lets a large JPEG
    decode at a reduced scale that stays at least that large."""
    try:
        with warnings.catch_warnings():
            # Pillow warns between 89 and 179 megapixels; our own limit below decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened:
            check_pixels(path, *opened.size, what=what)
            if resolution is not None and opened.format == "JPEG":
                opened.draft(opened.mode, (resolution, resolution))
            opened.load()
            image = ImageOps.exif_transpose(opened) or opened
    except FileNotFoundError:
        raise HuashiError(f"the {what} {path} does not exist.") from None
    except IsADirectoryError:
        raise HuashiError(f"the {what} {path} is a folder, not an image file.") from None
    except Image.DecompressionBombError as error:
        raise HuashiError(
            f"the {what} {path} is refused as a decompression bomb ({error}); huashi's limit is "
            f"{MAX_PIXELS:,} pixels (HUASHI_MAX_IMAGE_PIXELS)."
        ) from None
    except _DECODE_ERRORS as error:
        raise HuashiError(
            f"cannot read the {what} {path} ({error}): pass a PNG, JPEG, WebP, BMP, GIF or "
            "TIFF file."
        ) from None
    return image


def to_l_or_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow image as mode "L" (grayscale sources) or "RGB" (see the module docstring)."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I"):
            values = values / 257.0  # 16-bit range -> 8-bit
        return Image.fromarray(values.round().clip(0, 255).astype(np.uint8), "L")
    if mode == "1":
        return image.convert("L")
    if "transparency" in image.info or mode in _TRANSPARENT_MODES:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat = Image.alpha_composite(white, rgba).convert("RGB")
        return flat.convert("L") if mode in ("LA", "La") else flat
    if mode in ("L", "RGB"):
        return image
    return image.convert("RGB")


def fit_square(image: Image.Image, resolution: int, fit: str = "crop") -> Image.Image:
    """The one resize rule: centre-crop to a square of the shorter side (``fit="crop"``) or keep
    everything (``fit="stretch"``), then Lanczos to ``resolution`` x ``resolution``."""
    if fit not in FITS:
        raise HuashiError(f"unknown fit {fit!r}: choose one of {', '.join(FITS)}.")
    if fit == "crop":
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        # Crop first: resize(box=...) would let the filter reach pixels outside the square.
        image = image.crop((left, top, left + side, top + side))
    if image.size == (resolution, resolution):
        return image
    return image.resize((resolution, resolution), Image.Resampling.LANCZOS)


@dataclass
class ReadImage:
    """An image file as pixels, with what the file was before conversion."""

    pixels: torch.Tensor  # uint8 [C, H, W]
    size: tuple[int, int]  # the file's (width, height), after EXIF rotation
    mode: str  # "L" or "RGB": the file's own colour, before conversion to the asked channels
    file_mode: str  # the file's Pillow mode (RGBA, P, I;16, CMYK, ...)

    def unit_range(self) -> torch.Tensor:
        """The pixels as float [C, H, W] in [-1, 1]."""
        return to_unit_range(self.pixels)


def read_image(
    path: str | Path,
    channels: int | None = None,
    resolution: int | None = None,
    fit: str = "crop",
    what: str = "image",
) -> ReadImage:
    """Read an image file the one way (see the module docstring): ``channels`` 1 or 3 (None:
    L or RGB as the file is), square at ``resolution`` (None: the file's own size)."""
    if channels not in (None, 1, 3):
        raise HuashiError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels}.")
    image = open_image(path, what, resolution)
    file_mode, size = image.mode, image.size
    image = to_l_or_rgb(image)
    mode = image.mode
    if channels is not None:
        image = image.convert("L" if channels == 1 else "RGB")
    if resolution is not None:
        image = fit_square(image, resolution, fit)
    array = np.asarray(image, dtype=np.uint8)
    pixels = torch.from_numpy(array.reshape(array.shape[0], array.shape[1], -1).copy())
    return ReadImage(pixels.permute(2, 0, 1).contiguous(), size, mode, file_mode)


# --- writing --------------------------------------------------------------------------------


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image [C, H, W] (float in [-1, 1] or uint8) to a PIL image (L or RGB)."""
    array = to_uint8(image).cpu().permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """A batch [B, C, H, W] as one grid image, ``nrow`` images per row (square by default)."""
    from torchvision.utils import make_grid as tv_make_grid

    nrow = nrow or max(1, round(len(images) ** 0.5))
    grid = tv_make_grid(to_uint8(images).cpu(), nrow=nrow, padding=padding, pad_value=255)
    return to_pil(grid[:1] if images.shape[1] == 1 else grid)


def save_png(image: Image.Image, path: Path, params: dict[str, Any] | None = None) -> Path:
    """Save a PNG atomically with ``params`` as JSON in a text chunk (plus the huashi version).
    A painted image (its params name a ``run``) also records the CPU threads it was painted
    with: ``huashi regenerate`` paints with as many, as the count can move a pixel."""
    path = Path(path)
    if params and "run" in params and "threads" not in params:
        params = {**params, "threads": torch.get_num_threads()}
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    info.add_text(METADATA_KEY, json.dumps({"huashi_version": __version__, **(params or {})}))
    info.add_text(PARAMETERS_KEY, format_parameters(params or {}, image.size, near=path))
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
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise HuashiError(
            f"{path}: its huashi parameters are damaged (not JSON: {error})."
        ) from None
    if not isinstance(params, dict):
        raise HuashiError(f"{path}: its huashi parameters are damaged (not a JSON object).")
    return params


def read_image_tensor(
    path: str | Path, channels: int, resolution: int
) -> tuple[torch.Tensor, list[str]]:
    """An image file as a tensor [channels, resolution, resolution] in [-1, 1] (read by
    :func:`read_image`), and notes on what was converted to get there."""
    path = Path(path)
    image = read_image(path, channels, resolution)
    notes = []
    want = "L" if channels == 1 else "RGB"
    if image.mode != want:
        notes.append(
            f"{path.name}: converted {image.mode} to {want} (the run has {channels} channel(s))"
        )
    if image.size != (resolution, resolution):
        w, h = image.size
        crop = " centre-cropped to a square and" if w != h else ""
        notes.append(f"{path.name}: {w}x{h}{crop} resized to {resolution}x{resolution}")
    return image.unit_range(), notes


def labelled_rows(rows: list[torch.Tensor], labels: list[str], margin: int = 90) -> Image.Image:
    """One grid row per image batch [n, C, H, W] in [-1, 1], with its label on the left (a
    sampler sweep's overview)."""
    from PIL import ImageDraw

    grids = [make_grid(images, nrow=len(images)) for images in rows]
    width = margin + max(g.width for g in grids)
    overview = Image.new("RGB", (width, sum(g.height for g in grids)), "white")
    draw = ImageDraw.Draw(overview)
    y = 0
    for grid, label in zip(grids, labels, strict=True):
        overview.paste(grid.convert("RGB"), (margin, y))
        draw.text((4, y + grid.height // 2 - 6), label, fill="black")
        y += grid.height
    return overview
