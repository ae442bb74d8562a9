"""The Runs tab and a run's page: the runs folder, the zoo's painters, one run's summary, paint
form and gallery, its training grid, log and the doctor's findings; painted images."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.bodies import IMAGE_RE
from huashi.studio.painters import GROUPS, zoo_cards
from huashi.studio.state import Studio
from huashi.studio.views import gallery_entry, paint_form, run_summary


def router(studio: Studio) -> APIRouter:
    routes = APIRouter()

    @routes.get("/api/runs", summary="The runs in the runs folder")
    def list_runs() -> list[dict[str, Any]]:  # plain def: FastAPI runs it off the event loop
        runs = []
        for path in studio.run_names():
            try:
                runs.append(run_summary(path))
            except (HuashiError, OSError, KeyError, ValueError) as error:
                runs.append({"name": path.name, "error": studio.relative(str(error))})
        return sorted(runs, key=lambda r: -r.get("updated", 0))

    @routes.get("/api/zoo", summary="The shipped painters (zoo:NAME) with their cards, by group")
    def list_zoo() -> dict[str, Any]:
        """The painters by group, and the zoo's feature networks (``networks``: they measure
        and dream on images)."""
        cards = zoo_cards()
        return {"groups": GROUPS, "painters": [c for c in cards if c["group"]],
                "networks": [c for c in cards if not c["group"]]}  # fmt: skip

    @routes.get("/api/runs/{run}", summary="One run: summary, paint form, gallery")
    async def get_run(run: str) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        info = run_summary(run_dir)
        info["job"] = None
        job = studio.jobs.active_run(run)
        if job is not None:
            info["job"] = job.id
        try:
            loaded = await studio.in_thread(studio.load, run_dir)
            info["form"] = paint_form(loaded.run.family)
            info["checkpoint"] = loaded.run.checkpoint.name
        except HuashiError as error:
            info["form"], info["note"] = None, str(error)
        info["gallery"] = gallery(run)
        return info

    @routes.get("/api/runs/{run}/gallery", summary="Images painted with a run, newest first")
    def gallery(run: str, limit: int = 60) -> list[dict[str, Any]]:
        folder = studio.out_dir(studio.run_dir(run))
        files = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        return [gallery_entry(run, p) for p in files[: max(1, min(limit, 500))]]

    @routes.get("/api/runs/{run}/samples.png", summary="The run's latest training grid")
    async def samples(run: str) -> FileResponse:
        path = studio.run_dir(run) / "samples.png"
        if not path.is_file():
            raise HTTPException(404, f"run {run} has no sample grid yet.")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @routes.get("/api/runs/{run}/log", summary="Loss records of a run (at most `points`)")
    def run_log(run: str, points: int = 300) -> list[dict[str, Any]]:
        return api.run_log(studio.run_dir(run), points)

    @routes.get("/api/runs/{run}/doctor", summary="The training doctor's findings")
    async def run_doctor(run: str) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        report = await studio.in_thread(api.doctor, run_dir)
        return {
            "summary": report.summary().replace(str(run_dir), run),
            "findings": [dataclasses.asdict(f) for f in report.findings],
        }

    @routes.get("/api/images/{run}/{image}.png", summary="A painted image (PNG with parameters)")
    async def image_file(run: str, image: str) -> FileResponse:
        path = studio.out_dir(studio.run_dir(run)) / f"{image}.png"
        if not IMAGE_RE.match(image) or not path.is_file():
            raise HTTPException(404, f"no image {run}/{image}.")
        return FileResponse(path, media_type="image/png")

    return routes
