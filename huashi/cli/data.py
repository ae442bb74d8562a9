"""``huashi data preview NAME|PATH``: a grid of a dataset with its captions/labels, and its size;
``huashi data export NAME|PATH --out DIR``: real images of it as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import parse_key_values, progress_bar, say


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
    preview.add_argument("--quiet", action="store_true", help="no progress line")
    preview.set_defaults(run=run_preview)
    add_export_parser(actions)


def run_preview(args: argparse.Namespace) -> int:
    with progress_bar(not args.quiet, f"loading {args.spec} (decoded once, then cached)") as bar:
        path, summary = api.preview_data(
            args.spec, resolution=args.resolution, n=args.n, out=args.out, split=args.split,
            data_options=parse_key_values(args.data_option), progress=bar,
        )  # fmt: skip
    print(summary)
    say(args, f"wrote {path}")
    return 0


def add_export_parser(actions: argparse._SubParsersAction) -> None:
    export = actions.add_parser(
        "export",
        help="write real images of a dataset as PNG files (inputs for invert, translate, ...)",
        description="Write real images of a dataset as PNG files: by --index, by --caption, "
        "or the first --n. --out is a folder (<index>-<caption>.png per image) or, for one "
        "image, a file name ending in .png.",
    )
    export.add_argument("spec", help="emoji, calligraphy, shapes, mnist, ... or an image folder")
    export.add_argument("--out", type=Path, required=True, help="a folder, or FILE.png")
    export.add_argument("--n", type=int, default=1, help="how many images (default: 1)")
    export.add_argument(
        "--index", type=int, action="append", help="the image with this index (repeatable)"
    )
    export.add_argument(
        "--caption", help="images whose caption or class name is (else contains) this text"
    )
    export.add_argument("--target", action="store_true", help="paired sets: write the targets")
    export.add_argument(
        "--shift",
        type=int,
        default=0,
        metavar="PX",
        help="move each image by random whole pixels in [-PX, PX] along x and y (the uncovered "
        "border repeats the edge): training data whose content sits at many places",
    )
    export.add_argument(
        "--copies", type=int, default=1, help="with --shift: differently shifted copies of each"
    )
    export.add_argument("--seed", type=int, default=0, help="seed of the shifts (default: 0)")
    export.add_argument("--resolution", type=int, default=64)
    export.add_argument("--split", default="train")
    export.add_argument("--data-option", action="append", metavar="KEY=VALUE")
    export.add_argument("--quiet", action="store_true", help="print nothing")
    export.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    with progress_bar(not args.quiet, f"loading {args.spec} at {args.resolution} px") as bar:
        written = api.export_data(
            args.spec, args.out, n=args.n, indices=args.index, caption=args.caption,
            resolution=args.resolution, split=args.split, target=args.target,
            data_options=parse_key_values(args.data_option), progress=bar,
            shift=args.shift, copies=args.copies, seed=args.seed,
        )  # fmt: skip
    if not args.quiet:
        for item in written[:20]:
            print(f"{item.path}: image {item.index}" + (f' "{item.text}"' if item.text else ""))
        if len(written) > 20:
            print(f"... and {len(written) - 20} more")
        where = written[0].path if len(written) == 1 else f"{args.out}/"
        say(args, f"wrote {len(written)} image{'s' * (len(written) != 1)} to {where}")
    return 0
