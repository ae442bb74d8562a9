"""The Measure tab: feature networks, eval of one run, compare reports of several, and the progress
of these tasks."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, StreamingResponse

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.requests import CompareRequest, EvalRequest
from huashi.studio.state import REPORT_ID, RUN_NAME, Studio, Task


def router(studio: Studio) -> APIRouter:
    """The tab's endpoints, over ``studio``."""
    routes = APIRouter()

    def feature_networks() -> list[dict[str, Any]]:
        """Runs under the runs folder that make features rather than images (their family says
        so), as ``KIND:RUN`` feature-network choices."""
        from huashi.families import FAMILIES
        from huashi.runs import RunConfig
        from huashi.training.checkpoint import latest_checkpoint

        out = []
        for path in sorted(studio.runs_dir.iterdir()):
            if not (RUN_NAME.match(path.name) and (path / "config.json").is_file()):
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
        return out

    def feature_spec(name: str) -> str:
        """The ``KIND:PATH`` spec of the feature-network run ``name`` (404 if it is not one)."""
        path = studio.run_dir(name)
        for net in feature_networks():
            if net["run"] == name:
                return f"{net['kind']}:{path}"
        raise HTTPException(
            422, f"features: run {name} is not a feature network (train a classifier or clip run)."
        )

    @routes.get(
        "/api/features", summary="Feature networks for eval and compare (runs under --runs)"
    )
    def list_features(run: str | None = None) -> list[dict[str, Any]]:
        """The feature-network runs; with ``run``, those trained on its dataset first (the first
        one is the suggested choice) and each marked ``same_data``."""
        nets = feature_networks()
        if run is None:
            return nets
        from huashi.runs import RunConfig

        config = RunConfig.load(studio.run_dir(run))
        for net in nets:
            net["same_data"] = net["data"] == config.data.get("spec")
        return sorted(nets, key=lambda net: not net["same_data"])

    def eval_table(record: dict[str, Any]) -> list[dict[str, str]]:
        """The record's metrics as table rows, labelled and formatted by the metric registry."""
        from huashi.metrics.registry import METRICS, format_value

        metrics = record["metrics"]
        return [{"name": name, "label": metric.label, "value": format_value(name, metrics[name]),
                 "description": metric.description}
                for name, metric in METRICS.items() if name in metrics]  # fmt: skip

    @routes.post("/api/runs/{run}/eval", summary="Measure a run with a feature network")
    async def post_eval(run: str, request: EvalRequest) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        spec = feature_spec(request.features)

        def measure(task: Task) -> dict[str, Any]:
            entry = studio.cache.get(run_dir)
            with studio.measuring, entry.lock:
                result = api.evaluate(entry.run, spec, n=request.n, seed=request.seed,
                                      device="cpu", kid_subsets=request.kid_subsets,
                                      kid_subset_size=min(1000, request.n),
                                      progress=studio.task_progress(task))  # fmt: skip
            record = result.record
            return {
                "run": run,
                "features": request.features,
                "n": request.n,
                "table": eval_table(record),
                "metrics": result.metrics,
                "warnings": [w.replace(str(studio.runs_dir) + "/", "") for w in result.warnings],
                "file": result.path.name if result.path else None,
            }

        return await studio.as_task(request.task, measure)

    @routes.post("/api/compare", summary="Write a `huashi compare` report of chosen runs")
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
                                     progress=studio.task_progress(task))  # fmt: skip
            return {
                "report": out.stem,
                "url": f"/api/reports/{out.stem}.html",
                "runs": request.runs,
                "warnings": [w.replace(str(studio.runs_dir) + "/", "") for w in result.warnings],
            }

        return await studio.as_task(request.task, write)

    @routes.get("/api/reports", summary="The compare reports, newest first")
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

    @routes.get("/api/reports/{report}.html", summary="A compare report (self-contained HTML)")
    async def report_file(report: str) -> FileResponse:
        path = studio.reports / f"{report}.html"
        if not REPORT_ID.match(report) or not path.is_file():
            raise HTTPException(404, f"no report {report!r}.")
        return FileResponse(path, media_type="text/html")

    @routes.get("/api/tasks/{task}/events", summary="Progress of a paint, eval or compare request")
    async def task_events(task: str, wait: float = 30.0) -> StreamingResponse:
        return await studio.task_events(task, wait)

    return routes
