"""The Paint tab: paint images with a run (sweeps too), with progress as server-sent events."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.requests import MAX_N, MAX_SEED, PaintRequest
from huashi.studio.state import Studio, Task, gallery_entry, paint_form


def router(studio: Studio) -> APIRouter:
    """The tab's endpoints, over ``studio``."""
    routes = APIRouter()

    def paint(request: PaintRequest, task: Task) -> dict[str, Any]:
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
            task.done, task.total, task.message = done, total, message
            task.version += 1

        started = time.perf_counter()
        with entry.lock:
            painted = api.paint(entry.run, n=request.n, seed=seed, sweep=sweep,
                                batch_size=request.batch_size, progress=progress,
                                **options)  # fmt: skip
        seconds = time.perf_counter() - started
        base = {
            "run": str(entry.run.run_dir),
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
                path = run_dir / "studio" / f"{stamp}{tag}-s{s}.png"
                meta = base | {"options": chosen, "seed": s, "studio": studio_info}
                save_png(to_pil(image), path, meta)
                entries.append(gallery_entry(request.run, path))
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

    @routes.post("/api/paint", summary="Paint images with a run; returns their ids and parameters")
    async def post_paint(request: PaintRequest) -> dict[str, Any]:
        studio.run_dir(request.run)  # 404 before any work
        task = studio.task(request.task)
        try:
            result = await studio.in_thread(paint, request, task)
        except Exception as error:
            task.status, task.message, task.version = "failed", str(error), task.version + 1
            raise
        task.status, task.version = "done", task.version + 1
        return result

    @routes.get(
        "/api/paint/{task}/events", summary="Progress of a paint request (server-sent events)"
    )
    async def paint_events(task: str, wait: float = 30.0) -> StreamingResponse:
        return await studio.task_events(task, wait)

    return routes
