"""DCGAN training throughput: the seed's plain fp32 loop against huashi's fast path.

plain: the classic recipe — PNG files decoded by torchvision's ImageFolder and a DataLoader every
       epoch, fp32, default memory layout, PyTorch's default Adam, and D's weight gradients
       computed in G's update too (a plain loop backpropagates through an unfrozen D and clears
       them later).
fast:  huashi's path — decoded uint8 batches in memory, bf16 autocast, channels_last, fused
       Adam, D frozen during G's update.

Both train the same DCGAN from the same initialization with the same recipe (huashi's DCGAN
family step, the same numbers either way). Each mode runs in its own subprocess so that peak
memory (max RSS) is its own.
With ``--quality-steps N`` both also train N steps and the table adds a quality figure: the
Fréchet distance between Gaussian fits of 8x8-downsampled samples and data ("pixel FD", lower
is better), to show the fast path learns as well as the plain one.

    python benchmarks/dcgan_throughput.py --resolution 32 --steps 20 --quality-steps 300

With ``--variants fp32,fp32+CL,bf16+CL,fp32+compile`` it instead times the training step alone
(random images, no data loading) for each variant in one process, the variants interleaved
round by round so that a changing load hits them alike; ``+CL`` is channels_last, ``+seed``
is the plain loop's update (D's weight gradients computed in G's update, PyTorch's default
Adam), ``+onednn`` takes every weight gradient from oneDNN (none from
:mod:`huashi.models.strided_conv`'s patch product), ``+compile`` is ``torch.compile`` of both
networks (as ``huashi train --compile``), whose compile time (the
first steps minus an ordinary step) is reported separately.

    python benchmarks/dcgan_throughput.py --variants fp32+seed,fp32,fp32+CL,bf16+CL --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from huashi.families import StepContext


def pixel_fd(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance of Gaussian fits to 8x8 area-downsampled images in [-1, 1]."""
    from scipy import linalg

    def stats(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        flat = torch.nn.functional.adaptive_avg_pool2d(x.float(), 8).flatten(1).double().numpy()
        return flat.mean(0), np.cov(flat, rowvar=False)

    (m1, s1), (m2, s2) = stats(a), stats(b)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


class SeedStepContext(StepContext):
    """The seed's loop: D's weight gradients are also computed in G's update (then thrown
    away), where huashi freezes D there."""

    def update(self, optimizer, batch, loss_fn, frozen=()):
        return super().update(optimizer, batch, loss_fn)


def use_the_seeds_adam(family) -> None:
    """PyTorch's default Adam (multi-tensor), as the seed's loop builds it, for every network."""
    for name, optimizer in family.optimizers.items():
        group = optimizer.param_groups[0]
        family.optimizers[name] = torch.optim.Adam(
            family.modules[name].parameters(), lr=group["lr"], betas=group["betas"]
        )


def write_png_folder(images: torch.Tensor, folder: Path) -> None:
    from huashi.core.images import to_pil

    (folder / "all").mkdir(parents=True)
    for i, image in enumerate(images):
        to_pil(image).save(folder / "all" / f"{i:05d}.png")


def run_mode(
    mode: str, resolution: int, steps: int, warmup: int, batch: int, quality_steps: int
) -> dict:
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    from huashi.data import load_dataset
    from huashi.families import DataInfo
    from huashi.families.dcgan import DCGAN

    dataset = load_dataset("emoji", resolution=resolution)
    torch.manual_seed(0)
    family = DCGAN(DCGAN.config_class(), DataInfo(3, resolution), torch.device("cpu"))
    noise = torch.Generator().manual_seed(0)
    fast = mode == "fast"
    precision = "bf16" if fast else "fp32"
    if fast:
        for module in family.modules.values():
            module.to(memory_format=torch.channels_last)

        def batches():
            while True:
                for idx in torch.randperm(len(dataset)).split(batch):
                    if len(idx) == batch:
                        yield dataset.batch(idx)["image"].contiguous(
                            memory_format=torch.channels_last
                        )
    else:
        use_the_seeds_adam(family)
        folder = Path(tempfile.mkdtemp()) / "emoji"
        write_png_folder(dataset.images, folder)
        transform = T.Compose(
            [T.Resize(resolution), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)]
        )
        loader = torch.utils.data.DataLoader(
            ImageFolder(str(folder), transform=transform),
            batch_size=batch,
            shuffle=True,
            drop_last=True,
        )

        def batches():
            while True:
                for images, _ in loader:
                    yield images

    stream = batches()

    context = StepContext if fast else SeedStepContext

    def step(i: int) -> None:
        family.train_step(
            {"image": next(stream)}, context(i, torch.device("cpu"), precision, 1, noise)
        )

    for i in range(warmup):
        step(i)
    started = time.perf_counter()
    for i in range(steps):
        step(i)
    seconds = time.perf_counter() - started
    result = {
        "mode": mode,
        "images_per_s": steps * batch / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if quality_steps:
        for i in range(quality_steps):
            step(i)
        samples = family.generate(range(1000))
        result["pixel_fd"] = pixel_fd(
            samples, dataset.batch(torch.arange(min(1000, len(dataset))))["image"]
        )
        result["quality_steps"] = warmup + steps + quality_steps
    return result


def step_variants(variants: list[str], resolution: int, batch: int, rounds: int, steps: int):
    """Seconds per training step of each variant (best round) and the compile seconds."""
    from huashi.families import DataInfo
    from huashi.families.dcgan import DCGAN
    from huashi.models import strided_conv

    cpu = torch.device("cpu")
    images = torch.rand(
        batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)
    )
    images = images * 2 - 1
    runs = {}
    for variant in variants:
        precision, *flags = variant.split("+")
        torch.manual_seed(0)
        family = DCGAN(DCGAN.config_class(), DataInfo(3, resolution), cpu)
        fmt = torch.channels_last if "CL" in flags else torch.contiguous_format
        for module in family.modules.values():
            module.to(memory_format=fmt)
            if "compile" in flags:
                module.compile()
        noise = torch.Generator().manual_seed(0)
        x = images.contiguous(memory_format=fmt)

        context = SeedStepContext if "seed" in flags else StepContext
        if "seed" in flags:
            use_the_seeds_adam(family)

        # +onednn: every weight gradient from oneDNN, none from the patch product
        min_channels = 2**62 if "onednn" in flags else strided_conv.MIN_CHANNELS

        def step(
            family=family,
            precision=precision,
            x=x,
            noise=noise,
            context=context,
            min_channels=min_channels,
        ) -> None:
            default, strided_conv.MIN_CHANNELS = strided_conv.MIN_CHANNELS, min_channels
            try:
                family.train_step({"image": x}, context(0, cpu, precision, 1, noise))
            finally:
                strided_conv.MIN_CHANNELS = default

        started = time.perf_counter()
        step()  # warm-up (and compilation): the first step builds every graph
        step()
        runs[variant] = {"step": step, "first": time.perf_counter() - started, "best": 1e9}
    for _ in range(rounds):
        for run in runs.values():
            started = time.perf_counter()
            for _ in range(steps):
                run["step"]()
            run["best"] = min(run["best"], (time.perf_counter() - started) / steps)
    return {
        v: (r["best"], max(0.0, r["first"] - 2 * r["best"]) if "compile" in v else 0.0)
        for v, r in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--quality-steps", type=int, default=0)
    parser.add_argument("--mode", choices=["plain", "fast"], help=argparse.SUPPRESS)
    parser.add_argument("--variants", help="time the step alone: e.g. fp32,fp32+CL,fp32+compile")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; each mode's best one counts"
    )
    args = parser.parse_args()
    if args.variants:
        variants = args.variants.split(",")
        times = step_variants(variants, args.resolution, args.batch, args.rounds, args.steps)
        print(
            f"DCGAN {args.resolution}px, batch {args.batch}, best of {args.rounds} interleaved "
            f"rounds of {args.steps} steps; {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at the end"
        )
        print("| variant | s/step | images/s | vs first | compile s |\n|---|---:|---:|---:|---:|")
        first = times[variants[0]][0]
        for variant, (seconds, compiling) in times.items():
            print(
                f"| {variant} | {seconds:.3f} | {args.batch / seconds:.1f} | "
                f"{first / seconds:.2f}x | {compiling:.0f} |"
            )
        return
    if args.mode:
        result = run_mode(
            args.mode, args.resolution, args.steps, args.warmup, args.batch, args.quality_steps
        )
        print(json.dumps(result))
        return
    results: dict[str, dict] = {}
    for _ in range(args.rounds):  # plain, fast, plain, fast...: each mode's best round counts
        for mode in ("plain", "fast"):
            command = [sys.executable, __file__, "--mode", mode] + [
                f"--{k.replace('_', '-')}={v}"
                for k, v in vars(args).items()
                if k not in ("mode", "rounds") and v is not None
            ]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            if result["images_per_s"] > results.get(mode, {}).get("images_per_s", 0):
                results[mode] = result
    ratio = results["fast"]["images_per_s"] / results["plain"]["images_per_s"]
    print(
        f"DCGAN {args.resolution}px, batch {args.batch}, {args.steps} timed steps after "
        f"{args.warmup} warm-up, best of {args.rounds} interleaved rounds per mode"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    header = "| mode | images/s | peak RSS (MB) |" + (
        " pixel FD after N steps |" if args.quality_steps else ""
    )
    print(header)
    print("|---|---|---|" + ("---|" if args.quality_steps else ""))
    for mode, r in results.items():
        row = f"| {mode} | {r['images_per_s']:.1f} | {r['peak_rss_mb']:.0f} |"
        if args.quality_steps:
            row += f" {r['pixel_fd']:.2f} (N={r['quality_steps']}) |"
        print(row)
    print(f"fast / plain throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
