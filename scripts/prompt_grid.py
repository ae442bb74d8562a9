"""A text-to-image painter's prompts, each painted at several seeds, the prompt written under it.

    python scripts/prompt_grid.py RUN --seeds 4 --out docs/images/emoji-text-gan-prompts.png \\
        "cat face" "red apple" "grinning face" "snowman"

Each prompt becomes one block of ``--seeds`` pictures (seeds 0..k-1, side by side, nearest-neighbour
enlarged ``--scale`` times) with the prompt under it; ``--columns`` blocks per row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from huashi import api
from huashi.core.images import to_pil

GAP = 6
TEXT = 16


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", 12)
    except OSError:
        return ImageFont.load_default()


def prompt_sheet(run: str, prompts: list[str], seeds: int, scale: int, columns: int) -> Image.Image:
    """Paint every prompt at ``seeds`` seeds and lay the blocks out with their prompts."""
    blocks = []
    for prompt in prompts:
        images = api.paint(run, prompt, n=seeds, seed=0, device="cpu").images
        pictures = [to_pil(image) for image in images]
        blocks.append(
            [p.resize((p.width * scale,) * 2, Image.Resampling.NEAREST) for p in pictures]
        )
    side = blocks[0][0].width
    block_w = seeds * side + (seeds - 1) * 2
    rows = -(-len(prompts) // columns)
    sheet = Image.new(
        "RGB",
        (columns * (block_w + GAP) + GAP, rows * (side + TEXT + GAP) + GAP),
        (255, 255, 255),
    )
    draw, font = ImageDraw.Draw(sheet), _font()
    for k, (prompt, pictures) in enumerate(zip(prompts, blocks, strict=True)):
        x = GAP + (k % columns) * (block_w + GAP)
        y = GAP + (k // columns) * (side + TEXT + GAP)
        for j, picture in enumerate(pictures):
            sheet.paste(picture, (x + j * (side + 2), y))
        draw.text((x, y + side + 1), prompt, fill=(0, 0, 0), font=font)
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("prompts", nargs="+")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sheet = prompt_sheet(args.run, args.prompts, args.seeds, args.scale, args.columns)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
