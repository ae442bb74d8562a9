"""``huashi edit RUN LATENT --direction sefa:0 --strength -3..3 --out edits.png`` (or
``--toward other.png --steps 8``)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edit", help="edit an inverted latent: directions and walks")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("latent", type=Path, help="a latent.safetensors from huashi invert")
    parser.add_argument("--out", type=Path, required=True, help="the grid PNG")
    parser.add_argument(
        "--direction",
        help="sefa:K, label:NAME, prompt:TEXT, latent:FILE or clip:TEXT, joined by + and - "
        '(e.g. label:red-label:blue, "clip:a smiling face-clip:a face")',
    )
    parser.add_argument(
        "--clip",
        help="the clip run for clip: directions (default: the zoo's reference for the dataset)",
    )
    parser.add_argument("--strength", default="-3..3", help="-3..3, -3..3:5 or 1,2,4")
    parser.add_argument("--layers", help="w+ layers the direction moves (e.g. 0-3; default all)")
    parser.add_argument("--toward", help="walk to another latent file or image instead")
    parser.add_argument("--steps", type=int, default=8, help="images in a --toward walk")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--device", default="auto")
    # let "--strength -3..3" read -3..3 as a value, not as an option (argparse only knows plain
    # negative numbers)
    parser._negative_number_matcher = re.compile(r"^-\d[\d.]*(\.\.-?[\d.]+)?(:\d+)?$")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    doing = f"walking toward {args.toward}" if args.toward else f"editing {args.latent}"
    with progress_bar(not args.quiet, doing) as bar:
        path = api.edit(
            args.run_dir, args.latent, args.out, args.direction, args.strength, args.layers,
            args.toward, args.steps, checkpoint=args.checkpoint, device=args.device, clip=args.clip,
            on_step=bar,
        )  # fmt: skip
    say(args, f"wrote {path}")
    return 0
