"""Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN feature manifolds.

Each set's manifold is the union of balls around its points, each ball's radius the distance
to the point's k-th nearest neighbour in the same set. Precision = share of generated samples
inside the real manifold (are fakes realistic?); recall = share of real samples inside the
generated manifold (is the data covered?). A generator copying 10% of the data has precision
≈ 1 and recall ≈ 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from huashi.metrics import require_samples


@dataclass
class PrecisionRecall:
    precision: float
    recall: float
    k: int


def _kth_radius(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance of every point to its k-th nearest neighbour in ``x`` (itself excluded)."""
    radii = []
    for start in range(0, len(x), chunk):
        d = torch.cdist(x[start : start + chunk], x)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the 1st is the point itself (0)
    return torch.cat(radii)


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int):
    """Share of ``points`` inside at least one ball (centre, radius)."""
    inside = 0
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk], centres)
        inside += int((d <= radii[None, :]).any(dim=1).sum())
    return inside / len(points)


def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = 1024
) -> PrecisionRecall:
    """Precision and recall of features ``fake`` [M, D] against ``real`` [N, D]."""
    why = f"each needs a {k}-th nearest neighbour besides itself"
    require_samples("precision/recall", min(len(real), len(fake)), k + 1, why)
    x, y = real.detach().float().cpu(), fake.detach().float().cpu()
    precision = _coverage(y, x, _kth_radius(x, k, chunk), chunk)
    recall = _coverage(x, y, _kth_radius(y, k, chunk), chunk)
    return PrecisionRecall(precision, recall, k)
