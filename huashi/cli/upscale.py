"""``huashi upscale RUN IMAGES --out DIR``: upscale image files with an upsampler run."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "upscale", help="upscale images with an upsampler run (x2, x4 or x8)"
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("inputs", type=Path, nargs="+", help="image files or folders of images")
    parser.add_argument("--out", type=Path, required=True, help="folder for the upscaled PNGs")
    parser.add_argument("--seed", type=int, default=0, help="image i's detail uses seed+i")
    parser.add_argument(
        "--prompt",
        help="what the pictures show, for a text-conditioned upsampler (default: the prompt "
        "each huashi-painted input records)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with progress_bar(not args.quiet, f"loading {args.run_dir}") as progress:
        result = api.upscale(
            args.run_dir, list(args.inputs), args.out, seed=args.seed, batch_size=args.batch_size,
            checkpoint=args.checkpoint, device=args.device, progress=progress,
            prompt=args.prompt,
        )  # fmt: skip
    for note in result.notes:
        print(f"note: {note}")
    say(args, f"wrote {len(result.files)} upscaled image(s) to {args.out}/")
    return 0
