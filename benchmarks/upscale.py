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
from pathlib import Path

import torch

from huashi.core.images import save_grid
from huashi.runs import load_run
from huashi.tools.upscale import compare_on_held_out, upsampler_of
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
    data = loaded.config.data
    features = args.features or reference_features(data["spec"], data["resolution"])
    result = compare_on_held_out(loaded, args.split, args.n, features, args.batch_size)
    n, scale = len(result.originals), upsampler_of(loaded).config.scale
    names = {"nearest": "nearest", "bicubic": "bicubic (PIL)",
             "upsampler": f"upsampler (step {loaded.step})"}  # fmt: skip
    digits = {"fid": 3, "kid": 5}
    rows = {names[method]: {key: round(value, digits.get(key, 4)) for key, value in row.items()}
            for method, row in result.rows.items()}  # fmt: skip

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
        "features": features, "methods": rows,
        "upsampler_images_per_second": round(n / result.upsampler_seconds, 1),
        "threads": torch.get_num_threads(),
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    if args.grid is not None:
        k = min(args.grid_n, n)
        rows_shown = [images[:k] for images in result.images.values()] + [result.originals[:k]]
        save_grid(torch.cat(rows_shown), args.grid, nrow=k)
        print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
