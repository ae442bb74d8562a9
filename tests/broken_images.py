"""A corpus of broken and awkward image files, as users' folders hold them.

``make_corpus(folder)`` writes the files and returns which should decode (``good``) and which
must be skipped (``bad``, with ``bomb`` among them when a decoding pixel limit is set below
``BOMB_PIXELS``), plus the caption files that are not UTF-8. ``make_pairs`` writes an input and
a target folder where some inputs have no partner. Run as a script to write a corpus:
``python tests/broken_images.py OUT``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

BOMB_SIDE = 2000  # a 1-bit PNG of a few kB that decodes to 4 megapixels
BOMB_PIXELS = BOMB_SIDE * BOMB_SIDE


def _noise(size: int, seed: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (size, size, channels) if channels > 1 else (size, size)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_corpus(folder: Path, n_plain: int = 6) -> dict[str, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    good: list[Path] = []
    for i in range(n_plain):  # ordinary RGB PNGs
        good.append(folder / f"plain-{i}.png")
        Image.fromarray(_noise(24, i)).save(good[-1])
    gray16 = (_noise(20, 50, 1).astype(np.uint16) * 257).astype(np.uint16)
    good.append(folder / "gray-16bit.png")
    Image.fromarray(gray16).save(good[-1])  # mode I;16
    good.append(folder / "cmyk.jpg")
    Image.fromarray(_noise(20, 51, 4), "CMYK").save(good[-1], quality=90)
    palette = Image.fromarray(_noise(20, 52)).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = 0
    good.append(folder / "palette.png")
    palette.save(good[-1], transparency=0)
    frames = [Image.fromarray(_noise(16, 60 + k)).convert("P") for k in range(3)]
    good.append(folder / "animated.gif")
    frames[0].save(good[-1], save_all=True, append_images=frames[1:], duration=50, loop=0)
    good.append(folder / "one-pixel.png")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(good[-1])
    good.append(folder / "画师-ünïcode name.png")
    Image.fromarray(_noise(24, 70)).save(good[-1])

    bad: list[Path] = []
    valid = _png_bytes(Image.fromarray(_noise(24, 80)))
    for name, data in (
        ("zero-bytes.png", b""),
        ("text-named.png", b"this is a text file, not an image\n"),
        ("truncated.png", valid[: len(valid) // 2]),
        ("corrupt.png", valid[:64] + bytes(range(256)) * 4),
    ):
        bad.append(folder / name)
        bad[-1].write_bytes(data)
    bomb = folder / "bomb.png"
    Image.new("1", (BOMB_SIDE, BOMB_SIDE)).save(bomb, optimize=True)

    captions = [folder / "plain-0.txt", folder / "plain-1.txt"]
    captions[0].write_bytes("caf\xe9 au lait".encode("latin-1"))  # not UTF-8
    captions[1].write_text("a noisy square", encoding="utf-8")
    return {"good": good, "bad": bad, "bomb": [bomb], "bad_captions": captions[:1]}


def make_pairs(inputs: Path, targets: Path, n: int = 4) -> list[str]:
    """Input/target folders where the last input has no target; returns the missing keys."""
    for folder in (inputs, targets):
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(_noise(16, 90 + i)).save(inputs / f"pair-{i}.png")
        if i < n - 1:
            Image.fromarray(_noise(16, 190 + i)).save(targets / f"pair-{i}.jpg")
    return [f"pair-{n - 1}"]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "broken-images")
    made = make_corpus(out)
    print(f"wrote {sum(len(v) for v in made.values())} files to {out}")
