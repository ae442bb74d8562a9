"""``huashi export RUN --format onnx --out painter.onnx``: a run's painter as an ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a run's one-step painter (GAN, decoder, pix2pix) as ONNX"
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--format", default="onnx", help="file format (default: onnx)")
    parser.add_argument("--out", type=Path, default=Path("painter.onnx"))
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument(
        "--no-check", action="store_true", help="skip running the file with onnxruntime"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    with progress_bar(not args.quiet, f"exporting {args.run_dir} as {args.format}") as bar:
        result = api.export(
            args.run_dir, args.out, args.format, args.checkpoint, not args.no_check, progress=bar
        )
    shapes = ", ".join(f"{k} {v}" for k, v in result.inputs.items())
    say(args, f"wrote {result.path} ({result.family}; inputs: {shapes}; output: image)")
    if result.max_abs_diff is not None and not args.quiet:
        print(f"onnxruntime agrees with PyTorch: max abs difference {result.max_abs_diff:.2e}")
    return 0
