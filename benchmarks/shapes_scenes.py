"""Do the shapes views read scene damages as a person does? (issue 27, docs/metrics.md)

    python benchmarks/shapes_scenes.py --run stylegan=RUN --run dcgan=RUN
    python benchmarks/shapes_scenes.py --features zoo:reference-shapes --features ensemble:...

The training scenes are drawn again with what a caption asks for lost one attribute at a time
(the ladder's rungs, :func:`huashi.metrics.ladder.attributes_lost`), beside half of the scenes
emptied, a 10-px patch of each background repainted in another background colour ("torn"), and
the samples of any runs given; each set's FID against the other half of the training scenes is
printed as a multiple of the floor (n 2,500 a side), one row per view.
"""

from __future__ import annotations

import argparse
import random

import torch

from huashi.data.shapes import BACKGROUNDS, load_shapes, redraw_shapes
from huashi.metrics.evaluate import generate_all
from huashi.metrics.features import load_features
from huashi.metrics.fid import fid
from huashi.metrics.floor import format_multiple, real_halves
from huashi.metrics.ladder import attributes_lost
from huashi.runs import load_run

VIEWS = ("ensemble:zoo:reference-shapes+zoo:reference-shapes-classifier"
         "+zoo:reference-shapes-attributes", "zoo:reference-shapes",
         "zoo:reference-shapes-classifier", "zoo:reference-shapes-attributes")  # fmt: skip
PATCH = 10


def torn(images: torch.Tensor, backgrounds: list[str], seed: int = 0) -> torch.Tensor:
    """Each scene with a PATCH-px square of its background repainted in another background
    colour (the shape, where it overlaps, kept)."""
    rng = random.Random(seed)
    out = images.clone()
    side = images.shape[-1]
    for image, name in zip(out, backgrounds, strict=True):
        other = torch.tensor(BACKGROUNDS[rng.choice([b for b in BACKGROUNDS if b != name])])
        x, y = rng.randrange(side - PATCH), rng.randrange(side - PATCH)
        patch = image[:, y : y + PATCH, x : x + PATCH]
        bare = (patch - torch.tensor(BACKGROUNDS[name])[:, None, None]).abs().sum(0) < 10
        patch[:, bare] = other[:, None].to(patch.dtype)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", action="append", help="views (default: the shapes ones)")
    parser.add_argument("--run", action="append", default=[], help="NAME=RUN: its samples too")
    args = parser.parse_args()
    data = load_shapes(32)
    half_a, half_b = real_halves(len(data), 0)
    scaled = data.images.float() / 127.5 - 1
    empty = redraw_shapes(32, empty=True).float() / 127.5 - 1
    sets = {label: images[half_b] for label, images in attributes_lost(32, len(data))[1]}
    half_empty = torch.where((torch.arange(len(data)) % 2 == 0)[:, None, None, None], empty, scaled)
    sets["half the scenes empty"] = half_empty[half_b]
    backgrounds = [a["background"] for a in data.attributes]
    sets["torn background"] = torn(data.images, backgrounds).float()[half_b] / 127.5 - 1
    for name, run in (item.split("=", 1) for item in args.run):
        sets[name] = generate_all(load_run(run), list(range(len(half_b)))).float()
    print("| view | " + " | ".join(sets) + " |\n" + "|---" * (len(sets) + 1) + "|")
    for spec in args.features or VIEWS:
        net = load_features(spec)
        real = net.features(scaled[half_a])
        floor = fid(real, net.features(scaled[half_b]))
        cells = [format_multiple(fid(real, net.features(x)) / floor) for x in sets.values()]
        print(f"| `{spec}` | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
