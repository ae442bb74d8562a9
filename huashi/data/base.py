"""The in-memory dataset every loader returns, and the uint8 <-> [-1, 1] conversions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch

from huashi.core.errors import HuashiError
from huashi.core.images import to_uint8 as to_uint8  # re-exported: the conversions live there
from huashi.core.images import to_unit_range

SPLITS = ("train", "test", "all")


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert uint8 [N, C, H, W] between grayscale (1) and RGB (3).

    RGB -> gray uses the ITU-R 601-2 luma weights in Pillow's fixed point (exactly its
    ``convert("L")``);
    gray -> RGB repeats the channel.
    """
    if channels not in (1, 3):
        raise HuashiError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels}.")
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3:
        return images.repeat(1, 3, 1, 1)
    weights = torch.tensor([19595, 38470, 7471], dtype=torch.int32).view(1, 3, 1, 1)  # x 2^16
    luma = (images.to(torch.int32) * weights).sum(dim=1, keepdim=True)
    return ((luma + 0x8000) >> 16).to(torch.uint8)


def in_test_split(key: str, percent: int = 10) -> bool:
    """Deterministic, platform-independent split: ``percent``% of keys go to the test split."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def check_split(split: str) -> str:
    """Validate a split name."""
    if split not in SPLITS:
        raise HuashiError(f"unknown split '{split}': use one of {', '.join(SPLITS)}.")
    return split


def split_mask(keys: list[str], split: str) -> list[bool]:
    """Which items (by their stable keys) belong to ``split`` (train 90%, test 10%, all)."""
    check_split(split)
    if split == "all":
        return [True] * len(keys)
    want_test = split == "test"
    return [in_test_split(k) == want_test for k in keys]


@dataclass
class ImageSet:
    """A decoded dataset held in memory as uint8 tensors.

    ``images`` is uint8 [N, C, H, W] with C in {1, 3}. Optional per-image fields:
    ``labels`` (int64 [N], names in ``class_names``), ``captions``, paired ``targets``
    (uint8 [N, C2, H, W], for image-to-image) and exact ``attributes`` dicts.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None
    captions: list[str] | None = None
    targets: torch.Tensor | None = None
    attributes: list[dict] | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got {self.images.shape[1]}")
        for what, value in (
            ("labels", self.labels),
            ("captions", self.captions),
            ("targets", self.targets),
            ("attributes", self.attributes),
        ):
            if value is not None and len(value) != n:
                raise ValueError(f"{what} has {len(value)} entries for {n} images")
        if self.targets is not None and self.targets.dtype != torch.uint8:
            raise ValueError("targets must be uint8")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        """Image side in pixels (images are square)."""
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        """1 (grayscale) or 3 (RGB)."""
        return int(self.images.shape[1])

    def batch(self, indices: torch.Tensor) -> dict[str, Any]:
        """A training batch: float images in [-1, 1] plus whatever labels/captions/targets exist."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        out: dict[str, Any] = {"image": to_unit_range(self.images[indices]), "index": indices}
        if self.labels is not None:
            out["label"] = self.labels[indices]
        if self.captions is not None:
            out["caption"] = [self.captions[i] for i in indices.tolist()]
        if self.targets is not None:
            out["target"] = to_unit_range(self.targets[indices])
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        """One item with the same keys as ``batch`` (works with a torch DataLoader)."""
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        i = i % len(self)
        out: dict[str, Any] = {"image": to_unit_range(self.images[i]), "index": i}
        if self.labels is not None:
            out["label"] = self.labels[i]
        if self.captions is not None:
            out["caption"] = self.captions[i]
        if self.targets is not None:
            out["target"] = to_unit_range(self.targets[i])
        return out

    def label_names(self) -> list[str] | None:
        """The class name of every image, when there are labels."""
        if self.labels is None:
            return None
        names = self.class_names or []
        return [names[k] if k < len(names) else str(k) for k in self.labels.tolist()]
