"""An upsampler run against nearest and bicubic (PIL) upscaling on held-out images.

    python benchmarks/upscale.py runs/emoji-up4                       # the run's data, test split
    python benchmarks/upscale.py runs/emoji-up4 --features clip:runs/clip-emoji
    python benchmarks/upscale.py runs/emoji-up128 --grid up.png   # features: zoo:reference-emoji-128

Each held-out image of the run's dataset (at the run's resolution) is downsampled as in training
(block means, rounded to 8 bits: what a small PNG holds), then upscaled back by each method and
compared with the original: L1, PSNR (dB, peak 1) and SSIM per image, averaged; with an
in-domain feature network (``--features``, by default the dataset's shipped reference network,
the one trained at the run's resolution where one ships) also FID and KID against the originals (few images: compare the
methods with each other at this n only). Prints a Markdown table and the JSON record; ``--grid``
also writes a picture: one column per image, rows nearest | bicubic | upsampler | original.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from huashi.data import load_dataset
from huashi.evaluate import generate_all
from huashi.images import save_grid
from huashi.metrics.fid import fid
from huashi.metrics.image_to_image import pair_metrics
from huashi.metrics.kid import kid
from huashi.models.gigagan.upsampler import downsample
from huashi.runs import load_run
from huashi.upscale import bicubic, upsampler_of
from huashi.zoo import reference_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--split", default="test", help="held-out split of the run's dataset")
    parser.add_argument("--n", type=int, default=0, help="at most this many images (0: all)")
    parser.add_argument(
        "--features", help="clip:RUN, classifier:RUN or zoo:NAME for FID/KID (default: shipped)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--grid", type=Path, help="write the first --grid-n images' comparison")
    parser.add_argument("--grid-n", type=int, default=12)
    args = parser.parse_args()

    loaded = load_run(args.run)
    family = upsampler_of(loaded)
    data = loaded.config.data
    dataset = load_dataset(data["spec"], resolution=data["resolution"], split=args.split,
                           **data["options"])  # fmt: skip
    n = len(dataset) if args.n <= 0 else min(args.n, len(dataset))
    held_out = dataset.batch(torch.arange(n))
    high = held_out["image"].float()
    scale = family.config.scale
    low = downsample(high, scale)
    per_image = {"inputs": low}
    if family.config.condition == "text":  # each held-out image with its own caption
        per_image["prompt"] = list(held_out["caption"])

    started = time.perf_counter()
    painted = generate_all(loaded, list(range(n)), args.batch_size, per_image)
    seconds = time.perf_counter() - started
    methods = {
        "nearest": F.interpolate(low, scale_factor=scale, mode="nearest"),
        "bicubic (PIL)": bicubic(low, scale),
        f"upsampler (step {loaded.step})": painted,
    }
    net = None
    features = args.features or reference_features(data["spec"], data["resolution"])
    if features:
        from huashi.features import load_features

        net = load_features(features)
        real_feats = net.features(high)
    rows = {}
    for name, images in methods.items():
        metrics = pair_metrics(images.clamp(-1, 1), high)
        row = {key: round(float(v.double().mean()), 4) for key, v in metrics.items()}
        if net is not None:
            feats = net.features(images.clamp(-1, 1))
            row["fid"] = round(fid(real_feats, feats), 3)
            row["kid"] = round(kid(real_feats, feats, subsets=10).mean, 5)
        rows[name] = row

    res = data["resolution"]
    print(f"{n} {args.split} images of {data['spec']}, {res // scale} px -> {res} px (x{scale})")
    columns = list(next(iter(rows.values())))
    print("| method | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(str(row[c]) for c in columns) + " |")
    record = {
        "run": str(loaded.run_dir), "step": loaded.step, "data": data["spec"],
        "split": args.split, "images": n, "scale": scale, "resolution": res,
        "features": net.describe() if net is not None else None, "methods": rows,
        "upsampler_images_per_second": round(n / seconds, 1),
        "threads": torch.get_num_threads(),
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    if args.grid is not None:
        k = min(args.grid_n, n)
        rows_shown = [images[:k].clamp(-1, 1) for images in methods.values()] + [high[:k]]
        save_grid(torch.cat(rows_shown), args.grid, nrow=k)
        print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
