"""Print how FID, KID and precision/recall respond to damaged REAL images (blur, noise, half the
classes) under a briefly trained in-domain classifier; and how FID depends on the sample count.

    python benchmarks/metric_sensitivity.py --classifier runs/cls   # or trains one into it
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.transforms.functional import gaussian_blur

from huashi import api
from huashi.data import load_dataset
from huashi.metrics.features import load_features
from huashi.metrics.fid import fid
from huashi.metrics.kid import kid
from huashi.metrics.precision_recall import precision_recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", default="runs/classifier-mnist-16")
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    if not (Path(args.classifier) / "config.json").exists():
        api.train(args.classifier, "classifier", "mnist", args.resolution, model={"width": 16},
                  steps=args.steps, batch_size=64, precision="fp32", progress=False)  # fmt: skip
    net = load_features(f"classifier:{args.classifier}")
    train = load_dataset("mnist", args.resolution)
    test = load_dataset("mnist", args.resolution, split="test")
    g = torch.Generator().manual_seed(0)
    real = net.features(train.batch(torch.randperm(len(train), generator=g)[:1000])["image"])
    held = test.batch(torch.arange(len(test)))["image"]

    def row(name: str, images: torch.Tensor) -> None:
        f = net.features(images)
        k = kid(real, f, subsets=20, subset_size=200)
        pr = precision_recall(real, f)
        print(f"| {name} | {len(images)} | {fid(real, f):.3f} | {k.mean:.4f} ± {k.std:.4f} "
              f"| {pr.precision:.3f} | {pr.recall:.3f} |")  # fmt: skip

    print(
        "| held-out mnist images | n | FID | KID | precision | recall |\n|---|---|---|---|---|---|"
    )
    row("clean", held)
    for sigma in (0.6, 1.0, 1.6):
        row(f"blur sigma {sigma}", gaussian_blur(held, 7, sigma))
    for std in (0.1, 0.3, 0.6):
        noise = torch.randn(held.shape, generator=torch.Generator().manual_seed(1))
        row(f"noise std {std}", (held + std * noise).clamp(-1, 1))
    low = torch.nonzero(test.labels < 5).flatten()
    row("random half of the images", held[torch.randperm(len(test), generator=g)[: len(low)]])
    row("digits 0-4 only", held[low])
    print("\nFID of clean held-out images against 1000 train images, by sample count:")
    for n in (80, 160, 320, 500):
        print(f"n={n}: {fid(real, net.features(held[:n])):.3f}")


if __name__ == "__main__":
    main()
