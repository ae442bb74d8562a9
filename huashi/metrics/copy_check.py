"""The copy check (M6): does a painter paint new pictures or repaint its training images?

For each sample, the distance to its nearest training image, in a feature space and in pixels.
The yardstick is how close real images are to *each other*: for every training image, the
distance to its nearest *other* training image (leave one out). A painter that draws new
pictures as close to the data as the data is to itself puts about half of its samples below
the median of those real distances and about 1 % below their 1st percentile; one that repaints
its training set puts nearly all of them below both. FID cannot tell the two apart (a perfect
copy scores the floor), so huashi shows this beside every score.

A space is flagged when at least ``MEDIAN_SHARE_FLAG`` of the samples lie below the real median
or at least ``LOW_SHARE_FLAG`` below the real 1st percentile.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MEDIAN_SHARE_FLAG = 0.75
LOW_SHARE_FLAG = 0.10
LOW_QUANTILE = 0.01
BASELINE_IMAGES = 1000  # training images whose nearest other image sets the real distances


@dataclass(frozen=True)
class CopyCheck:
    """Nearest-training-image distances of the samples in one space, against the real ones."""

    space: str  # "features" or "pixels"
    distance: torch.Tensor  # [n] each sample's distance to its nearest training image
    nearest: torch.Tensor  # [n] the index of that training image
    real_median: float  # median nearest-other-image distance among the training images
    real_low: float  # their 1st percentile

    @property
    def share_below_median(self) -> float:
        return float((self.distance < self.real_median).float().mean())

    @property
    def share_below_low(self) -> float:
        return float((self.distance < self.real_low).float().mean())

    @property
    def flagged(self) -> bool:
        return (self.share_below_median >= MEDIAN_SHARE_FLAG
                or self.share_below_low >= LOW_SHARE_FLAG)  # fmt: skip

    def summary(self) -> dict[str, float | bool | str]:
        return {
            "space": self.space, "share_below_real_median": self.share_below_median,
            "share_below_real_1st_percentile": self.share_below_low,
            "real_median": self.real_median, "real_1st_percentile": self.real_low,
            "sample_median": float(self.distance.median()), "flagged": self.flagged,
        }  # fmt: skip


def nearest_neighbours(
    queries: torch.Tensor,
    keys: torch.Tensor,
    skip: torch.Tensor | None = None,
    chunk: int = 512,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from each query row to its nearest key row, and that key's index;
    ``skip[i]``: the index of a key query i may not match (itself, when queries are keys)."""
    q, k = queries.flatten(1).float(), keys.flatten(1).float()
    distances, indices = [], []
    for start in range(0, len(q), chunk):
        d = torch.cdist(q[start : start + chunk], k)
        if skip is not None:
            d[torch.arange(len(d)), skip[start : start + chunk]] = float("inf")
        best = d.min(1)
        distances.append(best.values)
        indices.append(best.indices)
    return torch.cat(distances), torch.cat(indices)


def copy_check(
    samples: torch.Tensor, training: torch.Tensor, space: str, seed: int = 0
) -> CopyCheck:
    """Compare the samples' nearest-training-image distances with the training images'
    nearest-other-image distances (rows are samples; pixels or features, flattened), the
    latter from up to ``BASELINE_IMAGES`` training images picked by ``seed``."""
    distance, nearest = nearest_neighbours(samples, training)
    picked = torch.randperm(len(training), generator=torch.Generator().manual_seed(seed))
    picked = picked[:BASELINE_IMAGES]
    real, _ = nearest_neighbours(training[picked], training, skip=picked)
    return CopyCheck(space, distance, nearest, float(real.median()),
                     float(torch.quantile(real, LOW_QUANTILE)))  # fmt: skip


def closest_pairs(check: CopyCheck, count: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the ``count`` samples closest to a training image, and those images'."""
    order = check.distance.argsort()[:count]
    return order, check.nearest[order]
