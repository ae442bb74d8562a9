"""Fréchet distance between Gaussians fitted to two feature sets (FID, Heusel et al. 2017).

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1 S2)^(1/2) )

The trace of the matrix square root is computed stably from symmetric eigen-decompositions:
with R = S1^(1/2) (symmetric), S1 S2 is similar to R S2 R, which is symmetric positive
semi-definite, so tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of R S2 R). No complex parts,
no ill-conditioned ``sqrtm`` iterations; everything in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from huashi.metrics import require_samples


@dataclass
class GaussianStats:
    """Mean and covariance of a feature set (float64), with the number of samples."""

    mu: torch.Tensor  # [D]
    sigma: torch.Tensor  # [D, D]
    n: int

    def to_tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        return {f"{prefix}mu": self.mu, f"{prefix}sigma": self.sigma}


def min_samples(dim: int) -> int:
    """A full-rank covariance of D-dimensional features needs at least D + 1 samples."""
    return dim + 1


def gaussian_stats(features: torch.Tensor) -> GaussianStats:
    """Fit mean and (unbiased) covariance to features [N, D]."""
    x = features.detach().to(torch.float64).cpu()
    require_samples("FID", len(x), min_samples(x.shape[1]), f"{x.shape[1]}-dim features + 1")
    mu = x.mean(0)
    centred = x - mu
    sigma = centred.T @ centred / (len(x) - 1)
    return GaussianStats(mu, sigma, len(x))


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (negative round-off -> 0)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """The Fréchet distance between two fitted Gaussians."""
    root = _sqrt_psd(a.sigma)
    middle = root @ b.sigma @ root
    eigen = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0)
    diff = a.mu - b.mu
    value = diff @ diff + torch.trace(a.sigma) + torch.trace(b.sigma) - 2 * eigen.sqrt().sum()
    return max(float(value), 0.0)


def fid(real: torch.Tensor | GaussianStats, fake: torch.Tensor | GaussianStats) -> float:
    """FID of two feature sets [N, D] (or their precomputed stats)."""
    a = real if isinstance(real, GaussianStats) else gaussian_stats(real)
    b = fake if isinstance(fake, GaussianStats) else gaussian_stats(fake)
    return frechet_distance(a, b)
