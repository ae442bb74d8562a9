"""``huashi compare RUN_A RUN_B ... --out report.html``: one self-contained HTML page with each
run's samples, metrics, training time, sampling speed and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import progress_bar, say
from huashi.core.errors import HuashiError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare", help="compare runs side by side in one HTML page")
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report.html"))
    parser.add_argument(
        "--features",
        help="feature network (clip:RUN, classifier:RUN, inception:PATH) to compute missing "
        "metrics with; without it, the runs' saved eval-*.json files are used",
    )
    parser.add_argument("--n", type=int, default=1000, help="samples per computed metric")
    parser.add_argument("--force", action="store_true", help="compare runs on different data")
    parser.add_argument(
        "--all-checkpoints",
        action="store_true",
        help="measure every kept checkpoint (plot: metric against training time)",
    )
    parser.add_argument(
        "--sampler-steps",
        default="5,10,25,50",
        help="step counts for families that take steps= (default: 5,10,25,50; 'none' to skip)",
    )
    parser.add_argument("--title", default="huashi comparison")
    parser.add_argument("--notes", default="", help="a sentence shown under the title")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_compare)


def parse_steps(text: str) -> list[int] | None:
    if text.strip().lower() == "none":
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise HuashiError("--sampler-steps takes numbers like 5,10,25,50 (or none).") from None


def run_compare(args: argparse.Namespace) -> int:
    steps = parse_steps(args.sampler_steps)
    with progress_bar(not args.quiet, "loading the runs") as progress:
        result = api.compare(
            args.runs, args.out, features=args.features, n=args.n, progress=progress,
            force=args.force, all_checkpoints=args.all_checkpoints, sampler_steps=steps,
            device=args.device, title=args.title, notes=args.notes,
        )  # fmt: skip
    say(args, f"wrote {result.path}")
    return 0
