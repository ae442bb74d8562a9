"""The ``huashi`` command line: a thin face over :mod:`huashi.api`.

Each command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``.
A :class:`~huashi.errors.HuashiError` is printed as one line (no traceback), exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from huashi import __version__
from huashi.cli import (
    clip,
    compare,
    data,
    doctor,
    drag,
    edit,
    interpolate,
    invert,
    paint,
    sample,
    train,
    translate,
)
from huashi.cli import eval as eval_command
from huashi.errors import HuashiError

COMMANDS = [
    train,
    sample,
    paint,
    interpolate,
    invert,
    edit,
    drag,
    translate,
    eval_command,
    compare,
    clip,
    data,
    doctor,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="huashi", description="画师 huashi: train, paint with and measure image generators."
    )
    parser.add_argument("--version", action="version", version=f"huashi {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except HuashiError as error:
        print(f"huashi: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("huashi: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
