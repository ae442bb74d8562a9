"""The Data tab: the built-in datasets and the folders of the ``--data`` folder, each previewed
as a grid with a summary (:func:`huashi.api.preview_data`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from huashi import api
from huashi.studio.bodies import MAX_RESOLUTION, NAME_RE
from huashi.studio.state import Studio


def router(studio: Studio) -> APIRouter:
    routes = APIRouter()
    data_root = studio.data_root

    @routes.get("/api/datasets", summary="Built-in datasets (and folders of the --data folder)")
    async def datasets() -> list[dict[str, Any]]:
        out = [{"name": k, "description": v} for k, v in api.datasets().items()]
        if data_root is not None:
            out += [
                {"name": p.name, "description": "image folder"}
                for p in sorted(data_root.iterdir())
                if p.is_dir() and NAME_RE.match(p.name)
            ]
        return out

    @routes.get("/api/datasets/{name}", summary="Preview a dataset: a grid and a summary")
    async def dataset(name: str, resolution: int = 32, n: int = 36) -> dict[str, Any]:
        spec = studio.data_spec(name)
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

    @routes.get("/api/datasets/{name}/preview.png", summary="The preview grid of a dataset")
    async def dataset_grid(name: str, resolution: int = 32, n: int = 36) -> FileResponse:
        studio.data_spec(name)
        path = studio.home / "previews" / f"{name}-{resolution}-{n}.png"
        if not path.is_file():
            raise HTTPException(404, f"no preview of {name} yet: GET /api/datasets/{name} first.")
        return FileResponse(path, media_type="image/png")

    return routes
