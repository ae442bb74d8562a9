"""``huashi data preview NAME|PATH``: a grid of a dataset with its captions/labels, and its size."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import parse_key_values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="look at datasets")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    preview = actions.add_parser("preview", help="write a grid of a dataset and print its size")
    preview.add_argument("spec", help="emoji, calligraphy, shapes, mnist, ... or an image folder")
    preview.add_argument("--resolution", type=int, default=64)
    preview.add_argument("--n", type=int, default=64)
    preview.add_argument("--split", default="train")
    preview.add_argument("--out", type=Path)
    preview.add_argument("--data-option", action="append", metavar="KEY=VALUE")
    preview.set_defaults(run=run_preview)


def run_preview(args: argparse.Namespace) -> int:
    path, summary = api.preview_data(
        args.spec, resolution=args.resolution, n=args.n, out=args.out, split=args.split,
        data_options=parse_key_values(args.data_option),
    )  # fmt: skip
    print(summary)
    print(f"wrote {path}")
    return 0
