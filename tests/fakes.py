"""Small stand-ins shared by tests."""

from __future__ import annotations

import torch


class FakeImages:
    """An in-memory dataset of random images in [-1, 1] with the ``batch`` interface."""

    def __init__(self, n: int = 40, channels: int = 3, resolution: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, channels, resolution, resolution, generator=g) * 2 - 1
        self.poisoned = False

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: torch.Tensor) -> dict:
        images = self.images[indices].clone()
        if self.poisoned:
            images[:] = float("nan")
        return {"image": images, "index": indices}
