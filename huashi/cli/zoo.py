"""``huashi zoo``: the trained models shipped with huashi (use them as ``zoo:NAME``)."""

from __future__ import annotations

import argparse
from typing import Any

from huashi import api


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help="list the trained models shipped with huashi")
    parser.set_defaults(run=run_zoo)


def describe_scores(scores: dict[str, Any]) -> str:
    """A card's scores for a person: the FID as a floor multiple first (or labelled raw, with
    why there is no floor), then the other scores."""
    fid = api.card_fid(scores)
    rest = [f"{k} {_value(v)}" for k, v in api.card_other_scores(scores).items()]
    return "; ".join(filter(None, [fid, ", ".join(rest)])) or "no scores recorded"


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_zoo(args: argparse.Namespace) -> int:
    entries = api.zoo_painters()
    if not entries:
        print(f"no zoo models are installed in {api.zoo_root()}.")
        return 0
    for entry in entries:
        print(f"zoo:{entry.name:<24} {entry.family:<10} {entry.description}")
        print(f"    {describe_scores(entry.scores)}")
    return 0
