"""``huashi translate RUN INPUT --out DIR`` and ``huashi eval-pairs RUN`` (image-to-image runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from huashi import api
from huashi.cli.options import progress_bar, say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate", help="translate images with an image-to-image run (Pix2Pix)"
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("inputs", type=Path, nargs="+", help="image files or folders of images")
    parser.add_argument("--out", type=Path, required=True, help="folder for the translated PNGs")
    parser.add_argument(
        "--seed", type=int, default=0, help="image i uses seed+i (only with test dropout)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_translate)

    pairs = subparsers.add_parser(
        "eval-pairs", help="L1/PSNR/SSIM of an image-to-image run on held-out pairs"
    )
    pairs.add_argument("run_dir", type=Path)
    pairs.add_argument("--split", default="test", help="test (default), train or all")
    pairs.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    pairs.add_argument("--device", default="auto")
    pairs.set_defaults(run=run_eval_pairs)


def run_translate(args: argparse.Namespace) -> int:
    with progress_bar(not args.quiet, f"loading {args.run_dir}") as progress:
        result = api.translate(
            args.run_dir, list(args.inputs), args.out, seed=args.seed, batch_size=args.batch_size,
            checkpoint=args.checkpoint, device=args.device, progress=progress,
        )  # fmt: skip
    for note in result.notes:
        print(f"note: {note}")
    say(args, f"wrote {len(result.files)} translated image(s) to {args.out}/")
    return 0


def run_eval_pairs(args: argparse.Namespace) -> int:
    report = api.evaluate_pairs(
        args.run_dir, split=args.split, checkpoint=args.checkpoint, device=args.device
    )
    print(format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    """The pairs report as a small table: model vs identity (input taken as the answer)."""
    if "skipped" in report:
        return f"no held-out evaluation: {report['skipped']}"
    lines = [
        f"{report['pairs']} {report['split']} pairs of {report['data']}, step {report['step']}:",
        f"  {'':10}{'L1':>8}{'PSNR':>8}{'SSIM':>8}",
    ]
    for name in ("model", "identity"):
        m = report.get(name)
        if m:
            lines.append(f"  {name:10}{m['l1']:8.4f}{m['psnr']:8.2f}{m['ssim']:8.4f}")
    if "file" in report:
        lines.append(f"  saved {report['file']}")
    return "\n".join(lines)
