"""The validation ladder of a feature network (M6): does its FID see what a person sees?

Held-out real images are damaged in known ways at increasing strength, and each rung's FID is
shown as a multiple of the real-vs-real floor at equal n (:mod:`huashi.metrics.floor`): the
real set is cut into halves A and B, B (damaged) is compared with A, and the floor is clean B
against A. A trustworthy network reads every ladder as rising, and reads damage a person sees at
once as far from real. The requirements checked (issue 27):

- FID rises with strength on every ladder;
- Gaussian blur with sigma 1 px reads at least 5x the floor;
- keeping a tenth of the modes (classes, or pixel clusters where the data has no labels) reads
  at least 3x the floor;
- on shapes, the scenes drawn again with every shape a circle (one attribute lost) read at
  least 3x the floor, and FID rises as more attributes are lost (:func:`attributes_lost`).

The damages are small pure functions of images in [-1, 1] ([N, C, H, W]); the ladder of one
GAN run's checkpoints (a quarter, half and all of its steps) is added when a run is given.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import adjust_hue, gaussian_blur

from huashi.data.shapes import redraw_shapes
from huashi.metrics.fid import fid
from huashi.metrics.floor import format_multiple, real_halves

BLUR_SIGMAS = (0.5, 1.0, 2.0)
NOISE_STDS = (0.05, 0.1, 0.2)  # in [-1, 1] units: about 6, 13 and 26 of 255 levels
JPEG_QUALITIES = (50, 20, 5)
SHUFFLE_GRIDS = (4, 8)  # the image cut into 4x4, then 8x8 patches, shuffled
HUE_TURNS = (0.05, 0.15, 0.3)  # colour images: hue rotated by this part of a turn
BRIGHTNESS_SHIFTS = (0.1, 0.25, 0.5)  # grey images: every pixel lightened by this much
MODE_FRACTIONS = (0.5, 0.1)
CLUSTERS = 10  # pixel clusters stand in for modes where the data has no labels
BLUR_MIN_MULTIPLE = 5.0
MODES_MIN_MULTIPLE = 3.0


# --- the damages -----------------------------------------------------------------------------


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels (kernel 2*ceil(3 sigma) + 1)."""
    return gaussian_blur(images, 2 * math.ceil(3 * sigma) + 1, sigma)


def add_noise(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Additive Gaussian noise of ``std`` (in [-1, 1] units), clipped to the range."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + std * noise).clamp(-1, 1)


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Each image saved as a JPEG at ``quality`` (Pillow) and decoded again."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    out = []
    for array in pixels.numpy():
        image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer)).reshape(array.shape)
        out.append(torch.from_numpy(decoded.copy()))
    return torch.stack(out).permute(0, 3, 1, 2).float() / 127.5 - 1


def patch_shuffle(images: torch.Tensor, grid: int, seed: int = 0) -> torch.Tensor:
    """Cut each image into ``grid`` x ``grid`` patches and put them back in a random order."""
    n, c, h, w = images.shape
    ph, pw = h // grid, w // grid
    patches = images[:, :, : ph * grid, : pw * grid].reshape(n, c, grid, ph, grid, pw)
    patches = patches.permute(0, 2, 4, 1, 3, 5).reshape(n, grid * grid, c, ph, pw)
    generator = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(grid * grid, generator=generator) for _ in range(n)])
    shuffled = patches[torch.arange(n)[:, None], order]
    shuffled = shuffled.reshape(n, grid, grid, c, ph, pw).permute(0, 3, 1, 4, 2, 5)
    out = images.clone()
    out[:, :, : ph * grid, : pw * grid] = shuffled.reshape(n, c, ph * grid, pw * grid)
    return out


def colour_shift(images: torch.Tensor, strength: float) -> torch.Tensor:
    """Colour images: hue rotated by ``strength`` of a turn; grey images: lightened by
    ``strength`` (in [-1, 1] units)."""
    if images.shape[1] == 3:
        return adjust_hue((images + 1) / 2, strength) * 2 - 1
    return (images + strength).clamp(-1, 1)


def pixel_clusters(images: torch.Tensor, k: int = CLUSTERS, seed: int = 0) -> torch.Tensor:
    """k-means (Lloyd, k-means++ start) of 8x8 thumbnails: one cluster id per image, a
    stand-in for modes where the data has no class labels."""
    x = torch.nn.functional.adaptive_avg_pool2d(images.float(), 8).flatten(1).double()
    generator = torch.Generator().manual_seed(seed)
    centres = x[torch.randint(len(x), (1,), generator=generator)]
    while len(centres) < k:
        d2 = torch.cdist(x, centres).min(1).values ** 2
        centres = torch.cat([centres, x[torch.multinomial(d2 / d2.sum(), 1, generator=generator)]])
    for _ in range(50):
        assign = torch.cdist(x, centres).argmin(1)
        moved = torch.stack([x[assign == j].mean(0) if (assign == j).any() else centres[j]
                             for j in range(k)])  # fmt: skip
        if torch.allclose(moved, centres):
            break
        centres = moved
    return torch.cdist(x, centres).argmin(1)


def keep_modes(
    images: torch.Tensor, modes: torch.Tensor, fraction: float, seed: int = 0
) -> torch.Tensor:
    """A painter that paints only ``fraction`` of the modes: the images of a random
    ``fraction`` of the mode ids, repeated (in a shuffled order) to the original count."""
    ids = modes.unique()
    generator = torch.Generator().manual_seed(seed)
    keep = ids[torch.randperm(len(ids), generator=generator)[: max(1, round(fraction * len(ids)))]]
    pool = torch.nonzero(torch.isin(modes, keep)).flatten()
    pool = pool[torch.randperm(len(pool), generator=generator)]
    return images[pool.repeat(math.ceil(len(images) / len(pool)))[: len(images)]]


# --- the ladder ------------------------------------------------------------------------------


@dataclass
class Rung:
    label: str
    fid: float
    multiple: float


@dataclass
class Ladder:
    """Rungs in order of increasing damage: FID should rise along them."""

    name: str
    rungs: list[Rung]

    @property
    def rises(self) -> bool:
        return all(b.fid > a.fid for a, b in zip(self.rungs, self.rungs[1:], strict=False))


@dataclass
class LadderReport:
    network: str
    dataset: str
    resolution: int
    n: int  # images per half
    floor: float
    ladders: list[Ladder]
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def rung(self, ladder: str, label: str) -> Rung:
        (found,) = [r for lad in self.ladders if lad.name == ladder for r in lad.rungs
                    if r.label == label]  # fmt: skip
        return found

    def to_dict(self) -> dict:
        return {
            "network": self.network, "dataset": self.dataset, "resolution": self.resolution,
            "n": self.n, "floor": self.floor, "passed": self.passed, "checks": self.checks,
            "ladders": [{"name": lad.name, "rises": lad.rises,
                         "rungs": [vars(r) for r in lad.rungs]} for lad in self.ladders],
        }  # fmt: skip

    def markdown(self) -> str:
        """The report as a Markdown table plus the checks."""
        lines = [
            f"**{self.network}** on {self.dataset} at {self.resolution} px: floor FID "
            f"{self.floor:.4g} (two disjoint real halves, n {self.n:,} each)",
            "",
            "| ladder | rung | FID | × floor | rises |",
            "|---|---|---|---|---|",
        ]
        for lad in self.ladders:
            for i, r in enumerate(lad.rungs):
                mark = ("yes" if lad.rises else "**no**") if i == 0 else ""
                lines.append(f"| {lad.name if i == 0 else ''} | {r.label} | {r.fid:.4g} | "
                             f"{format_multiple(r.multiple)} | {mark} |")  # fmt: skip
        lines.append("")
        lines += [f"- {'pass' if ok else '**FAIL**'}: {name}" for name, ok in self.checks.items()]
        return "\n".join(lines)


Features = Callable[[torch.Tensor], torch.Tensor]


def damage_ladders(
    images: torch.Tensor, modes: torch.Tensor, seed: int = 0
) -> list[tuple[str, list[tuple[str, torch.Tensor]]]]:
    """Every ladder of damaged copies of ``images``, in order of increasing strength."""
    colour = "hue turn" if images.shape[1] == 3 else "lighter by"
    shifts = HUE_TURNS if images.shape[1] == 3 else BRIGHTNESS_SHIFTS
    return [
        ("Gaussian blur", [(f"sigma {s:g} px", blur(images, s)) for s in BLUR_SIGMAS]),
        ("additive noise", [(f"std {s:g}", add_noise(images, s, seed)) for s in NOISE_STDS]),
        ("JPEG", [(f"quality {q}", jpeg(images, q)) for q in JPEG_QUALITIES]),
        ("patch shuffle", [(f"{g}x{g} grid", patch_shuffle(images, g, seed))
                           for g in SHUFFLE_GRIDS]),
        ("colour shift", [(f"{colour} {s:g}", colour_shift(images, s)) for s in shifts]),
        ("modes kept", [(f"{f:g} of the modes", keep_modes(images, modes, f, seed))
                        for f in MODE_FRACTIONS]),
    ]  # fmt: skip


def validate(
    features: Features,
    images: torch.Tensor,
    modes: torch.Tensor | None = None,
    checkpoints: Sequence[tuple[str, torch.Tensor]] = (),
    seed: int = 0,
    network: str = "",
    dataset: str = "",
    extra: Sequence[tuple[str, list[tuple[str, torch.Tensor]]]] = (),
) -> LadderReport:
    """Run every ladder on the real ``images`` (split into halves A and B by ``seed``) under
    ``features``; ``modes`` are class labels (default: pixel clusters); ``checkpoints`` are
    (label, generated images) from a run's early to its last checkpoint; ``extra`` are
    dataset-specific ladders (name, rungs of damaged copies of all of ``images``, in order),
    such as :func:`attributes_lost` on shapes, whose first rung must read at least
    ``MODES_MIN_MULTIPLE`` times the floor (one attribute lost is a mode lost)."""
    half_a, half_b = real_halves(len(images), seed)
    a, b = images[half_a], images[half_b]
    modes_b = (modes if modes is not None else pixel_clusters(images, seed=seed))[half_b]
    ref = features(a)
    floor = fid(ref, features(b))

    def rung(label: str, damaged: torch.Tensor) -> Rung:
        value = fid(ref, features(damaged[: len(b)]))
        return Rung(label, value, value / floor if floor > 0 else float("inf"))

    ladders = [Ladder(name, [rung(label, x) for label, x in damaged])
               for name, damaged in damage_ladders(b, modes_b, seed)]  # fmt: skip
    ladders += [Ladder(name, [rung(label, x[half_b]) for label, x in rungs])
                for name, rungs in extra]  # fmt: skip
    if checkpoints:  # the earliest checkpoint is the strongest damage: rungs from last to first
        ladders.append(Ladder("GAN checkpoints", [rung(label, x) for label, x in
                                                  reversed(list(checkpoints))]))  # fmt: skip
    report = LadderReport(network, dataset, images.shape[-1], len(b), floor, ladders)
    for lad in ladders:
        report.checks[f"FID rises along '{lad.name}'"] = lad.rises
    blur_1 = report.rung("Gaussian blur", "sigma 1 px").multiple
    report.checks[f"blur sigma 1 px reads >= {BLUR_MIN_MULTIPLE:g}x the floor "
                  f"({format_multiple(blur_1)})"] = blur_1 >= BLUR_MIN_MULTIPLE  # fmt: skip
    tenth = report.rung("modes kept", "0.1 of the modes").multiple
    report.checks[f"a tenth of the modes reads >= {MODES_MIN_MULTIPLE:g}x the floor "
                  f"({format_multiple(tenth)})"] = tenth >= MODES_MIN_MULTIPLE  # fmt: skip
    for name, rungs in extra:
        first = report.rung(name, rungs[0][0]).multiple
        report.checks[f"'{rungs[0][0]}' reads >= {MODES_MIN_MULTIPLE:g}x the floor "
                      f"({format_multiple(first)})"] = first >= MODES_MIN_MULTIPLE  # fmt: skip
    return report


#: shapes' attributes lost one after another: each rung keeps fewer of what a caption asks for
ATTRIBUTES_LOST = (
    ("every shape a circle", {"shape": "circle"}),
    ("+ every size small", {"shape": "circle", "size": "small"}),
    ("+ every colour red", {"shape": "circle", "size": "small", "color": "red"}),
    (
        "+ every one in the center",
        {"shape": "circle", "size": "small", "color": "red", "position": "center"},
    ),
)


def attributes_lost(
    resolution: int, count: int, seed: int = 0
) -> tuple[str, list[tuple[str, torch.Tensor]]]:
    """The shapes ladder of what a scene shows (issue 27): the dataset's first ``count`` scenes
    drawn again with one attribute after another lost (every shape a circle, then also small,
    red, centred), then as bare backgrounds. A person reads each rung as farther from the data
    than the last; a painter of round blobs sits on its first rung."""

    def scaled(images: torch.Tensor) -> torch.Tensor:
        return images.float() / 127.5 - 1

    rungs = [(label, scaled(redraw_shapes(resolution, n=count, seed=seed, fixed=fixed)))
             for label, fixed in ATTRIBUTES_LOST]  # fmt: skip
    empty = redraw_shapes(resolution, n=count, seed=seed, empty=True)
    rungs.append(("only the background", scaled(empty)))
    return "attributes lost", rungs
