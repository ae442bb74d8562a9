"""Loading runs for the actions: the one run cache (:data:`RUNS`, within :data:`RUN_CACHE_SIZE`
runs and :data:`RUN_CACHE_BYTES` of parameters) that the CLI, Python callers and the studio
share; what a run folder says about itself without loading it (:func:`run_info`,
:func:`run_log`); and the zoo's painters (:func:`zoo_painters`, :func:`zoo_folder`)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashi.core.zoo_folders import ZooEntry
from huashi.runs import LoadedRun, RunConfig
from huashi.runs import load_run as load
from huashi.training.checkpoint import latest_checkpoint
from huashi.training.device import pick_device
from huashi.training.logging import read_log

#: The one run cache's bounds: loaded runs, and bytes of their parameters.
RUN_CACHE_SIZE = 3
RUN_CACHE_BYTES = 2 * 2**30


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

    def __init__(
        self, max_runs: int = RUN_CACHE_SIZE, max_bytes: int | None = RUN_CACHE_BYTES
    ) -> None:
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


#: The one cache of loaded runs: the API's actions and the studio take their runs from it.
RUNS = RunCache()


def cached_run(
    run_dir: str | Path, checkpoint: str | Path | None = None, device: str = "auto"
) -> CachedRun:
    """A run loaded for sampling from the one run cache, with the lock that callers painting
    from it one at a time take turns on (the studio)."""
    return RUNS.get(run_dir, checkpoint, device)


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


@dataclass
class RunInfo:
    """A run as its files describe it (nothing is loaded): its family and data, how far it was
    trained (from its log, or its newest checkpoint's record for a run without one, such as a
    zoo painter), what its family can do and the metrics of its ``eval-*.json`` records."""

    family: str
    model: dict[str, Any]
    data: str | None
    resolution: int | None
    step: int
    steps: int | None
    train_seconds: float
    trained: bool  # it has a checkpoint
    updated: float  # the newest of its config, log and grid (seconds since the epoch)
    makes_images: bool  # False: a feature network (classifier, clip)
    latent: bool  # its family has a latent space (walks, inversion)
    grid: Path | None  # its latest training grid
    metrics: dict[str, float] = field(default_factory=dict)  # "fid (name of the record)": value
    # the FID's floor multiple of each record that has one (``huashi eval``'s first view line)
    floors: dict[str, str] = field(default_factory=dict)  # name of the record: "FID .. = 3.6× .."


def run_info(run_dir: str | Path) -> RunInfo:
    """What the files of the run folder ``run_dir`` say about it (see :class:`RunInfo`)."""
    from huashi.api.catalog import family_info

    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir)
    newest = latest_checkpoint(run_dir / "checkpoints")
    records = read_log(run_dir / "log.jsonl")
    trained = _json_record(newest) if newest is not None and not records else {}
    last = records[-1] if records else trained
    grid = run_dir / "samples.png"
    family = family_info(config.family)
    updated = [p.stat().st_mtime for p in (run_dir / "log.jsonl", grid) if p.exists()]
    return RunInfo(
        family=config.family,
        model=dict(config.model),
        data=config.data.get("spec"),
        resolution=config.data.get("resolution"),
        step=int(last.get("step", 0)),
        steps=config.train.get("steps"),
        train_seconds=float(last.get("train_seconds", 0.0)),
        trained=newest is not None,
        updated=max(updated, default=(run_dir / "config.json").stat().st_mtime),
        makes_images=bool(family is None or family.makes_images),
        latent=family is not None and family.latent,
        grid=grid if grid.exists() else None,
        metrics=_eval_metrics(run_dir),
        floors=_eval_floors(run_dir),
    )


def run_log(run_dir: str | Path, points: int | None = None) -> list[dict[str, Any]]:
    """The records of a run's ``log.jsonl`` (none yet: an empty list); with ``points``, every
    k-th record so that about that many remain."""
    records = read_log(Path(run_dir) / "log.jsonl")
    if points is None:
        return records
    return records[:: max(1, len(records) // max(1, points))]


def zoo_root() -> Path:
    """The zoo's folder (``$HUASHI_ZOO`` when set, else the one shipped in the package)."""
    from huashi.core.zoo_folders import zoo_root as root

    return root()


def zoo_painters() -> list[ZooEntry]:
    """Every zoo entry (painters and reference networks) with its card, by name."""
    from huashi.core.zoo_folders import list_zoo

    return list_zoo()


def zoo_folder(name: str) -> Path | None:
    """The folder of the zoo entry ``zoo:NAME`` (resolved), or None when there is none by that
    name (no path outside the zoo's folder is ever returned)."""
    from huashi.core.zoo_folders import CARD, PREFIX

    short = name.removeprefix(PREFIX)
    if not name.startswith(PREFIX) or not short or "/" in short or short.startswith("."):
        return None
    folder = zoo_root() / short
    return folder.resolve() if (folder / CARD).is_file() else None


def _json_record(path: Path) -> dict[str, Any]:
    """A JSON file's record (a checkpoint's step, train_seconds, ...), or {} when unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _eval_floors(run_dir: Path) -> dict[str, str]:
    """``{record name: the line of its FID's floor multiple}`` for the run's ``eval-*.json``
    records that measured one (the first view: the one the record was made with)."""
    from huashi.metrics.yardsticks import describe_floor

    floors = {}
    for path in sorted(run_dir.glob("eval-*.json")):
        views = (_json_record(path).get("yardsticks") or {}).get("views") or []
        if views and isinstance(views[0], dict) and "network" in views[0]:
            floors[path.stem.removeprefix("eval-")] = describe_floor(views[0])
    return floors


def _eval_metrics(run_dir: Path) -> dict[str, float]:
    """The numbers of the run's ``eval-NAME.json`` records as ``"metric (NAME)"`` (a metric of
    several numbers as ``"metric.part (NAME)"``)."""
    metrics = {}
    for path in sorted(run_dir.glob("eval-*.json")):
        name = path.stem.removeprefix("eval-")
        for key, value in (_json_record(path).get("metrics") or {}).items():
            if isinstance(value, (int, float)):
                metrics[f"{key} ({name})"] = value
            elif isinstance(value, dict):
                for sub, number in value.items():
                    if isinstance(number, (int, float)) and not isinstance(number, bool):
                        metrics[f"{key}.{sub} ({name})"] = number
    return metrics
