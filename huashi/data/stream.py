"""Image folders larger than memory: decoded once into memory-mapped uint8 shards on disk.

The first load decodes and resizes every image once (the same rules as
:func:`~huashi.data.folder.load_folder`) and writes the pixels into raw uint8 shard files
(``images-00000.u8``, ... of ``per_shard`` images each, [count, C, R, R] in C order) plus a small
``index.json`` holding the shard list, labels, captions and info. The folder lives in the
dataset cache as ``stream-<key>``, where the key hashes the folder's files (names, sizes,
modification times), the resolution and the options, so a changed folder is decoded again. The
index is written last and the folder is renamed into place when complete, so an interrupted or
failed build never leaves a half-written cache behind.

Training then reads only the rows of each batch from ``np.memmap`` views of the shards: the
operating system pages them in on demand and may drop them again, so the set never has to fit
in memory. The returned :class:`~huashi.data.base.ImageSet` has a :class:`ShardedArray` for
``images`` (and ``targets``), so ``batch(indices)`` gives exactly the tensors the in-memory set
gives; the trainer's data order (a permutation per epoch, its position saved in each checkpoint,
each torchrun rank reading its slice of every global batch) is unchanged, so resume stays exact.

Reads happen in the training process itself, not in DataLoader workers: a batch is a memory copy
of a few rows from the page cache (decoding was paid once, when the shards were written), so
workers would add processes and inter-process copies for nothing, and one reader keeps the order
trivially deterministic.

``mode="auto"`` streams a folder when its decoded size (files x 3 x R x R bytes, twice that with
targets) is above :func:`stream_threshold`, else holds it in memory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from huashi.core.errors import HuashiError
from huashi.data.base import ImageSet, to_channels
from huashi.data.cache import cache_key, datasets_dir
from huashi.data.folder import (
    FolderPlan,
    decode_each,
    finish_folder,
    list_images,
    plan_folder,
    sources,
    stack,
)

#: How a dataset is held: in memory, streamed from disk, or chosen by its size.
DATA_MODES = ("auto", "memory", "stream")
#: Bump when the shard format changes so old stream caches are not reused.
STREAM_VERSION = 1
#: Bytes of pixels per shard file (fewer, larger files; any size works).
SHARD_BYTES = 64 << 20
#: ``auto`` streams a folder whose decoded pixels exceed this many bytes (or a quarter of the
#: memory available, when that is less).
STREAM_ABOVE_BYTES = 1 << 30
#: At most this many shard files are mapped at once (each map holds a file descriptor).
OPEN_SHARDS = 64


class ShardedArray:
    """uint8 [N, C, R, R] stored in shard files of ``per_shard`` images each and read on demand.

    Indexing with an int gives [C, R, R], with a slice, list or tensor of indices [B, C, R, R]
    (a torch uint8 tensor, like indexing the in-memory tensor). A grayscale shard of a color
    set is repeated to three channels as it is read.
    """

    dtype = torch.uint8

    def __init__(self, root: Path, shards: list[dict], per_shard: int, channels: int, side: int):
        self.root, self.shards, self.per_shard = root, shards, per_shard
        self.length = sum(s["count"] for s in shards)
        self.shape = (self.length, channels, side, side)
        self._maps: dict[int, np.memmap] = {}

    def __len__(self) -> int:
        return self.length

    def dim(self) -> int:
        return 4

    def _map(self, k: int) -> np.memmap:
        if k not in self._maps:
            if len(self._maps) >= OPEN_SHARDS:
                self._maps.pop(next(iter(self._maps)))  # the oldest
            s, side = self.shards[k], self.shape[-1]
            shape = (s["count"], s["channels"], side, side)
            self._maps[k] = np.memmap(self.root / s["file"], np.uint8, mode="r", shape=shape)
        return self._maps[k]

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            index = range(self.length)[index]
        single = isinstance(index, (int, np.integer)) or (
            isinstance(index, torch.Tensor) and index.dim() == 0
        )
        rows = np.asarray(index, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -self.length or rows.max() >= self.length):
            raise IndexError(f"index out of range for {self.length} images")
        rows = rows % max(self.length, 1)
        out = np.empty((len(rows), *self.shape[1:]), np.uint8)
        shard, local = np.divmod(rows, self.per_shard)
        for k in np.unique(shard):
            take = shard == k
            out[take] = self._map(int(k))[local[take]]  # a 1-channel shard broadcasts to 3
        tensor = torch.from_numpy(out)
        return tensor[0] if single else tensor


# --- choosing memory or stream --------------------------------------------------------------


def available_memory() -> int | None:
    """Bytes of memory the system could give a new process now (None when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def stream_threshold() -> int:
    """Decoded bytes above which ``auto`` streams: STREAM_ABOVE_BYTES, or a quarter of the
    available memory when that is less (decoding in memory briefly needs a few copies)."""
    available = available_memory()
    return STREAM_ABOVE_BYTES if available is None else min(STREAM_ABOVE_BYTES, available // 4)


def estimated_bytes(path: Path, resolution: int, target: Path | None = None) -> int:
    """Decoded size of a folder in memory, counting every image as RGB."""
    files = len(list_images(Path(path)))
    return files * 3 * resolution * resolution * (2 if target else 1)


def check_mode(mode: str) -> str:
    """Refuse an unknown data mode in one line."""
    if mode not in DATA_MODES:
        raise HuashiError(
            f"unknown data mode {mode!r}: choose --data-mode from {', '.join(DATA_MODES)}."
        )
    return mode


def choose_mode(mode: str, path: Path, resolution: int, target: Path | None = None) -> str:
    """``memory`` or ``stream`` for a folder: ``mode`` itself unless it is ``auto``."""
    if check_mode(mode) != "auto":
        return mode
    big = estimated_bytes(path, resolution, target) > stream_threshold()
    return "stream" if big else "memory"


# --- building and opening the shards --------------------------------------------------------


def _write_shard(file: Path, arrays: list[np.ndarray], channels: int | None) -> dict:
    """Write decoded images as one raw uint8 [count, C, R, R] file; returns its index entry."""
    pixels = stack(arrays)
    if channels is not None:
        pixels = to_channels(pixels, channels)
    pixels.numpy().tofile(file)
    return {"file": file.name, "count": len(pixels), "channels": int(pixels.shape[1])}


def _build(tmp: Path, plan: FolderPlan, resolution: int, channels: int | None) -> None:
    """Decode the folder into shard files and ``index.json`` inside ``tmp``."""
    per_shard = max(1, SHARD_BYTES // (3 * resolution * resolution))
    shards: dict[str, list[dict]] = {"images": [], "targets": []}
    buffer: dict[str, list[np.ndarray]] = {"images": [], "targets": []}
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []

    def flush() -> None:
        for name, arrays in buffer.items():
            if arrays:
                file = tmp / f"{name}-{len(shards[name]):05d}.u8"
                shards[name].append(_write_shard(file, arrays, channels))
                arrays.clear()

    for i, image, pair in decode_each(plan, resolution, skipped):
        kept.append(i)
        buffer["images"].append(image)
        if pair is not None:
            buffer["targets"].append(pair)
        if len(buffer["images"]) == per_shard:
            flush()
    flush()
    fields = finish_folder(plan, kept, skipped)  # warns; raises when nothing was readable
    labels = fields.pop("labels")
    index = {
        "version": STREAM_VERSION,
        "resolution": resolution,
        "per_shard": per_shard,
        "images": shards["images"],
        "targets": shards["targets"] or None,
        "labels": None if labels is None else labels.tolist(),
        **fields,
    }
    with open(tmp / "index.json", "w", encoding="utf-8") as f:
        json.dump(index, f, ensure_ascii=False, default=str)


def _open(root: Path, channels: int | None) -> ImageSet | None:
    """The stream cache in ``root``, or None when absent or damaged (a shard of the wrong size)."""
    try:
        with open(root / "index.json", encoding="utf-8") as f:
            index = json.load(f)
        if index.get("version") != STREAM_VERSION:
            return None
        side, per_shard = index["resolution"], index["per_shard"]
        arrays = {}
        for name in ("images", "targets"):
            shards = index[name]
            if shards is None:
                arrays[name] = None
                continue
            for s in shards:
                if (root / s["file"]).stat().st_size != s["count"] * s["channels"] * side * side:
                    return None
            color = channels or max(s["channels"] for s in shards)  # color if any shard is
            arrays[name] = ShardedArray(root, shards, per_shard, color, side)
        labels = index["labels"]
        info = {**index["info"], "data_mode": "stream", "stream_cache": str(root)}
        return ImageSet(
            name=index["name"],
            images=arrays["images"],  # type: ignore[arg-type]  # read on demand, see ShardedArray
            targets=arrays["targets"],  # type: ignore[arg-type]
            labels=None if labels is None else torch.tensor(labels, dtype=torch.int64),
            class_names=index["class_names"],
            captions=index["captions"],
            attributes=index["attributes"],
            info=info,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_stream(
    path: str | Path,
    resolution: int = 64,
    split: str = "train",
    channels: int | None = None,
    target: str | Path | None = None,
    labels: bool | None = None,
    rebuild: bool = False,
) -> ImageSet:
    """A folder as an :class:`ImageSet` whose pixels stay on disk (see the module docstring);
    the shards are written on the first call and reused while the folder is unchanged
    (``rebuild=True`` writes them again)."""
    params = {
        "resolution": resolution,
        "split": split,
        "channels": channels,
        "path": Path(path).resolve(),
        "target": None if target is None else Path(target).resolve(),
        "labels": labels,
        "version": STREAM_VERSION,
        "shard_bytes": SHARD_BYTES,
    }
    key = cache_key("folder-stream", params, sources(path, target))
    root = datasets_dir() / f"stream-{key}"
    if not rebuild:
        found = _open(root, channels)
        if found is not None:
            found.info["from_cache"] = True
            return found
    plan = plan_folder(path, split, target, labels)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=root.name + ".", suffix=".tmp"))
    try:
        _build(tmp, plan, resolution, channels)
        shutil.rmtree(root, ignore_errors=True)  # a damaged or outdated copy
        try:
            os.replace(tmp, root)
        except OSError:  # another process finished the same cache first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    found = _open(root, channels)
    if found is None:
        raise HuashiError(f"the stream cache {root} could not be read back: check the disk.")
    return found
