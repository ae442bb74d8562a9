"""Training and sampling speed on a CUDA GPU in each precision (the CUDA path of the speed issue).

For the DCGAN (64 px, batch 128), the diffusion U-Net (32 px, batch 64) and StyleGAN2 (64 px,
batch 32), all at their default sizes: training images/s of the family's own step in fp32 (TF32
on, as ``huashi train`` sets it on CUDA), bf16 (where the GPU has it natively) and fp16 with a
gradient scaler, channels_last, and with ``--compile`` also compiled; for diffusion also
sampling images/s (DDIM and DPM-Solver++(2M), 20 steps). Each configuration is warmed up, then
timed between CUDA synchronizations, best of ``--rounds``; peak GPU memory is reported.

    python benchmarks/gpu.py                          # on a machine with a CUDA GPU
    python benchmarks/gpu.py --compile --rounds 5
    python benchmarks/gpu.py --device cpu --quick     # the same code on a CPU, tiny sizes
"""

from __future__ import annotations

import argparse
import time

import torch

import huashi  # noqa: F401  (OpenMP's passive wait before torch starts its threads)
from huashi.families import DataInfo, StepContext, get_family
from huashi.training.device import gradient_scaler

# family, resolution, batch (the quick sizes divide the batch by 8 and use tiny widths)
FAMILIES = [("dcgan", 64, 128), ("diffusion", 32, 64), ("stylegan", 64, 32)]
QUICK_MODELS = {
    "dcgan": {"g_width": 8, "d_width": 8},
    "diffusion": {"base_channels": 16, "attention_resolutions": ()},
    "stylegan": {"channel_base": 256, "channel_max": 32},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn, device: torch.device, rounds: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        synchronize(device)
        best = min(best, (time.perf_counter() - started) / repeats)
    return best


def make_family(name: str, resolution: int, device: torch.device, quick: bool, compile: bool):
    family_class = get_family(name)
    config = family_class.config_class(**(QUICK_MODELS[name] if quick else {}))
    torch.manual_seed(0)
    family = family_class(config, DataInfo(3, resolution), device)
    for module in family.modules.values():
        module.to(memory_format=torch.channels_last)
        if compile:
            module.compile()
    return family


def precisions(device: torch.device) -> list[str]:
    if device.type != "cuda" or torch.cuda.is_bf16_supported(including_emulation=False):
        return ["fp32", "bf16", "fp16"]
    return ["fp32", "fp16"]  # bf16 would be emulated


def train_row(name, resolution, batch, precision, args, device) -> tuple[float, float]:
    """(images/s, peak GiB) of the family's training step in ``precision``."""
    family = make_family(name, resolution, device, args.quick, args.compile)
    images = torch.rand(batch, 3, resolution, resolution, device=device) * 2 - 1
    batch_ = {"image": images.contiguous(memory_format=torch.channels_last)}
    noise = torch.Generator(device=device).manual_seed(0)
    scaler = gradient_scaler(device, precision)

    def step() -> None:
        ctx = StepContext(0, device, precision, 1, noise)
        ctx.scaler = scaler
        family.train_step(batch_, ctx)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = best_seconds(step, device, args.rounds, args.steps)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return batch / seconds, peak


def sample_row(family, n: int, sampler: str, precision: str, args, device) -> float:
    def paint() -> None:
        family.generate(range(n), sampler=sampler, steps=20, precision=precision)

    paint()
    return n / best_seconds(paint, device, args.rounds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile every module")
    parser.add_argument("--quick", action="store_true", help="tiny models, batches / 8")
    parser.add_argument("--families", default=",".join(f for f, _, _ in FAMILIES))
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA GPU here: run with --device cpu --quick to try the script")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        print(f"# {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    else:
        print(f"# {device}, torch {torch.__version__}")
    print(f"# channels_last, compile: {args.compile}, best of {args.rounds} rounds\n")
    print("| family | what | precision | images/s | vs fp32 | peak GiB |")
    print("|---|---|---|---:|---:|---:|")
    wanted = args.families.split(",")
    for name, resolution, batch in FAMILIES:
        if name not in wanted:
            continue
        batch = max(2, batch // 8) if args.quick else batch
        rates = {}
        for precision in precisions(device):
            rate, peak = train_row(name, resolution, batch, precision, args, device)
            rates[precision] = rate
            what = f"training, {resolution} px, batch {batch}"
            ratio = rate / rates["fp32"]
            print(f"| {name} | {what} | {precision} | {rate:.1f} | {ratio:.2f}x | {peak:.2f} |")
        if name == "diffusion":
            family = make_family(name, resolution, device, args.quick, args.compile)
            n = 8 if args.quick else 256
            for sampler in ("ddim", "dpmpp-2m"):
                base = None
                for precision in precisions(device):
                    rate = sample_row(family, n, sampler, precision, args, device)
                    base = base or rate
                    what = f"sampling {sampler}, 20 steps, {n} images"
                    print(f"| {name} | {what} | {precision} | {rate:.1f} | {rate / base:.2f}x | |")


if __name__ == "__main__":
    main()
