"""``huashi recipes``: the shipped training recipes, with what each scored when measured."""

from __future__ import annotations

import argparse

from huashi import api


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("recipes", help="list the named training recipes")
    parser.set_defaults(run=run_recipes)


def _measured(values: dict | None) -> str:
    """What a recipe's run scored: its FID as a multiple of the floor (as a zoo card says it),
    the held-out L1 of image-to-image recipes, and how long it trained."""
    if not values:
        return "not measured yet"
    fid = api.card_fid(values)
    shown = [fid] if fid else []
    if "held_out_l1" in values:
        shown.append(f"held_out_l1 {values['held_out_l1']}")
    if "train_minutes" in values:
        shown.append(f"took {values['train_minutes']:g} min")
    return ", ".join(shown) or "measured"


def run_recipes(args: argparse.Namespace) -> int:
    print(f"{'recipe':<30} {'family':<10} {'data':<12} {'px':>4} {'cap':>5}  measured")
    for recipe in api.recipes():
        print(
            f"{recipe.name:<30} {recipe.family:<10} {recipe.data:<12} {recipe.resolution:>4} "
            f"{recipe.budget_minutes:>5g}  {_measured(recipe.measured)}"
        )
    print(
        "cap: a recipe trains its steps but stops at this many minutes of training steps, "
        "whichever comes first; the caps were set on a quiet 2-core CPU, and a busier or slower "
        "machine reaches fewer steps in them. 'took': what a measured run took, wall clock, on "
        "the machine its card names (huashi/recipes/NAME.json, measured.machine); it can "
        "exceed the cap."
    )
    print("train one with: huashi train --recipe NAME --out RUN (flags beside it override it)")
    return 0
