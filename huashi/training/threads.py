"""CPU threads on a shared machine: how many a process takes, and what it leaves to others.

A painter's machine is never quiet. Measured on a 2-core AMD EPYC with AVX512-BF16
(``benchmarks/contention.py``, docs/benchmarks.md): a bf16 DCGAN step on both cores ran at 2 %
of its quiet speed beside one busy single-threaded process, and two such trainings together did
2 % of one quiet training's work. oneDNN's bf16 kernels meet at a barrier many times per step,
and the step stalls whenever one of its threads is descheduled; OpenMP's passive wait (set in
``huashi/__init__.py``) does not help there. A process that never has more threads than the
cores left to it does not stall. So ``--threads auto``:

- takes ``OMP_NUM_THREADS`` when the user set it;
- under torchrun, splits the cores evenly between the machine's processes;
- otherwise leaves one core for the rest of the machine (the browser, the studio, a second
  experiment), and takes no more than the cores that other running huashi processes have not
  claimed. Each claims its threads in a small registry (one file per process in the temporary
  folder, ignored once that process is gone), so a second training, or a paint beside a
  training, takes the cores that are left instead of fighting for them.

The count never follows the load of the moment: a lone huashi process gets the same count on
the same machine every time. The thread count changes the order of floating-point sums, so a
run's count is resolved once, saved in its ``config.json`` and reused by ``huashi resume``, and
every PNG records the threads it was painted with for ``huashi regenerate``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from huashi.core.errors import HuashiError

#: ``--threads`` may ask for at most this many threads per usable core.
MAX_THREADS_PER_CORE = 4


def cpus_available() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def auto_threads(cpus: int, processes: int = 1, claimed: int = 0) -> int:
    """Threads for ``--threads auto``, at least 1: one of ``processes`` torchrun processes gets
    its even share of ``cpus``; a lone process leaves one core free and takes at most what
    other huashi processes have not ``claimed``."""
    if processes > 1:
        return max(1, cpus // processes)
    return max(1, min(cpus - 1, cpus - claimed))


def resolve_threads(threads: int | str = "auto", processes: int = 1) -> int:
    """The intra-op thread count for ``--threads``: a positive number, ``all`` (every usable
    core: fastest on a machine nothing else uses) or ``auto`` (see the module's docstring)."""
    text = str(threads).strip().lower()
    if text == "all":
        return cpus_available()
    if text == "auto":
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        if env.isdigit() and int(env) > 0:
            return int(env)
        return auto_threads(cpus_available(), processes, claimed_elsewhere())
    if not text.isdigit() or int(text) < 1:
        raise HuashiError(f"--threads must be a positive number, 'auto' or 'all', not '{threads}'.")
    most = MAX_THREADS_PER_CORE * cpus_available()
    if int(text) > most:
        raise HuashiError(
            f"--threads {text} is far more than the {cpus_available()} cores this process may "
            f"run on (threads beyond the cores wait for each other): give at most {most}, all "
            "or auto."
        )
    return int(text)


def set_threads(threads: int | str = "auto", processes: int = 1, claim: bool = False) -> int:
    """Set PyTorch's intra-op CPU threads (see :func:`resolve_threads`); returns the count.
    With ``claim``, the count is resolved and registered under one lock, so huashi processes
    started at the same moment see each other's claims."""
    with _registry_lock() if claim else contextlib.nullcontext():
        count = resolve_threads(threads, processes)
        if claim:
            _write_claim(count)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def use_recorded_threads(threads: object, source: str) -> None:
    """Paint with the CPU thread count ``source`` (a PNG) was painted with, as the count can
    move a pixel; None (PNGs from before it was recorded) keeps this process's count."""
    if threads is None:
        return
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise HuashiError(f"{source}'s threads must be a positive number, not {threads!r}.")
    most = MAX_THREADS_PER_CORE * cpus_available()
    if threads > most:
        warnings.warn(
            f"{source} was painted with {threads} CPU threads, more than this machine can run "
            f"sensibly: painting with {most}, so a pixel may differ.",
            stacklevel=3,
        )
    torch.set_num_threads(min(threads, most))


def threads_line(count: int) -> str:
    """What the CPU thread count means, for a training's first line."""
    cpus = cpus_available()
    line = f"{count} CPU thread{'s' * (count != 1)} of {cpus} core{'s' * (cpus != 1)}"
    if count < cpus:
        line += " (auto leaves cores to the rest of the machine; --threads all takes every one)"
    return line


def release_threads() -> None:
    """Withdraw this process's claim (also done when the process exits)."""
    with contextlib.suppress(OSError):
        _claim_file(os.getpid()).unlink()


# --- the registry: one JSON file per claiming process ---------------------------------------


def registry_folder() -> Path:
    """Where claims live: ``HUASHI_THREADS_REGISTRY`` when set, else a per-user temp folder."""
    custom = os.environ.get("HUASHI_THREADS_REGISTRY")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(custom) if custom else Path(tempfile.gettempdir()) / f"huashi-threads-{uid}"


def claimed_elsewhere() -> int:
    """Threads claimed by other huashi processes that are still running."""
    total = 0
    for path in _claim_files():
        try:
            claim = json.loads(path.read_text())
            pid, threads, started = int(claim["pid"]), int(claim["threads"]), claim["started"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written or foreign: not a claim
        if pid != os.getpid() and _process_start(pid) == started and started is not None:
            total += max(0, threads)
    return total


def _claim_files() -> list[Path]:
    try:
        return sorted(registry_folder().glob("*.json"))
    except OSError:
        return []


def _claim_file(pid: int) -> Path:
    return registry_folder() / f"{pid}.json"


def _process_start(pid: int) -> int | None:
    """A process's start time in clock ticks (field 22 of /proc/PID/stat), None when it is
    gone: a claim is only honoured for the very process that made it, not a reused PID."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _write_claim(count: int) -> None:
    pid = os.getpid()
    claim = {"pid": pid, "threads": count, "started": _process_start(pid)}
    try:
        folder = registry_folder()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{pid}.tmp"
        tmp.write_text(json.dumps(claim))
        os.replace(tmp, _claim_file(pid))
    except OSError:
        return  # no writable temp folder: the claim is a courtesy, never a requirement
    atexit.register(release_threads)


@contextlib.contextmanager
def _registry_lock() -> Iterator[None]:
    """An exclusive lock on the registry (where the platform has one)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    try:
        folder = registry_folder()
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".lock", "a")  # noqa: SIM115 (held until the block ends)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
