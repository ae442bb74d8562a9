"""The Train tab: the model families and their options, starting (or resuming) a training job
and following, listing and stopping jobs (:mod:`huashi.studio.jobs` runs each in its own
process as a call of :func:`huashi.api.train`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from huashi import api
from huashi.studio.bodies import TrainRequest
from huashi.studio.jobs import ACTIVE
from huashi.studio.state import Studio
from huashi.studio.views import sse


def family_options() -> list[dict[str, Any]]:
    """Every family with its one-line description and its config fields' defaults."""
    return [{"name": name, "doc": info.doc, "makes_images": info.makes_images,
             "paired_data": info.paired_data,
             "options": [{"name": k, "default": v} for k, v in info.options.items()]}
            for name, info in api.families().items()]  # fmt: skip


def train_spec(studio: Studio, request: TrainRequest) -> dict[str, Any]:
    """The keyword arguments of :func:`huashi.api.train` for a request (4xx when it cannot be
    one: a run that exists, an unknown family, dataset or option)."""
    run_dir = studio.runs_dir / request.name
    if studio.jobs.active_run(request.name):
        raise HTTPException(409, f"run {request.name} already has a job: stop it first.")
    train = dict(request.train)
    unknown = sorted(set(train) - set(api.train_option_names()))
    if unknown:
        raise HTTPException(422, f"train: unknown option(s) {', '.join(unknown)}.")
    train["steps"] = request.steps
    if request.minutes:
        train["max_minutes"] = request.minutes
    if request.resume:
        studio.run_dir(request.name)
        return {"out": str(run_dir), "resume": True, "train": train}
    if run_dir.exists():
        raise HTTPException(
            409, f"a run named {request.name} exists: choose another name or resume it."
        )
    family = api.family_info(request.family)
    if family is None:
        raise HTTPException(422, f"family: choose one of {', '.join(api.families())}.")
    if not request.data:
        raise HTTPException(422, "data: a new run needs a dataset.")
    unknown = sorted(set(request.model) - set(family.options))
    if unknown:
        raise HTTPException(422, f"model: {request.family} has no option(s) {', '.join(unknown)}.")
    if request.batch_size:
        train["batch_size"] = request.batch_size
    train.setdefault("precision", "fp32")
    return {
        "out": str(run_dir),
        "family": request.family,
        "data": studio.data_spec(request.data),
        "resolution": request.resolution or 32,
        "model": request.model,
        "data_options": request.data_options,
        "resume": False,
        "train": train,
    }


def router(studio: Studio) -> APIRouter:
    routes = APIRouter()

    @routes.get("/api/families", summary="Model families and their options (for the Train page)")
    async def families() -> list[dict[str, Any]]:
        return family_options()

    @routes.post("/api/train", summary="Start (or queue) a training job")
    async def post_train(request: TrainRequest) -> dict[str, Any]:
        spec = train_spec(studio, request)
        # a bad option is a 422 now, not a failed job later
        api.check_train(spec["out"], spec.get("family"), spec.get("model"), spec["resume"],
                        **spec["train"])  # fmt: skip
        job = studio.jobs.submit(request.name, spec)
        return studio.jobs.describe(job)

    def find_job(job_id: str) -> Any:
        job = studio.jobs.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}.")
        return job

    @routes.get("/api/jobs", summary="Training jobs, newest first")
    def list_jobs() -> list[dict[str, Any]]:
        jobs = sorted(studio.jobs.jobs.values(), key=lambda j: -j.created)
        return [studio.jobs.describe(j, points=50) for j in jobs]

    @routes.get("/api/jobs/{job_id}", summary="A job: progress, ETA, losses, log tail, latest grid")
    def get_job(job_id: str) -> dict[str, Any]:
        return studio.jobs.describe(find_job(job_id))

    @routes.post("/api/jobs/{job_id}/stop", summary="Stop a job (it saves a checkpoint first)")
    async def stop_job(job_id: str) -> dict[str, Any]:
        job = find_job(job_id)
        studio.jobs.stop(job)
        return studio.jobs.describe(job)

    @routes.get("/api/jobs/{job_id}/events", summary="A job's state as server-sent events")
    async def job_events(job_id: str) -> StreamingResponse:
        job = find_job(job_id)

        async def stream() -> AsyncIterator[str]:
            last = None
            while True:
                state = studio.jobs.describe(job)
                key = (state["status"], state["step"], state["grid"], len(state["log_tail"]))
                if key != last:
                    last = key
                    yield sse(state)
                if state["status"] not in ACTIVE:
                    return
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return routes
