"""The studio's state: the runs folder and its one cache of loaded runs, worker threads, tasks
with progress, uploads and training jobs. Every tab's router works on one :class:`Studio`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError, missing_package

try:
    from fastapi import HTTPException
    from fastapi.responses import StreamingResponse
except ImportError:  # pragma: no cover - the extra is missing
    raise missing_package("fastapi", "studio", "huashi studio") from None

from huashi import api
from huashi.studio.jobs import JobManager

STATIC = Path(__file__).parent / "static"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
RUN_NAME = re.compile(NAME)
IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$")
UPLOAD_ID = re.compile(r"^[0-9a-f]{20}$")
REPORT_ID = re.compile(r"^compare-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
LATENT_ID = re.compile(r"^[0-9a-f]{20}$")


@dataclass
class Limits:
    upload_bytes: int = 8 * 2**20
    upload_pixels: int = 2048 * 2048
    loaded_runs: int = 3
    loaded_bytes: int = 2 * 2**30  # parameters held by the cache of loaded runs
    workers: int = 2  # generation threads


#: A loaded run in the studio's cache: ``run``, the ``lock`` held while one request generates
#: from it, and the size of its parameters.
Loaded = api.CachedRun


class RunCache(api.RunCache):
    """The API's run cache within the studio's limits (runs and parameter bytes), on the CPU;
    ``get`` loads a run folder's newest checkpoint (a newer one replaces the cached one)."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(limits.loaded_runs, limits.loaded_bytes)

    def get(self, run_dir: Path) -> Loaded:  # type: ignore[override]
        return super().get(run_dir, device="cpu")


def paint_form(family: Any) -> dict[str, Any]:
    """What the paint form offers for a loaded family: asked from the family itself."""
    accepts = family.sampling_option_names()
    steps = family.sampling_steps
    form: dict[str, Any] = {
        "condition": family.condition,
        "class_names": list(family.data.class_names),
        "num_classes": family.data.num_classes,
        "resolution": family.data.resolution,
        "channels": family.data.channels,
        "sampling": steps,
        "img2img": family.repaints_images,
        "inpaint": "mask" in accepts,
        "truncation": "truncation" in accepts,
        "paintable": family.paints_from_seeds,
        "latent_spaces": list(
            api.latent_spaces(family)
        ),  # empty: no latent to walk, invert or drag
    }
    if steps:
        from huashi.diffusion.samplers import SAMPLERS

        # Sampler, steps and CFG the form leaves open are the family's own defaults: generate
        # fills them in (they are not read here).
        form["samplers"] = list(SAMPLERS)
    return form


@dataclass
class Task:
    done: int = 0
    total: int = 0
    status: str = "running"  # running, done, failed
    message: str = ""
    version: int = 0

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "version"}


class Studio:
    """The state behind the app: runs folder, cache, worker threads, uploads, tasks, jobs."""

    def __init__(
        self, runs_dir: Path, limits: Limits, max_jobs: int, data_root: Path | None = None
    ) -> None:
        self.runs_dir = runs_dir
        self.data_root = data_root  # the one folder of image folders the pages may use
        self.home = runs_dir / ".studio"  # uploads, previews and job logs (not a run)
        self.uploads = self.home / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.cache = RunCache(limits)
        self.pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="huashi-paint")
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self.jobs = JobManager(runs_dir, self.home / "jobs", max_jobs)
        self.reports = self.home / "reports"  # compare reports
        self.reports.mkdir(parents=True, exist_ok=True)
        self.measuring = threading.Lock()  # one eval or compare at a time

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def run_dir(self, name: str) -> Path:
        """The run folder ``name`` directly under the runs folder, or 404."""
        if not RUN_NAME.match(name):
            raise HTTPException(404, f"no run named {name!r}.")
        path = (self.runs_dir / name).resolve()
        if path.parent != self.runs_dir or not (path / "config.json").is_file():
            raise HTTPException(404, f"no run named {name!r} in the runs folder.")
        return path

    def upload_path(self, upload_id: str) -> Path:
        path = self.uploads / f"{upload_id}.png"
        if not UPLOAD_ID.match(upload_id) or not path.is_file():
            raise HTTPException(404, f"no upload {upload_id!r}: upload the image first.")
        return path

    def task(self, name: str | None) -> Task:
        task = Task()
        self.tasks[name or uuid.uuid4().hex] = task
        while len(self.tasks) > 200:
            self.tasks.popitem(last=False)
        return task

    @staticmethod
    def task_progress(task: Task) -> api.Progress:
        """A progress callback that updates ``task``."""

        def progress(done: int, total: int, message: str) -> None:
            task.done, task.total, task.message = done, total, message
            task.version += 1

        return progress

    async def as_task(self, name: str | None, fn: Callable[[Task], Any]) -> Any:
        """Run ``fn(task)`` in a worker thread as the task ``name``, marking it done or failed."""
        task = self.task(name)
        try:
            result = await self.in_thread(fn, task)
        except Exception as error:
            task.status, task.message, task.version = "failed", str(error), task.version + 1
            raise
        task.status, task.version = "done", task.version + 1
        return result

    async def task_events(self, task: str, wait: float = 30.0) -> StreamingResponse:
        """The state of the task ``task`` as server-sent events, until it is done or failed."""

        async def stream() -> AsyncIterator[str]:
            deadline = time.monotonic() + max(0.0, min(wait, 120.0))
            while task not in self.tasks:  # the page may listen before it posts
                if time.monotonic() > deadline:
                    yield sse({"status": "unknown", "message": f"no paint task {task!r}."})
                    return
                await asyncio.sleep(0.05)
            current, seen = self.tasks[task], -1
            while True:
                if current.version != seen:
                    seen = current.version
                    yield sse(current.state())
                if current.status != "running":
                    return
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream")

    def data_spec(self, name: str) -> str:
        """A built-in dataset's name, or the path of a folder of the --data folder; else 422."""
        from huashi.data import DATASETS

        if name in DATASETS:
            return name
        if self.data_root is not None and RUN_NAME.match(name) and (self.data_root / name).is_dir():
            return str(self.data_root / name)
        known = ", ".join(DATASETS)
        folders = " or a folder of the --data folder" if self.data_root else ""
        raise HTTPException(422, f"data: unknown dataset {name!r}; use one of {known}{folders}.")


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def gallery_entry(run: str, path: Path) -> dict[str, Any]:
    """A painted image as the gallery shows it, with the parameters its PNG carries."""
    from huashi.core.images import read_params

    try:
        params = read_params(path)
    except (HuashiError, json.JSONDecodeError):
        params = {}
    shown = {k: params[k] for k in ("seed", "step", "family") if k in params}
    shown |= {k: v for k, v in (params.get("options") or {}).items() if k not in ("init", "mask")}
    studio = params.get("studio") or {}
    shown |= {k: studio[k] for k in ("init", "mask") if k in studio}
    return {
        "id": f"{run}/{path.stem}",
        "url": f"/api/images/{run}/{path.stem}.png",
        "run": run,
        "parameters": shown,
        "created": path.stat().st_mtime,
    }
