"""Drag-to-edit (DragGAN, Pan et al. 2023): move handle points of a generated image to target
points by optimizing its w+ latent, tracking the handles as the picture changes.

Each step has two parts:

- Motion supervision: around every handle p (a disk of radius ``r1``), the generator's feature
  map at q + d is pulled towards the (frozen) features at q, where d is the unit step from p
  towards its target; the content near p thus moves one small step towards the target. With a
  keep mask, the features in the kept region are also held at their starting values. Only the
  first ``layers`` ws of w+ are optimized (they carry shape and pose).
- Point tracking: each handle moves to the position in a (2 ``r2`` + 1)^2 window whose feature
  vector is the nearest (L1) to the handle's feature in the starting image.

The feature map is a synthesis layer's output (by default at half the image size), upsampled
bilinearly to the image size. Points are (x, y) in pixels of the generated image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from huashi.core.errors import HuashiError
from huashi.core.validation import (
    MAX_OPTIMIZATION_STEPS,
    check_count,
    check_number,
    check_output_dir,
)
from huashi.gan.drag_check import HandleCheck, check_drag
from huashi.gan.editing import needs_mapping


@dataclass
class Drag:
    ws: torch.Tensor  # [1, num_ws, w_dim] the edited latent
    image: torch.Tensor  # [C, H, W] the final image
    start: torch.Tensor  # [C, H, W] the image before dragging
    frames: torch.Tensor  # [K, C, H, W] images along the way
    handles: list[tuple[float, float]]  # where the tracked handles ended, (x, y)
    targets: list[tuple[float, float]]
    steps: int
    trail: list[list[tuple[float, float]]] = field(default_factory=list)  # handles per step
    #: The self-check: did the content under each handle reach its target (huashi.gan.drag_check)?
    checks: list[HandleCheck] = field(default_factory=list)

    @property
    def distances(self) -> list[float]:
        return [
            float(((hx - tx) ** 2 + (hy - ty) ** 2) ** 0.5)
            for (hx, hy), (tx, ty) in zip(self.handles, self.targets, strict=True)
        ]


def _features(family: Any, ws: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, features = family.synthesize(ws, return_features=True)
    if resolution not in features:
        raise HuashiError(f"--feature-resolution must be one of {', '.join(map(str, features))}.")
    size = images.shape[-2:]
    return images, F.interpolate(
        features[resolution].float(), size=size, mode="bilinear", align_corners=False
    )


def _sample(feature: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples [N, C] of ``feature`` [1, C, H, W] at ``points`` [N, 2] (x, y pixels)."""
    h, w = feature.shape[-2:]
    grid = torch.stack([2 * points[:, 0] / (w - 1) - 1, 2 * points[:, 1] / (h - 1) - 1], dim=1)
    out = F.grid_sample(feature, grid.view(1, 1, -1, 2), mode="bilinear", align_corners=True)
    return out[0, :, 0].T


def _disk(radius: float) -> torch.Tensor:
    r = int(radius)
    offsets = [
        (dx, dy)
        for dy in range(-r, r + 1)
        for dx in range(-r, r + 1)
        if dx * dx + dy * dy <= radius * radius
    ]
    return torch.tensor(offsets, dtype=torch.float32)


def track(
    features: torch.Tensor, points: torch.Tensor, reference: torch.Tensor, radius: int
) -> torch.Tensor:
    """Move each point [N, 2] to the pixel of a (2 radius + 1)^2 window around it whose feature
    in ``features`` [1, C, H, W] is nearest (L1) to its ``reference`` feature [N, C]."""
    h, w = features.shape[-2:]
    offsets = (
        torch.stack(
            torch.meshgrid(
                torch.arange(-radius, radius + 1), torch.arange(-radius, radius + 1), indexing="xy"
            ),
            dim=-1,
        )
        .view(-1, 2)
        .float()
        .to(points.device)
    )
    limit = torch.tensor([w - 1, h - 1], dtype=torch.float32, device=points.device)
    moved = []
    for point, ref in zip(points, reference, strict=True):
        candidates = torch.minimum((point.round() + offsets).clamp_min(0), limit)
        found = _sample(features, candidates)
        moved.append(candidates[(found - ref).abs().sum(dim=1).argmin()])
    return torch.stack(moved)


def drag(
    family: Any,
    ws: torch.Tensor,
    handles: Sequence[tuple[float, float]],
    targets: Sequence[tuple[float, float]],
    keep: torch.Tensor | None = None,
    steps: int = 200,
    lr: float = 0.02,
    layers: int | None = None,
    feature_resolution: int | None = None,
    r1: float = 2.0,
    r2: int = 3,
    keep_weight: float = 2.0,
    tolerance: float = 1.0,
    frames: int = 8,
    on_step: Callable[[int, int, str], None] | None = None,
) -> Drag:
    """Drag ``handles`` to ``targets`` in the image of ``ws`` [1, num_ws, w_dim]. ``keep``
    [H, W] marks (1) the region that must stay as it is. Stops when every handle is within
    ``tolerance`` px of its target, or after ``steps``. ``on_step(done, steps, message)``
    reports each step, the message saying how far the farthest handle still is."""
    needs_mapping(family, "dragging")
    if len(handles) != len(targets) or not handles:
        raise HuashiError("give one target per handle: --point X,Y:X2,Y2 (at least one).")
    layers = layers if layers is not None else max(1, family.num_ws // 2)
    size = family.data.resolution
    feature_resolution = feature_resolution or max(4, size // 2)
    for x, y in list(handles) + list(targets):
        if not (0 <= x <= size - 1 and 0 <= y <= size - 1):
            raise HuashiError(f"point ({x}, {y}) is outside the {size}x{size} image.")
    device = family.device
    ws = ws.to(device).detach()
    frozen = [p for m in family.modules.values() for p in m.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            start, start_features = _features(family, ws, feature_resolution)
        head = ws[:, :layers].clone().requires_grad_(True)
        tail = ws[:, layers:]
        optimizer = torch.optim.Adam([head], lr=lr)
        points = torch.tensor(handles, dtype=torch.float32, device=device)
        goal = torch.tensor(targets, dtype=torch.float32, device=device)
        reference = _sample(start_features, points)  # each handle's feature in the start image
        disk = _disk(r1).to(device)
        keep_mask = None if keep is None else keep.to(device).float().view(1, 1, size, size)
        kept, trail = [start[0].cpu()], [[tuple(p) for p in points.tolist()]]
        every = max(1, steps // max(1, frames - 1))
        done = 0
        for step in range(steps):
            if (points - goal).norm(dim=1).max() <= tolerance:
                break
            current = torch.cat([head, tail], dim=1)
            images, features = _features(family, current, feature_resolution)
            loss = torch.zeros((), device=device)
            for p, t in zip(points, goal, strict=True):
                distance = (t - p).norm()
                if distance <= tolerance:
                    continue
                d = (t - p) / distance
                q = (p + disk).clamp(0, size - 1)
                moved = (q + d).clamp(0, size - 1)
                loss = (
                    loss + (_sample(features, moved) - _sample(features, q).detach()).abs().mean()
                )
            if keep_mask is not None:
                held = ((features - start_features).abs() * keep_mask).sum()
                loss = loss + keep_weight * held / (keep_mask.sum() * features.shape[1])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done = step + 1
            with torch.no_grad():  # point tracking in the new image's features
                _, features = _features(family, torch.cat([head, tail], dim=1), feature_resolution)
                points = track(features, points, reference, r2)
            trail.append([tuple(p) for p in points.tolist()])
            if on_step is not None:
                left = float((points - goal).norm(dim=1).max())
                on_step(done, steps, f"dragging: {left:.1f} px to go")
            if done % every == 0:
                kept.append(images.detach()[0].cpu())
        with torch.no_grad():
            final_ws = torch.cat([head, tail], dim=1).detach()
            final = family.synthesize(final_ws)[0].cpu()
            _, final_features = _features(family, final_ws, feature_resolution)
        checks = check_drag(start_features, final_features, handles, targets, r1)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    kept.append(final)
    return Drag(
        final_ws.cpu(), final, start[0].cpu(), torch.stack(kept),
        [tuple(p) for p in points.tolist()], [tuple(map(float, t)) for t in targets], done, trail,
        checks,
    )  # fmt: skip


def parse_point(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """ "12,20:18,20" -> handle (12, 20) and target (18, 20), as (x, y) pixels."""
    try:
        handle, target = text.split(":")
        hx, hy = (float(v) for v in handle.split(","))
        tx, ty = (float(v) for v in target.split(","))
    except ValueError:
        raise HuashiError(
            f"bad --point {text!r}: write HANDLE_X,HANDLE_Y:TARGET_X,TARGET_Y, e.g. 12,20:18,20."
        ) from None
    return (hx, hy), (tx, ty)


def drag_file(
    run: str | Path,
    latent_path: str | Path,
    points: Sequence[str],
    out: str | Path,
    mask: str | Path | None = None,
    steps: int = 200,
    lr: float = 0.02,
    layers: int | None = None,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    progress: Callable[[int, int, str], None] | None = None,
) -> Drag:
    """Drag with a run and a latent file; writes ``before.png``, ``after.png`` (its metadata
    remakes it), ``frames.png`` and ``latent.safetensors`` (w+) into the folder ``out``. ``mask``
    is an image whose white pixels must stay fixed; ``progress`` is told each step."""
    from huashi.core.images import make_grid, save_png, to_pil
    from huashi.gan.inversion import read_mask
    from huashi.gan.latents import Latent, load_latent, save_latent, to_ws
    from huashi.runs import load_run

    check_output_dir(out)
    check_count("--steps", steps, MAX_OPTIMIZATION_STEPS, "lower --steps")
    check_number("--lr", lr, 0, low_included=False)
    loaded = load_run(run, checkpoint, device)
    family = loaded.family
    latent = load_latent(latent_path)
    ws = to_ws(family, latent.tensor.to(family.device), latent.space, **latent.options).detach()
    pairs = [parse_point(p) for p in points]
    keep = None if mask is None else read_mask(mask, family.data.resolution)[0]
    result = drag(family, ws[:1], [h for h, _ in pairs], [t for _, t in pairs], keep, steps, lr,
                  layers, on_step=progress)  # fmt: skip
    out = Path(out)
    run_path = str(Path(run).resolve())
    latent_file = save_latent(
        out / "latent.safetensors",
        Latent(result.ws, "w+", run_path, loaded.checkpoint.name, {},
               {"points": list(points), "handles": result.handles, "steps": result.steps}),
    )  # fmt: skip
    params = {
        "run": run_path, "checkpoint": loaded.checkpoint.name, "family": loaded.config.family,
        "latent": str(latent_file.resolve()), "space": "w+", "points": list(points),
    }  # fmt: skip
    save_png(to_pil(result.start), out / "before.png")
    save_png(to_pil(result.image), out / "after.png", params)
    save_png(make_grid(result.frames, nrow=len(result.frames)), out / "frames.png")
    return result
