"""``huashi sample RUN --n 64 --seed 7 --out grid.png`` and ``huashi regenerate IMAGE.png``."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import add_threads_flag, progress_bar, say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sample", help="generate images from a trained run")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--n", type=int, default=64, help="number of images (default: 64)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first image; image i uses seed+i"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("samples.png"),
        help="grid PNG; single images go to a folder beside it",
    )
    parser.add_argument("--no-per-image", action="store_true", help="write only the grid")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument("--device", default="auto")
    # StyleGAN options: using any of them routes the command to run_styled (below).
    parser.add_argument(
        "--truncation",
        type=float,
        action=_Styled,
        help="psi (stylegan): 0.7 trades variety for quality",
    )
    parser.add_argument(
        "--mix",
        type=int,
        nargs="+",
        action=_Styled,
        metavar="SEED",
        help="style-mixing grid of these seeds (stylegan)",
    )
    parser.add_argument(
        "--mix-layers",
        default="0-3",
        help="layers the columns give in --mix, or that --prompt-mix paints (default: 0-3)",
    )
    parser.add_argument("--prompt", help="the caption a text-conditional model paints")
    parser.add_argument(
        "--prompt-mix",
        help="a second caption painted by the layers --mix-layers (gigagan prompt mixing)",
    )
    parser.add_argument(
        "--label", help="the class (number or name) a class-conditional model paints"
    )
    parser.add_argument(
        "--precision",
        choices=api.precisions(),
        help="families that paint in autocast (diffusion): auto (default) = bf16 where it is "
        "fast, else fp32; the PNGs record the one used",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_flag(parser)
    parser.set_defaults(run=run_sample)

    again = subparsers.add_parser("regenerate", help="make an image again from its PNG metadata")
    again.add_argument("image", type=Path)
    again.add_argument("--out", type=Path, required=True)
    again.add_argument("--quiet", action="store_true", help="no progress line")
    again.set_defaults(run=run_regenerate)


def run_sample(args: argparse.Namespace) -> int:
    given = (("prompt", args.prompt), ("label", args.label), ("precision", args.precision))
    options = {k: v for k, v in given if v is not None}
    options |= prompt_mixing(args)
    api.set_threads(args.threads, claim=True)
    with progress_bar(not args.quiet, f"loading {args.run_dir}") as progress:
        result = api.sample(
            args.run_dir, n=args.n, seed=args.seed, out=args.out, batch_size=args.batch_size,
            per_image=not args.no_per_image, checkpoint=args.checkpoint, device=args.device,
            progress=progress, **options,
        )  # fmt: skip
    say(args, f"wrote {result.grid}{_folder_note(result.files, args.out)}")
    return 0


def _folder_note(files: list, out: Path) -> str:
    """`` and N images in FOLDER/`` for the single images written beside a grid."""
    return f" and {len(files)} images in {out.parent / out.stem}/" if files else ""


def run_regenerate(args: argparse.Namespace) -> int:
    with progress_bar(not args.quiet, f"regenerating {args.image}"):
        path = api.regenerate(args.image, args.out)
    say(args, f"wrote {path}")
    return 0


class _Styled(argparse.Action):
    """Stores the value and sends the command to :func:`run_styled`."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.run = run_styled


def prompt_mixing(args: argparse.Namespace) -> dict:
    """The options of --prompt-mix (with --mix-layers), or none."""
    if args.prompt_mix is None:
        return {}
    return {"prompt_mix": args.prompt_mix, "mix_layers": args.mix_layers}


def run_styled(args: argparse.Namespace) -> int:
    """``sample`` with --truncation and/or --mix (a style-mixing grid)."""
    options = {"prompt": args.prompt} if args.prompt is not None else {}
    options |= prompt_mixing(args)
    if args.label is not None:
        options["label"] = int(args.label) if args.label.lstrip("-").isdigit() else args.label
    truncation = getattr(args, "truncation", None)
    if getattr(args, "mix", None):
        path = api.mixing_grid(
            args.run_dir, args.mix, args.mix_layers, args.out, truncation or 1.0, args.checkpoint,
            args.device, **options,
        )  # fmt: skip
        say(args, f"wrote {path}")
        return 0
    result = api.sample(
        args.run_dir, n=args.n, seed=args.seed, out=args.out, batch_size=args.batch_size,
        per_image=not args.no_per_image, checkpoint=args.checkpoint, device=args.device,
        truncation=truncation, **options,
    )  # fmt: skip
    say(args, f"wrote {result.grid}{_folder_note(result.files, args.out)}")
    return 0
