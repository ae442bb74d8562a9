"""Before | after of a ``huashi drag`` result, enlarged with nearest pixels (docs/stylegan.md).

    python scripts/drag_figure.py drag/ --out drag.png --scale 4

Reads ``before.png`` and ``after.png`` of a drag's folder and writes them side by side, 2 px of
white between them, each pixel drawn as a ``--scale`` x ``--scale`` block.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image


def before_after(folder: Path, out: Path, scale: int = 4) -> Path:
    """Write ``folder``'s before.png and after.png side by side, ``scale`` times larger."""
    before, after = (
        Image.open(folder / f"{name}.png").convert("RGB") for name in ("before", "after")
    )
    pair = Image.new("RGB", (before.width + 2 + after.width, before.height), "white")
    pair.paste(before, (0, 0))
    pair.paste(after, (before.width + 2, 0))
    size = (pair.width * scale, pair.height * scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    pair.resize(size, Image.Resampling.NEAREST).save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drag", type=Path, help="a folder written by huashi drag")
    parser.add_argument("--out", type=Path, default=Path("drag.png"))
    parser.add_argument("--scale", type=int, default=4, help="pixels per pixel (default: 4)")
    args = parser.parse_args()
    print(f"wrote {before_after(args.drag, args.out, args.scale)}")


if __name__ == "__main__":
    main()
