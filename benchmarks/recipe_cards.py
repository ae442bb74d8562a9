"""Write each recipe's ``measured`` block (huashi/recipes/NAME.json, what ``huashi recipes``
shows) from its committed result in benchmarks/results/recipes/, for the results that were
measured under the validated views (``views`` in the result, see benchmarks/recipes.py).

    python benchmarks/recipe_cards.py            # rewrite the blocks, print what changed

The block holds the FID as a multiple of its floor in the keys a zoo card uses
(``fid_floor_multiple``, ``fid_floor_fid``, ``fid_floor_n``, ``fid_floor_features``: read by
:func:`huashi.metrics.yardsticks.describe_card`), the plain view's multiple, KID, precision,
recall, the copy check, the steps and the training minutes, and the machine and date. The old
block's plain-view figures (:data:`PLAIN_KEYS`) go; its other keys (notes, counts by eye,
held-out scores) stay. Results without views (calligraphy: no floor) leave it untouched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huashi.metrics.yardsticks import base_network

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "recipes"
RECIPES = ROOT / "huashi" / "recipes"
#: Old keys that held plain-view figures (or the old shapes reader's), replaced by the new block.
PLAIN_KEYS = frozenset({"fid", "kid", "precision", "recall", "n", "features", "floor_fid",
                        "floor_n", "floor_on", "fid_at_steps", "fid_over_seeds", "seeds",
                        "seeds_machine", "prompted_attributes_exact", "shapes_accuracy"})  # fmt: skip


def measured_block(result: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The ``measured`` block of one re-measured result; ``old`` is the block it replaces."""
    first = result["views"][0]
    plain = next((v for v in result["views"] if v["network"] == base_network(first["network"])),
                 None)  # fmt: skip
    block: dict[str, Any] = {
        "steps": result["steps"],
        "train_minutes": round(result["train_seconds"] / 60, 1),
    }
    if "multiple" in first:
        block |= {
            "fid": round(first["fid"], 4),
            "n": first["n"],
            "features": first["network"],
            "fid_floor_fid": round(first["fid"], 4),
            "fid_floor_multiple": round(first["multiple"], 2),
            "fid_floor_n": first["n"],
            "fid_floor_features": first["network"],
            "plain_floor_multiple": None if plain is None else round(plain["multiple"], 2),
        }
    else:  # a real set too small for a floor (e.g. the 142 face emoji): the raw FID and why
        block |= {
            "fid": round(result["fid"], 4),
            "n": result["n"],
            "features": first["network"],
            "fid_floor_note": first["note"],
        }
    block |= {
        "kid": result["kid"],
        "precision": result["precision"],
        "recall": result["recall"],
        "copy_check": result.get("copy_check"),
        "machine": f"trained on {result['machine']}, {result['train_precision']}, "
        f"{result['threads']} thread(s), {result['date']}",
    }
    if result.get("by_steps"):
        block["machine"] += ", trained by steps (no time cap), other jobs on the cores"
    if result.get("zoo"):  # measured from the zoo painter this recipe made
        block["machine"] += f"; measured from {result['zoo']}'s weights on {result['measured_on']}"
    if result.get("shapes_accuracy"):
        block["shapes_accuracy"] = result["shapes_accuracy"]
    kept = {k: v for k, v in old.items() if k not in PLAIN_KEYS and k not in block}
    return block | kept


def main() -> None:
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        recipe_path = RECIPES / f"{result['recipe']}.json"
        if not result.get("views") or not recipe_path.exists():
            continue
        recipe = json.loads(recipe_path.read_text())
        old = recipe.get("measured") or {}
        recipe["measured"] = measured_block(result, old)
        recipe_path.write_text(json.dumps(recipe, indent=2, ensure_ascii=False) + "\n")
        multiple = recipe["measured"].get("fid_floor_multiple")
        shown = f"{multiple}× floor" if multiple else "no floor"
        print(f"{result['recipe']}: FID {shown} (was plain {old.get('fid')})")


if __name__ == "__main__":
    main()
