"""``huashi distill TEACHER --task img2img --prompt "in red" --strength 0.6 --data shapes
--pairs 2000 --out runs/student``: a diffusion run paints paired examples, a Pix2Pix student
learns them, and a report compares the two (then ``huashi translate runs/student images/``)."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from huashi import api
from huashi.cli.options import parse_key_values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "distill", help="teach a one-pass Pix2Pix student what a diffusion run paints"
    )
    parser.add_argument("teacher", type=Path, help="the diffusion run folder (the teacher)")
    parser.add_argument("--data", required=True, help="the dataset whose images make the pairs")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE", default=[])
    parser.add_argument("--out", type=Path, required=True, help="the student's run folder")
    parser.add_argument("--task", choices=("img2img", "edges"), default="img2img",
                        help="img2img: repaint each image; edges: paint from a seed, the input "
                        "is the painting's edge map (default img2img)")  # fmt: skip
    parser.add_argument("--prompt", help="the teacher's prompt (text-conditioned teacher)")
    parser.add_argument("--label", type=int, help="the teacher's class (class-conditioned)")
    parser.add_argument("--strength", type=float, default=0.6, help="img2img strength")
    parser.add_argument("--teacher-steps", type=int, default=20, help="sampler steps (20)")
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--cfg", type=float, help="guidance scale (default: the teacher's)")
    parser.add_argument("--pairs", type=int, default=2000, help="training pairs (default 2000)")
    parser.add_argument("--heldout", type=int, default=64, help="held-out pairs (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="pair i uses seed+i")
    parser.add_argument("--student-option", action="append", metavar="KEY=VALUE", default=[],
                        help="a Pix2Pix setting, e.g. g_width=32")  # fmt: skip
    parser.add_argument("--steps", type=int, default=2000, help="student training steps")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--precision", default="fp32", help="student training precision")
    parser.add_argument("--speed-batch", type=int, default=16, help="0 skips the speed test")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(run=run_distill)


def run_distill(args: argparse.Namespace) -> int:

    # Loading the teacher and its text encoder takes a while: said after a second of silence
    # (a quick error stays one line).
    loading = f"distill: loading the teacher {args.teacher} ..."
    timer = threading.Timer(1.0, lambda: print(loading, file=sys.stderr, flush=True))

    def show(stage: str, done: int, total: int) -> None:
        timer.cancel()
        if not args.quiet and (done == total or done % 50 == 0 or done == 1):
            print(f"teacher: {stage} pairs {done}/{total}", file=sys.stderr, flush=True)

    if not args.quiet:
        timer.start()
    try:
        report = api.distill(
            args.teacher, args.data, args.out, pairs=args.pairs, heldout=args.heldout,
            task=args.task, prompt=args.prompt, label=args.label, strength=args.strength,
            teacher_steps=args.teacher_steps, sampler=args.sampler, cfg=args.cfg, seed=args.seed,
            data_options=parse_key_values(args.data_option),
            student=parse_key_values(args.student_option), speed_batch=args.speed_batch,
            device=args.device, progress=show, train_progress=not args.quiet, steps=args.steps,
            batch_size=args.batch_size, precision=args.precision,
        )  # fmt: skip
    finally:
        timer.cancel()
    print(report.summary())
    return 0
