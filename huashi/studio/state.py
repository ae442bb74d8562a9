"""The state behind the studio app (:class:`Studio`): the runs folder and what may be reached in
it, runs loaded from the API's one run cache, the studio's :class:`Limits`, worker threads, the
paint queue, uploads, tasks with progress and training jobs. The routers
(:mod:`huashi.studio.routes`) share one ``Studio``."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from huashi import api
from huashi.studio.bodies import MAX_N, MAX_SAMPLING_STEPS, NAME_RE, UPLOAD_RE
from huashi.studio.jobs import JobManager
from huashi.studio.painters import is_zoo_name
from huashi.studio.queue import Cancelled, PaintQueue, QueuedPaint, TooMuchWork


@dataclass
class Limits:
    """The studio's bounds: uploads, the work of one request and of one page, kept uploads,
    worker threads (loaded runs are bounded by the API's one run cache)."""

    upload_bytes: int = 8 * 2**20
    upload_pixels: int = 2048 * 2048
    request_work: int = MAX_N * MAX_SAMPLING_STEPS  # images x steps x passes of one paint
    client_work: int = 2 * MAX_N * MAX_SAMPLING_STEPS  # queued or painting for one page
    kept_uploads: int = 200  # the newest uploads kept; older ones are removed
    upload_days: float = 7.0  # uploads older than this are removed
    workers: int = 2  # generation threads


@dataclass
class Task:
    """The progress of one request (a paint, a walk, an eval, ...), streamed to its page."""

    done: int = 0
    total: int = 0
    status: str = "running"  # queued, running, done, failed, cancelled
    message: str = ""
    version: int = 0
    position: int = 0  # a queued request's place in the queue (1: next to start)

    def state(self) -> dict[str, Any]:
        hidden = ("version",) if self.status == "queued" else ("version", "position")
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in hidden}

    def progress(self, job: QueuedPaint | None = None) -> api.Progress:
        """A progress callback that moves this task (and stops a cancelled ``job``)."""

        def report(done: int, total: int, message: str) -> None:
            if job is not None:
                job.check()  # a cancelled request stops at its next step
            self.done, self.total, self.message = done, total, message
            self.version += 1

        return report

    def end(self, status: str, message: str | None = None) -> None:
        self.status = status
        if message is not None:
            self.message = message
        self.version += 1


class Studio:
    """The runs folder, cache, worker threads, paint queue, uploads, tasks and jobs."""

    def __init__(
        self, runs_dir: Path, limits: Limits, max_jobs: int, data_root: Path | None = None
    ) -> None:
        self.runs_dir = runs_dir
        self.data_root = data_root
        self.home = runs_dir / ".studio"  # uploads, previews and job logs (not a run)
        self.uploads = self.home / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="huashi-work")
        self.paints = PaintQueue(limits.workers, limits.client_work)  # fair, bounded
        self.queued: dict[str, QueuedPaint] = {}  # requests waiting or running, by task
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self.jobs = JobManager(runs_dir, self.home / "jobs", max_jobs)
        self.reports = self.home / "reports"  # compare reports
        self.reports.mkdir(parents=True, exist_ok=True)
        self.prune_uploads()  # what earlier sessions left

    def load(self, run_dir: Path) -> api.CachedRun:
        """The run's newest checkpoint loaded on the CPU from the API's one run cache, with the
        lock its paints take turns on."""
        return api.cached_run(run_dir, device="cpu")

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def run_dir(self, name: str) -> Path:
        """The run folder ``name`` directly under the runs folder (or the zoo folder of
        ``zoo:NAME``), or 404."""
        if is_zoo_name(name):
            folder = api.zoo_folder(name)
            if folder is None:
                raise HTTPException(404, f"no zoo painter named {name!r}.")
            return folder
        if not NAME_RE.match(name):
            raise HTTPException(404, f"no run named {name!r}.")
        path = (self.runs_dir / name).resolve()
        if path.parent != self.runs_dir or not (path / "config.json").is_file():
            raise HTTPException(404, f"no run named {name!r} in the runs folder.")
        return path

    def run_names(self) -> list[Path]:
        """The run folders directly under the runs folder."""
        return [p for p in sorted(self.runs_dir.iterdir())
                if NAME_RE.match(p.name) and (p / "config.json").is_file()]  # fmt: skip

    def out_dir(self, run_dir: Path) -> Path:
        """Where the studio keeps what it paints with a run: ``RUN/studio/``, and for a zoo
        painter (whose folder may be read-only) ``.studio/zoo/NAME/`` in the runs folder."""
        if run_dir.parent == self.runs_dir:
            return run_dir / "studio"
        return self.home / "zoo" / run_dir.name

    def ref(self, path: Path) -> str:
        """How a studio PNG names a run or file: relative to the runs folder, a zoo painter's
        folder as ``zoo:NAME`` (``huashi regenerate`` finds both from the PNG)."""
        path = Path(path).resolve()
        if path.parent == api.zoo_root().resolve():
            return f"zoo:{path.name}"
        try:
            return str(path.relative_to(self.runs_dir))
        except ValueError:
            return str(path)

    def relative(self, text: str) -> str:
        """``text`` without server paths: runs as their names, zoo folders as ``zoo:NAME``."""
        for root, prefix, whole in ((self.runs_dir, "", "the runs folder"),
                                    (api.zoo_root().resolve(), "zoo:", "the zoo")):  # fmt: skip
            text = text.replace(f"{root}/", prefix).replace(str(root), whole)
        return text

    def upload_path(self, upload_id: str) -> Path:
        path = self.uploads / f"{upload_id}.png"
        if not UPLOAD_RE.match(upload_id) or not path.is_file():
            raise HTTPException(404, f"no upload {upload_id!r}: upload the image first.")
        return path

    def prune_uploads(self, keep: Path | None = None) -> int:
        """Remove uploads beyond the newest ``limits.kept_uploads``, those older than
        ``limits.upload_days`` and stale partial files; returns how many went."""
        now = time.time()
        files = []
        for path in self.uploads.iterdir():
            try:
                files.append((path.stat().st_mtime, path))
            except OSError:  # removed meanwhile
                continue
        files.sort(reverse=True)
        old = now - self.limits.upload_days * 86400
        doomed = [p for i, (mtime, p) in enumerate(files)
                  if p != keep and (i >= self.limits.kept_uploads or mtime < old
                                    or (p.suffix == ".tmp" and mtime < now - 3600))]  # fmt: skip
        for path in doomed:
            path.unlink(missing_ok=True)
        return len(doomed)

    def data_spec(self, name: str) -> str:
        """A built-in dataset's name, or the path of a folder of the --data folder (else 422)."""
        known = api.datasets()
        if name in known:
            return name
        root = self.data_root
        if root is not None and NAME_RE.match(name) and (root / name).is_dir():
            return str(root / name)
        names = ", ".join(known)
        folders = " or a folder of the --data folder" if root else ""
        raise HTTPException(422, f"data: unknown dataset {name!r}; use one of {names}{folders}.")

    def task(self, name: str | None) -> Task:
        task = Task()
        self.tasks[name or uuid.uuid4().hex] = task
        while len(self.tasks) > 200:
            self.tasks.popitem(last=False)
        return task

    async def queued_task(
        self,
        http: Request,
        name: str | None,
        keys: tuple[str, ...],
        work: int,
        fn: Callable[[Task, QueuedPaint], Any],
        what: str = "paint",
    ) -> Any:
        """Run ``fn(task, job)`` through the paint queue: fairly among pages, ``work`` counted
        against the page's bound (at most one request's), never while a running request holds
        one of ``keys``; its place in the queue and its progress streamed as task ``name``;
        cancelled by ``POST /api/tasks/NAME/cancel`` or when the client leaves (409)."""
        name = name or uuid.uuid4().hex
        task = self.task(name)

        def changed(job: QueuedPaint) -> None:
            task.status, task.position = ("queued" if job.position else "running"), job.position
            if job.position:
                task.message = f"queued: {job.position} in line"
            task.version += 1

        # the page names itself (one id per tab); else the client's address
        client = http.headers.get("X-Huashi-Client") or (http.client.host if http.client else "")
        work = max(1, min(work, self.limits.request_work))
        job = QueuedPaint(keys, client[:100], work, lambda job: fn(task, job), changed)
        try:
            self.paints.submit(job)
        except TooMuchWork as error:
            task.end("failed", str(error))
            raise HTTPException(429, str(error)) from None
        self.queued[name] = job

        async def watch() -> None:  # the client gave up: so does the request
            while (await http.receive())["type"] != "http.disconnect":
                pass
            self.paints.cancel(job)

        watcher = asyncio.create_task(watch())
        try:
            result = await asyncio.wrap_future(job.future)
        except Cancelled as error:
            task.end("cancelled", str(error))
            raise HTTPException(409, f"the {what} was {error}") from None
        except Exception as error:
            task.end("failed", str(error))
            raise
        finally:
            watcher.cancel()
            self.queued.pop(name, None)
        task.end("done")
        return result


def stamp() -> str:
    """A file-name prefix: the time and a few random letters."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
