"""On-disk cache of decoded datasets: uint8 tensors in safetensors plus a JSON sidecar.

A cache entry is keyed by a hash of the dataset name, every loading parameter, ``CACHE_VERSION``
and the size and modification time of every source file (images, captions, fonts), so changing
any of them re-decodes. Writes are atomic (temporary file + ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from huashi.data.base import ImageSet

# Bump when decoding changes so old cache entries are not reused.
CACHE_VERSION = 2


def cache_root() -> Path:
    """``$HUASHI_CACHE`` if set, else ``~/.cache/huashi``."""
    env = os.environ.get("HUASHI_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "huashi"


def datasets_dir() -> Path:
    """Where decoded datasets are stored."""
    return cache_root() / "datasets"


def file_fingerprint(paths: Iterable[Path]) -> list[list]:
    """(path, size, mtime in ns) of each file, in a stable order."""
    out = []
    for p in sorted(Path(p) for p in paths):
        st = p.stat()
        out.append([str(p), st.st_size, st.st_mtime_ns])
    return out


def cache_key(name: str, params: dict[str, Any], sources: Iterable[Path] = ()) -> str:
    """A hex digest identifying one decoded dataset."""
    payload = {
        "name": name,
        "params": params,
        "version": CACHE_VERSION,
        "files": file_fingerprint(sources),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached data is not secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def entry_paths(key: str) -> tuple[Path, Path]:
    """The tensor file and the JSON sidecar of a cache entry."""
    base = datasets_dir() / key
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def save_to_cache(key: str, ds: ImageSet) -> None:
    """Store a dataset (tensors first, then the JSON sidecar, which marks the entry complete)."""
    tensors_path, meta_path = entry_paths(key)
    tensors = {"images": ds.images.contiguous()}
    if ds.labels is not None:
        tensors["labels"] = ds.labels.contiguous()
    if ds.targets is not None:
        tensors["targets"] = ds.targets.contiguous()
    meta = {
        "name": ds.name,
        "class_names": ds.class_names,
        "captions": ds.captions,
        "attributes": ds.attributes,
        "info": ds.info,
        "version": CACHE_VERSION,
    }
    _atomic_write(tensors_path, lambda tmp: save_file(tensors, tmp))

    def write_meta(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, default=str)

    _atomic_write(meta_path, write_meta)


def load_from_cache(key: str) -> ImageSet | None:
    """The cached dataset for ``key``, or None when absent, unreadable or inconsistent."""
    tensors_path, meta_path = entry_paths(key)
    if not (tensors_path.exists() and meta_path.exists()):
        return None
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("version") != CACHE_VERSION:
            return None
        tensors = load_file(str(tensors_path))
        info = dict(meta.get("info") or {})
        info["from_cache"] = True
        return ImageSet(
            name=meta["name"],
            images=tensors["images"],
            labels=tensors.get("labels"),
            class_names=meta.get("class_names"),
            captions=meta.get("captions"),
            targets=tensors.get("targets"),
            attributes=meta.get("attributes"),
            info=info,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, SafetensorError):
        return None  # a damaged entry (e.g. a half-copied cache folder) is rebuilt


def cached(
    name: str,
    params: dict[str, Any],
    build: Callable[[], ImageSet],
    sources: Iterable[Path] = (),
    enabled: bool = True,
) -> ImageSet:
    """Load ``name`` with ``params`` from the cache, or ``build`` it and store it."""
    if not enabled:
        return build()
    key = cache_key(name, params, sources)
    ds = load_from_cache(key)
    if ds is not None:
        return ds
    ds = build()
    ds.info["cache_key"] = key
    save_to_cache(key, ds)
    return ds


def clear_cache() -> int:
    """Delete every cached dataset (and streamed folder's shards, see
    :mod:`huashi.data.stream`); returns how many files and shard folders were removed."""
    removed = 0
    folder = datasets_dir()
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_dir() and p.name.startswith("stream-"):
                shutil.rmtree(p)
                removed += 1
            elif p.suffix in (".safetensors", ".json", ".tmp"):
                p.unlink()
                removed += 1
    return removed
