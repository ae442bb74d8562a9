"""A lock on a run folder while a process trains in it.

The lock is the file ``<run>/.lock`` holding the owner's pid, host and start time. It is created
atomically (written to a private temporary file, then hard-linked to ``.lock``, which fails when
the lock exists), so two trainings started at once cannot both get it. A lock left by a process
that no longer runs on this host (killed, power loss) is stale and taken over; a lock from
another host is reported, since its process cannot be checked from here.

In a multi-process (torchrun) training only the process of rank 0 takes the lock: the other ranks
(environment variable ``RANK`` > 0) belong to the same training.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from huashi.core.errors import HuashiError

LOCK_FILE = ".lock"
#: Run folders whose lock this process holds, with the thread that took it (a lock is
#: re-entrant in that thread only: two trainings in two threads of one process are refused too).
_HELD: dict[Path, int] = {}

F = TypeVar("F", bound=Callable[..., Any])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def read_lock(run_dir: Path) -> dict[str, Any] | None:
    """The holder of a run's lock ({"pid", "host", "started"}), or None when unlocked."""
    try:
        holder = json.loads((Path(run_dir) / LOCK_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": -1, "host": "?", "started": 0}  # unreadable: treated as stale below
    return holder if isinstance(holder, dict) else {"pid": -1, "host": "?", "started": 0}


class RunLock:
    """``with RunLock(run_dir):`` holds the run folder's lock; re-entrant within one process."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.owned = False
        self.created_dir = False
        self.key = self.run_dir.absolute()

    def _stale(self, holder: dict[str, Any]) -> bool:
        pid, host = holder.get("pid"), holder.get("host")
        if not isinstance(pid, int) or pid <= 0:
            return True
        return host == socket.gethostname() and not _alive(pid)

    def acquire(self) -> RunLock:
        _check_writable(self.run_dir)
        if os.environ.get("RANK", "0") not in ("", "0"):
            return self  # a worker of a torchrun training whose rank 0 holds the lock
        if not self.run_dir.exists():
            self.created_dir = True
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise HuashiError(f"cannot create the run folder {self.run_dir}: {error}.") from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        tmp = self.run_dir / f"{LOCK_FILE}.{me['pid']}.{threading.get_ident()}.tmp"
        try:
            tmp.write_text(json.dumps(me))
            for _ in range(3):
                try:
                    os.link(tmp, self.path)
                    self.owned = True
                    _HELD[self.key] = threading.get_ident()
                    return self
                except FileExistsError:
                    holder = read_lock(self.run_dir) or {}
                    mine = holder.get("pid") == me["pid"] and holder.get("host") == me["host"]
                    if mine and _HELD.get(self.key) == threading.get_ident():
                        return self  # this thread holds it already (nested use)
                    if mine and self.key in _HELD:
                        raise HuashiError(
                            f"{self.run_dir} is in use: another training of this process is "
                            "running in it. Wait for it to finish, or train into another --out."
                        ) from None
                    if not mine and not self._stale(holder):  # mine here: left by a dead run
                        raise HuashiError(
                            f"{self.run_dir} is in use: process {holder.get('pid')} on "
                            f"{holder.get('host')} is training in it (lock {self.path}). Wait "
                            "for it to finish or stop it, or train into another --out folder."
                        ) from None
                    # Stale: move it aside (only one taker's rename succeeds), then retry.
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(self.path, tmp.with_suffix(".stale"))
                        tmp.with_suffix(".stale").unlink(missing_ok=True)
            raise HuashiError(f"could not take the lock {self.path}: try again.")
        except OSError as error:
            raise HuashiError(f"cannot write in the run folder {self.run_dir}: {error}.") from None
        finally:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if not self.owned:
            return
        self.owned = False
        _HELD.pop(self.key, None)
        holder = read_lock(self.run_dir)
        if holder and holder.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        if self.created_dir:
            with contextlib.suppress(OSError):  # only when nothing was written in the new folder
                self.run_dir.rmdir()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holding_run_lock(function: F) -> F:
    """Decorator: the wrapped function's first argument is a run folder, locked during the call."""

    @functools.wraps(function)
    def wrapper(out: str | Path, *args: Any, **kwargs: Any) -> Any:
        with RunLock(out):
            return function(out, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _check_writable(folder: Path) -> None:
    """A clear error when ``folder`` cannot be created or written (checked before any work)."""
    folder = Path(folder).absolute()
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise HuashiError(
            f"cannot use {folder} as a folder: {probe} is a file. Choose another --out path."
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise HuashiError(
            f"cannot write in {probe} (permission denied): choose another --out folder."
        )
