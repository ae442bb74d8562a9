"""The GAN latent-space actions (see :mod:`huashi.gan`): inversion, editing, style mixing and
dragging of files (``invert``, ``edit``, ``mixing_grid``, ``drag``: a run folder and files in,
results written into ``out``), and the same on a loaded run in memory for the studio
(``walk_seeds``, ``invert_image``, ``edit_latent``, ``drag_latent``, ``save_latent``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from huashi.core.errors import HuashiError
from huashi.core.images import read_image_tensor
from huashi.core.progress import Progress
from huashi.gan.drag import Drag
from huashi.gan.drag import drag as drag_points
from huashi.gan.drag import drag_file as drag
from huashi.gan.editing import direction, needs_mapping, parse_strengths, sweep, walk
from huashi.gan.editing import edit_file as edit
from huashi.gan.editing import write_mixing_grid as mixing_grid
from huashi.gan.inversion import Inversion
from huashi.gan.inversion import invert as invert_target
from huashi.gan.inversion import invert_file as invert
from huashi.gan.latents import Latent, check_space, load_latent, spaces_of, to_ws
from huashi.gan.latents import save_latent as write_latent
from huashi.runs import LoadedRun

__all__ = [
    "EditSweep",
    "SeedWalk",
    "drag",
    "drag_latent",
    "edit",
    "edit_latent",
    "invert",
    "invert_image",
    "latent_spaces",
    "mixing_grid",
    "save_latent",
    "walk_seeds",
]

#: The latent spaces a family offers ("z", and "w", "w+" with a mapping network; none without
#: a latent space).
latent_spaces = spaces_of


@dataclass
class SeedWalk:
    """Images along a walk between two seeds' latents, and the space walked in."""

    images: torch.Tensor  # [steps, C, R, R] in [-1, 1]
    space: str  # "w" (lerp) with a mapping network, else "z" (slerp)
    truncation: float | None  # with a mapping network


def walk_seeds(
    run: LoadedRun, seed_a: int, seed_b: int, steps: int, truncation: float | None = None
) -> SeedWalk:
    """The images between seed A's and seed B's latents: lerp in w (truncated) for a family
    with a mapping network, slerp in z otherwise."""
    family = run.family
    mapped = "w" in spaces_of(family)
    if truncation is not None and not mapped:
        raise HuashiError(
            f"a {run.config.family} run has no truncation (it needs a mapping network)."
        )
    truncation = 1.0 if truncation is None else truncation
    z = family.latents_for_seeds([seed_a, seed_b])
    if mapped:  # lerp in w
        with torch.no_grad():
            a, b = family.map_latents(z, truncation)
        return SeedWalk(walk(family, a, b, "w", steps), "w", truncation)
    return SeedWalk(walk(family, z[0], z[1], "z", steps), "z", None)  # slerp in z


def invert_image(
    run: LoadedRun,
    image: str | Path,
    space: str,
    steps: int,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[Inversion, list[str]]:
    """Invert an image file into the run's latent ``space``; also the notes on how the file
    was converted to the run's channels and size. ``progress`` is told each step."""
    family = run.family
    check_space(family, space)
    target, notes = read_image_tensor(image, family.data.channels, family.data.resolution)
    return invert_target(family, target, space, steps, on_step=progress), notes


def drag_latent(
    run: LoadedRun,
    latent: str | Path,
    handles: list[tuple[float, float]],
    targets: list[tuple[float, float]],
    steps: int,
    progress: Progress | None = None,
) -> Drag:
    """Drag ``handles`` to ``targets`` in the image of a latent file (needs the w+ space);
    ``progress(done, steps, message)`` is told each step (the farthest handle's distance)."""
    family = run.family
    if "w+" not in spaces_of(family):
        raise HuashiError(
            f"dragging needs a generator with a mapping network (w+), such as a stylegan "
            f"run; a {run.config.family} run has only z."
        )
    saved = load_latent(latent)
    ws = to_ws(family, saved.tensor, saved.space, **saved.options).detach()
    return drag_points(family, ws[:1], handles, targets, steps=steps, on_step=progress)


@dataclass
class EditSweep:
    """Images of a latent moved along a direction in w, one per strength."""

    images: torch.Tensor  # [len(strengths), C, R, R] in [-1, 1]
    strengths: list[float]


def edit_latent(
    run: LoadedRun, latent: str | Path, direction_spec: str, strengths: str | list[float]
) -> EditSweep:
    """The image of a latent file moved by each strength along ``direction_spec`` ("sefa:0",
    "label:a-label:b", ...; see :func:`huashi.gan.editing.direction`) in w, as ``huashi edit``
    sweeps it (with the latent's fitted noise maps, if any)."""
    family = run.family
    needs_mapping(family, "editing")
    saved = load_latent(latent)
    ws = to_ws(family, saved.tensor.to(family.device), saved.space, **saved.options).detach()
    d = direction(family, direction_spec, None, **saved.options)
    values = parse_strengths(strengths)
    return EditSweep(sweep(family, ws[:1], d, values, None, saved.noise), values)


def save_latent(
    path: str | Path, run: LoadedRun, tensor: torch.Tensor, space: str, extra: dict[str, Any]
) -> Path:
    """Write a latent of ``run`` (space and checkpoint recorded) to ``path``."""
    path = Path(path)
    write_latent(path, Latent(tensor, space, str(run.run_dir), run.checkpoint.name, {}, extra))
    return path
