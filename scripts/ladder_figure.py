"""Draw the validation ladder's damages on a few real images, one row per rung, for the docs.

python scripts/ladder_figure.py --data emoji --out docs/images/ladder-emoji.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from huashi.data import load_dataset
from huashi.images import make_grid
from huashi.metrics.ladder import damage_ladders, pixel_clusters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="emoji")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--count", type=int, default=8, help="images per row")
    parser.add_argument("--out", type=Path, default=Path("docs/images/ladder-emoji.png"))
    args = parser.parse_args()
    dataset = load_dataset(args.data, resolution=args.resolution)
    batch = dataset.batch(torch.arange(len(dataset)))
    images = batch["target"] if "target" in batch else batch["image"]
    modes = batch["label"] if "label" in batch else pixel_clusters(images)
    picked = torch.linspace(0, len(images) - 1, args.count).long()
    rows = [images[picked]]
    labels = ["clean"]
    for name, rungs in damage_ladders(images, modes):
        for label, damaged in rungs:
            rows.append(damaged[picked])
            labels.append(f"{name}: {label}")
    grid = make_grid(torch.cat(rows), nrow=args.count)
    grid = grid.resize((grid.width * 2, grid.height * 2), 0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(f"wrote {args.out}: rows top to bottom: " + "; ".join(labels))


if __name__ == "__main__":
    main()
