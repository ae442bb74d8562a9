"""``huashi train FAMILY --data SPEC --out RUN`` and ``huashi resume RUN``."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from huashi import api
from huashi.cli.options import add_option_flags, parse_key_values, picked
from huashi.core.errors import HuashiError

_TRAIN_FIELDS: list[str] = []


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a model family on a dataset")
    families = train.add_subparsers(dest="family", required=True, metavar="FAMILY")
    train_options = api.train_options()
    for name, family in api.families().items():
        parser = families.add_parser(name, help=family.summary, description=family.summary)
        group = parser.add_argument_group("data and run")
        group.add_argument(
            "--data", default=argparse.SUPPRESS, help="built-in dataset name or an image folder"
        )
        group.add_argument(
            "--resolution",
            type=int,
            default=argparse.SUPPRESS,
            help="image size in pixels (default: 64)",
        )
        group.add_argument(
            "--data-option", action="append", metavar="KEY=VALUE", help="dataset option, e.g. n=500"
        )
        group.add_argument(
            "--out", required=True, help="run folder (config, logs, samples, checkpoints)"
        )
        group.add_argument(
            "--resume",
            action="store_true",
            help="continue the run in --out from its newest checkpoint",
        )
        group.add_argument(
            "--config",
            type=Path,
            help="JSON file with 'model', 'train', 'data' sections; flags override it",
        )
        group.add_argument(
            "--recipe", help="a named recipe (huashi recipes) whose settings the flags override"
        )
        group.add_argument("--quiet", action="store_true", help="no progress bar")
        if family.upscales:  # a bigger image from a smaller one: --from PX --to PX
            group.add_argument(
                "--from", dest="from_size", type=int, metavar="PX",
                help="input size in pixels; with --to, the same as --resolution TO --scale TO/FROM",
            )  # fmt: skip
            group.add_argument("--to", dest="to_size", type=int, metavar="PX", help="output size")
        _TRAIN_FIELDS[:] = add_option_flags(parser.add_argument_group("training"), train_options)
        model_fields = add_option_flags(
            parser.add_argument_group(f"{name} model"), api.family_options(name)
        )
        parser.set_defaults(run=run_train, model_fields=model_fields)

    resume = subparsers.add_parser("resume", help="continue a run from its newest checkpoint")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--steps", type=int, help="train up to this many steps in all")
    resume.add_argument(
        "--max-minutes",
        type=float,
        help="stop after this many minutes of training in all, over every session (0 = no "
        "limit; default: the run's own cap, e.g. its recipe's budget)",
    )
    resume.add_argument(
        "--threads",
        help="CPU threads for this session (default: the count the run started with, which "
        "keeps it bit-identical to a run that never stopped)",
    )
    resume.add_argument("--quiet", action="store_true")
    resume.set_defaults(run=run_resume)


def with_recipe_family(argv: list[str]) -> tuple[list[str], api.Recipe | None]:
    """``train --recipe NAME ...`` -> ``train FAMILY --recipe NAME ...`` and the recipe, resolved
    once: it names the family, so the family's own flags parse as usual, and it travels on to
    :func:`huashi.api.train` as it is (:func:`resolved_recipe`)."""
    if len(argv) < 2 or argv[0] != "train" or not argv[1].startswith("--recipe"):
        return argv, None
    name = argv[1].partition("=")[2] or (argv[2] if len(argv) > 2 else "")
    if not name:
        return argv, None
    recipe = api.recipe(name)
    return ["train", recipe.family, *argv[1:]], recipe


def resolved_recipe(args: argparse.Namespace, recipe: api.Recipe | None) -> None:
    """Put the recipe :func:`with_recipe_family` resolved in place of its name in ``args`` (a
    later ``--recipe`` given beside it stays a name, which :func:`huashi.api.train` resolves)."""
    if recipe is not None and getattr(args, "recipe", None) == recipe.name:
        args.recipe = recipe


def run_train(args: argparse.Namespace) -> int:
    file = api.read_train_config(args.config) if args.config is not None else {}
    file_data = file.get("data", {})
    model = {**file.get("model", {}), **picked(args, args.model_fields)}
    train_options = {**file.get("train", {}), **picked(args, _TRAIN_FIELDS)}
    data_options = {**file_data.get("options", {}), **parse_key_values(args.data_option)}
    resolution = getattr(args, "resolution", file_data.get("resolution"))
    if getattr(args, "from_size", None) or getattr(args, "to_size", None):
        resolution = _from_to(args, resolution, model)
    with _preparing(args.out, args.quiet) as started:
        result = api.train(
            args.out,
            callbacks=[started],
            family=args.family,
            data=getattr(args, "data", file_data.get("spec")),
            resolution=resolution,
            model=model,
            data_options=data_options,
            resume=args.resume,
            progress=not args.quiet,
            recipe=args.recipe,
            **train_options,
        )
    return _report(result, args.quiet)


def _from_to(args: argparse.Namespace, resolution: int | None, model: dict) -> int:
    """``--from A --to B`` of the upsampler -> resolution B, scale B/A (into ``model``)."""
    small, big = args.from_size, args.to_size
    if not (small and big):
        raise HuashiError("give --from and --to together, e.g. --from 32 --to 128.")
    if big % small or big // small not in (2, 4, 8):
        raise HuashiError(
            f"--to {big} must be 2, 4 or 8 times --from {small}, e.g. --from 32 --to 128."
        )
    if resolution not in (None, big) or model.get("scale", big // small) != big // small:
        raise HuashiError(
            f"--from {small} --to {big} means --resolution {big} --scale {big // small}: "
            "drop the --resolution/--scale that disagree."
        )
    model["scale"] = big // small
    return big


def run_resume(args: argparse.Namespace) -> int:
    options: dict = {"steps": args.steps} if args.steps else {}
    if args.max_minutes is not None:
        if args.max_minutes < 0:
            raise HuashiError(
                f"--max-minutes must be 0 (no limit) or more, not {args.max_minutes:g}."
            )
        options["max_minutes"] = args.max_minutes
    if args.threads is not None:
        options["threads"] = args.threads
    with _preparing(args.run_dir, args.quiet) as started:
        result = api.train(
            args.run_dir, resume=True, progress=not args.quiet, callbacks=[started], **options
        )
    return _report(result, args.quiet)


@contextmanager
def _preparing(run_dir: object, quiet: bool) -> Iterator[Callable[..., None]]:
    """Say what happens before the first step ends (loading data, a text encoder, building the
    model: it can take many seconds) when it has not ended after a second; a quick error stays
    one line. Yields the training callback that marks the first step done."""
    message = f"{run_dir}: loading the data, building the model, first step ..."
    timer = threading.Timer(1.0, lambda: print(message, file=sys.stderr, flush=True))
    if not quiet and api.is_main_process():
        timer.start()
    try:
        yield lambda *_: timer.cancel()
    finally:
        timer.cancel()


def _report(result: api.TrainResult, quiet: bool = False) -> int:
    """What the training wrote and why it stopped (an interruption always says so, on stderr;
    a finished run says nothing under ``--quiet``)."""
    if not api.is_main_process():  # under torchrun, rank 0 reports for all
        return 130 if result.interrupted else 0
    if result.interrupted:
        print(f"checkpoint {result.checkpoint} saved.", file=sys.stderr)
        print(result.stop_line(), file=sys.stderr)
        return 130
    if quiet:
        return 0
    written = [name for name in ("samples.png", "losses.png") if (result.run_dir / name).exists()]
    print(
        f"trained {result.step} steps in {result.run_dir}: {', '.join(written + ['checkpoints/'])}"
    )
    if "pairs_eval" in result.reports:
        from huashi.cli.translate import format_report

        print(format_report(result.reports["pairs_eval"]))
    print(result.stop_line())
    return 0
