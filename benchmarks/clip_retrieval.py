"""Train the in-domain CLIP on ``shapes`` and report held-out caption retrieval (O1 evidence).

    python benchmarks/clip_retrieval.py --out runs/clip-shapes --steps 300

Top-1 = share of held-out test images whose own caption ranks first among all distinct test
captions (chance = 1 / number of distinct captions); also top-5 image retrieval per caption.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from huashi import api
from huashi.data import load_dataset
from huashi.metrics.features import caption_top1, load_features, retrieve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/clip-shapes")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()

    started = time.perf_counter()
    api.train(args.out, "clip", "shapes", args.resolution, model={"width": args.width},
              data_options={"n": args.n_train}, steps=args.steps, batch_size=args.batch_size,
              precision="fp32", progress=False, checkpoint_every=10**9)  # fmt: skip
    wall = time.perf_counter() - started
    net = load_features(f"clip:{args.out}")
    test = load_dataset("shapes", args.resolution, split="test", n=args.n_test)
    images = test.batch(torch.arange(len(test)))["image"]
    distinct = len(set(test.captions))
    top1 = caption_top1(net, images, test.captions)
    found = retrieve(net, images, test.captions, k=5)["image_for_text"]
    top5 = sum(i in row.tolist() for i, row in enumerate(found)) / len(test)
    print(json.dumps({
        "resolution": args.resolution, "train_images": args.n_train, "steps": args.steps,
        "batch_size": args.batch_size, "width": args.width, "wall_seconds": round(wall, 1),
        "test_images": len(test), "distinct_test_captions": distinct,
        "caption_top1": top1, "chance_top1": 1 / distinct, "image_top5_for_caption": top5,
        "chance_top5": 5 / len(test), "threads": torch.get_num_threads(),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
