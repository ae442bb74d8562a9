"""The validation ladder of every shipped reference network under both views, as one table.

    python benchmarks/yardsticks.py                 # runs the ladders not yet in results/ladders
    python benchmarks/yardsticks.py --rerun         # runs every ladder again

Each ladder is also one command (``huashi eval --validate texture:zoo:reference-emoji``); its
report is kept as JSON in ``benchmarks/results/ladders/`` and the table goes in docs/metrics.md.
The emoji ladders (both networks) add the checkpoints of one GAN run (``--ladder-run``, default
runs/ladder-gan: ``huashi train --recipe emoji-gan-5min --checkpoint-every 275``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from huashi import api

NETWORKS = ("reference-emoji", "reference-emoji-exemplar", "reference-emoji-128",
            "reference-shapes", "reference-shapes-classifier", "reference-shapes-attributes",
            "reference-mnist",
            "reference-mnist-clip", "reference-calligraphy")  # fmt: skip
GAN_LADDER = ("reference-emoji", "reference-emoji-exemplar")  # networks given --ladder-run
VIEWS = ("texture:zoo", "zoo")
#: views of several networks, each given after the rows of its first network
ENSEMBLES = {"reference-shapes-attributes":
             ("ensemble:zoo:reference-shapes+zoo:reference-shapes-classifier"
              "+zoo:reference-shapes-attributes",)}  # fmt: skip
RESULTS = Path(__file__).parent / "results" / "ladders"
COLUMNS = [  # (header, ladder, rung)
    ("blur 1 px", "Gaussian blur", "sigma 1 px"),
    ("noise 0.1", "additive noise", "std 0.1"),
    ("JPEG 20", "JPEG", "quality 20"),
    ("shuffle 8x8", "patch shuffle", "8x8 grid"),
    ("colour", "colour shift", None),
    ("1/10 modes", "modes kept", "0.1 of the modes"),
    ("GAN 1/4 steps", "GAN checkpoints", None),
    ("every shape a circle", "attributes lost", "every shape a circle"),  # shapes only
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rerun", action="store_true")
    parser.add_argument("--ladder-run", type=Path, default=Path("runs/ladder-gan"))
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    header = "| view | floor (n) | " + " | ".join(c[0] for c in COLUMNS) + " | fails |"
    print(header + "\n" + "|---" * (len(COLUMNS) + 3) + "|")
    for network in NETWORKS:
        for spec in [f"{view}:{network}" for view in VIEWS] + list(ENSEMBLES.get(network, ())):
            path = RESULTS / (spec.replace(":", "-") + ".json")
            if args.rerun or not path.exists():
                run = args.ladder_run if network in GAN_LADDER else None
                api.validate_features(spec, run if run and run.exists() else None, out=path)
            print(row(spec, json.loads(path.read_text())))


def row(spec: str, report: dict) -> str:
    """One table row: the floor, a rung of each ladder as a multiple of it, what failed."""
    ladders = {lad["name"]: lad["rungs"] for lad in report["ladders"]}
    cells = []
    for _, ladder, label in COLUMNS:
        rungs = ladders.get(ladder)
        if not rungs:
            cells.append("–")
            continue
        # the middle rung of a ladder without a named one; GAN: the earliest checkpoint (last)
        rung = next((r for r in rungs if r["label"] == label), rungs[len(rungs) // 2])
        if ladder == "GAN checkpoints":
            rung = rungs[-1]
        cells.append(f"{rung['multiple']:.3g}×")
    fails = [name.split(" (")[0] for name, ok in report["checks"].items() if not ok]
    return (f"| `{spec}` | {report['floor']:.3g} ({report['n']:,}) | " + " | ".join(cells)
            + f" | {'; '.join(fails) or 'none'} |")  # fmt: skip


if __name__ == "__main__":
    main()
