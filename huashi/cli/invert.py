"""``huashi invert RUN IMAGE --space w+ --steps 300 --out inv/`` (and ``--mask hole.png``,
``--optimize-noise``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("invert", help="find the latent of an image (GAN inversion)")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--space", default="w+", help="z, w or w+ (stylegan); z (dcgan, gan)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--mask", type=Path, help="image whose white pixels mark a hole to fill")
    parser.add_argument(
        "--features",
        default="auto",
        help="perceptual loss: auto (the run's D), d, none, clip:RUN or classifier:RUN",
    )
    parser.add_argument("--feature-weight", type=float, default=0.1)
    parser.add_argument(
        "--optimize-noise",
        action="store_true",
        help="also fit the generator's per-layer noise maps (stylegan; kept near white noise)",
    )
    parser.add_argument(
        "--noise-weight",
        type=float,
        default=0.1,
        help="weight of the regularization that keeps the fitted noise white (with --optimize-noise)",
    )
    parser.add_argument("--label", help="the class of a class-conditional model")
    parser.add_argument("--prompt", help="the caption of a text-conditional model")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = {k: v for k, v in (("label", args.label), ("prompt", args.prompt)) if v is not None}
    with progress_bar(not args.quiet, f"loading {args.run_dir}") as bar:
        result, notes = api.invert(
            args.run_dir, args.image, args.out, args.space, args.steps, args.mask, args.features,
            args.feature_weight, args.lr, args.checkpoint, args.device,
            optimize_noise=args.optimize_noise, noise_weight=args.noise_weight, on_step=bar,
            **options,
        )  # fmt: skip
    for note in notes:
        print(f"note: {note}")
    say(
        args,
        f"PSNR {result.psnr:.2f} dB in {args.space}; wrote "
        + ", ".join(str(p) for p in result.files.values()),
    )
    return 0
