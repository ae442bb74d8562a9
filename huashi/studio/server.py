"""The studio's HTTP API and page: ``create_app(runs_dir)`` returns a FastAPI app.

Everything the page does goes through these endpoints (the OpenAPI schema is at
``/openapi.json``, a reference page drawn from it, offline, at ``/docs``); every endpoint
calls :mod:`huashi.api`. Generation runs in worker threads (the server keeps answering), one
lock per loaded model; loaded runs are kept in a small LRU cache. Only run folders directly
under ``runs_dir`` and the zoo's painters (``zoo:NAME``) are reachable, uploads are limited in
bytes and pixels and kept in a bounded folder, and a bad request is a 4xx with a message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import io
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError, missing_package

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field
except ImportError:  # pragma: no cover - the extra is missing
    raise missing_package("fastapi", "studio", "huashi studio") from None

from huashi import __version__, api
from huashi.gan.latents import spaces_of
from huashi.studio.jobs import ACTIVE, JobManager
from huashi.studio.painters import display_name, group_of, is_zoo_name, zoo_cards, zoo_folder
from huashi.studio.queue import Cancelled, PaintQueue, QueuedPaint, TooMuchWork

log = logging.getLogger("huashi.studio")

STATIC = Path(__file__).parent / "static"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
RUN = r"^(zoo:)?[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # a run folder's name or a zoo painter's
_NAME = re.compile(NAME)
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$")
_UPLOAD = re.compile(r"^[0-9a-f]{20}$")
_REPORT = re.compile(r"^compare-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
TOKEN_HEADER = "X-Huashi-Token"
TOKEN_COOKIE = "huashi_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# Bounds of one request (a 422 names the field and the bound).
MAX_N = 16
MAX_SAMPLING_STEPS = 250
MAX_BATCH = 16
MAX_TRAIN_STEPS = 200_000
MAX_RESOLUTION = 256
MAX_SEED = 2**31 - 1
MAX_SWEEP = 8  # passes of one sweep
MAX_EVAL_N = 5000  # generated images of one eval or compare
MAX_COMPARE_RUNS = 8
MAX_WALK = 16  # images of one latent walk
MAX_INVERT_STEPS = 500
MAX_DRAG_STEPS = 200
MAX_DRAG_POINTS = 8
_LATENT = re.compile(r"^[0-9a-f]{20}$")


@dataclass
class Limits:
    upload_bytes: int = 8 * 2**20
    upload_pixels: int = 2048 * 2048
    loaded_runs: int = 3
    loaded_bytes: int = 2 * 2**30  # parameters held by the cache of loaded runs
    request_work: int = MAX_N * MAX_SAMPLING_STEPS  # images x steps x passes of one paint
    client_work: int = 2 * MAX_N * MAX_SAMPLING_STEPS  # queued or painting for one page
    kept_uploads: int = 200  # the newest uploads kept; older ones are removed
    upload_days: float = 7.0  # uploads older than this are removed
    workers: int = 2  # generation threads


# --- request bodies --------------------------------------------------------------------------


class SweepPass(BaseModel):
    """One pass of a sweep: a sampler (the request's when omitted) and a step count."""

    model_config = ConfigDict(extra="forbid")
    sampler: str | None = Field(None, max_length=20)
    steps: int = Field(ge=1, le=MAX_SAMPLING_STEPS)


class PaintRequest(BaseModel):
    """What to paint: ``n`` images with seeds ``seed, seed+1, ...`` (a random seed when
    omitted). ``init``/``mask`` are upload ids (``POST /api/uploads``). Sampler, steps and CFG
    left out are the run's own defaults. ``sweep`` paints the same seeds once per pass."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    prompt: str | None = Field(None, max_length=500)
    negative_prompt: str | None = Field(None, max_length=500)
    label: int | None = Field(None, ge=0)
    sampler: str | None = Field(None, max_length=20)
    steps: int | None = Field(None, ge=1, le=MAX_SAMPLING_STEPS)
    cfg: float | None = Field(None, ge=0, le=30)
    eta: float | None = Field(None, ge=0, le=1)
    truncation: float | None = Field(None, ge=0, le=2)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    n: int = Field(1, ge=1, le=MAX_N)
    batch_size: int = Field(1, ge=1, le=MAX_BATCH)
    init: str | None = Field(None, pattern=_UPLOAD.pattern)
    mask: str | None = Field(None, pattern=_UPLOAD.pattern)
    strength: float | None = Field(None, gt=0, le=1)
    task: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    sweep: list[SweepPass] | None = Field(None, min_length=1, max_length=MAX_SWEEP)


class TranslateRequest(BaseModel):
    """Translate (a Pix2Pix run) or upscale (an upsampler run) the upload ``upload``."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    upload: str = Field(pattern=_UPLOAD.pattern)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    task: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


class EvalRequest(BaseModel):
    """Measure a run on ``n`` generated images with the feature network ``features`` (the
    name of a classifier or clip run in the runs folder, see ``GET /api/features``)."""

    model_config = ConfigDict(extra="forbid")
    features: str = Field(pattern=RUN)
    n: int = Field(500, ge=2, le=MAX_EVAL_N)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    kid_subsets: int = Field(100, ge=1, le=1000)
    task: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


class CompareRequest(BaseModel):
    """A `huashi compare` report of ``runs``; with ``features``, missing metrics are measured
    on ``n`` images."""

    model_config = ConfigDict(extra="forbid")
    runs: list[str] = Field(min_length=1, max_length=MAX_COMPARE_RUNS)
    features: str | None = Field(None, pattern=RUN)
    n: int = Field(500, ge=2, le=MAX_EVAL_N)
    force: bool = False
    speed_n: int = Field(8, ge=1, le=64)
    grid_n: int = Field(16, ge=1, le=64)
    title: str = Field("huashi comparison", max_length=200)
    task: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


Scalar = str | int | float | bool


class TrainRequest(BaseModel):
    """A training job: a new run ``name`` (or ``resume`` of an existing one)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME)
    family: str | None = Field(None, max_length=40)
    data: str | None = Field(None, max_length=100)
    resolution: int | None = Field(None, ge=8, le=MAX_RESOLUTION)
    steps: int = Field(500, ge=1, le=MAX_TRAIN_STEPS)
    minutes: float | None = Field(None, gt=0, le=24 * 60)
    batch_size: int | None = Field(None, ge=1, le=1024)
    resume: bool = False
    model: dict[str, Scalar | list[int]] = Field(default_factory=dict)
    data_options: dict[str, Scalar] = Field(default_factory=dict)
    train: dict[str, Scalar] = Field(default_factory=dict)


class WalkRequest(BaseModel):
    """A latent walk of ``steps`` images from seed ``seed_a``'s latent to ``seed_b``'s: a
    straight line in w for a generator with a mapping network (``truncation`` applies there),
    a great circle (slerp) in z otherwise."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    seed_a: int = Field(ge=0, le=MAX_SEED)
    seed_b: int = Field(ge=0, le=MAX_SEED)
    steps: int = Field(8, ge=2, le=MAX_WALK)
    truncation: float | None = Field(None, ge=0, le=2)


class InvertRequest(BaseModel):
    """Find the latent (in ``space``) whose image matches the upload ``upload``."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    upload: str = Field(pattern=_UPLOAD.pattern)
    space: str = Field("w+", pattern=r"^(z|w|w\+)$")
    steps: int = Field(100, ge=1, le=MAX_INVERT_STEPS)
    task: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


class DragRequest(BaseModel):
    """Drag handle points to target points ``[[hx, hy, tx, ty], ...]`` (pixels of the image)
    in the image of the latent ``latent`` (an id from an inversion or an earlier drag)."""

    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN)
    latent: str = Field(pattern=_LATENT.pattern)
    points: list[list[float]] = Field(min_length=1, max_length=MAX_DRAG_POINTS)
    steps: int = Field(50, ge=1, le=MAX_DRAG_STEPS)
    task: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")


# --- loaded runs -----------------------------------------------------------------------------


@dataclass
class Loaded:
    run: api.LoadedRun
    lock: threading.Lock
    nbytes: int


class RunCache:
    """Loaded runs by folder and checkpoint, least recently used evicted first."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.entries: OrderedDict[tuple[str, str], Loaded] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, run_dir: Path) -> Loaded:
        from huashi.training.checkpoint import latest_checkpoint

        newest = latest_checkpoint(run_dir / "checkpoints")
        key = (str(run_dir), newest.name if newest else "")
        with self.lock:  # one load at a time; a newer checkpoint replaces the old entry
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
            loaded = api.load_run(run_dir, device="cpu")
            nbytes = sum(
                p.numel() * p.element_size()
                for m in loaded.family.modules.values()
                for p in m.parameters()
            )
            for old in [k for k in self.entries if k[0] == key[0]]:
                del self.entries[old]
            self.entries[key] = Loaded(loaded, threading.Lock(), nbytes)
            while len(self.entries) > 1 and (
                len(self.entries) > self.limits.loaded_runs
                or sum(e.nbytes for e in self.entries.values()) > self.limits.loaded_bytes
            ):
                self.entries.popitem(last=False)
            return self.entries[key]


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
        "latent_spaces": list(spaces_of(family)),  # empty: no latent to walk, invert or drag
        # captions seen in training: the page offers them as example prompts
        "examples": list(family.preview_captions[:8]) if family.condition == "text" else [],
    }
    if steps:
        from huashi.diffusion.samplers import SAMPLERS

        # Sampler, steps and CFG the form leaves open are the family's own defaults: generate
        # fills them in (they are not read here).
        form["samplers"] = list(SAMPLERS)
    return form


# --- tasks with progress (paint requests) ----------------------------------------------------


@dataclass
class Task:
    done: int = 0
    total: int = 0
    status: str = "running"  # queued, running, done, failed, cancelled
    message: str = ""
    version: int = 0
    position: int = 0  # a queued paint's place in the queue (1: next to start)

    def state(self) -> dict[str, Any]:
        hidden = ("version",) if self.status == "queued" else ("version", "position")
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in hidden}


class Studio:
    """The state behind the app: runs folder, cache, worker threads, uploads, tasks, jobs."""

    def __init__(self, runs_dir: Path, limits: Limits, max_jobs: int) -> None:
        self.runs_dir = runs_dir
        self.home = runs_dir / ".studio"  # uploads, previews and job logs (not a run)
        self.uploads = self.home / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.cache = RunCache(limits)
        self.pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="huashi-work")
        self.paints = PaintQueue(limits.workers, limits.client_work)  # paints: fair, bounded
        self.queued: dict[str, QueuedPaint] = {}  # paints waiting or running, by task
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self.jobs = JobManager(runs_dir, self.home / "jobs", max_jobs)
        self.reports = self.home / "reports"  # compare reports
        self.reports.mkdir(parents=True, exist_ok=True)
        self.measuring = threading.Lock()  # one eval or compare at a time
        self.prune_uploads()  # what earlier sessions left

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def run_dir(self, name: str) -> Path:
        """The run folder ``name`` directly under the runs folder (or the zoo folder of
        ``zoo:NAME``), or 404."""
        if is_zoo_name(name):
            folder = zoo_folder(name)
            if folder is None:
                raise HTTPException(404, f"no zoo painter named {name!r}.")
            return folder
        if not _NAME.match(name):
            raise HTTPException(404, f"no run named {name!r}.")
        path = (self.runs_dir / name).resolve()
        if path.parent != self.runs_dir or not (path / "config.json").is_file():
            raise HTTPException(404, f"no run named {name!r} in the runs folder.")
        return path

    def out_dir(self, run_dir: Path) -> Path:
        """Where the studio keeps what it paints with a run: ``RUN/studio/``, and for a zoo
        painter (whose folder may be read-only) ``.studio/zoo/NAME/`` in the runs folder."""
        if run_dir.parent == self.runs_dir:
            return run_dir / "studio"
        return self.home / "zoo" / run_dir.name

    def ref(self, path: Path) -> str:
        """How a studio PNG names a run or file: relative to the runs folder, a zoo painter's
        folder as ``zoo:NAME`` (``huashi regenerate`` finds both from the PNG)."""
        from huashi.zoo import zoo_root

        path = Path(path).resolve()
        if path.parent == zoo_root().resolve():
            return f"zoo:{path.name}"
        try:
            return str(path.relative_to(self.runs_dir))
        except ValueError:
            return str(path)

    def upload_path(self, upload_id: str) -> Path:
        path = self.uploads / f"{upload_id}.png"
        if not _UPLOAD.match(upload_id) or not path.is_file():
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

    def task(self, name: str | None) -> Task:
        task = Task()
        self.tasks[name or uuid.uuid4().hex] = task
        while len(self.tasks) > 200:
            self.tasks.popitem(last=False)
        return task


# --- helpers ---------------------------------------------------------------------------------


def _summary(run_dir: Path) -> dict[str, Any]:
    """A run as the runs list shows it (read from its files; nothing is loaded)."""
    from huashi.families import FAMILIES
    from huashi.families.base import Family
    from huashi.runs import RunConfig
    from huashi.training.checkpoint import latest_checkpoint
    from huashi.training.logging import read_log

    config = RunConfig.load(run_dir)
    newest = latest_checkpoint(run_dir / "checkpoints")
    records = read_log(run_dir / "log.jsonl")
    metrics = {}
    for path in sorted(run_dir.glob("eval-*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for key, value in (record.get("metrics") or {}).items():
            if isinstance(value, (int, float)):
                metrics[f"{key} ({path.stem.removeprefix('eval-')})"] = value
            elif isinstance(value, dict):
                for sub, number in value.items():
                    if isinstance(number, (int, float)) and not isinstance(number, bool):
                        metrics[f"{key}.{sub} ({path.stem.removeprefix('eval-')})"] = number
    grid = run_dir / "samples.png"
    family = FAMILIES.get(config.family)
    name = display_name(run_dir)
    trained = _checkpoint_meta(newest) if newest is not None and not records else {}
    return {
        "name": name,
        "family": config.family,
        "group": group_of(config.family, config.model),  # what it does (None: features)
        "makes_images": bool(family is None or family.makes_images),
        # the family class fills in the latent contract (asked without loading the weights)
        "latent": family is not None and family.latent_shape is not Family.latent_shape,
        "data": config.data.get("spec"),
        "resolution": config.data.get("resolution"),
        # a run without its log (a zoo painter, a copied run) reads its checkpoint's record
        "step": int(records[-1]["step"]) if records else int(trained.get("step", 0)),
        "steps": config.train.get("steps"),
        "train_seconds": float(records[-1].get("train_seconds", 0)) if records
        else float(trained.get("train_seconds", 0.0)),
        "trained": newest is not None,
        "updated": max((p.stat().st_mtime for p in (run_dir / "log.jsonl", grid) if p.exists()),
                       default=(run_dir / "config.json").stat().st_mtime),
        "grid": f"/api/runs/{name}/samples.png?v={int(grid.stat().st_mtime_ns)}"
        if grid.exists()
        else None,
        "metrics": metrics,
    }  # fmt: skip


def check_training(spec: dict[str, Any], run_dir: Path) -> None:
    """Build the model and training configs a job with ``spec`` (api.train's arguments) would
    build, so their checks run before the job is queued (HuashiError: a 422 naming the option)."""
    from huashi.families import FAMILIES
    from huashi.runs import RunConfig
    from huashi.training.loop import TrainConfig

    if spec.get("resume"):
        saved = RunConfig.load(run_dir)
        dataclasses.replace(saved.train_config(), **spec["train"])
        return
    family = FAMILIES[spec["family"]]
    config = family.make_config(spec["model"])
    check = getattr(family, "check_config", None)
    if callable(check):
        check(config)
    try:
        TrainConfig(**spec["train"])
    except TypeError as error:  # a value of the wrong kind
        raise HuashiError(f"train: {error}.") from None


def paint_work(request: PaintRequest, family: Any) -> int:
    """The work of a paint request: images x sampler steps (the run's default when left open;
    1 for a family without steps), summed over a sweep's passes."""
    if not family.sampling_steps:
        return request.n * len(request.sweep or [None])
    default = int(family.sampling_defaults({}).get("steps", 1))
    steps = [p.steps for p in request.sweep] if request.sweep else [request.steps or default]
    return request.n * sum(steps)


def _checkpoint_meta(json_path: Path) -> dict[str, Any]:
    """The JSON record of a checkpoint (step, train_seconds, ...), or {} when unreadable."""
    try:
        return json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _gallery_entry(run: str, path: Path) -> dict[str, Any]:
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


def _message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(x) for x in item.get("loc", ()) if x not in ("body", "query", "path"))
        message = item.get("msg", "invalid")
        if item.get("type") == "string_pattern_mismatch":  # say what is wanted, not the regex
            message = _PATTERN_HELP.get(where, "use letters, digits, '.', '_' and '-'")
            message = (
                f"{item.get('input')!r} is not valid: {message}" if item.get("input") else message
            )
        parts.append(f"{where or 'request'}: {message}")
    return "; ".join(parts)


_PATTERN_HELP = {
    "run": "choose a run of the runs folder or a zoo painter (zoo:NAME)",
    "features": "choose a feature network of GET /api/features",
    "name": "a run name has letters, digits, '.', '_' and '-' (at most 100)",
}


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


# --- the app ---------------------------------------------------------------------------------


def create_app(
    runs_dir: str | Path,
    token: str | None = None,
    limits: Limits | None = None,
    max_jobs: int = 1,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK,
    data_dir: str | Path | None = None,
) -> FastAPI:
    """The studio app over the run folders in ``runs_dir``.

    With ``token`` every ``/api`` request needs it (header ``X-Huashi-Token`` or the
    ``huashi_token`` cookie the page sets), else 401. ``allowed_hosts`` are the host names the
    requests may address (None: any; the default, loopback names, stops DNS rebinding).
    ``data_dir``, if given, is the one folder whose image folders the Train and Data pages may
    use besides the built-in datasets; ``max_jobs`` training jobs run at once (others queue).
    """
    if is_zoo_name(str(runs_dir)):
        raise HuashiError(
            f"--runs {runs_dir} names the zoo, but --runs is the folder for your own runs (the "
            "studio lists the zoo's painters anyway): give a folder such as runs/."
        )
    runs_dir = Path(runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    data_root = Path(data_dir).resolve() if data_dir else None
    limits = limits or Limits()
    studio = Studio(runs_dir, limits, max_jobs)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.get_running_loop().run_in_executor(None, studio.jobs.close)
        studio.paints.close()
        studio.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="huashi studio",
        version=__version__,
        description="Paint with, train and inspect huashi runs. Every page action is one of "
        "these endpoints.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI comes from a CDN: the own page below works offline
        redoc_url=None,
    )
    app.state.studio = studio

    # --- safety: host names, token, errors ------------------------------------------------------

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable) -> Any:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        if request.headers.get("host", "").startswith("[") and "]" in request.headers["host"]:
            host = request.headers["host"][1 : request.headers["host"].index("]")]
        if allowed_hosts is not None and host not in allowed_hosts:
            return JSONResponse(
                {"detail": f"this studio answers only to {', '.join(allowed_hosts)}."}, 400
            )
        if token and request.url.path.startswith(("/api", "/openapi.json", "/docs")):
            given = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse(
                    {"detail": f"this studio needs its token: send the {TOKEN_HEADER} header "
                               "(the page takes it from the URL that `huashi studio` printed)."},
                    401,
                )  # fmt: skip
        return await call_next(request)

    def relative(text: str) -> str:
        """``text`` without server paths: runs as their names, zoo folders as ``zoo:NAME``."""
        from huashi.zoo import zoo_root

        for root, prefix, whole in ((runs_dir, "", "the runs folder"),
                                    (zoo_root().resolve(), "zoo:", "the zoo")):  # fmt: skip
            text = text.replace(f"{root}/", prefix).replace(str(root), whole)
        return text

    @app.exception_handler(HuashiError)
    async def huashi_error(_: Request, error: HuashiError) -> JSONResponse:
        return JSONResponse({"detail": relative(str(error))}, 422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _message(error)}, 422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("studio request failed")
        return JSONResponse(
            {
                "detail": relative(
                    f"the studio failed on this request ({type(error).__name__}: {error})."
                )
            },
            500,
        )

    # --- runs ----------------------------------------------------------------------------------

    @app.get("/api/runs", summary="The runs in the runs folder")
    def list_runs() -> list[dict[str, Any]]:  # plain def: FastAPI runs it off the event loop
        runs = []
        for path in sorted(runs_dir.iterdir()):
            if _NAME.match(path.name) and (path / "config.json").is_file():
                try:
                    runs.append(_summary(path))
                except (HuashiError, OSError, KeyError, ValueError) as error:
                    runs.append({"name": path.name, "error": relative(str(error))})
        return sorted(runs, key=lambda r: -r.get("updated", 0))

    @app.get("/api/zoo", summary="The shipped painters (zoo:NAME) with their cards, by group")
    def list_zoo() -> dict[str, Any]:
        from huashi.studio.painters import GROUPS

        return {"groups": GROUPS, "painters": [c for c in zoo_cards() if c["group"]]}

    @app.get("/api/runs/{run}", summary="One run: summary, paint form, gallery")
    async def get_run(run: str) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        info = _summary(run_dir)
        info["job"] = None
        job = studio.jobs.active_run(run)
        if job is not None:
            info["job"] = job.id
        try:
            loaded = await studio.in_thread(studio.cache.get, run_dir)
            info["form"] = paint_form(loaded.run.family)
            info["checkpoint"] = loaded.run.checkpoint.name
        except HuashiError as error:
            info["form"], info["note"] = None, str(error)
        info["gallery"] = gallery(run)
        return info

    @app.get("/api/runs/{run}/gallery", summary="Images painted with a run, newest first")
    def gallery(run: str, limit: int = 60) -> list[dict[str, Any]]:
        folder = studio.out_dir(studio.run_dir(run))
        files = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        return [_gallery_entry(run, p) for p in files[: max(1, min(limit, 500))]]

    @app.get("/api/runs/{run}/samples.png", summary="The run's latest training grid")
    async def samples(run: str) -> FileResponse:
        path = studio.run_dir(run) / "samples.png"
        if not path.is_file():
            raise HTTPException(404, f"run {run} has no sample grid yet.")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs/{run}/log", summary="Loss records of a run (at most `points`)")
    def run_log(run: str, points: int = 300) -> list[dict[str, Any]]:
        from huashi.training.logging import read_log

        records = read_log(studio.run_dir(run) / "log.jsonl")
        return records[:: max(1, len(records) // max(1, points))]

    @app.get("/api/runs/{run}/doctor", summary="The training doctor's findings")
    async def run_doctor(run: str) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        report = await studio.in_thread(api.doctor, run_dir)
        return {
            "summary": report.summary().replace(str(run_dir), run),
            "findings": [dataclasses.asdict(f) for f in report.findings],
        }

    # --- measuring: eval and compare -------------------------------------------------------------

    def feature_networks() -> list[dict[str, Any]]:
        """Runs under the runs folder that make features rather than images (their family says
        so), as ``KIND:RUN`` feature-network choices."""
        from huashi.families import FAMILIES
        from huashi.runs import RunConfig
        from huashi.training.checkpoint import latest_checkpoint

        out = []
        for path in sorted(runs_dir.iterdir()):
            if not (_NAME.match(path.name) and (path / "config.json").is_file()):
                continue
            try:
                config = RunConfig.load(path)
            except (HuashiError, OSError, KeyError, ValueError):
                continue
            family = FAMILIES.get(config.family)
            if family is None or family.makes_images:
                continue
            if latest_checkpoint(path / "checkpoints") is None:
                continue
            out.append({"run": path.name, "kind": config.family,
                        "spec": f"{config.family}:{path.name}", "data": config.data.get("spec"),
                        "resolution": config.data.get("resolution")})  # fmt: skip
        return out + zoo_feature_networks()

    def zoo_feature_networks() -> list[dict[str, Any]]:
        """The zoo's reference networks (``zoo:reference-*``), the ones the CLI uses."""
        return [{"run": card["name"], "kind": card["family"], "spec": card["name"],
                 "data": card["data"], "resolution": card["resolution"]}
                for card in zoo_cards() if card["group"] is None]  # fmt: skip

    def feature_spec(name: str) -> str:
        """The ``KIND:PATH`` spec of the feature-network run ``name`` (404 if it is not one)."""
        path = studio.run_dir(name)
        for net in feature_networks():
            if net["run"] == name:
                return name if is_zoo_name(name) else f"{net['kind']}:{path}"
        raise HTTPException(
            422, f"features: run {name} is not a feature network (train a classifier or clip run)."
        )

    @app.get("/api/features", summary="Feature networks for eval and compare (runs under --runs)")
    def list_features(run: str | None = None) -> list[dict[str, Any]]:
        """The feature-network runs; with ``run``, those trained on its dataset first (the first
        one is the suggested choice) and each marked ``same_data``."""
        nets = feature_networks()
        if run is None:
            return nets
        from huashi.runs import RunConfig

        config = RunConfig.load(studio.run_dir(run))
        resolution = config.data.get("resolution")
        for net in nets:
            net["same_data"] = net["data"] == config.data.get("spec")
        # same data first, then the same resolution (reference-emoji-128 for a 128 px run)
        return sorted(nets, key=lambda net: (not net["same_data"],
                                             net["resolution"] != resolution))  # fmt: skip

    def eval_table(record: dict[str, Any]) -> list[dict[str, str]]:
        """The record's metrics as table rows, labelled and formatted by the metric registry."""
        from huashi.metrics.registry import METRICS, format_value

        metrics = record["metrics"]
        return [{"name": name, "label": metric.label, "value": format_value(name, metrics[name]),
                 "description": metric.description}
                for name, metric in METRICS.items() if name in metrics]  # fmt: skip

    def task_progress(task: Task) -> api.Progress:
        def progress(done: int, total: int, message: str) -> None:
            task.done, task.total, task.message = done, total, message
            task.version += 1

        return progress

    async def as_task(name: str | None, fn: Callable[[Task], Any]) -> Any:
        task = studio.task(name)
        try:
            result = await studio.in_thread(fn, task)
        except Exception as error:
            task.status, task.message, task.version = "failed", str(error), task.version + 1
            raise
        task.status, task.version = "done", task.version + 1
        return result

    @app.post("/api/runs/{run}/eval", summary="Measure a run with a feature network")
    async def post_eval(run: str, request: EvalRequest) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        spec = feature_spec(request.features)

        def measure(task: Task) -> dict[str, Any]:
            entry = studio.cache.get(run_dir)
            with studio.measuring, entry.lock:
                result = api.evaluate(entry.run, spec, n=request.n, seed=request.seed,
                                      device="cpu", kid_subsets=request.kid_subsets,
                                      kid_subset_size=min(1000, request.n),
                                      progress=task_progress(task))  # fmt: skip
            record = result.record
            return {
                "run": run,
                "features": request.features,
                "n": request.n,
                "table": eval_table(record),
                "metrics": result.metrics,
                "warnings": [w.replace(str(runs_dir) + "/", "") for w in result.warnings],
                "file": result.path.name if result.path else None,
            }

        return await as_task(request.task, measure)

    @app.post("/api/compare", summary="Write a `huashi compare` report of chosen runs")
    async def post_compare(request: CompareRequest) -> dict[str, Any]:
        run_dirs = [studio.run_dir(name) for name in request.runs]
        spec = feature_spec(request.features) if request.features else None
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        out = studio.reports / f"compare-{stamp}.html"

        def write(task: Task) -> dict[str, Any]:
            with studio.measuring:
                result = api.compare(run_dirs, out, features=spec, n=request.n,
                                     force=request.force, sampler_steps=None,
                                     speed_n=request.speed_n, grid_n=request.grid_n,
                                     device="cpu", title=request.title,
                                     progress=task_progress(task))  # fmt: skip
            return {
                "report": out.stem,
                "url": f"/api/reports/{out.stem}.html",
                "runs": request.runs,
                "warnings": [w.replace(str(runs_dir) + "/", "") for w in result.warnings],
            }

        return await as_task(request.task, write)

    @app.get("/api/reports", summary="The compare reports, newest first")
    def list_reports() -> list[dict[str, Any]]:
        files = sorted(studio.reports.glob("compare-*.html"), key=lambda p: -p.stat().st_mtime)
        out = []
        for path in files:
            try:
                numbers = json.loads(path.with_suffix(".json").read_text())
                runs = [Path(str(r.get("run", ""))).name for r in numbers.get("runs", [])]
            except (OSError, json.JSONDecodeError, AttributeError):
                runs = []
            out.append({"report": path.stem, "url": f"/api/reports/{path.stem}.html",
                        "runs": runs, "created": path.stat().st_mtime})  # fmt: skip
        return out

    @app.get("/api/reports/{report}.html", summary="A compare report (self-contained HTML)")
    async def report_file(report: str) -> FileResponse:
        path = studio.reports / f"{report}.html"
        if not _REPORT.match(report) or not path.is_file():
            raise HTTPException(404, f"no report {report!r}.")
        return FileResponse(path, media_type="text/html")

    @app.get("/api/tasks/{task}/events", summary="Progress of a paint, eval or compare request")
    async def task_events(task: str, wait: float = 30.0) -> StreamingResponse:
        return await paint_events(task, wait)

    # --- painting ------------------------------------------------------------------------------

    def paint(request: PaintRequest, task: Task, job: QueuedPaint | None = None) -> dict[str, Any]:
        from huashi.core.images import save_png, to_pil

        run_dir = studio.run_dir(request.run)
        entry = studio.cache.get(run_dir)
        family = entry.run.family
        form = paint_form(family)
        if not form["paintable"]:
            raise HuashiError(
                f"a {entry.run.config.family} run does not paint from seeds in the studio."
            )
        options: dict[str, Any] = {}
        if request.prompt:
            if form["condition"] != "text":
                raise HuashiError(
                    f"run {request.run} is not text-conditioned: leave the prompt out."
                )
            options["prompt"] = request.prompt
        if request.negative_prompt:
            if form["condition"] != "text":
                raise HuashiError(
                    f"run {request.run} is not text-conditioned: leave the negative prompt out."
                )
            options["negative_prompt"] = request.negative_prompt
        if request.label is not None:
            if form["condition"] != "class":
                raise HuashiError(f"run {request.run} is not class-conditioned: give no label.")
            if request.label >= form["num_classes"]:
                raise HuashiError(
                    f"label must be below {form['num_classes']} (the run's classes), "
                    f"got {request.label}."
                )
            options["label"] = request.label
        asked = {"sampler": request.sampler, "steps": request.steps, "cfg": request.cfg,
                 "eta": request.eta}  # fmt: skip
        if not form["sampling"] and (request.sweep or any(v is not None for v in asked.values())):
            given = ", ".join(k for k, v in asked.items() if v is not None) or "sweep"
            raise HuashiError(f"a {entry.run.config.family} run has no sampler options ({given}).")
        # what the request leaves open is the family's own default (api.paint drops None)
        options |= {k: v for k, v in asked.items() if v is not None}
        sweep = None
        if request.sweep:
            sweep = []
            for item in request.sweep:
                sampler = item.sampler or request.sampler
                if not sampler:
                    raise HuashiError(
                        f"sweep: give the sampler of the {item.steps}-step pass (or a sampler "
                        "for the whole request)."
                    )
                sweep.append((sampler, item.steps))
        if request.truncation is not None:
            if not form["truncation"]:
                raise HuashiError(f"a {entry.run.config.family} run has no truncation.")
            options["truncation"] = request.truncation
        studio_info: dict[str, Any] = {}
        if request.mask and not request.init:
            raise HuashiError("an inpainting mask needs an init image: give init too.")
        if request.init or request.strength is not None:
            if not form["img2img"]:
                raise HuashiError(f"a {entry.run.config.family} run cannot start from an image.")
            if not request.init:
                raise HuashiError("strength needs an init image: give init too.")
            options["init"] = str(studio.upload_path(request.init))
            studio_info["init"] = request.init
            if request.strength is not None:
                options["strength"] = request.strength
        if request.mask:
            if not form["inpaint"]:
                raise HuashiError(f"a {entry.run.config.family} run cannot inpaint.")
            from huashi.diffusion.inputs import load_init, load_mask

            size = load_init(options["init"], form["channels"], form["resolution"])[1]
            load_mask(studio.upload_path(request.mask), size, form["resolution"])  # checks size
            options["mask"] = str(studio.upload_path(request.mask))
            studio_info["mask"] = request.mask
        seed = random.randrange(MAX_SEED - MAX_N) if request.seed is None else request.seed

        def progress(done: int, total: int, message: str) -> None:
            if job is not None:
                job.check()  # a cancelled paint stops at its next step
            task.done, task.total, task.message = done, total, message
            task.version += 1

        started = time.perf_counter()
        with entry.lock:
            painted = api.paint(entry.run, n=request.n, seed=seed, sweep=sweep,
                                batch_size=request.batch_size, progress=progress,
                                **options)  # fmt: skip
        seconds = time.perf_counter() - started
        base = {
            "run": studio.ref(entry.run.run_dir),
            "checkpoint": entry.run.checkpoint.name,
            "step": entry.run.step,
            "family": entry.run.config.family,
        }
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        passes = []
        for number, one in enumerate(painted.passes):
            chosen = dict(painted.options)
            if one.sampler is not None:
                chosen |= {"sampler": one.sampler, "steps": one.steps}
            tag = f"-p{number}" if sweep else ""
            entries = []
            for s, image in zip(painted.seeds, one.images, strict=True):
                path = studio.out_dir(run_dir) / f"{stamp}{tag}-s{s}.png"
                written = chosen | {k: studio.ref(Path(chosen[k])) for k in studio_info}
                meta = base | {"options": written, "seed": s, "studio": studio_info}
                save_png(to_pil(image), path, meta)
                entries.append(_gallery_entry(request.run, path))
            passes.append({"sampler": one.sampler, "steps": one.steps,
                           "seconds": round(one.seconds, 3), "images": entries})  # fmt: skip
        shown = {k: v for k, v in painted.options.items() if k not in ("init", "mask")}
        result = {
            "run": request.run,
            "images": [image for one in passes for image in one["images"]],
            "parameters": shown | studio_info | {"seed": seed, "n": request.n},
            "seconds": round(seconds, 3),
            "notes": painted.notes,
        }
        if sweep:
            result["passes"] = passes
        return result

    @app.post("/api/paint", summary="Paint images with a run; returns their ids and parameters")
    async def post_paint(request: PaintRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)  # 404 before any work
        entry = await studio.in_thread(studio.cache.get, run_dir)
        work = paint_work(request, entry.run.family)
        if work > limits.request_work:
            raise HTTPException(
                422, f"this paint is {work} image-steps (images x steps x passes); one request "
                     f"may be {limits.request_work}: ask for fewer images, steps or passes."
            )  # fmt: skip
        name = request.task or uuid.uuid4().hex
        task = studio.task(name)

        def changed(job: QueuedPaint) -> None:
            task.status, task.position = ("queued" if job.position else "running"), job.position
            if job.position:
                task.message = f"queued: {job.position} in line"
            task.version += 1

        # the page names itself (one id per tab); else the client's address
        client = http.headers.get("X-Huashi-Client") or (http.client.host if http.client else "")
        job = QueuedPaint(str(run_dir), client[:100], work,
                          lambda job: paint(request, task, job), changed)  # fmt: skip
        try:
            studio.paints.submit(job)
        except TooMuchWork as error:
            task.status, task.message, task.version = "failed", str(error), task.version + 1
            raise HTTPException(429, str(error)) from None
        studio.queued[name] = job

        async def watch() -> None:  # the client gave up: so does the paint
            while (await http.receive())["type"] != "http.disconnect":
                pass
            studio.paints.cancel(job)

        watcher = asyncio.create_task(watch())
        try:
            result = await asyncio.wrap_future(job.future)
        except Cancelled as error:
            task.status, task.message, task.version = "cancelled", str(error), task.version + 1
            raise HTTPException(409, f"the paint was {error}") from None
        except Exception as error:
            task.status, task.message, task.version = "failed", str(error), task.version + 1
            raise
        finally:
            watcher.cancel()
            studio.queued.pop(name, None)
        task.status, task.version = "done", task.version + 1
        return result

    @app.post("/api/tasks/{task}/cancel", summary="Cancel a queued or running paint")
    async def cancel_task(task: str) -> dict[str, Any]:
        job = studio.queued.get(task)
        if job is None:
            raise HTTPException(404, f"no paint {task!r} is queued or running.")
        studio.paints.cancel(job)
        return {"task": task, "cancelled": True}

    @app.post("/api/translate", summary="Translate or upscale an uploaded image with a run")
    async def post_translate(request: TranslateRequest) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        upload = studio.upload_path(request.upload)

        def translate(task: Task) -> dict[str, Any]:
            import shutil
            import tempfile

            from huashi.tools.translate import translate as translate_images
            from huashi.tools.upscale import upscale

            entry = studio.cache.get(run_dir)
            group = group_of(entry.run.config.family, entry.run.config.model)
            if group not in ("translate", "upscale"):
                raise HuashiError(
                    f"a {entry.run.config.family} run does not take an input image: paint with "
                    "it instead (translate needs a pix2pix run, upscale an upsampler)."
                )
            out = studio.out_dir(run_dir)
            with tempfile.TemporaryDirectory(dir=studio.home) as tmp, entry.lock:
                make = translate_images if group == "translate" else upscale
                result = make(entry.run, [upload], tmp, seed=request.seed,
                              progress=task_progress(task))  # fmt: skip
                stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
                path = out / f"{stamp}-{group}-s{request.seed}.png"
                out.mkdir(parents=True, exist_ok=True)
                shutil.move(str(result.files[0]), path)
                rewrite_refs(path)
            return {"run": request.run, "images": [_gallery_entry(request.run, path)],
                    "notes": result.notes}  # fmt: skip

        return await as_task(request.task, translate)

    def rewrite_refs(path: Path) -> None:
        """Name the run and input of a translated or upscaled PNG as studio PNGs do."""
        from PIL import Image

        from huashi.core.images import read_params, save_png

        params = read_params(path)
        params.pop("huashi_version", None)
        params["run"] = studio.ref(Path(params["run"]))
        for record in (params, params.get("upscale") or {}):
            if "input" in record:
                record["input"] = studio.ref(Path(record["input"]))
        with Image.open(path) as image:
            image.load()
            save_png(image, path, params)

    @app.get("/api/paint/{task}/events", summary="Progress of a paint request (server-sent events)")
    async def paint_events(task: str, wait: float = 30.0) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            deadline = time.monotonic() + max(0.0, min(wait, 120.0))
            while task not in studio.tasks:  # the page may listen before it posts
                if time.monotonic() > deadline:
                    yield _sse({"status": "unknown", "message": f"no paint task {task!r}."})
                    return
                await asyncio.sleep(0.05)
            current, seen = studio.tasks[task], -1
            while True:
                if current.version != seen:
                    seen = current.version
                    yield _sse(current.state())
                if current.status not in ("queued", "running"):
                    return
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream")

    # --- latents: walks between seeds, inversion of an upload, dragging points ---------------

    def latent_run(name: str) -> tuple[Path, Loaded, tuple[str, ...]]:
        """A loaded run with a latent space (a 422 naming what the family lacks otherwise)."""
        run_dir = studio.run_dir(name)
        entry = studio.cache.get(run_dir)
        spaces = spaces_of(entry.run.family)
        if not spaces:
            raise HuashiError(
                f"a {entry.run.config.family} run has no latent space (no latent_shape / "
                "latents_for_seeds): walks, inversion and dragging need a GAN, StyleGAN or VAE run."
            )
        return run_dir, entry, spaces

    def run_params(entry: Loaded) -> dict[str, Any]:
        return {"run": studio.ref(entry.run.run_dir), "checkpoint": entry.run.checkpoint.name,
                "step": entry.run.step, "family": entry.run.config.family}  # fmt: skip

    def latent_file(run_dir: Path, latent_id: str) -> Path:
        path = studio.out_dir(run_dir) / "latents" / f"{latent_id}.safetensors"
        if not _LATENT.match(latent_id) or not path.is_file():
            raise HTTPException(
                404, f"no latent {latent_id!r} for run {run_dir.name}: invert first."
            )
        return path

    def keep_latent(run_dir: Path, entry: Loaded, tensor: Any, space: str, extra: dict) -> str:
        from huashi.gan.latents import Latent, save_latent

        latent_id = uuid.uuid4().hex[:20]
        save_latent(studio.out_dir(run_dir) / "latents" / f"{latent_id}.safetensors",
                    Latent(tensor, space, str(run_dir), entry.run.checkpoint.name, {}, extra))  # fmt: skip
        return latent_id

    def walk(request: WalkRequest) -> dict[str, Any]:
        from huashi.core.images import save_png, to_pil
        from huashi.gan.editing import walk as walk_path

        run_dir, entry, spaces = latent_run(request.run)
        family = entry.run.family
        mapped = "w" in spaces
        if request.truncation is not None and not mapped:
            raise HuashiError(
                f"a {entry.run.config.family} run has no truncation (it needs a mapping network)."
            )
        truncation = 1.0 if request.truncation is None else request.truncation
        with entry.lock:
            z = family.latents_for_seeds([request.seed_a, request.seed_b])
            if mapped:  # lerp in w
                import torch

                with torch.no_grad():
                    a, b = family.map_latents(z, truncation)
                images = walk_path(family, a, b, "w", request.steps)
            else:  # slerp in z
                images = walk_path(family, z[0], z[1], "z", request.steps)
        space = "w" if mapped else "z"
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        options = {"truncation": truncation} if mapped else {}
        entries = []
        for i, image in enumerate(images):
            path = studio.out_dir(run_dir) / f"{stamp}-walk{i:02d}.png"
            walk_info = {"seed_a": request.seed_a, "seed_b": request.seed_b, "space": space,
                         "index": i, "steps": request.steps, "t": i / (request.steps - 1)}  # fmt: skip
            save_png(
                to_pil(image), path, run_params(entry) | {"options": options, "walk": walk_info}
            )
            entries.append(_gallery_entry(request.run, path))
        return {"run": request.run, "space": space, "truncation": truncation if mapped else None,
                "images": entries}  # fmt: skip

    @app.post("/api/latents/walk", summary="Images along a latent walk between two seeds")
    async def post_walk(request: WalkRequest) -> dict[str, Any]:
        studio.run_dir(request.run)
        return await studio.in_thread(walk, request)

    @app.post("/api/latents/invert", summary="Invert an uploaded image into a run's latent space")
    async def post_invert(request: InvertRequest) -> dict[str, Any]:
        studio.run_dir(request.run)
        upload = studio.upload_path(request.upload)

        def invert(task: Task) -> dict[str, Any]:
            from huashi.core.images import read_image_tensor, save_png, to_pil
            from huashi.gan.inversion import invert as invert_image
            from huashi.gan.latents import check_space

            run_dir, entry, _ = latent_run(request.run)
            family = entry.run.family
            check_space(family, request.space)
            target, notes = read_image_tensor(upload, family.data.channels, family.data.resolution)
            task.total, task.message, task.version = request.steps, "inverting", task.version + 1
            with entry.lock:
                result = invert_image(family, target, request.space, request.steps)
            task.done, task.version = request.steps, task.version + 1
            latent_id = keep_latent(run_dir, entry, result.latent, result.space,
                                    {"psnr": result.psnr, "upload": request.upload})  # fmt: skip
            path = (
                studio.out_dir(run_dir)
                / f"{time.strftime('%Y%m%d-%H%M%S')}-inv-{latent_id[:8]}.png"
            )
            params = run_params(entry) | {"space": result.space,
                                          "latent": studio.ref(latent_file(run_dir, latent_id)),
                                          "studio": {"init": request.upload}}  # fmt: skip
            save_png(to_pil(result.image), path, params)
            return {"run": request.run, "image": _gallery_entry(request.run, path),
                    "latent": latent_id, "space": result.space, "psnr": round(result.psnr, 3),
                    "resolution": family.data.resolution, "notes": notes}  # fmt: skip

        return await as_task(request.task, invert)

    @app.post("/api/latents/drag", summary="Drag handle points of a latent's image to targets")
    async def post_drag(request: DragRequest) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        path = latent_file(run_dir, request.latent)
        bad = [p for p in request.points if len(p) != 4]
        if bad:
            raise HTTPException(422, f"points: each point is [hx, hy, tx, ty], got {bad[0]}.")

        def drag(task: Task) -> dict[str, Any]:
            from huashi.core.images import save_png, to_pil
            from huashi.gan.drag import drag as drag_points
            from huashi.gan.latents import load_latent, to_ws

            _, entry, spaces = latent_run(request.run)
            family = entry.run.family
            if "w+" not in spaces:
                raise HuashiError(
                    f"dragging needs a generator with a mapping network (w+), such as a stylegan "
                    f"run; a {entry.run.config.family} run has only z."
                )
            latent = load_latent(path)
            handles = [(p[0], p[1]) for p in request.points]
            targets = [(p[2], p[3]) for p in request.points]
            task.total, task.message, task.version = request.steps, "dragging", task.version + 1
            with entry.lock:
                ws = to_ws(family, latent.tensor, latent.space, **latent.options).detach()
                result = drag_points(family, ws[:1], handles, targets, steps=request.steps)
            task.done, task.version = result.steps, task.version + 1
            latent_id = keep_latent(run_dir, entry, result.ws, "w+",
                                    {"from": request.latent, "points": request.points})  # fmt: skip
            out = (
                studio.out_dir(run_dir)
                / f"{time.strftime('%Y%m%d-%H%M%S')}-drag-{latent_id[:8]}.png"
            )
            params = run_params(entry) | {"space": "w+",
                                          "latent": studio.ref(latent_file(run_dir, latent_id)),
                                          "points": request.points}  # fmt: skip
            save_png(to_pil(result.image), out, params)
            return {"run": request.run, "image": _gallery_entry(request.run, out),
                    "latent": latent_id, "handles": result.handles, "steps": result.steps,
                    "distances": [round(d, 3) for d in result.distances]}  # fmt: skip

        return await as_task(request.task, drag)

    @app.get("/api/images/{run}/{image}.png", summary="A painted image (PNG with parameters)")
    async def image_file(run: str, image: str) -> FileResponse:
        path = studio.out_dir(studio.run_dir(run)) / f"{image}.png"
        if not _IMAGE.match(image) or not path.is_file():
            raise HTTPException(404, f"no image {run}/{image}.")
        return FileResponse(path, media_type="image/png")

    @app.post(
        "/api/uploads",
        summary="Upload an image (the raw PNG/JPEG/WebP file as the body) for init or mask",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def upload(request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limits.upload_bytes:
            raise HTTPException(413, f"uploads are limited to {limits.upload_bytes} bytes.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.upload_bytes:
                raise HTTPException(413, f"uploads are limited to {limits.upload_bytes} bytes.")
        if not body:
            raise HTTPException(422, "the upload is empty: send the image file as the body.")
        return await studio.in_thread(store_upload, bytes(body))

    def store_upload(body: bytes) -> dict[str, Any]:
        from PIL import Image, UnidentifiedImageError

        from huashi.core.metadata import PARAMETERS_KEY, parse_parameters

        try:
            with Image.open(io.BytesIO(body)) as image:
                width, height = image.size
                if width * height > limits.upload_pixels:
                    raise HTTPException(
                        413, f"the image is {width}x{height}: uploads are limited to "
                             f"{limits.upload_pixels} pixels."
                    )  # fmt: skip
                if image.format not in ("PNG", "JPEG", "WEBP", "BMP", "GIF"):
                    raise HTTPException(415, f"{image.format} images are not accepted: send PNG.")
                image.load()
                text = dict(getattr(image, "text", {}) or {})
                keep = image if image.mode in ("L", "RGB", "RGBA") else image.convert("RGBA")
                buffer = io.BytesIO()
                keep.save(buffer, format="PNG")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise HTTPException(
                413, f"the image is far over the limit of {limits.upload_pixels} pixels "
                     "(a decompression bomb?)."
            ) from None  # fmt: skip
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise HTTPException(415, "the upload is not a readable image: send a PNG.") from None
        data = buffer.getvalue()
        upload_id = hashlib.sha256(data).hexdigest()[:20]
        path = studio.uploads / f"{upload_id}.png"
        if not path.exists():
            tmp = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        else:
            path.touch()  # used again: kept as new
        studio.prune_uploads(keep=path)
        parameters = None
        if PARAMETERS_KEY in text:
            parameters = parse_parameters(text[PARAMETERS_KEY])
        elif "huashi" in text:  # an older huashi PNG: its own JSON
            try:
                params = json.loads(text["huashi"])
                parameters = {**(params.get("options") or {}), "seed": params.get("seed")}
                parameters["model"] = Path(str(params.get("run", ""))).name or None
            except (json.JSONDecodeError, AttributeError):
                parameters = None
        return {"id": upload_id, "width": width, "height": height, "parameters": parameters}

    @app.get("/api/uploads/{upload_id}.png", summary="An uploaded image")
    async def upload_file(upload_id: str) -> FileResponse:
        return FileResponse(studio.upload_path(upload_id), media_type="image/png")

    # --- training ------------------------------------------------------------------------------

    @app.get("/api/families", summary="Model families and their options (for the Train page)")
    async def families() -> list[dict[str, Any]]:
        from huashi.families import FAMILIES

        out = []
        for name, family in sorted(FAMILIES.items()):
            options = []
            for f in dataclasses.fields(family.config_class):
                default = f.default if f.default is not dataclasses.MISSING else None
                if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                    default = f.default_factory()  # type: ignore[misc]
                if isinstance(default, tuple):
                    default = list(default)
                options.append({"name": f.name, "default": default})
            doc = (family.__doc__ or name).strip().splitlines()[0]
            out.append({"name": name, "doc": doc, "makes_images": family.makes_images,
                        "paired_data": family.paired_data, "options": options})  # fmt: skip
        return out

    def data_spec(name: str) -> str:
        from huashi.data import DATASETS

        if name in DATASETS:
            return name
        if data_root is not None and _NAME.match(name) and (data_root / name).is_dir():
            return str(data_root / name)
        known = ", ".join(DATASETS)
        folders = " or a folder of the --data folder" if data_root else ""
        raise HTTPException(422, f"data: unknown dataset {name!r}; use one of {known}{folders}.")

    @app.post("/api/train", summary="Start (or queue) a training job")
    async def post_train(request: TrainRequest) -> dict[str, Any]:
        from huashi.families import FAMILIES
        from huashi.training.loop import TrainConfig

        run_dir = runs_dir / request.name
        if studio.jobs.active_run(request.name):
            raise HTTPException(409, f"run {request.name} already has a job: stop it first.")
        train = dict(request.train)
        unknown = sorted(set(train) - {f.name for f in dataclasses.fields(TrainConfig)})
        if unknown:
            raise HTTPException(422, f"train: unknown option(s) {', '.join(unknown)}.")
        train["steps"] = request.steps
        if request.minutes:
            train["max_minutes"] = request.minutes
        if request.resume:
            studio.run_dir(request.name)
            spec = {"out": str(run_dir), "resume": True, "train": train}
        else:
            if run_dir.exists():
                raise HTTPException(
                    409, f"a run named {request.name} exists: choose another name or resume it."
                )
            if request.family not in FAMILIES:
                raise HTTPException(422, f"family: choose one of {', '.join(sorted(FAMILIES))}.")
            if not request.data:
                raise HTTPException(422, "data: a new run needs a dataset.")
            fields = {f.name for f in dataclasses.fields(FAMILIES[request.family].config_class)}
            unknown = sorted(set(request.model) - fields)
            if unknown:
                raise HTTPException(
                    422, f"model: {request.family} has no option(s) {', '.join(unknown)}."
                )
            if request.batch_size:
                train["batch_size"] = request.batch_size
            train.setdefault("precision", "fp32")
            spec = {
                "out": str(run_dir),
                "family": request.family,
                "data": data_spec(request.data),
                "resolution": request.resolution or 32,
                "model": request.model,
                "data_options": request.data_options,
                "resume": False,
                "train": train,
            }
        check_training(spec, run_dir)  # a bad option is a 422 now, not a failed job later
        job = studio.jobs.submit(request.name, spec)
        return studio.jobs.describe(job)

    def find_job(job_id: str) -> Any:
        job = studio.jobs.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}.")
        return job

    @app.get("/api/jobs", summary="Training jobs, newest first")
    def list_jobs() -> list[dict[str, Any]]:
        jobs = sorted(studio.jobs.jobs.values(), key=lambda j: -j.created)
        return [studio.jobs.describe(j, points=50) for j in jobs]

    @app.get("/api/jobs/{job_id}", summary="A job: progress, ETA, losses, log tail, latest grid")
    def get_job(job_id: str) -> dict[str, Any]:
        return studio.jobs.describe(find_job(job_id))

    @app.post("/api/jobs/{job_id}/stop", summary="Stop a job (it saves a checkpoint first)")
    async def stop_job(job_id: str) -> dict[str, Any]:
        job = find_job(job_id)
        studio.jobs.stop(job)
        return studio.jobs.describe(job)

    @app.get("/api/jobs/{job_id}/events", summary="A job's state as server-sent events")
    async def job_events(job_id: str) -> StreamingResponse:
        job = find_job(job_id)

        async def stream() -> AsyncIterator[str]:
            last = None
            while True:
                state = studio.jobs.describe(job)
                key = (state["status"], state["step"], state["grid"], len(state["log_tail"]))
                if key != last:
                    last = key
                    yield _sse(state)
                if state["status"] not in ACTIVE:
                    return
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream")

    # --- data ----------------------------------------------------------------------------------

    @app.get("/api/datasets", summary="Built-in datasets (and folders of the --data folder)")
    async def datasets() -> list[dict[str, Any]]:
        from huashi.data import DATASETS

        out = [{"name": k, "description": v.description} for k, v in DATASETS.items()]
        if data_root is not None:
            out += [
                {"name": p.name, "description": "image folder"}
                for p in sorted(data_root.iterdir())
                if p.is_dir() and _NAME.match(p.name)
            ]
        return out

    @app.get("/api/datasets/{name}", summary="Preview a dataset: a grid and a summary")
    async def dataset(name: str, resolution: int = 32, n: int = 36) -> dict[str, Any]:
        spec = data_spec(name)
        if not 8 <= resolution <= MAX_RESOLUTION or not 1 <= n <= 100:
            raise HTTPException(
                422, f"resolution must be 8..{MAX_RESOLUTION} and n 1..100 for a preview."
            )
        out = studio.home / "previews" / f"{name}-{resolution}-{n}.png"
        path, summary = await studio.in_thread(
            lambda: api.preview_data(spec, resolution=resolution, n=n, out=out)
        )
        summary = summary.replace(str(data_root or ""), "") if data_root else summary
        return {
            "name": name,
            "summary": summary,
            "grid": f"/api/datasets/{name}/preview.png?resolution={resolution}&n={n}",
        }

    @app.get("/api/datasets/{name}/preview.png", summary="The preview grid of a dataset")
    async def dataset_grid(name: str, resolution: int = 32, n: int = 36) -> FileResponse:
        data_spec(name)
        path = studio.home / "previews" / f"{name}-{resolution}-{n}.png"
        if not path.is_file():
            raise HTTPException(404, f"no preview of {name} yet: GET /api/datasets/{name} first.")
        return FileResponse(path, media_type="image/png")

    # --- the page ------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def api_reference() -> FileResponse:
        """The API reference: a page of this studio drawn from /openapi.json."""
        return FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
