"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased estimate of the squared MMD
between two feature sets with the polynomial kernel k(x, y) = (x·y / D + 1)^3, averaged over
random subsets (mean ± standard deviation over subsets).

Unbiased means the expected value over draws is exactly MMD², so two draws of one distribution
give KID ≈ 0 on average (single estimates may be slightly negative) — unlike FID, it does not
depend on the sample count in expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from huashi.metrics import require_samples

MIN_SUBSET = 2


@dataclass
class KIDResult:
    mean: float
    std: float
    subsets: int
    subset_size: int


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² of two equally sized sets (diagonal terms of k(x,x), k(y,y) left out)."""
    m = len(x)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    same = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(same - 2 * kxy.sum() / (m * m))


def kid(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KIDResult:
    """KID of features [N, D] vs [M, D] over ``subsets`` random subsets drawn (without
    replacement inside a subset) from a seeded generator, so the number is reproducible.

    A subset holds ``subset_size`` samples, at most half of the smaller set when there are
    several subsets (subsets equal to the whole set would all agree and report std 0), and the
    whole smaller set when ``subsets == 1``."""
    require_samples("KID", min(len(real), len(fake)), MIN_SUBSET, "an unbiased MMD needs pairs")
    x, y = real.detach().double().cpu(), fake.detach().double().cpu()
    size = min(subset_size, len(x), len(y))
    if subsets > 1:
        size = min(size, max(MIN_SUBSET, min(len(x), len(y)) // 2))
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        xi = x[torch.randperm(len(x), generator=g)[:size]]
        yi = y[torch.randperm(len(y), generator=g)[:size]]
        values.append(mmd2_unbiased(xi, yi))
    t = torch.tensor(values, dtype=torch.float64)
    std = float(t.std(unbiased=False)) if len(t) > 1 else 0.0
    return KIDResult(float(t.mean()), std, subsets, size)
