"""The bf16 weight gradient of 4x4 stride-2 layers: oneDNN's kernel vs a patch matrix product.

Part 1 times the weight gradient alone for the layers of a DCGAN at 32 and 64 px (batch 64,
bf16, channels_last): oneDNN's kernel (what ``nn.Conv2d`` runs) against
:func:`huashi.models.strided_conv.patch_weight_gradient`, and says which one huashi's layers
take. Part 2 times whole bf16 training steps of the DCGAN and Pix2Pix families with the patch
product on (huashi's default) and off, interleaved round by round, best round kept.

    python benchmarks/strided_conv.py --threads 2 --rounds 8
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import torch

from huashi.models import strided_conv

aten = torch.ops.aten

# (transposed, c_in, c_out, input size): the stride-2 layers of a DCGAN at 32 and 64 px
LAYERS = [
    (False, 64, 128, 16),
    (False, 128, 256, 8),
    (False, 128, 256, 16),
    (False, 256, 512, 8),
    (True, 256, 128, 4),
    (True, 128, 64, 8),
    (True, 512, 256, 4),
    (True, 256, 128, 8),
]


def best_ms(fn, rounds: int, repeats: int = 10) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - started) / repeats)
    return best * 1e3


def layer_table(rounds: int, batch: int = 64) -> None:
    print("| layer | maps | oneDNN ms | patch product ms | oneDNN / patch | huashi takes |")
    print("|---|---|---:|---:|---:|---|")
    for transposed, c_in, c_out, size in LAYERS:
        cl = torch.channels_last
        x = torch.randn(batch, c_in, size, size).bfloat16().contiguous(memory_format=cl)
        out_size = size * 2 if transposed else size // 2
        grad = torch.randn(batch, c_out, out_size, out_size).bfloat16().contiguous(memory_format=cl)
        shape = (c_in, c_out, 4, 4) if transposed else (c_out, c_in, 4, 4)
        weight = torch.randn(shape).bfloat16().contiguous(memory_format=cl)
        big, small = (grad, x) if transposed else (x, grad)

        mask = [False, True, False]  # the weight gradient only
        onednn = partial(
            aten.convolution_backward,
            *(grad, x, weight, None, [2, 2], [1, 1], [1, 1], transposed, [0, 0], 1, mask),
        )
        a = best_ms(onednn, rounds)
        b = best_ms(partial(strided_conv.patch_weight_gradient, big, small), rounds)
        channels, small_size = small.shape[1], small.shape[-1]
        takes = (
            "patch product"
            if channels >= strided_conv.MIN_CHANNELS and small_size <= strided_conv.SMALL_MAP
            else "oneDNN"
        )
        kind = "ConvTranspose" if transposed else "Conv"
        maps = f"{size} -> {out_size}"
        print(f"| {kind} {c_in} -> {c_out} | {maps} | {a:.2f} | {b:.2f} | {a / b:.2f}x | {takes} |")


def family_step(name: str, resolution: int, batch: int):
    """A bf16 channels_last training step of a default-size family on random images."""
    from huashi.families import DataInfo, StepContext, get_family

    cpu = torch.device("cpu")
    family_class = get_family(name)
    torch.manual_seed(0)
    pairs = name == "pix2pix"
    data = DataInfo(3, resolution, has_targets=pairs, target_channels=3 if pairs else 0)
    family = family_class(family_class.config_class(), data, cpu)
    for module in family.modules.values():
        module.to(memory_format=torch.channels_last)
    images = torch.rand(
        batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(0)
    )
    keys = ("image", "target") if pairs else ("image",)
    batch_ = {k: (images * 2 - 1).contiguous(memory_format=torch.channels_last) for k in keys}
    noise = torch.Generator().manual_seed(0)
    return lambda: family.train_step(batch_, StepContext(0, cpu, "bf16", 1, noise))


def step_table(rounds: int) -> None:
    print("| family | px | batch | oneDNN only s/step | with patch product s/step | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    default = strided_conv.MIN_CHANNELS
    for name, resolution, batch in [
        ("dcgan", 32, 64),
        ("dcgan", 64, 64),
        ("pix2pix", 32, 16),
        ("pix2pix", 64, 16),
        ("pix2pix", 256, 1),
    ]:
        step = family_step(name, resolution, batch)
        best = {}
        for _ in range(rounds):
            for min_channels in (2**62, default):  # off, on: interleaved
                strided_conv.MIN_CHANNELS = min_channels
                step()
                started = time.perf_counter()
                for _ in range(3):
                    step()
                seconds = (time.perf_counter() - started) / 3
                best[min_channels] = min(best.get(min_channels, float("inf")), seconds)
        strided_conv.MIN_CHANNELS = default
        off, on = best[2**62], best[default]
        print(f"| {name} | {resolution} | {batch} | {off:.3f} | {on:.3f} | {off / on:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--skip-layers", action="store_true", help="only the family steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{os.uname().machine}, {args.threads} threads, torch {torch.__version__}")
    if not args.skip_layers:
        layer_table(args.rounds)
        print()
    step_table(args.rounds)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
