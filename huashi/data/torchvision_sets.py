"""The torchvision datasets already on disk: MNIST, FashionMNIST, CIFAR10 and CelebA.

huashi never downloads: each set is opened with ``download=False`` from ``root`` (option
``root=PATH``, else ``$HUASHI_TORCHVISION_ROOT``, else ``~/.cache/huashi/torchvision``), and a
missing set is a HuashiError that says where its files are expected.

MNIST and FashionMNIST are padded 28 -> 32 and resized like ``mnist``; CIFAR10 is resized from
32 with Lanczos; CelebA's aligned 178x218 faces are centre-cropped to a square and resized.
(torchvision reads CIFAR10's official batch files with pickle; huashi itself never does.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from huashi.core.errors import HuashiError, missing_package
from huashi.core.images import fit_square
from huashi.data.base import ImageSet, check_split
from huashi.data.cache import cache_root
from huashi.data.mnist import resize_digits


@dataclass(frozen=True)
class TorchvisionSet:
    """Where a torchvision dataset lives under ``root`` and what its files are called."""

    title: str
    cls: str
    folder: str
    expected: str


TORCHVISION_SETS = {
    "mnist-torchvision": TorchvisionSet(
        "MNIST",
        "MNIST",
        "MNIST/raw",
        "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    ),
    "fashion-mnist": TorchvisionSet(
        "FashionMNIST",
        "FashionMNIST",
        "FashionMNIST/raw",
        "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    ),
    "cifar10": TorchvisionSet(
        "CIFAR10",
        "CIFAR10",
        "cifar-10-batches-py",
        "cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta)",
    ),
    "celeba": TorchvisionSet(
        "CelebA",
        "CelebA",
        "celeba",
        "celeba/img_align_celeba/ and celeba/list_{attr_celeba,eval_partition,bbox_celeba,"
        "landmarks_align_celeba}.txt, identity_CelebA.txt",
    ),
}


def default_root() -> Path:
    """``$HUASHI_TORCHVISION_ROOT`` if set, else ``<cache>/torchvision``."""
    env = os.environ.get("HUASHI_TORCHVISION_ROOT")
    return Path(env).expanduser() if env else cache_root() / "torchvision"


def sources(name: str, root: str | Path | None = None, **_: object) -> list[Path]:
    """The dataset's files directly inside its folder (their sizes/mtimes key the cache)."""
    folder = Path(root or default_root()).expanduser() / TORCHVISION_SETS[name].folder
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() or p.is_dir())


def _open(name: str, root: Path, split: str):
    try:
        import torchvision.datasets as tvd
    except ImportError:
        raise missing_package("torchvision", "torchvision", f"The {name} dataset") from None
    spec = TORCHVISION_SETS[name]
    cls = getattr(tvd, spec.cls)
    try:
        if name == "celeba":
            return cls(str(root), split=split, target_type="attr", download=False)
        if split == "all":
            raise HuashiError(f"{name} has no 'all' split: load split='train' and split='test'.")
        return cls(str(root), train=split == "train", download=False)
    except (RuntimeError, OSError, AssertionError, ValueError, EOFError) as error:
        missing = isinstance(error, FileNotFoundError) or "not found" in str(error).lower()
        if not missing:  # the files are there but torchvision cannot parse them
            raise HuashiError(
                f"the {spec.title} files in {root / spec.folder} are damaged "
                f"({error or type(error).__name__}): download them again."
            ) from error
        raise HuashiError(
            f"{spec.title} is not in {root} (expected {root / spec.expected}); huashi never "
            f"downloads datasets: download it elsewhere (e.g. with torchvision, download=True) "
            f"and point root=PATH (or $HUASHI_TORCHVISION_ROOT) at the folder that holds it."
        ) from error


def _celeba_caption(attrs: dict[str, int]) -> str:
    who = "man" if attrs.get("Male") else "woman"
    words = ["a smiling" if attrs.get("Smiling") else "a", who]
    hair = [h for h in ("Black", "Blond", "Brown", "Gray") if attrs.get(f"{h}_Hair")]
    if attrs.get("Bald"):
        words.append("who is bald")
    elif hair:
        words.append(f"with {hair[0].lower()} hair")
    if attrs.get("Eyeglasses"):
        words.append("wearing eyeglasses")
    if attrs.get("Wearing_Hat"):
        words.append("wearing a hat")
    return " ".join(words)


def load_torchvision(
    name: str,
    resolution: int = 64,
    split: str = "train",
    root: str | Path | None = None,
    limit: int | None = None,
) -> ImageSet:
    """Load a torchvision dataset from disk (``limit`` keeps only the first images)."""
    check_split(split)
    root = Path(root or default_root()).expanduser()
    ds = _open(name, root, split)
    count = len(ds) if limit is None else min(limit, len(ds))
    labels = class_names = attributes = None
    if name in ("mnist-torchvision", "fashion-mnist"):
        digits = ds.data[:count].numpy().astype(np.uint8)
        images = torch.from_numpy(resize_digits(digits, resolution))[:, None]
        labels = ds.targets[:count].to(torch.int64)
        if name == "mnist-torchvision":
            class_names = [str(d) for d in range(10)]
            captions = [f"the digit {d}" for d in labels.tolist()]
        else:
            class_names = list(ds.classes)
            captions = [f"a photo of a {class_names[k].lower()}" for k in labels.tolist()]
    elif name == "cifar10":
        pictures = np.asarray(ds.data[:count], dtype=np.uint8)
        if resolution != pictures.shape[1]:
            size = (resolution, resolution)
            pictures = np.stack(
                [
                    np.asarray(Image.fromarray(p).resize(size, Image.Resampling.LANCZOS))
                    for p in pictures
                ]
            )
        images = torch.from_numpy(pictures).permute(0, 3, 1, 2)
        labels = torch.tensor(ds.targets[:count], dtype=torch.int64)
        class_names = list(ds.classes)
        captions = [f"a photo of a {class_names[k]}" for k in labels.tolist()]
    else:  # celeba
        folder = root / "celeba" / "img_align_celeba"
        faces, attributes = [], []
        for i in range(count):
            with Image.open(folder / ds.filename[i]) as img:
                faces.append(np.asarray(fit_square(img.convert("RGB"), resolution)))
            attributes.append(dict(zip(ds.attr_names, ds.attr[i].tolist(), strict=True)))
        images = torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2)
        captions = [_celeba_caption(a) for a in attributes]
    return ImageSet(
        name=name,
        images=images.contiguous(),
        labels=labels,
        class_names=class_names,
        captions=captions,
        attributes=attributes,
        info={"split": split, "root": str(root), "source": f"torchvision.datasets.{name}"},
    )
