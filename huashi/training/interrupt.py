"""Clean interruption of a training run: Ctrl-C or SIGTERM asks the loop to stop after the
current step (it saves a checkpoint first), or at once during a progress grid."""

from __future__ import annotations

import signal
import threading
from typing import Any


class PreviewInterrupted(Exception):
    """Raised inside a progress grid's sampling when Ctrl-C or SIGTERM arrives."""


class stop_on_signals:
    """While training, Ctrl-C or SIGTERM asks the loop to stop after the current step, or at once
    during a progress grid (skipping it); a second Ctrl-C interrupts at once."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.trainer.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.trainer.request_stop()
        if self.trainer.in_preview:
            raise PreviewInterrupted

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handler)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
