"""``huashi paint RUN "a red apple" --sampler dpmpp-2m --steps 20 --cfg 4 --seed 1 --n 8``.

Diffusion sampling with its options (sampler, steps, guidance, prompt or label, img2img,
inpainting); ``--sweep ddim:10,ddim:50,dpmpp-2m:20`` writes one grid per sampler/steps pair
(same seeds) and an overview with one row per pair, so quality against steps is visible.
Every PNG carries its parameters, so ``huashi regenerate`` makes any single image again.
The work is :func:`huashi.api.paint`; this module parses the arguments and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from huashi import api
from huashi.cli.options import add_threads_flag, progress_bar, say
from huashi.core.errors import HuashiError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("paint", help="paint with a diffusion run (prompt, label, ...)")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("prompt", nargs="?", help="text prompt (text-conditioned models)")
    parser.add_argument(
        "--negative-prompt",
        help="text models: guide away from this prompt instead of the empty one",
    )
    parser.add_argument(
        "--label", help="the class (number or name) a class-conditioned model paints"
    )
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
        "--precision",
        choices=api.precisions(),
        help="auto (default): bf16 autocast where it is fast (GPUs, CPUs with AMX or "
        "AVX512-BF16), fp16 on GPUs without bf16, else fp32; the PNGs record the one used",
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


def run_paint(args: argparse.Namespace) -> int:
    sweep = parse_sweep(args.sweep) if args.sweep else None
    api.set_threads(args.threads, claim=True)
    with progress_bar(not args.quiet, f"loading {args.run_dir}") as progress:
        result = api.paint(
            args.run_dir, args.prompt, n=args.n, seed=args.seed, out=args.out, sweep=sweep,
            per_image=not args.no_per_image, batch_size=args.batch_size,
            checkpoint=args.checkpoint, device=args.device, progress=progress,
            label=args.label, sampler=args.sampler, steps=args.steps, cfg=args.cfg, eta=args.eta,
            strength=args.strength, precision=args.precision, init=args.init, mask=args.mask,
            negative_prompt=args.negative_prompt,
        )  # fmt: skip
    for note in result.notes:
        print(f"note: {note}")
    if not sweep:
        (done,) = result.passes
        folder = f" and {len(done.files)} images in {args.out.parent / args.out.stem}/"
        say(args, f"wrote {done.grid}{folder if done.files else ''}")
        return 0
    for p in result.passes:
        print(f"{p.sampler:>9} {p.steps:>4} steps  {p.seconds:7.2f} s  {p.grid}")
    say(args, f"wrote {result.overview} (one row per sampler/steps pair, same seeds)")
    return 0
