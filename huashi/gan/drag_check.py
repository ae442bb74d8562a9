"""Did a drag move the content, or only the tracked points? A drag's self-check.

Point tracking reports where each handle went, but a handle "reaching" its target does not prove
the picture's content moved there: motion supervision can also erase the feature under the
handle, and the tracker then settles on whatever is nearest. The check looks at the content
itself, as the tracker does: the handle's patch (a disk of feature vectors around it) in the
start image is compared, feature by feature (L1), with the patch at the target in the final
image. The mismatch is stated as a fraction of a baseline, the mismatch at the start between the
handle's patch and the target's patch (for a handle held in place, between the handle's patch
and the patches a few pixels away). A fraction of at most :data:`MOVED_AT_MOST` means the content
is at its target; above it, the drag did not carry it there. Smooth features can match at the
target well enough while the content sits nearer its start (a face that rose 1 px of the 3 asked
matches its eyes 3 px up at under half the baseline), so the check also searches where the
handle's patch matches best, every whole pixel around the handle and the target: the content
counts as moved only when that best match is within :data:`FOUND_WITHIN` px of the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: The content counts as moved when its mismatch at the target is at most this fraction of the
#: baseline (half the way from "as different as the target was" to "identical").
MOVED_AT_MOST = 0.5
#: For a handle held in place: the baseline compares its patch with patches this many px away.
NEIGHBOUR_OFFSET = 3.0
#: ... and only when the best match of its patch is at most this many px from the target.
FOUND_WITHIN = 1.0
#: The search for the best match spans the handle and the target plus this many px around.
SEARCH_MARGIN = 2


@dataclass
class HandleCheck:
    handle: tuple[float, float]
    target: tuple[float, float]
    mismatch: float  # fraction of the baseline; 0 = the handle's content is exactly at the target
    found: tuple[float, float]  # where the handle's start patch matches the final image best

    @property
    def moved(self) -> bool:
        (fx, fy), (tx, ty) = self.found, self.target
        near = (fx - tx) ** 2 + (fy - ty) ** 2 <= FOUND_WITHIN**2
        return self.mismatch <= MOVED_AT_MOST and near

    def describe(self) -> str:
        (hx, hy), (tx, ty) = self.handle, self.target
        held = (hx, hy) == (tx, ty)
        what = f"handle ({hx:g}, {hy:g})" + ("" if held else f" -> ({tx:g}, {ty:g})")
        if self.moved:
            verb = "stayed in place" if held else "moved"
            fx, fy = self.found
            return (
                f"{what}: the content {verb} (mismatch {self.mismatch:.2f} of the baseline; "
                f"it matches best at ({fx:g}, {fy:g}))."
            )
        fx, fy = self.found
        if self.mismatch <= MOVED_AT_MOST:  # similar enough at the target, but best elsewhere
            return (
                f"{what}: the content under it did NOT get there: it matches best at ({fx:g}, "
                f"{fy:g}) (mismatch {self.mismatch:.2f} of the baseline at the target): try more "
                "--steps, or a keep --mask around what should move."
            )
        if held:
            return (
                f"{what}: the content under it did NOT stay (mismatch {self.mismatch:.2f} of the "
                "baseline): give it a keep --mask."
            )
        return (
            f"{what}: the content under it did NOT move there (mismatch {self.mismatch:.2f} of the "
            "baseline; it was erased or changed, whatever the tracked point says): try a shorter "
            "drag, more --steps, or a handle on a distinct feature."
        )


def _patch(features: torch.Tensor, centre: torch.Tensor, disk: torch.Tensor) -> torch.Tensor:
    """Bilinear feature vectors [P, C] of ``features`` [1, C, H, W] at ``centre`` + ``disk``."""
    h, w = features.shape[-2:]
    points = centre + disk
    points = torch.stack([points[:, 0].clamp(0, w - 1), points[:, 1].clamp(0, h - 1)], dim=1)
    grid = torch.stack([2 * points[:, 0] / (w - 1) - 1, 2 * points[:, 1] / (h - 1) - 1], dim=1)
    out = F.grid_sample(features, grid.view(1, 1, -1, 2), mode="bilinear", align_corners=True)
    return out[0, :, 0].T


def _mismatch(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


def check_drag(
    start_features: torch.Tensor,
    final_features: torch.Tensor,
    handles: Sequence[tuple[float, float]],
    targets: Sequence[tuple[float, float]],
    radius: float = 2.0,
) -> list[HandleCheck]:
    """One :class:`HandleCheck` per handle: how well the handle's start patch is found at its
    target in the final features (both [1, C, H, W], image-sized)."""
    r = int(radius)
    offsets = [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    disk = torch.tensor(
        [o for o in offsets if o[0] ** 2 + o[1] ** 2 <= radius**2], dtype=torch.float32
    )
    start_features, final_features = start_features.float().cpu(), final_features.float().cpu()
    checks = []
    for handle, target in zip(handles, targets, strict=True):
        h, t = torch.tensor(handle), torch.tensor(target)
        content = _patch(start_features, h, disk)
        after = _mismatch(_patch(final_features, t, disk), content)
        if torch.equal(h, t):
            steps = [(NEIGHBOUR_OFFSET, 0.0), (-NEIGHBOUR_OFFSET, 0.0)]
            steps += [(0.0, NEIGHBOUR_OFFSET), (0.0, -NEIGHBOUR_OFFSET)]
            near = [_patch(start_features, h + torch.tensor(s), disk) for s in steps]
            baseline = sum(_mismatch(n, content) for n in near) / len(near)
        else:
            baseline = _mismatch(_patch(start_features, t, disk), content)
        found = _best_match(final_features, content, disk, h, t)
        checks.append(HandleCheck(tuple(handle), tuple(target), after / max(baseline, 1e-12),
                                  found))  # fmt: skip
    return checks


def _best_match(
    features: torch.Tensor, content: torch.Tensor, disk: torch.Tensor, handle: torch.Tensor,
    target: torch.Tensor,
) -> tuple[float, float]:  # fmt: skip
    """The place, on the target's whole-pixel grid within reach of the handle and a little
    beyond, where ``content`` (a patch) matches ``features`` best; the target wins a tie."""
    reach = int(torch.ceil((target - handle).abs().max())) + SEARCH_MARGIN
    steps = range(-reach, reach + 1)
    best, where = None, target
    for dy in steps:
        for dx in steps:
            place = target + torch.tensor([float(dx), float(dy)])
            cost = _mismatch(_patch(features, place, disk), content)
            if best is None or cost < best - 1e-9 or (cost <= best + 1e-9 and dx == dy == 0):
                best, where = cost, place
    return float(where[0]), float(where[1])
