"""``huashi clip RUN --image a.png b.png --prompt "a red circle ..." --prompt "..."``: label
images zero-shot with a trained huashi CLIP (the prompt with the highest cosine similarity)."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("clip", help="zero-shot labels for images with a CLIP run")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--image", nargs="+", type=Path, required=True)
    parser.add_argument("--prompt", action="append", required=True, help="a candidate caption")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar: only the labels are printed"
    )
    parser.set_defaults(run=run_clip)


def run_clip(args: argparse.Namespace) -> int:
    with progress_bar(not args.quiet, f"labelling {len(args.image)} image(s)") as bar:
        result = api.clip_labels(
            args.run_dir, args.image, args.prompt, device=args.device, progress=bar
        )
    for path, best, cosine in zip(args.image, result.labels, result.best_cosine, strict=True):
        print(f"{path}: {best}  (cosine {cosine:.3f})")
    return 0
