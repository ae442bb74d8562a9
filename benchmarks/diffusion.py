"""Diffusion U-Net throughput at 32 px: training images/s and sampling images/s per sampler and
step count, fp32 against bf16 autocast, each with and without channels_last.

    python benchmarks/diffusion.py                       # the default 32 px U-Net (base 64)
    python benchmarks/diffusion.py --train-steps 3 --steps 10 --samplers ddim,heun

Training: one ``Diffusion.train_step`` (forward, loss, backward, AdamW) on a batch of random
images. Sampling: ``Diffusion.generate`` of ``--n`` images (Heun makes 2·steps - 1 model calls,
the others ``steps``). Times are medians over repetitions after a warm-up. The machine's load
average is printed: on a shared CPU the numbers move with the other jobs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from huashi.diffusion.samplers import SAMPLERS
from huashi.families import DataInfo, StepContext
from huashi.families.diffusion import Diffusion, DiffusionConfig

MODES = {  # name: (precision, channels_last)
    "fp32": ("fp32", False),
    "fp32+CL": ("fp32", True),
    "bf16": ("bf16", False),
    "bf16+CL": ("bf16", True),
}


def make_family(channels_last: bool, base: int) -> Diffusion:
    torch.manual_seed(0)
    family = Diffusion(DiffusionConfig(base_channels=base), DataInfo(3, 32), torch.device("cpu"))
    with torch.no_grad():  # off the zero initialization, like a trained net
        for p in family.modules["unet"].parameters():
            p.add_(torch.randn_like(p) * 0.02)
    if channels_last:
        family.modules["unet"].to(memory_format=torch.channels_last)
    return family


def timed(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)  # the least disturbed run: other jobs only ever add time


def train_speed(mode: str, batch: int, steps: int, base: int) -> float:
    precision, channels_last = MODES[mode]
    family = make_family(channels_last, base)
    family.train(True)
    images = torch.rand(batch, 3, 32, 32) * 2 - 1
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        ctx = StepContext(0, torch.device("cpu"), precision, 1, generator)
        family.train_step({"image": images}, ctx)

    return batch / timed(step, steps, 1)


def sample_speed(mode: str, sampler: str, steps: int, n: int, base: int) -> float:
    precision, channels_last = MODES[mode]
    family = make_family(channels_last, base)
    family.train(False)

    def run() -> None:
        family.generate(list(range(n)), sampler=sampler, steps=steps, precision=precision)

    return n / timed(run, 2, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="training batch")
    parser.add_argument("--train-steps", type=int, default=4, help="timed training steps")
    parser.add_argument("--n", type=int, default=16, help="images per sampling run")
    parser.add_argument("--steps", default="10,25", help="sampling step counts")
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--sample-modes", default="fp32,bf16+CL")
    parser.add_argument("--base-channels", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    params = sum(
        p.numel() for p in make_family(False, args.base_channels).modules["unet"].parameters()
    )
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(f"# U-Net 32 px, base {args.base_channels}, {params / 1e6:.2f} M parameters\n")
    print("| training | images/s | vs fp32 |\n|---|---:|---:|")
    base = None
    for mode in args.modes.split(","):
        speed = train_speed(mode, args.batch, args.train_steps, args.base_channels)
        base = base or speed
        print(f"| {mode} (batch {args.batch}) | {speed:.1f} | {speed / base:.2f}x |", flush=True)

    modes = args.sample_modes.split(",")
    print(
        "\n| sampler | steps | model calls | "
        + " | ".join(f"{m} images/s" for m in modes)
        + " | speed-up |"
    )
    print("|---|---:|---:|" + "---:|" * (len(modes) + 1))
    for sampler in args.samplers.split(","):
        for steps in (int(s) for s in args.steps.split(",")):
            speeds = [sample_speed(m, sampler, steps, args.n, args.base_channels) for m in modes]
            calls = 2 * steps - 1 if sampler == "heun" else steps
            cells = " | ".join(f"{s:.2f}" for s in speeds)
            print(
                f"| {sampler} | {steps} | {calls} | {cells} | {speeds[-1] / speeds[0]:.2f}x |",
                flush=True,
            )
    print(f"\n# load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
