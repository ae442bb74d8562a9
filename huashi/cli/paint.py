"""``huashi paint RUN "a red apple" --sampler dpmpp-2m --steps 20 --cfg 4 --seed 1 --n 8``.

Diffusion sampling with its options (sampler, steps, guidance, prompt or label, img2img,
inpainting); ``--sweep ddim:10,ddim:50,dpmpp-2m:20`` writes one grid per sampler/steps pair
(same seeds) and an overview with one row per pair, so quality against steps is visible.
Every PNG carries its parameters, so ``huashi regenerate`` makes any single image again.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from huashi import api
from huashi.cli.options import add_threads_flag
from huashi.errors import HuashiError
from huashi.images import make_grid, save_png
from huashi.training.device import set_threads


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("paint", help="paint with a diffusion run (prompt, label, ...)")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("prompt", nargs="?", help="text prompt (text-conditioned models)")
    parser.add_argument("--label", type=int, help="class index (class-conditioned models)")
    parser.add_argument(
        "--sampler", help="ddpm, ddim, dpmpp-2m, euler or heun (default: the run's)"
    )
    parser.add_argument("--steps", type=int, help="sampling steps (default: the run's)")
    parser.add_argument("--cfg", type=float, help="classifier-free guidance scale (1 = none)")
    parser.add_argument("--eta", type=float, help="DDIM stochasticity η (0 = deterministic)")
    parser.add_argument("--init", type=Path, help="img2img: the image to start from")
    parser.add_argument(
        "--strength", type=float, help="img2img: how much to change the init, in (0, 1]"
    )
    parser.add_argument("--mask", type=Path, help="inpainting: white = repaint, black = keep")
    parser.add_argument(
        "--sweep", help="compare samplers: SAMPLER:STEPS pairs, e.g. ddim:10,ddim:50,dpmpp-2m:20"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first image; image i uses seed+i"
    )
    parser.add_argument("--n", type=int, default=8, help="number of images (default: 8)")
    parser.add_argument("--out", type=Path, default=Path("paint.png"), help="grid PNG")
    parser.add_argument("--no-per-image", action="store_true", help="write only the grid")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint of the run (default: newest)")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--precision", choices=("fp32", "bf16"), help="bf16 autocast: faster on AMX CPUs and GPUs"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_flag(parser)
    parser.set_defaults(run=run_paint)


def parse_sweep(text: str) -> list[tuple[str, int]]:
    pairs = []
    for item in text.split(","):
        sampler, sep, steps = item.strip().partition(":")
        if not sep or not steps.strip().lstrip("-").isdigit():
            raise HuashiError(
                f"--sweep takes SAMPLER:STEPS pairs separated by commas (e.g. "
                f"ddim:10,dpmpp-2m:20), got {item!r}."
            )
        pairs.append((sampler.strip(), int(steps)))
    return pairs


def _file(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise HuashiError(f"the {what} {path} does not exist.")
    return str(path.resolve())  # absolute, so `huashi regenerate` works from anywhere


def run_paint(args: argparse.Namespace) -> int:
    options = {
        key: value
        for key, value in {
            "prompt": args.prompt, "label": args.label, "sampler": args.sampler,
            "steps": args.steps, "cfg": args.cfg, "eta": args.eta, "strength": args.strength,
            "precision": args.precision, "init": _file(args.init, "init image"),
            "mask": _file(args.mask, "mask"),
        }.items()
        if value is not None
    }  # fmt: skip
    set_threads(args.threads)
    loaded = api.load_run(args.run_dir, args.checkpoint, args.device)
    if hasattr(loaded.family, "show_progress"):
        loaded.family.show_progress = not args.quiet
    if "init" in options:
        from huashi.diffusion.inputs import load_init

        data = loaded.family.data
        note = load_init(options["init"], data.channels, data.resolution)[2]
        if note:
            print(f"note: {note}")
    common = dict(n=args.n, seed=args.seed, batch_size=args.batch_size)
    if not args.sweep:
        result = api.sample(
            loaded, out=args.out, per_image=not args.no_per_image, **common, **options
        )
        folder = f" and {len(result.files)} images in {args.out.parent / args.out.stem}/"
        print(f"wrote {result.grid}{folder if result.files else ''}")
        return 0
    rows, labels = [], []
    for sampler, steps in parse_sweep(args.sweep):
        out = args.out.with_name(f"{args.out.stem}-{sampler}-{steps}.png")
        started = time.perf_counter()
        result = api.sample(
            loaded,
            out=out,
            per_image=False,
            **common,
            **(options | {"sampler": sampler, "steps": steps}),
        )
        seconds = time.perf_counter() - started
        print(f"{sampler:>9} {steps:>4} steps  {seconds:7.2f} s  {result.grid}")
        rows.append(result.images)
        labels.append(f"{sampler} {steps}")
    overview = _overview(rows, labels)
    save_png(
        overview,
        args.out,
        {"run": str(loaded.run_dir.resolve()), "sweep": labels, "options": options},
    )
    print(f"wrote {args.out} (one row per sampler/steps pair, same seeds)")
    return 0


def _overview(rows: list[torch.Tensor], labels: list[str]):
    """One grid row per sweep entry with its label on the left."""
    from PIL import Image, ImageDraw

    grids = [make_grid(images, nrow=len(images)) for images in rows]
    margin = 90
    width = margin + max(g.width for g in grids)
    overview = Image.new("RGB", (width, sum(g.height for g in grids)), "white")
    draw = ImageDraw.Draw(overview)
    y = 0
    for grid, label in zip(grids, labels, strict=True):
        overview.paste(grid.convert("RGB"), (margin, y))
        draw.text((4, y + grid.height // 2 - 6), label, fill="black")
        y += grid.height
    return overview
