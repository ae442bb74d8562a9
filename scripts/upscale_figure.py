"""A zoo painter's pictures upscaled: paint with a run, upscale its PNGs with an upsampler run.

    python scripts/upscale_figure.py --painter zoo:shapes-ldm --upsampler runs/shapes-up2 \\
        --out docs/images/upscaled-shapes-ldm.png
    python scripts/upscale_figure.py --painter zoo:emoji-gan --seeds 3,11,12,22 \\
        --upsampler runs/emoji-up128 --out docs/images/upscaled-emoji-gan.png

Paints one image per prompt with ``huashi paint`` (each PNG records its prompt), or one
image per ``--seeds`` seed with no prompt for a painter without text, upscales the
folder with ``huashi upscale`` (a text-conditioned upsampler reads each recorded prompt), and
writes one picture: rows painted (nearest) | bicubic (PIL) | upsampler, at the upsampler's size.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from huashi import api
from huashi.core.images import read_image, save_grid
from huashi.data.shapes import SHOWCASE_CAPTIONS
from huashi.tools.upscale import bicubic

PROMPTS = SHOWCASE_CAPTIONS[:6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--painter", default="zoo:shapes-ldm")
    parser.add_argument("--upsampler", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prompt", action="append", help="prompts (default: six shapes scenes)")
    parser.add_argument("--seeds", help="paint these seeds (e.g. 3,11,12) without a prompt instead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="upscale-figure-"))
    painted_files = []
    if args.seeds:
        jobs = [(None, int(seed)) for seed in args.seeds.split(",")]
    else:
        jobs = [(prompt, i) for i, prompt in enumerate(args.prompt or PROMPTS)]
    for i, (prompt, seed) in enumerate(jobs):
        result = api.paint(args.painter, prompt, n=1, seed=seed, out=work / "painted" / f"{i}.png",
                           per_image=True)  # fmt: skip
        painted_files.extend(result.passes[0].files)
    upscaled = api.upscale(args.upsampler, painted_files, work / "big")
    painted = torch.stack([read_image(f, channels=3).unit_range() for f in painted_files])
    scale = upscaled.images.shape[-1] // painted.shape[-1]
    rows = [
        torch.nn.functional.interpolate(painted, scale_factor=scale, mode="nearest"),
        bicubic(painted, scale),
        upscaled.images,
    ]
    save_grid(torch.cat(rows), args.out, nrow=len(painted_files))
    print(f"wrote {args.out} (painted | bicubic | upsampler; work files in {work})")


if __name__ == "__main__":
    main()
