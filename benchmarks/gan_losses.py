"""What each GAN loss and architecture reaches in the same CPU time on ``emoji`` and ``shapes``.

Every configuration trains the ``gan`` family from the same seed for the same budget of CPU time
(this process's CPU seconds, so that other work on a shared machine does not change the budget;
run it with OMP_NUM_THREADS=1 for one core), then draws 256 samples. The table shows the
steps reached, the final D and G losses (mean of the last 10 logged steps), the sample diversity
relative to the data's (mean pairwise distance; ~1 is healthy, ~0 is mode collapse), a pixel
Fréchet distance to 256 training images (Gaussian fits of 8x8-downsampled images; lower is
better, a crude stand-in until the metrics issue brings FID) and the training doctor's findings.
Each run's folder keeps its samples.png grid and losses.png.

    python benchmarks/gan_losses.py --seconds 60 --out bench-gan
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from dcgan_throughput import pixel_fd  # noqa: E402

from huashi import api  # noqa: E402
from huashi.families.gan import mean_pairwise_distance  # noqa: E402
from huashi.training.doctor import diagnose  # noqa: E402
from huashi.training.logging import read_log  # noqa: E402

CONFIGS: dict[str, dict] = {
    "dcgan-bce": {"arch": "dcgan", "loss": "bce"},
    "dcgan-nsgan": {"arch": "dcgan", "loss": "nsgan"},
    "dcgan-wgan": {"arch": "dcgan", "loss": "wgan", "lr_g": 5e-5, "lr_d": 5e-5},
    "dcgan-wgan-gp": {"arch": "dcgan", "loss": "wgan-gp", "beta1": 0.0, "beta2": 0.9},
    "dcgan-lsgan": {"arch": "dcgan", "loss": "lsgan"},
    "dcgan-hinge": {"arch": "dcgan", "loss": "hinge"},
    "resnet-hinge-sn": {
        "arch": "resnet",
        "loss": "hinge",
        "spectral_norm": True,
        "beta1": 0.0,
        "beta2": 0.9,
    },  # fmt: skip
    "resnet-nsgan": {"arch": "resnet", "loss": "nsgan"},
    "resnet-wgan-gp": {"arch": "resnet", "loss": "wgan-gp", "beta1": 0.0, "beta2": 0.9},
    "dcgan-hinge-sn-diffaug": {
        "arch": "dcgan",
        "loss": "hinge",
        "spectral_norm": True,
        "d_norm": "none",
        "diffaugment": "color,translation,cutout",
    },  # fmt: skip
}


def stop_after_cpu_seconds(seconds: float):
    """A trainer callback that stops the run ``seconds`` of CPU time after its first step."""
    start: float | None = None

    def callback(trainer, losses):
        nonlocal start
        start = time.process_time() if start is None else start
        if time.process_time() - start >= seconds:
            trainer.request_stop()

    return callback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="emoji,shapes")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0, help="CPU seconds per run")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32, help="g_width and d_width")
    parser.add_argument("--out", type=Path, default=Path("bench-gan"))
    args = parser.parse_args()

    from huashi.data import load_dataset

    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}; {args.seconds:.0f} CPU seconds of training per run, "
          f"{args.resolution} px, batch {args.batch_size}, width {args.width}")  # fmt: skip
    print("| data | config | steps | d_loss | g_loss | diversity | pixel FD | doctor |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for data in args.datasets.split(","):
        dataset = load_dataset(data, resolution=args.resolution)
        g = torch.Generator().manual_seed(0)
        reference = dataset.batch(torch.randperm(len(dataset), generator=g)[:256])["image"]
        data_diversity = mean_pairwise_distance(reference)
        for name in args.configs.split(","):
            model = CONFIGS[name] | {"g_width": args.width, "d_width": args.width}
            run = args.out / f"{data}-{name}"
            result = api.train(
                run, family="gan", data=data, resolution=args.resolution, model=model,
                progress=False, callbacks=[stop_after_cpu_seconds(args.seconds)], steps=10**7,
                batch_size=args.batch_size, log_every=10, sample_every=10**7,
                checkpoint_every=10**7, n_fixed=64,
            )  # fmt: skip
            samples = api.sample(run, n=256, seed=10_000).images
            records = read_log(run / "log.jsonl")
            tail = records[-10:]
            d_loss = sum(r["d_loss"] for r in tail) / len(tail)
            g_loss = sum(r["g_loss"] for r in tail) / len(tail)
            diversity = mean_pairwise_distance(samples) / data_diversity
            fd = pixel_fd(samples, reference)
            doctor = ", ".join(f.code for f in diagnose(records, model)) or "-"
            print(f"| {data} | {name} | {result.step} | {d_loss:.3f} | {g_loss:.3f} | "
                  f"{diversity:.2f} | {fd:.1f} | {doctor} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
