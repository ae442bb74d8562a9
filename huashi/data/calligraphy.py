"""The calligraphy dataset: the same CJK character in a Ming/Song font and in a Kai calligraphy font.

``images`` are AR PL UMing glyphs and ``targets`` the AR PL UKai glyphs of the same character
(``reverse=True`` swaps them: Kai -> Ming). Both are grayscale, black on white, drawn at the same
font size with the ink centred, then resized with Lanczos.

The characters are the Big5 "frequently used" set (5,401 traditional characters, ordered by
stroke count, so the first ones are the simplest), kept only where both fonts have a glyph;
``n_chars`` takes the first ones. The split is by character (a hash: 90% train, 10% test),
so no test character is ever seen in training. Captions are the characters themselves.

``glyph_classes=True`` makes a labelled (unpaired) set for a feature network instead: every
character's glyph in both fonts, labelled by font and by which tenth of the characters it falls
in by stroke count (Big5 order): 20 classes such as "kai, strokes 3/10". A classifier trained on
it sees the style and the complexity of a glyph, which characters it has never seen also have:
``zoo:reference-calligraphy``, the network that measures translated glyphs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from huashi.core.errors import HuashiError
from huashi.data.base import ImageSet, check_split, split_mask
from huashi.data.fonts import find_font

CANVAS = 128  # glyphs are drawn on a CANVAS x CANVAS square, then resized
FONT_SIZE = 104  # leaves a margin of about 10% around a full-size glyph
BIG5_LEVEL1 = range(0xA440, 0xC67F)  # Big5 frequently used characters
TENTHS = 10  # stroke-count classes of glyph_classes


def sources() -> list[Path]:
    """Files whose change invalidates the cache."""
    return [find_font("ming"), find_font("kai")]


def big5_common() -> list[str]:
    """The 5,401 Big5 level-1 characters, in Big5 order (by stroke count, then radical)."""
    chars = []
    for code in BIG5_LEVEL1:
        hi, lo = divmod(code, 256)
        if not (0x40 <= lo <= 0x7E or 0xA1 <= lo <= 0xFE):
            continue
        try:
            chars.append(bytes([hi, lo]).decode("big5"))
        except UnicodeDecodeError:
            continue
    return chars


def font_codepoints(path: Path) -> set[int]:
    """The codepoints the font maps to a glyph (first font of a .ttc collection)."""
    from fontTools.ttLib import TTFont  # installed with matplotlib

    font = TTFont(str(path), fontNumber=0, lazy=True)
    try:
        return set(font.getBestCmap() or {})
    finally:
        font.close()


def draw_glyph(font: ImageFont.FreeTypeFont, char: str, resolution: int) -> np.ndarray:
    """A black glyph centred (by its ink) on a white square, as uint8 [resolution, resolution]."""
    left, top, right, bottom = font.getbbox(char)
    x = (CANVAS - (right - left)) / 2 - left
    y = (CANVAS - (bottom - top)) / 2 - top
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    ImageDraw.Draw(canvas).text((x, y), char, font=font, fill=0)
    if resolution != CANVAS:
        canvas = canvas.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(canvas)


def load_calligraphy(
    resolution: int = 64,
    split: str = "train",
    n_chars: int = 2000,
    reverse: bool = False,
    glyph_classes: bool = False,
) -> ImageSet:
    """Paired Ming (image) / Kai (target) glyphs of the first ``n_chars`` common characters, or
    with ``glyph_classes`` both fonts' glyphs labelled by font and stroke-count tenth."""
    check_split(split)
    if n_chars < 1:
        raise HuashiError(f"n_chars must be at least 1, not {n_chars}.")
    ming_path, kai_path = find_font("ming"), find_font("kai")
    both = font_codepoints(ming_path) & font_codepoints(kai_path)
    chars = [c for c in big5_common() if ord(c) in both][:n_chars]
    # Big5 orders by stroke count: a character's position gives its tenth (before the split).
    tenth = {c: min(TENTHS - 1, i * TENTHS // len(chars)) for i, c in enumerate(chars)}
    chars = [c for c, keep in zip(chars, split_mask(chars, split), strict=True) if keep]
    ming = ImageFont.truetype(str(ming_path), FONT_SIZE)
    kai = ImageFont.truetype(str(kai_path), FONT_SIZE)
    source = np.stack([draw_glyph(ming, c, resolution) for c in chars])[:, None]
    target = np.stack([draw_glyph(kai, c, resolution) for c in chars])[:, None]
    if glyph_classes:
        labels = [tenth[c] for c in chars]
        return ImageSet(
            name="calligraphy",
            images=torch.from_numpy(np.concatenate([source, target])),
            labels=torch.tensor(labels + [TENTHS + t for t in labels], dtype=torch.int64),
            class_names=[
                f"{font}, strokes {t + 1}/{TENTHS}"
                for font in ("ming", "kai")
                for t in range(TENTHS)
            ],  # fmt: skip
            captions=chars + chars,
            info={"glyph_classes": True, "split": split, "fonts": [str(ming_path), str(kai_path)]},
        )
    if reverse:
        source, target = target, source
    direction = "kai->ming" if reverse else "ming->kai"
    return ImageSet(
        name="calligraphy",
        images=torch.from_numpy(source),
        targets=torch.from_numpy(target),
        captions=chars,
        info={"direction": direction, "split": split, "fonts": [str(ming_path), str(kai_path)]},
    )
