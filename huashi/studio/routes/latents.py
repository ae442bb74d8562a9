"""The Latents tab (and the Paint page's latent tools for a StyleGAN): walks between two seeds'
latents, inversion of an upload into a run's latent space, editing along a direction and
dragging points of a latent's image; each is a queued request (the paint queue) whose latent is
kept as a file under the run's studio folder."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.bodies import LATENT_RE, DragRequest, EditRequest, InvertRequest, WalkRequest
from huashi.studio.queue import QueuedPaint
from huashi.studio.state import Studio, Task, stamp
from huashi.studio.views import gallery_entry


def latent_run(studio: Studio, name: str) -> tuple[Path, api.CachedRun]:
    """A loaded run with a latent space (a 422 naming what the family lacks otherwise)."""
    run_dir = studio.run_dir(name)
    entry = studio.load(run_dir)
    if not api.latent_spaces(entry.run.family):
        raise HuashiError(
            f"a {entry.run.config.family} run has no latent space (no latent_shape / "
            "latents_for_seeds): walks, inversion and dragging need a GAN, StyleGAN or VAE run."
        )
    return run_dir, entry


def run_params(studio: Studio, entry: api.CachedRun) -> dict[str, Any]:
    return {"run": studio.ref(entry.run.run_dir), "checkpoint": entry.run.checkpoint.name,
            "step": entry.run.step, "family": entry.run.config.family}  # fmt: skip


def latent_file(studio: Studio, run_dir: Path, latent_id: str) -> Path:
    path = studio.out_dir(run_dir) / "latents" / f"{latent_id}.safetensors"
    if not LATENT_RE.match(latent_id) or not path.is_file():
        raise HTTPException(404, f"no latent {latent_id!r} for run {run_dir.name}: invert first.")
    return path


def keep_latent(
    studio: Studio, run_dir: Path, entry: api.CachedRun, tensor: Any, space: str, extra: dict
) -> str:
    latent_id = uuid.uuid4().hex[:20]
    path = studio.out_dir(run_dir) / "latents" / f"{latent_id}.safetensors"
    api.save_latent(path, entry.run, tensor, space, extra)
    return latent_id


def walk(studio: Studio, request: WalkRequest, task: Task, job: QueuedPaint) -> dict[str, Any]:
    run_dir, entry = latent_run(studio, request.run)
    progress = task.progress(job)
    progress(0, request.steps, "walking")
    with entry.lock:
        walked = api.walk_seeds(entry.run, request.seed_a, request.seed_b, request.steps,
                                request.truncation)  # fmt: skip
    progress(request.steps, request.steps, "walked")
    name = stamp()
    options = {} if walked.truncation is None else {"truncation": walked.truncation}
    entries = []
    for i, image in enumerate(walked.images):
        path = studio.out_dir(run_dir) / f"{name}-walk{i:02d}.png"
        walk_info = {"seed_a": request.seed_a, "seed_b": request.seed_b, "space": walked.space,
                     "index": i, "steps": request.steps, "t": i / (request.steps - 1)}  # fmt: skip
        params = run_params(studio, entry) | {"options": options, "walk": walk_info}
        api.save_image(image, path, params)
        entries.append(gallery_entry(request.run, path))
    return {"run": request.run, "space": walked.space, "truncation": walked.truncation,
            "images": entries}  # fmt: skip


def invert(studio: Studio, request: InvertRequest, task: Task, job: QueuedPaint) -> dict:
    upload = studio.upload_path(request.upload)
    run_dir, entry = latent_run(studio, request.run)
    progress = task.progress(job)
    progress(0, request.steps, "inverting")
    with entry.lock:
        result, notes = api.invert_image(entry.run, upload, request.space, request.steps,
                                         progress=progress)  # fmt: skip
    progress(request.steps, request.steps, "inverted")
    latent_id = keep_latent(studio, run_dir, entry, result.latent, result.space,
                            {"psnr": result.psnr, "upload": request.upload})  # fmt: skip
    path = studio.out_dir(run_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-inv-{latent_id[:8]}.png"
    params = run_params(studio, entry) | {
        "space": result.space,
        "latent": studio.ref(latent_file(studio, run_dir, latent_id)),
        "studio": {"init": request.upload},
    }
    api.save_image(result.image, path, params)
    return {"run": request.run, "image": gallery_entry(request.run, path), "latent": latent_id,
            "space": result.space, "psnr": round(result.psnr, 3),
            "resolution": entry.run.family.data.resolution, "notes": notes}  # fmt: skip


def drag(studio: Studio, request: DragRequest, task: Task, job: QueuedPaint) -> dict[str, Any]:
    run_dir, entry = latent_run(studio, request.run)
    source = latent_file(studio, run_dir, request.latent)
    handles = [(p[0], p[1]) for p in request.points]
    targets = [(p[2], p[3]) for p in request.points]
    progress = task.progress(job)
    progress(0, request.steps, "dragging")
    with entry.lock:
        result = api.drag_latent(entry.run, source, handles, targets, request.steps, progress)
    progress(result.steps, request.steps, "dragged")
    latent_id = keep_latent(studio, run_dir, entry, result.ws, "w+",
                            {"from": request.latent, "points": request.points})  # fmt: skip
    out = studio.out_dir(run_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-drag-{latent_id[:8]}.png"
    params = run_params(studio, entry) | {
        "space": "w+",
        "latent": studio.ref(latent_file(studio, run_dir, latent_id)),
        "points": request.points,
    }
    api.save_image(result.image, out, params)
    return {"run": request.run, "image": gallery_entry(request.run, out), "latent": latent_id,
            "handles": result.handles, "steps": result.steps,
            "distances": [round(d, 3) for d in result.distances]}  # fmt: skip


def edit(studio: Studio, request: EditRequest, task: Task, job: QueuedPaint) -> dict[str, Any]:
    run_dir, entry = latent_run(studio, request.run)
    source = latent_file(studio, run_dir, request.latent)
    progress = task.progress(job)
    progress(0, 1, "editing")
    with entry.lock:
        edited = api.edit_latent(entry.run, source, request.direction, request.strengths)
    progress(1, 1, "edited")
    out = studio.out_dir(run_dir) / f"{stamp()}-edit-{request.direction.replace(':', '')}.png"
    params = run_params(studio, entry) | {
        "latent": studio.ref(source),
        "direction": request.direction,
        "strengths": edited.strengths,
    }
    api.save_grid(edited.images, out, params, nrow=len(edited.strengths))
    return {"run": request.run, "image": gallery_entry(request.run, out),
            "direction": request.direction, "strengths": edited.strengths}  # fmt: skip


def router(studio: Studio) -> APIRouter:
    routes = APIRouter()

    @routes.post("/api/latents/walk", summary="Images along a latent walk between two seeds")
    async def post_walk(request: WalkRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        return await studio.queued_task(
            http, request.task, (str(run_dir),), request.steps,
            lambda task, job: walk(studio, request, task, job), "walk",
        )  # fmt: skip

    @routes.post(
        "/api/latents/invert", summary="Invert an uploaded image into a run's latent space"
    )
    async def post_invert(request: InvertRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        studio.upload_path(request.upload)
        return await studio.queued_task(
            http, request.task, (str(run_dir),), request.steps,
            lambda task, job: invert(studio, request, task, job), "inversion",
        )  # fmt: skip

    @routes.post("/api/latents/drag", summary="Drag handle points of a latent's image to targets")
    async def post_drag(request: DragRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        latent_file(studio, run_dir, request.latent)
        bad = [p for p in request.points if len(p) != 4]
        if bad:
            raise HTTPException(422, f"points: each point is [hx, hy, tx, ty], got {bad[0]}.")
        return await studio.queued_task(
            http, request.task, (str(run_dir),), request.steps,
            lambda task, job: drag(studio, request, task, job), "drag",
        )  # fmt: skip

    @routes.post("/api/latents/edit", summary="Move a latent's image along a direction in w")
    async def post_edit(request: EditRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        latent_file(studio, run_dir, request.latent)
        return await studio.queued_task(
            http, request.task, (str(run_dir),), len(request.strengths),
            lambda task, job: edit(studio, request, task, job), "edit",
        )  # fmt: skip

    return routes
