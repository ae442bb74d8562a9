"""The paint queue: one place that runs paints, fairly and with bounded work.

Each request is a :class:`QueuedPaint` (a paint, or a walk, inversion, drag, translation, eval
or comparison) with a *work* (images × sampler steps × passes, or its own count of steps) and
*keys* (its run folder, and ``measure`` for an eval or comparison). Worker threads take the
first waiting request none of whose keys a running one holds, so one run's paints never hold a
worker that another run's paint could use. A
client (a page) may have at most ``client_work`` queued or running; a waiting paint knows its
place in the queue; a paint is cancelled on request (its next progress step raises
:class:`Cancelled`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from huashi.core.errors import HuashiError


class Cancelled(HuashiError):
    """The paint was cancelled (by its page's Cancel button or because its client left)."""


class TooMuchWork(HuashiError):
    """A client asked for more work than it may have queued at once."""


@dataclass(eq=False)
class QueuedPaint:
    keys: tuple[str, ...]  # what may not run twice at once: the run folder, "measure"
    client: str
    work: int  # images x sampler steps x passes
    run: Callable[[QueuedPaint], Any]  # the paint itself; it calls check() between steps
    on_change: Callable[[QueuedPaint], None]  # told when position or state changes
    future: Future = field(default_factory=Future)
    position: int = 0  # 1 = next to start; 0 = running or done
    cancelled: bool = False

    def check(self) -> None:
        """Raise :class:`Cancelled` when the paint was cancelled (called between steps)."""
        if self.cancelled:
            raise Cancelled("cancelled.")


class PaintQueue:
    """Paints run by ``workers`` threads in arrival order, skipping paints whose run is busy."""

    def __init__(self, workers: int, client_work: int) -> None:
        self.client_work = client_work
        self.waiting: list[QueuedPaint] = []
        self.running: list[QueuedPaint] = []
        self.cond = threading.Condition()
        self.closed = False
        self.threads = [
            threading.Thread(target=self._work, name=f"huashi-paint-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, paint: QueuedPaint) -> QueuedPaint:
        """Queue ``paint``; :class:`TooMuchWork` if its client would have too much queued."""
        with self.cond:
            mine = sum(p.work for p in self.waiting + self.running if p.client == paint.client)
            if mine + paint.work > self.client_work:
                raise TooMuchWork(
                    f"this page already has {mine} image-steps queued or painting and may have "
                    f"{self.client_work} at once: wait for them, cancel one, or ask for fewer "
                    "images or steps."
                )
            self.waiting.append(paint)
            self._renumber()
            self.cond.notify_all()
        return paint

    def cancel(self, paint: QueuedPaint) -> None:
        """Cancel ``paint``: a waiting one is dropped at once, a running one at its next step."""
        with self.cond:
            paint.cancelled = True
            if paint in self.waiting:
                self.waiting.remove(paint)
                paint.future.set_exception(Cancelled("cancelled before it started."))
                self._renumber()
                self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            for paint in self.waiting:
                paint.future.set_exception(Cancelled("the studio is stopping."))
            self.waiting.clear()
            self.cond.notify_all()

    def _next(self) -> QueuedPaint | None:
        busy = {key for p in self.running for key in p.keys}
        return next((p for p in self.waiting if busy.isdisjoint(p.keys)), None)

    def _renumber(self) -> None:
        for number, paint in enumerate(self.waiting, 1):
            if paint.position != number:
                paint.position = number
                paint.on_change(paint)

    def _work(self) -> None:
        while True:
            with self.cond:
                while not self.closed and (paint := self._next()) is None:
                    self.cond.wait()
                if self.closed:
                    return
                self.waiting.remove(paint)
                self.running.append(paint)
                paint.position = 0
                paint.on_change(paint)
                self._renumber()
            try:
                paint.check()
                paint.future.set_result(paint.run(paint))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting request
                paint.future.set_exception(error)
            finally:
                with self.cond:
                    self.running.remove(paint)
                    self.cond.notify_all()
