"""The shapes dataset: procedurally drawn scenes with compositional captions and exact attributes.

Each image holds one shape with five attributes drawn at random (from a seeded generator):
shape, color, size, position (a cell of a 3x3 grid) and background. The caption states all
five ("a small red circle at the top left on a white background") and ``parse_caption``
inverts it exactly, so a generated image's prompt can be checked attribute by attribute.

Scenes are drawn at 4x the resolution and box-downsampled (antialiasing); the inside of a
shape keeps exactly its palette color. The shape's centre jitters a little inside its cell.
"""

from __future__ import annotations

import itertools
import math
import random
import re

import numpy as np
import torch
from PIL import Image, ImageDraw

from huashi.core.errors import HuashiError
from huashi.data.base import ImageSet, check_split

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
    "pink": (245, 130, 190),
    "brown": (130, 80, 40),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
}
# (row, column) of each position in the 3x3 grid.
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0),
    "top": (0, 1),
    "top right": (0, 2),
    "left": (1, 0),
    "center": (1, 1),
    "right": (1, 2),
    "bottom left": (2, 0),
    "bottom": (2, 1),
    "bottom right": (2, 2),
}
SIZES = {"small": 0.09, "large": 0.15}  # circumradius as a fraction of the image side
SHAPES = ["circle", "square", "triangle", "diamond", "star", "hexagon"]

SHAPES_ATTRIBUTES: dict[str, list[str]] = {
    "shape": SHAPES,
    "color": list(COLORS),
    "size": list(SIZES),
    "position": list(POSITIONS),
    "background": list(BACKGROUNDS),
}

#: Captions that show every shape, colour, size and background and five positions, for figures.
SHOWCASE_CAPTIONS = [
    "a large red star in the center on a white background",
    "a small blue circle at the top left on a gray background",
    "a large green hexagon at the bottom on a black background",
    "a small yellow square at the right on a white background",
    "a large purple triangle in the center on a gray background",
    "a large orange diamond at the top right on a black background",
    "a small red triangle at the left on a black background",
    "a large blue square at the bottom right on a white background",
]
JITTER = 0.015  # the centre moves by at most this fraction of the side in x and in y
SUPERSAMPLE = 4
DEFAULT_N = {"train": 5000, "test": 1000}

_CAPTION = re.compile(
    r"a (?P<size>\w+) (?P<color>\w+) (?P<shape>\w+) "
    r"(?:at the (?P<position>[a-z ]+?)|in the (?P<center>center)) "
    r"on a (?P<background>\w+) background"
)


def make_caption(attributes: dict[str, str]) -> str:
    """The caption of a scene: "a large blue star in the center on a gray background"."""
    a = attributes
    where = "in the center" if a["position"] == "center" else f"at the {a['position']}"
    return f"a {a['size']} {a['color']} {a['shape']} {where} on a {a['background']} background"


def parse_caption(caption: str) -> dict[str, str]:
    """The exact attributes named by a caption (the inverse of ``make_caption``)."""
    match = _CAPTION.fullmatch(caption.strip().lower())
    example = "a small red circle at the top left on a white background"
    if match is None:
        raise HuashiError(f"cannot read shapes caption '{caption}': write it like '{example}'.")
    found = match.groupdict()
    found["position"] = found.pop("center") or found["position"]
    out = {key: found[key] for key in SHAPES_ATTRIBUTES}
    for key, value in out.items():
        if value not in SHAPES_ATTRIBUTES[key]:
            choices = ", ".join(SHAPES_ATTRIBUTES[key])
            raise HuashiError(
                f"unknown {key} '{value}' in caption '{caption}': use one of {choices}."
            )
    return out


def _polygon(cx: float, cy: float, r: float, corners: int, start: float, inner: float = 1.0):
    """Corner points of a regular polygon (or a star when ``inner`` < 1), angle ``start``."""
    points = []
    steps = corners * (2 if inner < 1 else 1)
    for k in range(steps):
        radius = r * inner if (inner < 1 and k % 2) else r
        angle = start + 2 * math.pi * k / steps
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def draw_scene(attributes: dict[str, str], resolution: int, dx: float = 0.0, dy: float = 0.0):
    """Draw one scene as an RGB PIL image; ``dx, dy`` shift the centre (fractions of the side)."""
    side = resolution * SUPERSAMPLE
    image = Image.new("RGB", (side, side), BACKGROUNDS[attributes["background"]])
    draw = ImageDraw.Draw(image)
    row, col = POSITIONS[attributes["position"]]
    cx, cy = (col + 0.5 + 3 * dx) * side / 3, (row + 0.5 + 3 * dy) * side / 3
    r = SIZES[attributes["size"]] * side
    color = COLORS[attributes["color"]]
    shape = attributes["shape"]
    up = -math.pi / 2
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
    elif shape == "square":
        draw.polygon(_polygon(cx, cy, r, 4, math.pi / 4), fill=color)
    elif shape == "diamond":
        draw.polygon(_polygon(cx, cy, r, 4, 0.0), fill=color)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy, r, 3, up), fill=color)
    elif shape == "star":
        draw.polygon(_polygon(cx, cy, r, 5, up, inner=0.45), fill=color)
    elif shape == "hexagon":
        draw.polygon(_polygon(cx, cy, r, 6, 0.0), fill=color)
    else:
        raise HuashiError(f"unknown shape '{shape}': use one of {', '.join(SHAPES)}.")
    return image.reduce(SUPERSAMPLE)


def load_shapes(
    resolution: int = 64,
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    label: str = "shape",
) -> ImageSet:
    """``n`` random scenes (default 5,000 train / 1,000 test, drawn from different seeds),
    labelled by ``label``: one attribute, or several joined by + (one class per combination)."""
    keys = label.split("+")
    if any(key not in SHAPES_ATTRIBUTES for key in keys) or len(set(keys)) < len(keys):
        raise HuashiError(f"unknown label '{label}': use one of {', '.join(SHAPES_ATTRIBUTES)}, "
                          "or several joined by + (e.g. shape+color+size).")  # fmt: skip
    scenes = _scenes(split, n, seed)
    attributes = [a for a, _, _ in scenes]
    images = [np.asarray(draw_scene(a, resolution, dx, dy)) for a, dx, dy in scenes]
    vocab = [" ".join(c) for c in itertools.product(*(SHAPES_ATTRIBUTES[k] for k in keys))]
    return ImageSet(
        name="shapes",
        images=torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(),
        labels=torch.tensor([vocab.index(" ".join(a[k] for k in keys)) for a in attributes]),
        class_names=list(vocab),
        captions=[make_caption(a) for a in attributes],
        attributes=attributes,
        info={"split": split, "seed": seed, "label": label},
    )


def _scenes(split: str, n: int | None, seed: int) -> list[tuple[dict[str, str], float, float]]:
    """The attributes and centre jitter of the ``n`` scenes of a split, in order."""
    check_split(split)
    if split == "all":
        raise HuashiError("shapes has no 'all' split: load split='train' and split='test'.")
    n = DEFAULT_N[split] if n is None else n
    if n < 1:
        raise HuashiError(f"n must be at least 1, not {n}.")
    rng = random.Random(f"huashi-shapes-{seed}-{split}")
    scenes = []
    for _ in range(n):
        a = {key: rng.choice(values) for key, values in SHAPES_ATTRIBUTES.items()}
        scenes.append((a, rng.uniform(-JITTER, JITTER), rng.uniform(-JITTER, JITTER)))
    return scenes


def redraw_shapes(
    resolution: int = 64,
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    fixed: dict[str, str] | None = None,
    empty: bool = False,
) -> torch.Tensor:
    """The scenes of ``load_shapes(resolution, split, n, seed)`` drawn again (uint8 [N, 3, R, R])
    with the attributes in ``fixed`` replacing their own (``{"shape": "circle"}``: every shape a
    circle, all else kept), or, with ``empty``, as their bare backgrounds: known damages of
    what a scene shows, for the validation ladder of a shapes feature network."""
    for key, value in (fixed or {}).items():
        if value not in SHAPES_ATTRIBUTES.get(key, ()):
            raise HuashiError(f"cannot fix {key} to '{value}': not a shapes attribute value.")
    images = []
    for a, dx, dy in _scenes(split, n, seed):
        if empty:
            scene = Image.new("RGB", (resolution, resolution), BACKGROUNDS[a["background"]])
        else:
            scene = draw_scene({**a, **(fixed or {})}, resolution, dx, dy)
        images.append(np.asarray(scene))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
