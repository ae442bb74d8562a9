"""Helpers of the commands: config options as flags, KEY=VALUE options, progress bars."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from huashi import api
from huashi.core.errors import HuashiError


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_option_flags(parser: argparse.ArgumentParser, options: list[api.Option]) -> list[str]:
    """One flag per config option (:func:`huashi.api.family_options`,
    :func:`huashi.api.train_options`), typed by its default, with its help text and valid
    choices; defaults are SUPPRESSed so that the namespace holds only what the user typed.
    Returns the option names."""
    names = []
    for option in options:
        default, choices = option.default, option.choices
        help_text = option.help
        help_text = f"{help_text} (default: {default})" if help_text else f"(default: {default})"
        if isinstance(default, bool):
            parser.add_argument(
                flag(option.name),
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif isinstance(default, (int, float, str)):
            parser.add_argument(
                flag(option.name),
                type=type(default),
                choices=choices,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            parser.add_argument(
                flag(option.name),
                type=json.loads,
                default=argparse.SUPPRESS,
                help=help_text + " as JSON" if "JSON" not in help_text else help_text,
            )
        names.append(option.name)
    return names


def parse_key_values(pairs: list[str] | None) -> dict[str, Any]:
    """``["n=100", "label=color"]`` -> ``{"n": 100, "label": "color"}`` (JSON values where they parse)."""
    values: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise HuashiError(f"expected KEY=VALUE, got {pair!r} (e.g. --data-option n=500).")
        try:
            values[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.replace("-", "_")] = raw
    return values


def picked(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    given = vars(args)  # flags the user did not type are absent (their defaults are SUPPRESSed)
    return {name: given[name] for name in names if name in given}


@contextmanager
def progress_bar(
    enabled: bool = True, doing: str = "working"
) -> Iterator[Callable[[int, int, str], None] | None]:
    """A tqdm bar (on stderr) driven by an API ``progress(done, total, message)`` callback; yields
    the callback, or None when ``enabled`` is false. A command still busy after a second and not
    yet reporting shows what it is doing (``doing``) with the seconds since it began, so a long
    start (loading a model, decoding a dataset) is never silent. From the first report on it is
    the usual bar, redrawn every second even between reports (the elapsed time and the ETA stay
    live through a long stage); rates and the ETA count from the start, not from the first
    report. Nothing is drawn in the first second; the bar is cleared at the end, so a command
    done within a second shows none."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    started = time.time()
    bar: tqdm | None = None
    lock = threading.Lock()
    finished = threading.Event()
    latest: list[tuple[int, int, str]] = []  # the newest report, drawn once a second has passed

    def draw() -> None:
        nonlocal bar
        if bar is None:
            waiting = "{desc} ... {elapsed}"
            bar = tqdm(
                total=None, desc=doing, leave=False, dynamic_ncols=True, bar_format=waiting,
                delay=1e-9,  # drawn by refresh() below, once the start time is the command's
            )  # fmt: skip
            bar.start_t = started  # elapsed time and rates from the command's start
        if latest:
            done, total, message = latest[-1]
            bar.bar_format = None  # the usual bar once the command reports
            bar.total, bar.n = total, done
            bar.set_description(message, refresh=False)
        bar.refresh()

    def heartbeat() -> None:
        if finished.wait(1.0):
            return
        while not finished.is_set():
            with lock:
                draw()
            finished.wait(1.0)

    def update(done: int, total: int, message: str) -> None:
        with lock:
            latest[:] = [(done, total, message)]
            if time.time() - started >= 1.0:
                draw()

    ticker = threading.Thread(target=heartbeat, daemon=True)
    ticker.start()
    try:
        yield update
    finally:
        finished.set()
        ticker.join()
        if bar is not None:
            bar.close()


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        default="auto",
        help="CPU threads: a number, all (every usable core), or auto = OMP_NUM_THREADS, else "
        "every usable core but one, less the cores other huashi processes use (default: auto)",
    )


def say(args: argparse.Namespace, text: str) -> None:
    """Print a command's closing line (what it wrote), unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text)
