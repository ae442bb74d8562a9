"""Recipes: named, curated training configurations, one JSON file each in this folder.

A recipe names a family, a dataset and resolution, the family's options and the training
options, and a CPU budget. It stops by steps (so it is reproducible on any machine) and by
``max_minutes`` (so it never overruns its budget on a slow one). Its ``measured`` block holds
what a run of it scored, with the machine, or ``null`` until someone has measured it. It
imports only :mod:`huashi.core`.

    huashi recipes                                   # the list
    huashi train --recipe emoji-dcgan-demo --out RUN  # flags given beside it override it
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError

FOLDER = Path(__file__).parent


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    family: str
    data: str
    resolution: int
    budget_minutes: float
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    #: What a run of this recipe scored (metrics, machine, date), or None when not measured yet.
    measured: dict[str, Any] | None = None

    def train_options(self) -> dict[str, Any]:
        """The recipe's training options, with its time budget as ``max_minutes``."""
        return {"max_minutes": self.budget_minutes, **self.train}


def _load(path: Path) -> Recipe:
    try:
        values = json.loads(path.read_text())
        recipe = Recipe(**values)
    except (OSError, json.JSONDecodeError, TypeError) as error:
        raise HuashiError(f"the recipe file {path} is damaged ({error}).") from None
    if recipe.name != path.stem:
        raise HuashiError(f"the recipe file {path} names itself {recipe.name!r}.")
    return recipe


def list_recipes() -> list[Recipe]:
    """Every shipped recipe, by dataset, then budget, then name."""
    recipes = [_load(path) for path in FOLDER.glob("*.json")]
    return sorted(recipes, key=lambda r: (r.data, r.budget_minutes, r.name))


def get_recipe(name: str) -> Recipe:
    path = FOLDER / f"{name}.json"
    if not path.is_file():
        names = ", ".join(r.name for r in list_recipes())
        raise HuashiError(f"unknown recipe {name!r}: choose one of {names} (huashi recipes).")
    return _load(path)
