"""The zoo in the studio: shipped painters named ``zoo:NAME`` beside the user's runs.

Zoo folders live inside the package (read-only for many installs), so what the studio paints
with them goes under the runs folder's ``.studio/zoo/NAME/`` instead of ``NAME/studio/``.
Painters are grouped by what they do, read from their config without loading any weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huashi import api

PREFIX = "zoo:"  # how a zoo painter is named wherever a run is (huashi sample zoo:NAME)

#: The groups of the first screen, in the order they are shown.
GROUPS = {
    "noise": "Paint from noise",
    "prompt": "Paint from a prompt",
    "translate": "Translate an image",
    "upscale": "Upscale",
}


def is_zoo_name(name: str) -> bool:
    return name.startswith(PREFIX)


def display_name(run_dir: Path) -> str:
    """``zoo:NAME`` for a zoo folder, else the folder's own name."""
    root = api.zoo_root().resolve()
    return f"{PREFIX}{run_dir.name}" if run_dir.resolve().parent == root else run_dir.name


def group_of(family: str, model: dict[str, Any]) -> str | None:
    """What a painter of ``family`` with ``model`` options does (a key of :data:`GROUPS`), or
    None for one that makes no images (a feature network)."""
    info = api.family_info(family)
    if info is None or not info.makes_images:
        return None
    # a family's own kind wins; a family that may be conditioned says so in its options
    condition = info.condition_kind if info.condition_kind != "none" else model.get("condition")
    if condition == "image":
        return "translate" if info.paired_data else "upscale"
    return "prompt" if condition == "text" else "noise"


def card_of(entry: api.ZooEntry) -> dict[str, Any]:
    """A zoo entry as the first screen shows it: its card, group, data and grid."""
    config = json.loads((entry.path / "config.json").read_text())
    name = f"{PREFIX}{entry.name}"
    grid = entry.path / "samples.png"
    info = api.family_info(entry.family)
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
        "latent": info is not None and info.latent,
    }


def zoo_cards() -> list[dict[str, Any]]:
    """Every zoo entry's card, painters first by group, then the feature networks."""
    cards = [card_of(entry) for entry in api.zoo_painters()]
    order = list(GROUPS)
    return sorted(cards, key=lambda c: (order.index(c["group"]) if c["group"] else 99, c["name"]))
