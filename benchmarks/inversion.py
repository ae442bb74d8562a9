"""GAN inversion measured: z, w, w+ and w+ with fitted noise on held-out images and on the
model's own samples.

For a trained StyleGAN run (``--run``), the first ``--n`` images of the dataset's test split
(never seen in training) and ``--n`` of the model's own samples (seeds 10000..., painted with
random noise: a control whose exact answer exists in the model) are inverted with every method
at the same number of steps. Each reconstruction is scored against its target by PSNR, SSIM
(``huashi.metrics``) and an in-domain feature distance (1 - cosine similarity of a feature
network's features; by default the zoo's reference network for the run's dataset), and the
inversion time per image is recorded (images are inverted ``--batch`` at a time; every image's
loss is its own, so batching changes only the speed). The optimization's own perceptual loss is
the run's discriminator (``--features auto``), not the scoring network.

    python benchmarks/inversion.py --run runs/emoji-sg2 --n 50 --steps 150 --out bench-inv
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from huashi.core.images import make_grid
from huashi.data import load_dataset
from huashi.gan.inversion import invert_many
from huashi.metrics.features import load_features
from huashi.metrics.image_to_image import ssim
from huashi.runs import load_run
from huashi.zoo import reference_features

#: method name -> (space, optimize noise)
METHODS = {"z": ("z", False), "w": ("w", False), "w+": ("w+", False), "w+ noise": ("w+", True)}
SAMPLE_SEED = 10_000


def targets_for(loaded, n: int) -> dict[str, torch.Tensor]:
    """The two target sets: held-out images of the run's dataset, and the model's own samples."""
    data, info = loaded.config.data, loaded.config.data_info
    test = load_dataset(
        data["spec"], int(info["resolution"]), split="test", channels=int(info["channels"]),
        **data.get("options", {}),
    )  # fmt: skip
    held_out = test.batch(torch.arange(min(n, len(test))))["image"]
    torch.manual_seed(0)  # the samples' random noise
    own = loaded.family.generate(range(SAMPLE_SEED, SAMPLE_SEED + n), noise_mode="random")
    return {"held-out": held_out, "own samples": own}


def score(net, images: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    error = (images - targets).square().flatten(1).mean(dim=1).clamp_min(1e-12)
    out = {"psnr": 10 * torch.log10(4.0 / error), "ssim": ssim(images, targets)}
    if net is not None:
        out["feature_distance"] = 1 - F.cosine_similarity(
            net.features(images), net.features(targets), dim=1
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a trained stylegan run folder")
    parser.add_argument("--n", type=int, default=50, help="images per set")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=25, help="images inverted at once")
    parser.add_argument("--features", default="auto", help="the inversion's perceptual loss")
    parser.add_argument(
        "--score-features", help="clip:RUN / classifier:RUN (default: the zoo reference)"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, default=Path("bench-inversion"))
    args = parser.parse_args()

    loaded = load_run(args.run, device="cpu")
    family = loaded.family
    data = loaded.config.data
    spec = args.score_features or reference_features(str(data["spec"]), data["resolution"])
    net = load_features(spec, "cpu") if spec else None
    sets = targets_for(loaded, args.n)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, grids = [], {}
    for set_name, targets in sets.items():
        grids[set_name] = [targets[:8]]
        for method in args.methods.split(","):
            space, noise = METHODS[method]
            images, wall, cpu = [], 0.0, 0.0
            for start in range(0, len(targets), args.batch):
                chunk = targets[start : start + args.batch]
                t0, c0 = time.perf_counter(), time.process_time()
                results = invert_many(
                    family, chunk, space, args.steps, args.lr, features=args.features,
                    optimize_noise=noise, snapshots=1,
                )  # fmt: skip
                wall += time.perf_counter() - t0
                cpu += time.process_time() - c0
                images.append(torch.stack([r.image for r in results]))
            images = torch.cat(images)
            scores = score(net, images, targets)
            row = {"set": set_name, "method": method, "n": len(targets)}
            for key, values in scores.items():
                row[key] = float(values.mean())
                row[key + "_std"] = float(values.std())
            row |= {"wall_s_per_image": wall / len(targets), "cpu_s_per_image": cpu / len(targets)}
            rows.append(row)
            grids[set_name].append(images[:8])
            print(json.dumps(row), flush=True)
    for set_name, parts in grids.items():
        name = set_name.replace(" ", "-")
        make_grid(torch.cat(parts), nrow=8).save(args.out / f"inversion-{name}.png")
    record = {
        "run": str(Path(args.run).resolve()), "step": loaded.step, "steps": args.steps,
        "lr": args.lr, "batch": args.batch, "loss_features": args.features, "score_features": spec,
        "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }  # fmt: skip
    (args.out / "inversion.json").write_text(json.dumps(record, indent=2) + "\n")
    print(table(rows, spec))


def table(rows: list[dict], spec: str | None) -> str:
    lines = [
        "| images | method | PSNR (dB) | SSIM | feature distance | s / image (wall) | CPU s / image |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        feature = f"{r['feature_distance']:.3f}" if "feature_distance" in r else "-"
        lines.append(
            f"| {r['set']} ({r['n']}) | {r['method']} | {r['psnr']:.2f} ± {r['psnr_std']:.2f} | "
            f"{r['ssim']:.3f} | {feature} | {r['wall_s_per_image']:.2f} | "
            f"{r['cpu_s_per_image']:.2f} |"
        )
    note = f"1 - cosine similarity of {spec} features" if spec else "no feature network"
    return "\n".join(lines) + f"\n\nfeature distance: {note}"


if __name__ == "__main__":
    main()
