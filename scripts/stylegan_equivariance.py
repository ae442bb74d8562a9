"""Do a StyleGAN's features move with its content? The drag self-check on the ideal move.

    python scripts/stylegan_equivariance.py runs/faces-fourier --shift 3
    python scripts/stylegan_equivariance.py runs/faces-fourier --untrained --option input_bandwidth=2

For each seed's w, the generator paints once as it is and once with its Fourier input's
translation moved by ``--shift`` px right and down (the best answer a drag of the whole picture by
that much could find). The drag self-check (huashi/gan/drag_check.py) then compares the first
picture's features at each point with the second's at point + shift, as a fraction of the
baseline: 0 = the features moved exactly with the content; the check calls a handle moved at
<= 0.50. Printed per feature layer (the drag reads half the image size) and for the picture
itself, averaged over ``--seeds`` seeds. Needs a run trained with ``--input fourier``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from huashi.gan.drag_check import MOVED_AT_MOST, check_drag
from huashi.runs import RunConfig, build_family, load_run

#: Eyes and mouth, then cheeks and the top of the outline, of a centred 32-px face emoji.
POINTS = [(11, 12), (21, 12), (16, 21), (6, 16), (26, 16), (16, 4)]


def layers(family, ws: torch.Tensor, shift: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Image-sized feature maps by resolution ("8", "16", ...) and the picture ("picture")."""
    synthesis = family.sampling_module("generator").synthesis
    with torch.no_grad():
        image, features = synthesis(ws, "const", return_features=True, shift=shift)
    size = image.shape[-2:]
    maps = {
        str(r): F.interpolate(f.float(), size=size, mode="bilinear", align_corners=False)
        for r, f in features.items()
        if r >= 8
    }
    return maps | {"picture": image.float()}


def measure(family, shift_px: int, seeds: int, points: list[tuple[int, int]]) -> dict:
    """Mean mismatch per layer and point over ``seeds`` seeds."""
    resolution = family.data.resolution
    shift = torch.tensor([shift_px / resolution, shift_px / resolution])
    targets = [(x + shift_px, y + shift_px) for x, y in points]
    with torch.no_grad():
        w = family.map_latents(family.latents_for_seeds(list(range(seeds))))
    found: dict[str, list[list[float]]] = {}
    for ws in family.broadcast(w).split(1):
        still, moved = layers(family, ws, None), layers(family, ws, shift)
        for name in still:
            checks = check_drag(still[name], moved[name], points, targets)
            found.setdefault(name, []).append([c.mismatch for c in checks])
    return {name: torch.tensor(rows).mean(dim=0).tolist() for name, rows in found.items()}


def untrained(run: Path, options: list[str]):
    """The run's model with fresh weights (torch seed 0), its config changed by ``options``."""
    config = RunConfig.load(run)
    for option in options:
        key, _, value = option.partition("=")
        config.model[key] = value == "true" if value in ("true", "false") else json.loads(value)
    torch.manual_seed(0)
    return build_family(config, torch.device("cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--checkpoint", help="a checkpoint of the run (default: its newest)")
    parser.add_argument("--shift", type=int, default=3, help="px right and down (default: 3)")
    parser.add_argument("--seeds", type=int, default=8, help="seeds averaged (default: 8)")
    parser.add_argument("--untrained", action="store_true", help="fresh weights, the run's config")
    parser.add_argument("--option", action="append", default=[], help="KEY=VALUE (--untrained)")
    args = parser.parse_args()
    if args.untrained:
        family = untrained(args.run, args.option)
    else:
        family = load_run(args.run, args.checkpoint, "cpu").family
    if not getattr(family.modules["generator"].synthesis, "fourier", False):
        raise SystemExit("this generator has no Fourier input to shift: train with --input fourier")
    table = measure(family, args.shift, args.seeds, POINTS)
    print(f"mismatch at point + {args.shift} px (moved at <= {MOVED_AT_MOST:.2f}); points", POINTS)
    for name, values in table.items():
        print(f"{name:>8}: " + " ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
