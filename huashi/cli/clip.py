"""``huashi clip RUN --image a.png b.png --prompt "a red circle ..." --prompt "..."``: label
images zero-shot with a trained huashi CLIP (the prompt with the highest cosine similarity)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from huashi.images import read_image


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("clip", help="zero-shot labels for images with a CLIP run")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--image", nargs="+", type=Path, required=True)
    parser.add_argument("--prompt", action="append", required=True, help="a candidate caption")
    parser.add_argument("--device", default="auto")
    parser.set_defaults(run=run_clip)


def read_images(paths: list[Path], channels: int, size: int) -> torch.Tensor:
    """Image files -> float [N, C, size, size] in [-1, 1] (:func:`huashi.images.read_image`)."""
    return torch.stack([read_image(path, channels, size).unit_range() for path in paths])


def run_clip(args: argparse.Namespace) -> int:
    from huashi.features import load_features, zero_shot

    net = load_features(f"clip:{args.run_dir}", args.device)
    images = read_images(args.image, net.channels, net.resolution)
    chosen, similarity = zero_shot(net, images, args.prompt)
    for path, best, row in zip(args.image, chosen, similarity, strict=True):
        print(f"{path}: {best}  (cosine {row.max():.3f})")
    return 0
