"""The Runs tab: the runs in the runs folder, one run's summary, paint form and gallery, its
training grid, loss log and the doctor's findings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.state import RUN_NAME, Studio, gallery_entry, paint_form


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
    return {
        "name": run_dir.name,
        "family": config.family,
        "makes_images": bool(family is None or family.makes_images),
        # the family class fills in the latent contract (asked without loading the weights)
        "latent": family is not None and family.latent_shape is not Family.latent_shape,
        "data": config.data.get("spec"),
        "resolution": config.data.get("resolution"),
        "step": int(records[-1]["step"]) if records else 0,
        "steps": config.train.get("steps"),
        "train_seconds": float(records[-1].get("train_seconds", 0)) if records else 0.0,
        "trained": newest is not None,
        "updated": max((p.stat().st_mtime for p in (run_dir / "log.jsonl", grid) if p.exists()),
                       default=(run_dir / "config.json").stat().st_mtime),
        "grid": f"/api/runs/{run_dir.name}/samples.png?v={int(grid.stat().st_mtime_ns)}"
        if grid.exists()
        else None,
        "metrics": metrics,
    }  # fmt: skip


def router(studio: Studio) -> APIRouter:
    """The tab's endpoints, over ``studio``."""
    routes = APIRouter()

    @routes.get("/api/runs", summary="The runs in the runs folder")
    def list_runs() -> list[dict[str, Any]]:  # plain def: FastAPI runs it off the event loop
        runs = []
        for path in sorted(studio.runs_dir.iterdir()):
            if RUN_NAME.match(path.name) and (path / "config.json").is_file():
                try:
                    runs.append(_summary(path))
                except (HuashiError, OSError, KeyError, ValueError) as error:
                    runs.append({"name": path.name, "error": str(error)})
        return sorted(runs, key=lambda r: -r.get("updated", 0))

    @routes.get("/api/runs/{run}", summary="One run: summary, paint form, gallery")
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

    @routes.get("/api/runs/{run}/gallery", summary="Images painted with a run, newest first")
    def gallery(run: str, limit: int = 60) -> list[dict[str, Any]]:
        folder = studio.run_dir(run) / "studio"
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
        from huashi.training.logging import read_log

        records = read_log(studio.run_dir(run) / "log.jsonl")
        return records[:: max(1, len(records) // max(1, points))]

    @routes.get("/api/runs/{run}/doctor", summary="The training doctor's findings")
    async def run_doctor(run: str) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        report = await studio.in_thread(api.doctor, run_dir)
        return {
            "summary": report.summary().replace(str(run_dir), run),
            "findings": [dataclasses.asdict(f) for f in report.findings],
        }

    return routes
