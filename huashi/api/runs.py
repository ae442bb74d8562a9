"""Loading runs for the actions: a small cache of loaded runs, shared by the CLI, the studio
and Python callers (the studio keeps no cache of its own)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from huashi.runs import LoadedRun
from huashi.runs import load_run as load
from huashi.training.checkpoint import latest_checkpoint
from huashi.training.device import pick_device

#: ``progress(done, total, message)``: how much of a long action is done.
Progress = Callable[[int, int, str], None]

RUN_CACHE_SIZE = 4

_run_cache: OrderedDict[tuple, LoadedRun] = OrderedDict()

_run_cache_lock = threading.Lock()


def load_run(
    run_dir: str | Path,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    cache: bool = True,
) -> LoadedRun:
    """A run's newest checkpoint (or ``checkpoint``) loaded for sampling, with EMA weights.

    The last :data:`RUN_CACHE_SIZE` loaded runs are kept, keyed by the run folder, the
    checkpoint file (and its modification time: a newer checkpoint is loaded fresh) and the
    device, so painting twice from one run loads it once. ``cache=False`` always loads."""

    run_dir = Path(run_dir)
    path = Path(checkpoint) if checkpoint else latest_checkpoint(run_dir / "checkpoints")
    if path is not None and not path.is_absolute() and not path.exists():
        path = run_dir / "checkpoints" / path
    if not cache or path is None or not path.exists():
        return load(run_dir, path, device)  # (load raises the clear errors)
    key = (str(run_dir.resolve()), str(path.resolve()), path.stat().st_mtime_ns, str(device))
    with _run_cache_lock:
        if key in _run_cache:
            _run_cache.move_to_end(key)
            return _run_cache[key]
    loaded = load(run_dir, path, device)
    with _run_cache_lock:
        _run_cache[key] = loaded
        while len(_run_cache) > RUN_CACHE_SIZE:
            _run_cache.popitem(last=False)
    return loaded


def clear_run_cache() -> None:
    """Forget every cached loaded run (their memory is freed when nothing else holds them)."""
    with _run_cache_lock:
        _run_cache.clear()


def resolve_run(
    run: str | Path | LoadedRun, checkpoint: str | Path | None, device: str
) -> LoadedRun:
    return run if isinstance(run, LoadedRun) else load_run(run, checkpoint, device)


def device_name(device: str = "auto") -> str:
    return str(pick_device(device))
