"""``huashi zoo``: the trained models shipped with huashi (use them as ``zoo:NAME``)."""

from __future__ import annotations

import argparse

from huashi import api


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help="list the trained models shipped with huashi")
    parser.set_defaults(run=run_zoo)


def run_zoo(args: argparse.Namespace) -> int:
    entries = api.zoo_painters()
    if not entries:
        print(f"no zoo models are installed in {api.zoo_root()}.")
        return 0
    for entry in entries:
        scores = ", ".join(f"{k} {v}" for k, v in entry.scores.items()) or "no scores recorded"
        print(f"zoo:{entry.name:<24} {entry.family:<10} {entry.description} ({scores})")
    return 0
