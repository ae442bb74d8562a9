"""A tiny labelled, captioned dataset for GAN tests: one colored square per image."""

from __future__ import annotations

import torch

from huashi.data import ImageSet

COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


class Squares(ImageSet):
    """A real :class:`ImageSet` of ``n`` images of a colored square on black at a random place;
    labels = color index, captions = "a red square" etc. (none with ``labelled=False``)."""

    def __init__(self, n: int = 48, resolution: int = 16, seed: int = 0, labelled: bool = True):
        g = torch.Generator().manual_seed(seed)
        images = torch.zeros((n, 3, resolution, resolution), dtype=torch.uint8)
        labels = torch.randint(0, 3, (n,), generator=g)
        side = resolution // 2
        for i, label in enumerate(labels.tolist()):
            y, x = torch.randint(0, resolution - side + 1, (2,), generator=g).tolist()
            color = torch.tensor(list(COLORS.values())[label], dtype=torch.uint8).view(3, 1, 1)
            images[i, :, y : y + side, x : x + side] = color
        super().__init__(
            name="squares",
            images=images,
            labels=labels if labelled else None,
            class_names=list(COLORS) if labelled else None,
            captions=[f"a {list(COLORS)[k]} square" for k in labels] if labelled else None,
        )
