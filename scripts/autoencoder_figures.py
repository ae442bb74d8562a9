"""Figures and numbers for docs/autoencoders.md from trained autoencoder runs.

    python scripts/autoencoder_figures.py --run ae=RUN_AE --run vae=RUN_VAE --run kl-vae=RUN_KL \\
        --out docs/images/autoencoders

Writes ``reconstructions.png`` (held-out emoji, then each run's reconstructions, one row each),
``moon-<name>.png`` (latent walks from "new moon symbol" to "full moon symbol"),
``vae-samples.png`` (prior samples of the VAE runs) and prints a Markdown table: reconstruction
error and PSNR on the test split, the latent shape and the latent scale.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from huashi.core.images import save_grid
from huashi.data import load_dataset
from huashi.runs import load_run
from huashi.tools.interpolate import interpolate


def caption_index(dataset, caption: str) -> int:
    return dataset.captions.index(caption)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", action="append", required=True, metavar="NAME=RUN_DIR")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=10, help="held-out images in the grid")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {name: load_run(path) for name, path in (r.split("=", 1) for r in args.run)}
    first = next(iter(runs.values()))
    data = first.config.data
    test = load_dataset(data["spec"], resolution=data["resolution"], split="test")
    train = load_dataset(data["spec"], resolution=data["resolution"])
    images = test.batch(torch.arange(len(test)))["image"]

    rows = [images[: args.n]]
    print("| run | steps | latent shape | latent scale | test MSE | test PSNR (dB) |")
    print("|---|---|---|---|---|---|")
    for name, loaded in runs.items():
        family = loaded.family
        reconstructions = torch.cat([family.reconstruct(part) for part in images.split(64)])
        mse = float((reconstructions - images).pow(2).mean())
        psnr = 10 * math.log10(4.0 / mse)  # peak-to-peak range of [-1, 1] is 2
        rows.append(reconstructions[: args.n])
        print(
            f"| {name} | {loaded.step} | {family.latent_shape} | {family.latent_scale:.3f} | "
            f"{mse:.4f} | {psnr:.1f} |"
        )
        a = caption_index(train, "new moon symbol")
        b = caption_index(train, "full moon symbol")
        for path in ("linear", "slerp") if family.has_prior else ("linear",):
            suffix = "" if path == "linear" else "-slerp"
            interpolate(loaded, f"data:{a}", f"data:{b}", steps=8, path=path,
                        out=args.out / f"moon-{name}{suffix}.png")  # fmt: skip
        if family.has_prior:
            save_grid(family.generate(list(range(32))), args.out / f"{name}-samples.png", nrow=8)
    save_grid(torch.cat(rows), args.out / "reconstructions.png", nrow=args.n)


if __name__ == "__main__":
    main()
