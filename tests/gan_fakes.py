"""A tiny labelled, captioned dataset for GAN tests: one colored square per image."""

from __future__ import annotations

import torch

COLORS = {"red": (1.0, -1.0, -1.0), "green": (-1.0, 1.0, -1.0), "blue": (-1.0, -1.0, 1.0)}


class Squares:
    """``n`` images of a colored square on black at a random place; labels = color index,
    captions = "a red square" etc. Has the ImageSet attributes the API reads."""

    def __init__(self, n: int = 48, resolution: int = 16, seed: int = 0, labelled: bool = True):
        g = torch.Generator().manual_seed(seed)
        self.resolution, self.channels = resolution, 3
        self.images = torch.full((n, 3, resolution, resolution), -1.0)
        labels = torch.randint(0, 3, (n,), generator=g)
        side = resolution // 2
        for i, label in enumerate(labels.tolist()):
            y, x = torch.randint(0, resolution - side + 1, (2,), generator=g).tolist()
            color = torch.tensor(list(COLORS.values())[label]).view(3, 1, 1)
            self.images[i, :, y : y + side, x : x + side] = color
        self.class_names = list(COLORS) if labelled else None
        self.labels = labels if labelled else None
        self.captions = [f"a {list(COLORS)[k]} square" for k in labels] if labelled else None
        self.targets = None

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: torch.Tensor) -> dict:
        out = {"image": self.images[indices].clone(), "index": indices}
        if self.labels is not None:
            out["label"] = self.labels[indices]
            out["caption"] = [self.captions[i] for i in indices.tolist()]
        return out
