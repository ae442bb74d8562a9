"""The progress callback every long-running function takes: ``progress(done, total, message)``."""

from __future__ import annotations

from collections.abc import Callable

#: Told how far a piece of work is: ``done`` of ``total`` units, and what it is doing now.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """A :data:`Progress` that tells no one."""
