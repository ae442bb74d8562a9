"""Helpers that turn config dataclasses into command-line flags."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_flags(
    parser: argparse.ArgumentParser, config_class: type, skip: tuple = ()
) -> list[str]:
    """One flag per field, typed by the field's default; defaults are SUPPRESSed so that the
    namespace holds only what the user typed. Returns the field names."""
    names = []
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        help_text = f"(default: {default})"
        if isinstance(default, bool):
            parser.add_argument(
                flag(field.name),
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif isinstance(default, (int, float, str)):
            parser.add_argument(
                flag(field.name), type=type(default), default=argparse.SUPPRESS, help=help_text
            )
        else:
            parser.add_argument(
                flag(field.name),
                type=json.loads,
                default=argparse.SUPPRESS,
                help=help_text + " as JSON",
            )
        names.append(field.name)
    return names


def parse_key_values(pairs: list[str] | None) -> dict[str, Any]:
    """``["n=100", "label=color"]`` -> ``{"n": 100, "label": "color"}`` (JSON values where they parse)."""
    values: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {pair!r}")
        try:
            values[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.replace("-", "_")] = raw
    return values


def picked(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        default="auto",
        help="CPU threads: a number, or auto = the cores free at start (default: auto)",
    )
