"""The pictures of docs/stylegan.md from one trained StyleGAN2 run, made with huashi's own commands.

    python scripts/stylegan_figures.py RUN --out docs/images

Writes ``stylegan-truncation.png`` (rows psi = 1, 0.7, 0.5, 0; seeds 0-7), ``stylegan-mixing.png``
(``huashi sample --mix 1 2 3 4 --mix-layers 0-3``), ``stylegan-inversion.png`` (a held-out image
inverted in w+, the optimization's snapshots), ``stylegan-sefa0.png``/``-sefa1.png`` (the first
two SeFa directions on that latent, strengths -3..3), and ``stylegan-drag.png`` (before and after
a drag of the point ``--drag`` with the left quarter kept, 4x nearest) and
``stylegan-drag-frames.png`` (its frames); ``huashi drag`` prints where the tracker put the handle.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
from drag_figure import before_after  # scripts/drag_figure.py, beside this one
from PIL import Image

from huashi.cli import main as huashi
from huashi.core.images import save_grid, to_pil
from huashi.data import load_dataset
from huashi.runs import load_run

PSIS = (1.0, 0.7, 0.5, 0.0)


def run(*args: str) -> None:
    if huashi([str(a) for a in args]) != 0:
        raise SystemExit(f"huashi {' '.join(map(str, args))} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--image", type=int, default=3, help="held-out image to invert")
    parser.add_argument("--steps", type=int, default=150, help="inversion steps")
    parser.add_argument("--drag", default="14,16:20,16", help="handle and target, X,Y:X2,Y2")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="stylegan-figures-"))

    family = load_run(args.run).family
    rows = [family.generate(list(range(8)), truncation=psi).cpu() for psi in PSIS]
    save_grid(torch.cat(rows), args.out / "stylegan-truncation.png", nrow=8)
    run("sample", args.run, "--mix", "1", "2", "3", "4", "--mix-layers", "0-3",
        "--out", args.out / "stylegan-mixing.png", "--quiet")  # fmt: skip

    data = load_run(args.run).config.data
    test = load_dataset(data["spec"], resolution=data["resolution"], split="test")
    target = work / "target.png"
    to_pil(test.batch(torch.tensor([args.image]))["image"][0].float()).save(target)
    inverted = work / "inv"
    run("invert", args.run, target, "--space", "w+", "--steps", str(args.steps), "--out", inverted)
    shutil.copy(inverted / "progress.png", args.out / "stylegan-inversion.png")
    latent = inverted / "latent.safetensors"
    for k in (0, 1):
        run("edit", args.run, latent, "--direction", f"sefa:{k}", "--strength", "-3..3:7",
            "--out", args.out / f"stylegan-sefa{k}.png")  # fmt: skip

    resolution = data["resolution"]
    keep = Image.new("L", (resolution, resolution), 0)
    keep.paste(255, (0, 0, resolution // 4, resolution))
    keep.save(work / "keep.png")
    dragged = work / "drag"
    run("drag", args.run, latent, "--point", args.drag, "--mask", work / "keep.png",
        "--out", dragged)  # fmt: skip
    before_after(dragged, args.out / "stylegan-drag.png", scale=4)
    shutil.copy(dragged / "frames.png", args.out / "stylegan-drag-frames.png")
    print(f"wrote the pictures to {args.out}/ (work files in {work})")


if __name__ == "__main__":
    main()
