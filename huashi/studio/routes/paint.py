"""The Paint tab: painting from seeds or a prompt (img2img, inpainting, sweeps), translating and
upscaling an upload, DeepDream on an upload with a classifier or clip run, a request's progress as server-sent events, and Cancel. Every request goes
through the paint queue (:meth:`huashi.studio.state.Studio.queued_task`)."""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.bodies import MAX_N, MAX_SEED, DreamRequest, PaintRequest, TranslateRequest
from huashi.studio.painters import group_of
from huashi.studio.queue import QueuedPaint
from huashi.studio.state import Studio, Task, stamp
from huashi.studio.views import gallery_entry, paint_form, sse


def paint_work(request: PaintRequest, family: Any) -> int:
    """The work of a paint request: images x sampler steps (the run's default when left open;
    1 for a family without steps), summed over a sweep's passes."""
    if not family.sampling_steps:
        return request.n * len(request.sweep or [None])
    default = int(family.sampling_defaults({}).get("steps", 1))
    steps = [p.steps for p in request.sweep] if request.sweep else [request.steps or default]
    return request.n * sum(steps)


def paint_options(
    studio: Studio, request: PaintRequest, entry: api.CachedRun
) -> tuple[dict[str, Any], list[tuple[str, int]] | None, dict[str, Any]]:
    """The sampling options, sweep and uploads (``init``, ``mask`` ids) of a paint request,
    checked against what the run can do (a HuashiError, a 422, names what it cannot)."""
    family, kind = entry.run.family, entry.run.config.family
    form = paint_form(family)
    if not form["paintable"]:
        raise HuashiError(f"a {kind} run does not paint from seeds in the studio.")
    prompt, negative = request.prompt or None, request.negative_prompt or None
    api.check_condition(entry.run, prompt, request.label, negative)  # the CLI's own checks
    options: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative,
                               "label": request.label}  # fmt: skip
    asked = {"sampler": request.sampler, "steps": request.steps, "cfg": request.cfg,
             "eta": request.eta}  # fmt: skip
    if not form["sampling"] and (request.sweep or any(v is not None for v in asked.values())):
        given = ", ".join(k for k, v in asked.items() if v is not None) or "sweep"
        raise HuashiError(f"a {kind} run has no sampler options ({given}).")
    # what the request leaves open is the family's own default (api.paint fills it in)
    options = {k: v for k, v in (options | asked).items() if v is not None}
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
            raise HuashiError(f"a {kind} run has no truncation.")
        options["truncation"] = request.truncation
    uploads: dict[str, Any] = {}
    if request.mask and not request.init:
        raise HuashiError("an inpainting mask needs an init image: give init too.")
    if request.init or request.strength is not None:
        if not form["img2img"]:
            raise HuashiError(f"a {kind} run cannot start from an image.")
        if not request.init:
            raise HuashiError("strength needs an init image: give init too.")
        options["init"] = str(studio.upload_path(request.init))
        uploads["init"] = request.init
        if request.strength is not None:
            options["strength"] = request.strength
    if request.mask:
        if not form["inpaint"]:
            raise HuashiError(f"a {kind} run cannot inpaint.")
        options["mask"] = str(studio.upload_path(request.mask))
        uploads["mask"] = request.mask
    return options, sweep, uploads


def paint(studio: Studio, request: PaintRequest, task: Task, job: QueuedPaint) -> dict[str, Any]:
    """Paint a request with ``api.paint`` and write each image as a studio PNG."""
    run_dir = studio.run_dir(request.run)
    entry = studio.load(run_dir)
    options, sweep, uploads = paint_options(studio, request, entry)
    seed = random.randrange(MAX_SEED - MAX_N) if request.seed is None else request.seed
    started = time.perf_counter()
    with entry.lock:
        painted = api.paint(entry.run, n=request.n, seed=seed, sweep=sweep,
                            batch_size=request.batch_size, progress=task.progress(job),
                            **options)  # fmt: skip
    seconds = time.perf_counter() - started
    base = {
        "run": studio.ref(entry.run.run_dir),
        "checkpoint": entry.run.checkpoint.name,
        "step": entry.run.step,
        "family": entry.run.config.family,
    }
    name = stamp()
    passes = []
    for number, one in enumerate(painted.passes):
        chosen = dict(painted.options)
        if one.sampler is not None:
            chosen |= {"sampler": one.sampler, "steps": one.steps}
        tag = f"-p{number}" if sweep else ""
        entries = []
        for s, image in zip(painted.seeds, one.images, strict=True):
            path = studio.out_dir(run_dir) / f"{name}{tag}-s{s}.png"
            written = chosen | {k: studio.ref(Path(chosen[k])) for k in uploads}
            meta = base | {"options": written, "seed": s, "studio": uploads}
            api.save_image(image, path, meta)
            entries.append(gallery_entry(request.run, path))
        passes.append({"sampler": one.sampler, "steps": one.steps,
                       "seconds": round(one.seconds, 3), "images": entries})  # fmt: skip
    shown = {k: v for k, v in painted.options.items() if k not in ("init", "mask")}
    result = {
        "run": request.run,
        "images": [image for one in passes for image in one["images"]],
        "parameters": shown | uploads | {"seed": seed, "n": request.n},
        "seconds": round(seconds, 3),
        "notes": painted.notes,
    }
    if sweep:
        result["passes"] = passes
    return result


def translate(studio: Studio, request: TranslateRequest, task: Task, job: QueuedPaint) -> dict:
    """Translate (a Pix2Pix run) or upscale (an upsampler) an upload into a studio PNG."""
    run_dir, upload = studio.run_dir(request.run), studio.upload_path(request.upload)
    entry = studio.load(run_dir)
    group = group_of(entry.run.config.family, entry.run.config.model)
    if group not in ("translate", "upscale"):
        raise HuashiError(
            f"a {entry.run.config.family} run does not take an input image: paint with "
            "it instead (translate needs a pix2pix run, upscale an upsampler)."
        )
    out = studio.out_dir(run_dir)
    with tempfile.TemporaryDirectory(dir=studio.home) as tmp, entry.lock:
        make = api.translate if group == "translate" else api.upscale
        result = make(entry.run, [upload], tmp, seed=request.seed, progress=task.progress(job))
        path = out / f"{stamp()}-{group}-s{request.seed}.png"
        out.mkdir(parents=True, exist_ok=True)
        shutil.move(str(result.files[0]), path)
        rewrite_refs(studio, path)
    return {"run": request.run, "images": [gallery_entry(request.run, path)],
            "notes": result.notes}  # fmt: skip


def dream(studio: Studio, request: DreamRequest, task: Task, job: QueuedPaint) -> dict:
    """DeepDream an upload with a classifier or clip run into a studio PNG."""
    run_dir, upload = studio.run_dir(request.run), studio.upload_path(request.upload)
    entry = studio.load(run_dir)
    given = [k for k in ("label", "prompt", "layer") if getattr(request, k) not in (None, "")]
    if len(given) != 1:
        raise HuashiError("say what to dream: give a label, a prompt or a layer (one of them).")
    objective = {"label": "class", "prompt": "prompt", "layer": "layer"}[given[0]]
    settings = api.DreamSettings(objective=objective, layer=request.layer or "",
                                 class_index=request.label, prompt=request.prompt,
                                 octaves=request.octaves, steps=request.steps, seed=request.seed)  # fmt: skip
    progress = task.progress(job)
    total = request.octaves * request.steps

    def report(p: Any) -> None:
        progress(p.octave * request.steps + p.step + 1, total, f"dreaming, octave {p.octave + 1}")

    with entry.lock:
        net = api.load_dream_net(entry.run)  # the loaded run's network (asks its feature kind)
        result = api.dream(net, upload, settings, progress=report)
    params = result.params | {"run": studio.ref(run_dir), "studio": {"init": request.upload}}
    params["dream"] = params["dream"] | {"start": studio.ref(upload)}
    path = studio.out_dir(run_dir) / f"{stamp()}-dream-s{request.seed}.png"
    api.save_image(result.image, path, params)
    return {"run": request.run, "images": [gallery_entry(request.run, path)],
            "objective": objective}  # fmt: skip


def rewrite_refs(studio: Studio, path: Path) -> None:
    """Name the run and input of a translated or upscaled PNG as studio PNGs do."""
    from PIL import Image

    params = api.read_parameters(path)
    params.pop("huashi_version", None)
    params["run"] = studio.ref(Path(params["run"]))
    for record in (params, params.get("upscale") or {}):
        if "input" in record:
            record["input"] = studio.ref(Path(record["input"]))
    with Image.open(path) as image:
        image.load()
        api.save_image(image, path, params)


def router(studio: Studio) -> APIRouter:
    routes = APIRouter()

    @routes.post("/api/paint", summary="Paint images with a run; returns their ids and parameters")
    async def post_paint(request: PaintRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)  # 404 before any work
        entry = await studio.in_thread(studio.load, run_dir)
        work = paint_work(request, entry.run.family)
        if work > studio.limits.request_work:
            raise HTTPException(
                422, f"this paint is {work} image-steps (images x steps x passes); one request "
                     f"may be {studio.limits.request_work}: ask for fewer images, steps or "
                     "passes."
            )  # fmt: skip
        return await studio.queued_task(http, request.task, (str(run_dir),), work,
                                        lambda task, job: paint(studio, request, task, job))  # fmt: skip

    @routes.post("/api/tasks/{task}/cancel", summary="Cancel a queued or running request")
    async def cancel_task(task: str) -> dict[str, Any]:
        job = studio.queued.get(task)
        if job is None:
            raise HTTPException(404, f"no paint {task!r} is queued or running.")
        studio.paints.cancel(job)
        return {"task": task, "cancelled": True}

    @routes.post("/api/translate", summary="Translate or upscale an uploaded image with a run")
    async def post_translate(request: TranslateRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        studio.upload_path(request.upload)
        return await studio.queued_task(
            http, request.task, (str(run_dir),), 1,
            lambda task, job: translate(studio, request, task, job), "translation",
        )  # fmt: skip

    @routes.post("/api/dream", summary="DeepDream an uploaded image with a classifier or clip run")
    async def post_dream(request: DreamRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        studio.upload_path(request.upload)
        return await studio.queued_task(
            http, request.task, (str(run_dir),), request.octaves * request.steps,
            lambda task, job: dream(studio, request, task, job), "dream",
        )  # fmt: skip

    @routes.get("/api/paint/{task}/events", summary="Progress of a request (server-sent events)")
    async def paint_events(task: str, wait: float = 30.0) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            deadline = time.monotonic() + max(0.0, min(wait, 120.0))
            while task not in studio.tasks:  # the page may listen before it posts
                if time.monotonic() > deadline:
                    yield sse({"status": "unknown", "message": f"no paint task {task!r}."})
                    return
                await asyncio.sleep(0.05)
            current, seen = studio.tasks[task], -1
            while True:
                if current.version != seen:
                    seen = current.version
                    yield sse(current.state())
                if current.status not in ("queued", "running"):
                    return
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @routes.get("/api/tasks/{task}/events", summary="Progress of a paint, eval or compare request")
    async def task_events(task: str, wait: float = 30.0) -> StreamingResponse:
        return await paint_events(task, wait)

    return routes
