"""A PNG contact sheet of a dataset: images with their caption or class name underneath."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from huashi.core.errors import HuashiError
from huashi.data.base import ImageSet
from huashi.data.fonts import find_font

CELL = 96  # each image is shown at least this big (nearest-neighbour upscaling)
TEXT_HEIGHT = 14
GAP = 4


def _font(size: int = 11, cjk: bool = False) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans for captions; AR PL UMing (when installed) for CJK ones, which DejaVu lacks."""
    if cjk:
        try:
            return ImageFont.truetype(str(find_font("ming")), size + 1)
        except HuashiError:
            pass
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _has_cjk(text: str) -> bool:
    """Whether ``text`` holds CJK characters (radicals, kana, ideographs, hangul, ...)."""
    return any(
        0x2E80 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7AF or ord(c) >= 0x20000 for c in text
    )


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _to_pil(pixels: torch.Tensor, size: int) -> Image.Image:
    array = pixels.permute(1, 2, 0).numpy() if pixels.shape[0] == 3 else pixels[0].numpy()
    img = Image.fromarray(array, "RGB" if pixels.shape[0] == 3 else "L").convert("RGB")
    return img.resize((size, size), Image.Resampling.NEAREST) if img.width < size else img


def preview_grid(
    ds: ImageSet, n: int = 64, path: str | Path = "preview.png", seed: int = 0
) -> Path:
    """Save ``n`` random images (seeded) in a grid with captions or labels; paired sets show
    each image beside its target. Returns the PNG path."""
    count = min(n, len(ds))
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:count]
    order = order.sort().values
    side = max(CELL, ds.resolution)
    panel = side * (2 if ds.targets is not None else 1)
    columns = max(1, min(count, math.ceil(math.sqrt(count * side / panel))))
    rows = math.ceil(count / columns)
    cell_w, cell_h = panel + GAP, side + TEXT_HEIGHT + GAP
    sheet = Image.new("RGB", (columns * cell_w + GAP, rows * cell_h + GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font()
    cjk_font = None
    names = ds.label_names()
    for slot, i in enumerate(order.tolist()):
        x = GAP + (slot % columns) * cell_w
        y = GAP + (slot // columns) * cell_h
        sheet.paste(_to_pil(ds.images[i], side), (x, y))
        if ds.targets is not None:
            sheet.paste(_to_pil(ds.targets[i], side), (x + side, y))
        if ds.captions is not None and ds.captions[i]:
            text = ds.captions[i]
        elif names is not None:
            text = names[i]
        else:
            text = f"#{i}"
        text_font = font
        if _has_cjk(text):
            cjk_font = cjk_font or _font(cjk=True)
            text_font = cjk_font
        text = _fit_text(draw, text, text_font, panel)
        draw.text((x, y + side + 1), text, fill=(0, 0, 0), font=text_font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
