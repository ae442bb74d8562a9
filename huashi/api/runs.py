"""Loading runs for the actions: the one run cache (:class:`RunCache`), which the API keeps for
the CLI and Python callers and the studio keeps within its own limits."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from huashi.runs import LoadedRun
from huashi.runs import load_run as load
from huashi.training.checkpoint import latest_checkpoint
from huashi.training.device import pick_device

#: ``progress(done, total, message)``: how much of a long action is done.
Progress = Callable[[int, int, str], None]

RUN_CACHE_SIZE = 4


@dataclass
class CachedRun:
    """A loaded run in the cache, with a lock for callers that generate from it one at a time
    (the studio) and the size of its parameters."""

    run: LoadedRun
    lock: threading.Lock
    nbytes: int


class RunCache:
    """Loaded runs by folder, checkpoint (and its modification time: a newer file is loaded
    fresh) and device; one entry per run folder and device, least recently used evicted first
    while more than ``max_runs`` are kept or, with ``max_bytes``, their parameters take more.
    One load at a time."""

    def __init__(self, max_runs: int = RUN_CACHE_SIZE, max_bytes: int | None = None) -> None:
        self.max_runs, self.max_bytes = max_runs, max_bytes
        self.entries: OrderedDict[tuple[str, str, int, str], CachedRun] = OrderedDict()
        self.lock = threading.Lock()

    def get(
        self, run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "auto"
    ) -> CachedRun:
        """The run's newest checkpoint (or ``checkpoint``) loaded for sampling, from the cache
        when it is there."""
        run_dir = Path(run_dir)
        path = Path(checkpoint) if checkpoint else latest_checkpoint(run_dir / "checkpoints")
        if path is not None and not path.is_absolute() and not path.exists():
            path = run_dir / "checkpoints" / path
        if path is None or not path.exists():
            return _entry(load(run_dir, path, device))  # (load raises the clear errors)
        folder = str(run_dir.resolve())
        key = (folder, str(path.resolve()), path.stat().st_mtime_ns, str(device))
        with self.lock:
            if key in self.entries and not _built_on_changed(self.entries[key].run):
                self.entries.move_to_end(key)
                return self.entries[key]
            entry = _entry(load(run_dir, path, device))  # (a changed autoencoder is refused)
            for old in [k for k in self.entries if (k[0], k[3]) == (folder, key[3])]:
                del self.entries[old]  # another checkpoint of the same run
            self.entries[key] = entry
            while len(self.entries) > 1 and (
                len(self.entries) > self.max_runs
                or (self.max_bytes is not None and self.nbytes() > self.max_bytes)
            ):
                self.entries.popitem(last=False)
            return entry

    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self.entries.values())

    def clear(self) -> None:
        """Forget every loaded run (their memory is freed when nothing else holds them)."""
        with self.lock:
            self.entries.clear()


def _built_on_changed(loaded: LoadedRun) -> bool:
    """Whether a run this one is built on (a latent model's autoencoder) has a newer
    checkpoint than the one loaded with it."""
    for source in (getattr(loaded.family, "built_on", None) or {}).values():
        newest = latest_checkpoint(Path(source["run"]) / "checkpoints")
        if newest is None or newest.name != source["checkpoint"]:
            return True
    return False


def _entry(loaded: LoadedRun) -> CachedRun:
    modules = loaded.family.modules.values()
    nbytes = sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
    return CachedRun(loaded, threading.Lock(), nbytes)


#: The API's cache of loaded runs (the studio keeps a :class:`RunCache` of its own limits).
RUNS = RunCache()


def load_run(
    run_dir: str | Path,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    cache: bool = True,
) -> LoadedRun:
    """A run's newest checkpoint (or ``checkpoint``) loaded for sampling, with EMA weights.

    The last :data:`RUN_CACHE_SIZE` loaded runs are kept (see :class:`RunCache`), so painting
    twice from one run loads it once. ``cache=False`` always loads."""
    if not cache:
        return load(Path(run_dir), checkpoint, device)
    return RUNS.get(run_dir, checkpoint, device).run


def clear_run_cache() -> None:
    """Forget every cached loaded run (their memory is freed when nothing else holds them)."""
    RUNS.clear()


def resolve_run(
    run: str | Path | LoadedRun, checkpoint: str | Path | None, device: str
) -> LoadedRun:
    return run if isinstance(run, LoadedRun) else load_run(run, checkpoint, device)


def device_name(device: str = "auto") -> str:
    return str(pick_device(device))
