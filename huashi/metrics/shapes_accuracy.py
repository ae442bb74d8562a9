"""Exact prompt fidelity on the ``shapes`` dataset: read shape, color, size, position and
background back from an image's pixels and compare them with the prompt's attributes.

The reader is not learned. On the dataset's own images it gets every attribute of every image
right (tests/metrics/test_metrics_shapes.py); on painted images it reads what a person reads (checked
against 196 painted images labelled by eye in tests/metrics/shapes_labelled, see docs/metrics.md).
How it reads:

1. background: the palette background nearest to the median colour of the image border;
2. color: the shape's own colour is the mean of its most covered pixels (those at least ``CORE``
   times as far from the background as the farthest pixel). It is named after the palette
   colour whose mixtures with the background, ``background + a (c - background)`` for ``a`` in
   [0, 1] (antialiased edges are such mixtures), come nearest in CIELAB, where equal distances
   look about equally different. Painters paint darker reds than the palette's: in RGB such a
   red is nearer brown, in CIELAB it is nearer red, as a person sees it;
3. position: the 3x3 cell of the centroid of the coverage ``a`` of that palette colour (first of
   pixels with a >= 0.25, then of every pixel within reach of the largest shape around that
   centre);
4. shape and size of one of the dataset's own drawings: the scene is redrawn with the dataset's
   renderer for each of the 6 shapes x 2 sizes at that centre; when the best redraw reproduces
   the pixels to within ``EXACT`` grey levels on average, it is the answer;
5. shape and size of anything else (a painting): each shape is drawn at that centre at radii
   from tiny to huge, sharp and blurred, and scored by the cosine between its coverage and the
   image's near the centre (blind to how strong or how large the colour is: a round dot smaller
   than the dataset's small circle is still a circle to a person). A shape with corners counts
   only where its best fit's corners can be seen: where they stick out of its inscribed circle
   by at least ``CORNER_SEEN`` pixels plus the fit's blur (hexagons exempt: a person never tells
   their corners from a circle's on a painting, and noisy drawings keep them). The best shape
   wins, except that a blob is read as a circle unless another shape leaves at most
   ``CIRCLE_PRIOR`` of the circle's misfit (1 - cosine), and a blob read as a point-symmetric
   shape is a triangle when it is lopsided as an upright triangle is (its 3-fold moment, which
   such shapes lack, at least ``UPRIGHT_TRIANGLE`` and pointing up). The size is the better
   scored of that shape's two sizes.

Every step picks the nearest answer, so a blurry red blob still gets read as some shape;
accuracy counts exact matches with the prompt.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from huashi.core.errors import HuashiError
from huashi.core.images import to_uint8

CORE = 0.75  # pixels at least this share of the farthest pixel's distance give the shape's colour
MIXTURES = 101  # coverages a in [0, 1] tried when naming a colour
MIN_COVERAGE = 0.25  # pixels less covered than this do not count towards the first centre
REACH = 0.2  # the largest shape's circumradius (0.15) plus jitter, as a fraction of the side
EXACT = 0.75  # mean absolute error (grey levels) below which an image is the dataset's drawing
RADII = np.geomspace(0.03, 0.25, 25)  # circumradii tried on paintings (fractions of the side)
BLURS = (0.0, 0.5, 0.8, 1.2)  # Gaussian blurs (pixels) of the drawings tried on paintings
CIRCLE_PRIOR = 0.7  # another shape must leave at most this share of the circle's misfit
CORNER_SEEN = 0.5  # corners stick out this far (pixels) beyond the fit's blur to be seen
UPRIGHT_TRIANGLE = 0.25  # 3-fold moment from which a round-read blob is an upright triangle
LOPSIDED_FROM = 0.25  # coverage counted (above this) by the 3-fold moment
ATTRIBUTES = ("shape", "color", "size", "position", "background")
_CORNERS = {  # how the dataset draws each polygon: corners, angle of the first, star's inner radius
    "square": (4, math.pi / 4, 1.0),
    "diamond": (4, 0.0, 1.0),
    "triangle": (3, -math.pi / 2, 1.0),
    "star": (5, -math.pi / 2, 0.45),
    "hexagon": (6, 0.0, 1.0),
}


def _palettes():
    from huashi.data import shapes

    return shapes


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB colours in [0, 255] [..., 3] -> CIELAB (D65 white) [..., 3]."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array(
        [[0.4124564, 0.3575761, 0.1804375],
         [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )  # fmt: skip
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    lightness = 116 * f[..., 1] - 16
    return np.stack([lightness, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def name_color(color: np.ndarray, background: np.ndarray) -> int:
    """Index of the palette colour whose mixtures with ``background`` come nearest ``color`` in
    CIELAB (both RGB in [0, 255])."""
    palette = np.array(list(_palettes().COLORS.values()), dtype=np.float64)
    a = np.linspace(0.0, 1.0, MIXTURES)[:, None, None]
    mixtures = srgb_to_lab(background + a * (palette - background))  # [MIXTURES, colours, 3]
    distance = np.sqrt(((mixtures - srgb_to_lab(color)) ** 2).sum(-1))
    return int(distance.min(0).argmin())


def template(shape: str, width: int, height: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Coverage [height, width] in [0, 1] of ``shape`` drawn the dataset's way (same corners, same
    supersampling) at centre (cx, cy) with circumradius ``r`` (all in pixels)."""
    shapes = _palettes()
    s = shapes.SUPERSAMPLE
    image = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(image)
    cx, cy, r = cx * s, cy * s, r * s
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    else:
        draw.polygon(shapes._polygon(cx, cy, r, *_CORNERS[shape]), fill=255)
    return np.asarray(image.reduce(s), dtype=np.float64) / 255.0


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12))


def _centroid(weights: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    total = max(weights.sum(), 1e-9)
    return (weights * xs).sum() / total, (weights * ys).sum() / total


def _dataset_drawing(x: np.ndarray, scene: dict[str, str], dx: float, dy: float):
    """(shape, size) of the dataset's drawing of ``scene`` at centre offset (dx, dy) that
    reproduces the pixels ``x`` [H, W, 3] within ``EXACT`` grey levels, or None."""
    shapes = _palettes()
    error, shape, size = min(
        (float(np.abs(np.asarray(shapes.draw_scene(scene | {"shape": s, "size": z}, x.shape[0],
                                                   dx, dy), dtype=np.float64) - x).mean()), s, z)
        for s in shapes.SHAPES for z in shapes.SIZES
    )  # fmt: skip
    return (shape, size) if error <= EXACT else None


def _corners_seen(shape: str, radius: float, blur: float) -> bool:
    """Whether ``shape`` drawn at circumradius ``radius`` and blurred by ``blur`` (pixels) shows
    its corners: they stick out of its inscribed circle (a star's: through its inner corners) by
    at least ``CORNER_SEEN`` + ``blur`` pixels. Circles and hexagons always count."""
    if shape in ("circle", "hexagon"):
        return True
    corners, _, inner = _CORNERS[shape]
    inscribed = radius * inner if inner < 1 else radius * math.cos(math.pi / corners)
    return radius - inscribed >= CORNER_SEEN + blur


def upright_triangle_moment(coverage: np.ndarray) -> float:
    """|E[z^3]| / E[|z|^2]^1.5 of ``coverage`` [H, W] above ``LOPSIDED_FROM`` about its centroid
    (z = x + iy, y down) when it points up (within 30 degrees), else 0. Point-symmetric shapes
    (circle, square, diamond, hexagon) have none; an upright triangle about 0.3 to 0.9."""
    w = np.clip(coverage - LOPSIDED_FROM, 0, None)
    total = w.sum()
    if total <= 0:
        return 0.0
    ys, xs = np.mgrid[0 : w.shape[0], 0 : w.shape[1]] + 0.5
    z = xs - (w * xs).sum() / total + 1j * (ys - (w * ys).sum() / total)
    moment = (w * z**3).sum() / total
    if abs(math.degrees(np.angle(moment)) - 90) > 30:
        return 0.0
    return float(abs(moment) / max((w * abs(z) ** 2).sum() / total, 1e-9) ** 1.5)


def _painted_shape(coverage: np.ndarray, cx: float, cy: float) -> tuple[str, str]:
    """(shape, size) of the drawing whose coverage best correlates with ``coverage`` [H, W]
    (already cut to the shape's reach) around the centre (cx, cy), in pixels."""
    from scipy.ndimage import gaussian_filter

    shapes = _palettes()
    side = coverage.shape[0]
    half = REACH * side + 3 * max(BLURS) + 1
    x0, y0 = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
    x1, y1 = min(side, math.ceil(cx + half)), min(side, math.ceil(cy + half))
    window = coverage[y0:y1, x0:x1]

    def fit(shape: str, radius: float) -> tuple[float, float]:
        """(cosine, blur) of the best blur of ``shape`` at ``radius`` (a fraction of the side)."""
        drawn = template(shape, x1 - x0, y1 - y0, cx - x0, cy - y0, radius * side)
        return max((_cosine(window, gaussian_filter(drawn, b) if b else drawn), b) for b in BLURS)

    radii = sorted({*RADII, *shapes.SIZES.values()})
    best = {s: max((*fit(s, r), r * side) for r in radii) for s in shapes.SHAPES}
    misfit = {s: 1 - c for s, (c, blur, r) in best.items() if _corners_seen(s, r, blur)}
    shape = min(misfit, key=misfit.__getitem__)
    if misfit[shape] > CIRCLE_PRIOR * misfit["circle"]:
        shape = "circle"
    if shape != "star" and upright_triangle_moment(window) >= UPRIGHT_TRIANGLE:
        shape = "triangle"
    return shape, max(shapes.SIZES, key=lambda size: fit(shape, shapes.SIZES[size])[0])


def read_attributes(image: torch.Tensor) -> dict[str, str]:
    """The five attributes of one RGB uint8 image [3, H, W]."""
    shapes = _palettes()
    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
        raise HuashiError("the shapes attribute reader needs one RGB uint8 image [3, H, W].")
    x = image.permute(1, 2, 0).numpy().astype(np.float64)
    side = x.shape[0]
    backgrounds = np.array(list(shapes.BACKGROUNDS.values()), dtype=np.float64)

    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    b = int(((backgrounds - np.median(border, axis=0)) ** 2).sum(1).argmin())
    bg = backgrounds[b]

    distance = np.sqrt(((x - bg) ** 2).sum(-1))
    c = name_color(x[distance >= CORE * distance.max()].mean(0), bg)

    v = np.array(list(shapes.COLORS.values())[c], dtype=np.float64) - bg
    coverage = np.clip((x - bg) @ v / (v @ v), 0, 1)
    ys, xs = np.mgrid[0:side, 0:side] + 0.5
    # a robust first centre (faint pixels, e.g. background noise, left out), then the exact
    # centroid of all coverage within reach of the largest shape around it
    strong = np.where(coverage >= MIN_COVERAGE, coverage, 0)
    cx, cy = _centroid(strong, xs, ys)
    near = np.where((xs - cx) ** 2 + (ys - cy) ** 2 <= (REACH * side) ** 2, coverage, 0)
    cx, cy = _centroid(near, xs, ys)
    row, col = min(int(cy / side * 3), 2), min(int(cx / side * 3), 2)
    position = {rc: name for name, rc in shapes.POSITIONS.items()}[(row, col)]

    color, background = list(shapes.COLORS)[c], list(shapes.BACKGROUNDS)[b]
    scene = {"color": color, "position": position, "background": background}
    dx, dy = (cx / side * 3 - col - 0.5) / 3, (cy / side * 3 - row - 0.5) / 3
    shape, size = _dataset_drawing(x, scene, dx, dy) or _painted_shape(near, cx, cy)
    return scene | {"shape": shape, "size": size}


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
