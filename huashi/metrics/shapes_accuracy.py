"""Exact prompt fidelity on the ``shapes`` dataset: read shape, color, size, position and
background back from an image's pixels and compare them with the prompt's attributes.

The reader is pixel-exact, not learned: it is checked on the dataset's own images, where it gets
every attribute of every image right (see tests/metrics/test_metrics_shapes.py). How it reads:

1. background: the palette background nearest to the median colour of the image border;
2. color: the palette colour c that best explains the foreground pixels as mixtures
   ``background + a (c - background)`` with ``a`` in [0, 1] (antialiased edges are such mixtures);
3. position: the 3x3 cell of the centroid of the coverage ``a`` (first of pixels with
   a >= 0.25, then of every pixel within reach of the largest shape around that centre);
4. shape and size: the scene is redrawn with the dataset's own renderer for each of the 6 shapes x
   2 sizes at that centroid, and the template with the smallest pixel L1 distance wins.

On generated images every step picks the nearest answer, so a blurry red blob still gets read
as some shape; accuracy counts exact matches with the prompt.
"""

from __future__ import annotations

import numpy as np
import torch

from huashi.core.errors import HuashiError
from huashi.core.images import to_uint8

FOREGROUND_DISTANCE = 40.0  # RGB distance from the background above which a pixel is "shape"
MIN_COVERAGE = 0.25  # pixels less covered than this do not count towards the first centre
REACH = 0.2  # the largest shape's circumradius (0.15) plus jitter, as a fraction of the side
ATTRIBUTES = ("shape", "color", "size", "position", "background")


def _palettes():
    from huashi.data import shapes

    return shapes


def _centroid(weights: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    total = max(weights.sum(), 1e-9)
    return (weights * xs).sum() / total, (weights * ys).sum() / total


def read_attributes(image: torch.Tensor) -> dict[str, str]:
    """The five attributes of one RGB uint8 image [3, H, W]."""
    shapes = _palettes()
    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
        raise HuashiError("the shapes attribute reader needs one RGB uint8 image [3, H, W].")
    x = image.permute(1, 2, 0).numpy().astype(np.float64)
    side = x.shape[0]
    palette = np.array(list(shapes.COLORS.values()), dtype=np.float64)
    backgrounds = np.array(list(shapes.BACKGROUNDS.values()), dtype=np.float64)

    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    b = int(((backgrounds - np.median(border, axis=0)) ** 2).sum(1).argmin())
    bg = backgrounds[b]

    distance = np.sqrt(((x - bg) ** 2).sum(-1))
    fg = x[distance > FOREGROUND_DISTANCE] - bg
    if len(fg) == 0:  # nothing drawn: use the pixel least like the background
        fg = x.reshape(-1, 3)[[distance.argmax()]] - bg
    residuals = []
    for v in palette - bg:
        a = np.clip(fg @ v / (v @ v), 0, 1)
        residuals.append(np.sqrt(((fg - a[:, None] * v) ** 2).sum(-1)).sum())
    c = int(np.argmin(residuals))

    v = palette[c] - bg
    coverage = np.clip((x - bg) @ v / (v @ v), 0, 1)
    ys, xs = np.mgrid[0:side, 0:side] + 0.5
    # a robust first centre (faint pixels, e.g. background noise, left out), then the exact
    # centroid of all coverage within reach of the largest shape around it
    strong = np.where(coverage >= MIN_COVERAGE, coverage, 0)
    cx, cy = _centroid(strong, xs, ys)
    near = (xs - cx) ** 2 + (ys - cy) ** 2 <= (REACH * side) ** 2
    cx, cy = _centroid(np.where(near, coverage, 0), xs, ys)
    cx, cy = cx / side, cy / side
    row, col = min(int(cy * 3), 2), min(int(cx * 3), 2)
    position = {rc: name for name, rc in shapes.POSITIONS.items()}[(row, col)]
    dx, dy = (cx * 3 - col - 0.5) / 3, (cy * 3 - row - 0.5) / 3

    color, background = list(shapes.COLORS)[c], list(shapes.BACKGROUNDS)[b]
    best: tuple[float, str, str] | None = None
    for shape in shapes.SHAPES:
        for size in shapes.SIZES:
            scene = {"shape": shape, "size": size, "position": position, "color": color}
            drawn = shapes.draw_scene(scene | {"background": background}, side, dx, dy)
            error = float(np.abs(np.asarray(drawn, dtype=np.float64) - x).sum())
            if best is None or error < best[0]:
                best = (error, shape, size)
    assert best is not None
    return {
        "shape": best[1],
        "color": color,
        "size": best[2],
        "position": position,
        "background": background,
    }


def attribute_accuracy(images: torch.Tensor, prompts: list[str]) -> dict[str, float]:
    """Share of images whose every attribute matches its prompt (``all``), and per attribute.

    ``images`` are RGB in [-1, 1] [N, 3, H, W]; ``prompts`` are shapes captions, one per image.
    """
    shapes = _palettes()
    if images.dim() != 4 or images.shape[1] != 3:
        raise HuashiError("shapes attribute accuracy needs RGB images [N, 3, H, W].")
    if len(images) != len(prompts) or len(images) == 0:
        raise HuashiError(
            f"shapes attribute accuracy needs one prompt per image (got {len(images)} images, "
            f"{len(prompts)} prompts)."
        )
    pixels = to_uint8(images.detach().cpu())
    hits = dict.fromkeys(("all", *ATTRIBUTES), 0)
    for image, prompt in zip(pixels, prompts, strict=True):
        want = shapes.parse_caption(prompt)
        got = read_attributes(image)
        for key in ATTRIBUTES:
            hits[key] += got[key] == want[key]
        hits["all"] += got == want
    return {key: value / len(prompts) for key, value in hits.items()}
