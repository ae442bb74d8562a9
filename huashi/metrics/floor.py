"""FID in multiples of its real-vs-real floor (M6).

FID has no absolute zero: two disjoint sets of *real* images already differ by an estimation
bias that grows as the sample count shrinks and the feature dimension grows. huashi therefore
shows every FID beside its floor, measured at the same n: the real split is cut into two
disjoint halves A and B by a seeded permutation, the floor is FID(A, B[:k]) and the painter's
comparable score is FID(A, fake[:k]) with k = min(n, |B|). Their ratio, "1.6× floor", reads the
same for any dataset and feature network: 1× is as close as real images get to each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from huashi.metrics.fid import fid


@dataclass(frozen=True)
class FloorMultiple:
    """FID of ``n`` samples against real half A, and of ``n`` real images of half B against
    the same half A (the floor); ``multiple`` = fid / floor."""

    fid: float
    floor: float
    n: int
    reference_n: int

    @property
    def multiple(self) -> float:
        return self.fid / self.floor if self.floor > 0 else float("inf")

    def to_dict(self) -> dict[str, float]:
        return asdict(self) | {"multiple": self.multiple}


def real_halves(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of two disjoint halves (A, B) of ``count`` real images, picked by ``seed``."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    half = count // 2
    return order[:half], order[half : 2 * half]


def floor_multiple(half_a: torch.Tensor, half_b: torch.Tensor, fake: torch.Tensor) -> FloorMultiple:
    """Compare generated features ``fake`` and real features ``half_b`` with ``half_a`` at
    equal n (the first k = min(len(fake), len(half_b)) of each)."""
    k = min(len(fake), len(half_b))
    return FloorMultiple(fid(half_a, fake[:k]), fid(half_a, half_b[:k]), k, len(half_a))


def format_fid(value: float, multiple: float | None, n: int, network: str) -> str:
    """One line for a person: ``FID 0.29 = 1.6× floor (n 1,000, zoo:reference-emoji)``."""
    times = "" if multiple is None else f" = {format_multiple(multiple)} floor"
    return f"FID {value:.3g}{times} (n {n:,}, {network})"


def format_multiple(multiple: float) -> str:
    """``1.6×``, ``15×``, ``0.93×``: two significant digits, at most one decimal above 10."""
    if multiple >= 10:
        return f"{multiple:.0f}×"
    return f"{multiple:.2g}×" if multiple < 1 else f"{multiple:.1f}×"
