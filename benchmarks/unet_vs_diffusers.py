"""huashi's diffusion U-Net against diffusers' ``UNet2DModel`` of the same size, on the CPU.

Both U-Nets have three levels (64, 128, 128 channels at 32, 16, 8 px), two residual blocks per
level, self-attention at 16 px and in the middle; their parameter counts are printed (within
10 % of each other). Both run in the same precision and memory layout (``--precision auto``:
fp32 on CPUs without fast bf16), at the same resolution and batch; with ``--diffusers-defaults``
diffusers runs as it ships instead (fp32, NCHW), which is what a user of it gets on a CPU:

* training: forward, MSE on the noise, backward, gradient clipping and AdamW
  (huashi: ``Diffusion.train_step``; diffusers: the same written out);
* sampling, per sampler: huashi's ``Diffusion.generate`` against the diffusers scheduler of the
  same method (DDPM, DDIM, DPM-Solver++(2M), Euler and Heun with Karras sigmas) driving
  ``UNet2DModel``, cosine schedule, no guidance, the same number of U-Net evaluations.

The two sides alternate round by round and each keeps its best round, so a changing load on a
shared machine hits both alike; only the ratios mean anything under load.

    python benchmarks/unet_vs_diffusers.py --batch 32 --n 16 --steps 10 --rounds 2
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import huashi  # noqa: F401  (sets OpenMP's passive wait before torch starts its threads)
from huashi.diffusion.samplers import SAMPLERS
from huashi.families import DataInfo, StepContext
from huashi.families.diffusion import Diffusion, DiffusionConfig
from huashi.training.device import autocast, resolve_precision

CPU = torch.device("cpu")
RESOLUTION = 32


def huashi_family(channels_last: bool) -> Diffusion:
    torch.manual_seed(0)
    family = Diffusion(DiffusionConfig(), DataInfo(3, RESOLUTION), CPU)
    with torch.no_grad():  # off the zero initialization, like a trained net
        for p in family.modules["unet"].parameters():
            p.add_(torch.randn_like(p) * 0.02)
    if channels_last:
        family.modules["unet"].to(memory_format=torch.channels_last)
    return family


def diffusers_unet(channels_last: bool) -> torch.nn.Module:
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=RESOLUTION, in_channels=3, out_channels=3, block_out_channels=(64, 128, 128),
        layers_per_block=2, down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), attention_head_dim=32,
        norm_num_groups=32,
    )  # fmt: skip
    return unet.to(memory_format=torch.channels_last) if channels_last else unet


def diffusers_scheduler(sampler: str):
    import diffusers

    common = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}
    if sampler == "ddpm":
        return diffusers.DDPMScheduler(**common, timestep_spacing="trailing")
    if sampler == "ddim":
        return diffusers.DDIMScheduler(**common, timestep_spacing="trailing")
    if sampler == "dpmpp-2m":
        return diffusers.DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="trailing"
        )
    if sampler == "euler":
        return diffusers.EulerDiscreteScheduler(**common, use_karras_sigmas=True)
    return diffusers.HeunDiscreteScheduler(**common, use_karras_sigmas=True)


def diffusers_sample(unet, sampler: str, steps: int, n: int, precision: str, channels_last: bool):
    scheduler = diffusers_scheduler(sampler)
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, RESOLUTION, RESOLUTION, generator=generator)
    x = x * scheduler.init_noise_sigma
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters  # not Heun's
    extra = {"generator": generator} if takes_generator else {}
    calls = 0
    with torch.inference_mode():
        for t in scheduler.timesteps:
            inputs = scheduler.scale_model_input(x, t)
            if channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast(CPU, precision):
                eps = unet(inputs, t).sample.float()
            calls += 1
            x = scheduler.step(eps, t, x, **extra).prev_sample
    return calls


def train_steps(precision: str, channels_last: bool, batch: int, setup: tuple[str, bool]):
    """One training step of each side, as closures (``setup``: diffusers' precision and
    channels_last)."""
    family = huashi_family(channels_last)
    family.train(True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    images = (torch.rand(batch, 3, RESOLUTION, RESOLUTION) * 2 - 1).contiguous(memory_format=fmt)
    generator = torch.Generator().manual_seed(0)

    def huashi_step() -> None:
        family.train_step({"image": images}, StepContext(0, CPU, precision, 1, generator))

    theirs_precision, theirs_channels_last = setup  # new names: huashi_step keeps its own
    theirs_fmt = torch.channels_last if theirs_channels_last else torch.contiguous_format
    theirs_images = images.contiguous(memory_format=theirs_fmt)
    unet = diffusers_unet(theirs_channels_last).train()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=2e-4)
    abar = family._abar32

    def diffusers_step() -> None:
        t = torch.randint(0, 1000, (batch,), generator=generator)
        noise = torch.randn(theirs_images.shape, generator=generator)
        noise = noise.contiguous(memory_format=theirs_fmt)
        a = abar[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * theirs_images + (1 - a).sqrt() * noise
        optimizer.zero_grad(set_to_none=True)
        with autocast(CPU, theirs_precision):
            pred = unet(x_t, t).sample.float()
        F.mse_loss(pred, noise).backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()

    return huashi_step, diffusers_step


def best_of(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best seconds of each function over ``rounds`` alternating rounds (after one warm-up)."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="training batch")
    parser.add_argument("--n", type=int, default=16, help="images per sampling run")
    parser.add_argument("--steps", type=int, default=10, help="sampling steps")
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--rounds", type=int, default=2, help="alternating timed rounds")
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument(
        "--diffusers-defaults",
        action="store_true",
        help="run diffusers as it ships (fp32, NCHW: a user adds autocast by hand) while huashi "
        "runs --precision/--channels-last",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision, CPU)
    cl = args.channels_last
    setup = ("fp32", False) if args.diffusers_defaults else (precision, cl)

    family = huashi_family(cl)
    family.train(False)
    unet = diffusers_unet(setup[1]).eval()
    ours = sum(p.numel() for p in family.modules["unet"].parameters())
    theirs = sum(p.numel() for p in unet.parameters())
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, {precision}"
        f"{', channels_last' if cl else ''}; diffusers {setup[0]}"
        f"{', channels_last' if setup[1] else ''}; load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        f"# {RESOLUTION} px; huashi U-Net {ours / 1e6:.2f} M parameters, diffusers UNet2DModel "
        f"{theirs / 1e6:.2f} M ({theirs / ours - 1:+.1%})\n"
    )
    print("| what | huashi images/s | diffusers images/s | huashi / diffusers |")
    print("|---|---:|---:|---:|")
    if not args.skip_training:
        ours_step, theirs_step = train_steps(precision, cl, args.batch, setup)
        best = best_of({"huashi": ours_step, "diffusers": theirs_step}, args.rounds)
        a, b = args.batch / best["huashi"], args.batch / best["diffusers"]
        print(f"| training, batch {args.batch} | {a:.2f} | {b:.2f} | {a / b:.2f}x |", flush=True)
    seeds = list(range(args.n))
    for sampler in args.samplers.split(","):
        best = best_of(
            {
                "huashi": lambda s=sampler: family.generate(
                    seeds, sampler=s, steps=args.steps, precision=precision
                ),
                "diffusers": lambda s=sampler: diffusers_sample(
                    unet, s, args.steps, args.n, *setup
                ),
            },
            args.rounds,
        )
        scheduler = diffusers_scheduler(sampler)
        scheduler.set_timesteps(args.steps)
        calls = (2 * args.steps - 1 if sampler == "heun" else args.steps, len(scheduler.timesteps))
        a, b = args.n / best["huashi"], args.n / best["diffusers"]
        print(
            f"| sampling {sampler}, {args.steps} steps ({calls[0]}/{calls[1]} U-Net calls), "
            f"{args.n} images | {a:.2f} | {b:.2f} | {a / b:.2f}x |",
            flush=True,
        )
    print(f"\n# load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
