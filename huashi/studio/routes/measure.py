"""The Eval and Compare tabs: feature networks (the runs folder's and the zoo's reference
networks), measuring a run, `huashi compare` reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.bodies import REPORT_RE, CompareRequest, EvalRequest
from huashi.studio.painters import is_zoo_name, zoo_cards
from huashi.studio.state import Studio, Task, stamp
from huashi.studio.views import eval_table


def feature_networks(studio: Studio) -> list[dict[str, Any]]:
    """Runs under the runs folder that make features rather than images (their family says so),
    as ``KIND:RUN`` feature-network choices, then the zoo's reference networks (the CLI's) under
    both views, the one that passed its validation ladder first (``validated``)."""
    out = []
    for path in studio.run_names():
        try:
            info = api.run_info(path)
        except (HuashiError, OSError, KeyError, ValueError):
            continue
        if info.makes_images or not info.trained:
            continue
        out.append({"run": path.name, "kind": info.family, "spec": f"{info.family}:{path.name}",
                    "data": info.data, "resolution": info.resolution})  # fmt: skip
    for card in zoo_cards():
        if card["group"] is not None:
            continue
        passed = card["scores"].get("ladder_passed") or {}
        views = api.reference_views(card["name"])  # in huashi eval's order
        out += [{"run": spec, "kind": card["family"], "spec": spec, "data": card["data"],
                 "resolution": card["resolution"], "view": view,
                 "validated": bool(passed.get(view))} for spec, view in views]  # fmt: skip
    return out


def router(studio: Studio) -> APIRouter:
    routes = APIRouter()

    def feature_spec(name: str) -> str:
        """The spec of the feature network ``name``: ``KIND:PATH`` for a run of the folder (404
        if there is none, 422 if it is no feature network), ``zoo:NAME``, ``texture:`` kept."""
        if name.startswith("texture:"):
            return "texture:" + feature_spec(name.removeprefix("texture:"))
        if name.startswith("ensemble:"):
            return "ensemble:" + "+".join(feature_spec(m) for m in name[9:].split("+"))
        path = studio.run_dir(name)
        for net in feature_networks(studio):
            if net["run"] == name:
                return name if is_zoo_name(name) else f"{net['kind']}:{path}"
        raise HTTPException(
            422, f"features: run {name} is not a feature network (train a classifier or clip run)."
        )

    def relative(text: str) -> str:
        return text.replace(str(studio.runs_dir) + "/", "")

    def relative_warnings(warnings: list[str]) -> list[str]:
        return [relative(w) for w in warnings]

    @routes.get("/api/features", summary="Feature networks for eval and compare")
    def list_features(run: str | None = None) -> list[dict[str, Any]]:
        """The feature-network runs; with ``run``, those trained on its dataset first (the first
        one is the suggested choice) and each marked ``same_data``."""
        nets = feature_networks(studio)
        if run is None:
            return nets
        info = api.run_info(studio.run_dir(run))
        resolution = info.resolution
        for net in nets:
            net["same_data"] = net["data"] == info.data
        # same data first, then the same resolution (reference-emoji-128 for a 128 px run)
        return sorted(nets, key=lambda net: (not net["same_data"],
                                             net["resolution"] != resolution))  # fmt: skip

    @routes.post("/api/runs/{run}/eval", summary="Measure a run with a feature network")
    async def post_eval(run: str, request: EvalRequest, http: Request) -> dict[str, Any]:
        run_dir = studio.run_dir(run)
        spec = feature_spec(request.features) if request.features else None  # None: eval's own

        def measure(task: Task, job: Any) -> dict[str, Any]:
            entry = studio.load(run_dir)
            with entry.lock:
                result = api.evaluate(entry.run, spec, n=request.n, seed=request.seed,
                                      device="cpu", kid_subsets=request.kid_subsets,
                                      kid_subset_size=min(1000, request.n),
                                      progress=task.progress(job))  # fmt: skip
            return {
                "run": run,
                "features": relative(result.record["features"]["spec"]),
                "n": request.n,
                "table": eval_table(result.record),
                "yardsticks": [
                    {"label": label, "value": relative(value)}
                    for label, value in result.yardsticks()
                ],  # fmt: skip
                "metrics": result.metrics,
                "warnings": relative_warnings(result.warnings),
                "file": result.path.name if result.path else None,
            }

        keys = (str(run_dir), "measure")  # one eval or compare at a time
        return await studio.queued_task(http, request.task, keys, request.n, measure, "eval")

    @routes.post("/api/compare", summary="Write a `huashi compare` report of chosen runs")
    async def post_compare(request: CompareRequest, http: Request) -> dict[str, Any]:
        run_dirs = [studio.run_dir(name) for name in request.runs]
        spec = feature_spec(request.features) if request.features else None
        out = studio.reports / f"compare-{stamp()}.html"

        def write(task: Task, job: Any) -> dict[str, Any]:
            result = api.compare(run_dirs, out, features=spec, n=request.n,
                                 force=request.force, sampler_steps=None,
                                 speed_n=request.speed_n, grid_n=request.grid_n, device="cpu",
                                 title=request.title, progress=task.progress(job))  # fmt: skip
            return {
                "report": out.stem,
                "url": f"/api/reports/{out.stem}.html",
                "runs": request.runs,
                "warnings": relative_warnings(result.warnings),
            }

        work, keys = request.n * len(run_dirs), ("measure", *map(str, run_dirs))
        return await studio.queued_task(http, request.task, keys, work, write, "comparison")

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
        if not REPORT_RE.match(report) or not path.is_file():
            raise HTTPException(404, f"no report {report!r}.")
        return FileResponse(path, media_type="text/html")

    return routes
