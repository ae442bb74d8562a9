"""Where the zoo's painters live and how a ``zoo:NAME`` is read: the zoo's folder, its entries'
cards and ``zoo:NAME`` -> folder. Core, so that every layer (the PNG parameters too) can resolve
a zoo name; the zoo itself (:mod:`huashi.zoo`) adds shipping runs into it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError

PREFIX = "zoo:"
CARD = "card.json"


def zoo_root() -> Path:
    """The folder of the zoo: ``$HUASHI_ZOO`` when set, else the one shipped in the package."""
    env = os.environ.get("HUASHI_ZOO")
    return Path(env).expanduser() if env else Path(__file__).parents[1] / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    path: Path
    family: str
    description: str
    recipe: str | None = None
    seed: int | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


def list_zoo() -> list[ZooEntry]:
    """Every zoo entry that has a card, by name."""
    root = zoo_root()
    if not root.is_dir():
        return []
    return [_entry(folder) for folder in sorted(root.iterdir()) if (folder / CARD).is_file()]


def zoo_entry(folder: Path) -> ZooEntry:
    """The card of the zoo entry in ``folder``."""
    return _entry(folder)


def _entry(folder: Path) -> ZooEntry:
    try:
        card = json.loads((folder / CARD).read_text())
        return ZooEntry(path=folder, **card)
    except (OSError, json.JSONDecodeError, TypeError) as error:
        raise HuashiError(f"the zoo entry {folder} is damaged ({error}).") from None


def is_zoo(spec: str | Path) -> bool:
    return str(spec).startswith(PREFIX)


def resolve(spec: str | Path) -> Path:
    """``zoo:NAME`` -> its folder; any other path is returned unchanged."""
    if not is_zoo(spec):
        return Path(spec)
    name = str(spec)[len(PREFIX) :]
    folder = zoo_root() / name
    if not (folder / CARD).is_file():
        names = ", ".join(e.name for e in list_zoo()) or "none are installed"
        raise HuashiError(f"there is no zoo model {name!r}: choose one of {names} (huashi zoo).")
    return folder
