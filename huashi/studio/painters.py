"""The zoo in the studio: shipped painters named ``zoo:NAME`` beside the user's runs.

Zoo folders live inside the package (read-only for many installs), so what the studio paints
with them goes under the runs folder's ``.studio/zoo/NAME/`` instead of ``NAME/studio/``.
Painters are grouped by what they do, read from their config without loading any weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huashi import api, zoo

PREFIX = zoo.PREFIX

#: The groups of the first screen, in the order they are shown.
GROUPS = {
    "noise": "Paint from noise",
    "prompt": "Paint from a prompt",
    "translate": "Translate an image",
    "upscale": "Upscale",
}


def is_zoo_name(name: str) -> bool:
    return name.startswith(PREFIX)


def zoo_folder(name: str) -> Path | None:
    """The folder of the zoo entry ``zoo:NAME``, or None when there is none by that name."""
    short = name[len(PREFIX) :]
    if not short or "/" in short or short.startswith("."):
        return None
    folder = zoo.zoo_root() / short
    return folder.resolve() if (folder / zoo.CARD).is_file() else None


def display_name(run_dir: Path) -> str:
    """``zoo:NAME`` for a zoo folder, else the folder's own name."""
    root = zoo.zoo_root().resolve()
    return f"{PREFIX}{run_dir.name}" if run_dir.resolve().parent == root else run_dir.name


def group_of(family: str, model: dict[str, Any]) -> str | None:
    """What a painter of ``family`` with ``model`` options does (a key of :data:`GROUPS`), or
    None for one that makes no images (a feature network)."""
    from huashi.families import FAMILIES

    cls = FAMILIES.get(family)
    if cls is None or not cls.makes_images:
        return None
    # a family's own kind wins; a family that may be conditioned says so in its options
    condition = cls.condition_kind if cls.condition_kind != "none" else model.get("condition")
    if condition == "image":
        return "translate" if cls.paired_data else "upscale"
    return "prompt" if condition == "text" else "noise"


def card_of(folder: Path) -> dict[str, Any]:
    """A zoo entry as the first screen shows it: its card, group, data and grid."""
    entry = zoo._entry(folder)
    config = json.loads((folder / "config.json").read_text())
    name = f"{PREFIX}{entry.name}"
    grid = folder / "samples.png"
    from huashi.families import FAMILIES
    from huashi.families.base import Family

    cls = FAMILIES.get(entry.family)
    return {
        "name": name,
        "family": entry.family,
        "description": entry.description,
        "recipe": entry.recipe,
        "scores": entry.scores,
        # its FID as a floor multiple where the card has one, else labelled raw (never bare)
        "fid": api.card_fid(entry.scores),
        "group": group_of(entry.family, config.get("model") or {}),
        "data": (config.get("data") or {}).get("spec"),
        "resolution": (config.get("data") or {}).get("resolution"),
        "grid": f"/api/runs/{name}/samples.png" if grid.is_file() else None,
        # walks, inversion and drags need a latent (asked of the class, nothing is loaded)
        "latent": cls is not None and cls.latent_shape is not Family.latent_shape,
    }


def zoo_cards() -> list[dict[str, Any]]:
    """Every zoo entry's card, painters first by group, then the feature networks."""
    cards = [card_of(entry.path) for entry in zoo.list_zoo()]
    order = list(GROUPS)
    return sorted(cards, key=lambda c: (order.index(c["group"]) if c["group"] else 99, c["name"]))
