"""Small stand-ins shared by tests."""

from __future__ import annotations

import torch

from huashi.data import ImageSet


class FakeImages(ImageSet):
    """A real in-memory :class:`ImageSet` of random pixels that can be "poisoned": from then on
    its batches are all NaN (to test how training reacts to a diverging loss)."""

    def __init__(self, n: int = 40, channels: int = 3, resolution: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        shape = (n, channels, resolution, resolution)
        super().__init__("random", torch.randint(0, 256, shape, generator=g, dtype=torch.uint8))
        self.poisoned = False

    def batch(self, indices: torch.Tensor) -> dict:
        out = super().batch(indices)
        if self.poisoned:
            out["image"][:] = float("nan")
        return out
