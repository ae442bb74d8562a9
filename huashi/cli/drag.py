"""``huashi drag RUN LATENT --point 12,20:18,20 --mask keep.png --out drag/`` (DragGAN)."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say

DRAG_FILES = ("before.png", "after.png", "frames.png", "latent.safetensors")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("drag", help="drag points of a generated image (DragGAN)")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("latent", type=Path, help="a latent.safetensors from huashi invert")
    parser.add_argument(
        "--point",
        action="append",
        required=True,
        metavar="X,Y:X2,Y2",
        help="move the handle at pixel (X, Y) to (X2, Y2); repeat for more points",
    )
    parser.add_argument("--mask", type=Path, help="image whose white pixels must stay fixed")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--layers", type=int, help="how many first w+ layers move (default half)")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    with progress_bar(not args.quiet, f"dragging {args.latent} ({args.steps} steps)") as progress:
        result = api.drag(
            args.run_dir, args.latent, args.point, args.out, args.mask, args.steps, args.lr,
            args.layers, args.checkpoint, args.device, progress=progress,
        )  # fmt: skip
    where = ", ".join(f"({x:g}, {y:g})" for x, y in result.handles)
    print(f"{result.steps} steps; tracked handles now at {where}")
    for check in result.checks:  # whether the content itself moved, not only the points
        print(check.describe())
    files = ", ".join(f"{args.out}/{name}" for name in DRAG_FILES)
    say(args, f"wrote {files}")
    return 0
