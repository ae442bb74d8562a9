"""``huashi interpolate RUN A.png B.png --steps 8 --out walk.png``: a latent walk from A to B."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "interpolate", help="walk through an autoencoder's latent space from one image to another"
    )
    parser.add_argument("run_dir", type=Path, help="run folder of an ae, vae or kl-vae")
    parser.add_argument("image_a", type=Path, help="an image file, or data:N for training image N")
    parser.add_argument("image_b", type=Path)
    parser.add_argument(
        "--steps", type=int, default=8, help="images in the strip, both ends included (default: 8)"
    )
    parser.add_argument(
        "--path",
        choices=api.walk_paths(),
        default="linear",
        help="straight line or great circle (slerp)",
    )
    parser.add_argument("--out", type=Path, default=Path("walk.png"), help="strip PNG")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.set_defaults(run=run_interpolate)


def run_interpolate(args: argparse.Namespace) -> int:
    doing = f"walking from {args.image_a.name} to {args.image_b.name}"
    with progress_bar(not args.quiet, doing) as bar:
        result = api.interpolate(
            args.run_dir, args.image_a, args.image_b, steps=args.steps, path=args.path,
            out=args.out, checkpoint=args.checkpoint, device=args.device, progress=bar,
        )  # fmt: skip
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    say(
        args,
        f"wrote {result.out} ({args.steps} images from {args.image_a.name} to {args.image_b.name})",
    )
    return 0
