"""The ``huashi`` command line: a thin face over :mod:`huashi.api`.

Each command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``: it
parses the arguments, calls one :mod:`huashi.api` function and prints. Its flags' fields,
choices and defaults come from the API too (:func:`huashi.api.family_options`, ...). A
:class:`~huashi.core.errors.HuashiError` is printed as one line (no traceback), exit status 2.
Besides the API it imports only the errors, ``HUASHI_DOCS_TINY`` (:mod:`huashi.core.tiny`) and
the studio's app, which ``huashi studio`` starts (``tests/test_imports.py`` checks it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from huashi import __version__, api
from huashi.cli import (
    clip,
    compare,
    data,
    distill,
    doctor,
    drag,
    dream,
    edit,
    export,
    interpolate,
    invert,
    paint,
    recipes,
    sample,
    studio,
    train,
    translate,
    upscale,
    zoo,
)
from huashi.cli import eval as eval_command
from huashi.core.errors import HuashiError, system_error_line
from huashi.core.tiny import enabled as docs_tiny
from huashi.core.tiny import shrink

COMMANDS = [
    train,
    sample,
    paint,
    interpolate,
    invert,
    edit,
    drag,
    translate,
    upscale,
    dream,
    distill,
    eval_command,
    compare,
    export,
    clip,
    data,
    doctor,
    studio,
    recipes,
    zoo,
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
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        api.check_arguments(argv)
        argv, recipe = train.with_recipe_family(argv)
    except HuashiError as error:
        print(f"huashi: error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    train.resolved_recipe(args, recipe)
    if docs_tiny():  # the docs' tests: tiny sizes (huashi/core/tiny.py)
        shrink(args)
    try:
        return api.finish_command(args.run(args) or 0)  # under torchrun: all ranks end together
    except HuashiError as error:
        print(f"huashi: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("huashi: interrupted.", file=sys.stderr)
        return 130
    except (OSError, MemoryError, RuntimeError) as error:
        line = system_error_line(error)
        if line is None:
            raise
        print(f"huashi: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
