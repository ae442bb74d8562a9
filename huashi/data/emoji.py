"""The emoji dataset: color emoji rendered from the system Noto Color Emoji font, captioned by Unicode name.

Every single-codepoint character of the main emoji blocks that has a Unicode name (in this
Python's ``unicodedata``) and a glyph in the font is drawn at the font's bitmap size (109),
composited on white, cropped to its ink, padded to a square with a small margin and resized
with Lanczos. The order is by codepoint; the caption is the lowercase name ("red apple").
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from huashi.data.base import ImageSet, check_split, split_mask
from huashi.data.fonts import find_font

# Misc Symbols, Dingbats, Misc Symbols and Pictographs, Emoticons, Transport and Map,
# Supplemental Symbols and Pictographs, Symbols and Pictographs Extended-A.
EMOJI_BLOCKS = [
    (0x2600, 0x26FF),
    (0x2700, 0x27BF),
    (0x1F300, 0x1F5FF),
    (0x1F600, 0x1F64F),
    (0x1F680, 0x1F6FF),
    (0x1F900, 0x1F9FF),
    (0x1FA70, 0x1FAFF),
]
# Skin-tone modifiers are colour swatches, not pictures.
EXCLUDED = set(range(0x1F3FB, 0x1F400))

BITMAP_SIZE = 109  # the only size of the CBDT bitmaps in NotoColorEmoji.ttf
MARGIN = 0.06  # fraction of the side left blank around the glyph


def sources() -> list[Path]:
    """Files whose change invalidates the cache."""
    return [find_font("emoji")]


def _draw(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    left, top, right, bottom = font.getbbox(char)
    canvas = Image.new("RGBA", (max(right, 1) + 8, max(bottom, 1) + 8), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((4, 4), char, font=font, embedded_color=True)
    return canvas


def _to_square(glyph: Image.Image, resolution: int) -> Image.Image:
    """Composite an RGBA glyph on white, crop to its ink, pad to a square, resize."""
    bbox = glyph.getchannel("A").getbbox()
    glyph = glyph.crop(bbox)
    white = Image.new("RGBA", glyph.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, glyph).convert("RGB")
    side = round(max(rgb.size) * (1 + 2 * MARGIN))
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    return square.resize((resolution, resolution), Image.Resampling.LANCZOS)


def _glyphs(font: ImageFont.FreeTypeFont):
    """(character, RGBA drawing) for each named emoji the font can draw, in codepoint order."""
    missing = np.asarray(_draw(font, "\U0010fffd"))
    for lo, hi in EMOJI_BLOCKS:
        for cp in range(lo, hi + 1):
            char = chr(cp)
            if cp in EXCLUDED or not unicodedata.name(char, ""):
                continue
            glyph = _draw(font, char)
            pixels = np.asarray(glyph)
            if not pixels[..., 3].any():
                continue  # the font has no glyph: nothing drawn
            if pixels.shape == missing.shape and np.array_equal(pixels, missing):
                continue  # drawn as the .notdef box
            yield char, glyph


def load_emoji(resolution: int = 64, split: str = "train") -> ImageSet:
    """Render the emoji dataset (RGB, captions, no labels); 10% of characters form ``test``."""
    check_split(split)
    path = find_font("emoji")
    font = ImageFont.truetype(str(path), BITMAP_SIZE)
    chars, images = [], []
    for char, glyph in _glyphs(font):
        if split_mask([f"{ord(char):x}"], split)[0]:
            chars.append(char)
            images.append(np.asarray(_to_square(glyph, resolution)))
    return ImageSet(
        name="emoji",
        images=torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(),
        captions=[unicodedata.name(c).lower() for c in chars],
        info={"source": str(path), "characters": "".join(chars), "split": split},
    )
