"""The Latents tab: walks between seeds, inversion of an uploaded image, dragging points; the
painted images and the uploads they start from."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from huashi import api
from huashi.core.errors import HuashiError
from huashi.studio.requests import DragRequest, InvertRequest, WalkRequest
from huashi.studio.state import IMAGE_ID, LATENT_ID, Loaded, Studio, Task, gallery_entry


def router(studio: Studio) -> APIRouter:
    """The tab's endpoints, over ``studio``."""
    routes = APIRouter()

    def latent_run(name: str) -> tuple[Path, Loaded, tuple[str, ...]]:
        """A loaded run with a latent space (a 422 naming what the family lacks otherwise)."""
        run_dir = studio.run_dir(name)
        entry = studio.cache.get(run_dir)
        spaces = api.latent_spaces(entry.run.family)
        if not spaces:
            raise HuashiError(
                f"a {entry.run.config.family} run has no latent space (no latent_shape / "
                "latents_for_seeds): walks, inversion and dragging need a GAN, StyleGAN or VAE run."
            )
        return run_dir, entry, spaces

    def run_params(entry: Loaded) -> dict[str, Any]:
        return {"run": str(entry.run.run_dir), "checkpoint": entry.run.checkpoint.name,
                "step": entry.run.step, "family": entry.run.config.family}  # fmt: skip

    def latent_file(run_dir: Path, latent_id: str) -> Path:
        path = run_dir / "studio" / "latents" / f"{latent_id}.safetensors"
        if not LATENT_ID.match(latent_id) or not path.is_file():
            raise HTTPException(
                404, f"no latent {latent_id!r} for run {run_dir.name}: invert first."
            )
        return path

    def keep_latent(run_dir: Path, entry: Loaded, tensor: Any, space: str, extra: dict) -> str:
        latent_id = uuid.uuid4().hex[:20]
        path = run_dir / "studio" / "latents" / f"{latent_id}.safetensors"
        api.save_latent(path, entry.run, tensor, space, extra)
        return latent_id

    def walk(request: WalkRequest) -> dict[str, Any]:
        from huashi.core.images import save_png, to_pil

        run_dir, entry, _ = latent_run(request.run)
        with entry.lock:
            walked = api.walk_seeds(
                entry.run, request.seed_a, request.seed_b, request.steps, request.truncation
            )
        space, truncation = walked.space, walked.truncation
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        options = {"truncation": truncation} if truncation is not None else {}
        entries = []
        for i, image in enumerate(walked.images):
            path = run_dir / "studio" / f"{stamp}-walk{i:02d}.png"
            walk_info = {"seed_a": request.seed_a, "seed_b": request.seed_b, "space": space,
                         "index": i, "steps": request.steps, "t": i / (request.steps - 1)}  # fmt: skip
            save_png(
                to_pil(image), path, run_params(entry) | {"options": options, "walk": walk_info}
            )
            entries.append(gallery_entry(request.run, path))
        return {"run": request.run, "space": space, "truncation": truncation, "images": entries}

    @routes.post("/api/latents/walk", summary="Images along a latent walk between two seeds")
    async def post_walk(request: WalkRequest) -> dict[str, Any]:
        studio.run_dir(request.run)
        return await studio.in_thread(walk, request)

    @routes.post(
        "/api/latents/invert", summary="Invert an uploaded image into a run's latent space"
    )
    async def post_invert(request: InvertRequest) -> dict[str, Any]:
        studio.run_dir(request.run)
        upload = studio.upload_path(request.upload)

        def invert(task: Task) -> dict[str, Any]:
            from huashi.core.images import save_png, to_pil

            run_dir, entry, _ = latent_run(request.run)
            family = entry.run.family
            task.total, task.message, task.version = request.steps, "inverting", task.version + 1
            with entry.lock:
                result, notes = api.invert_image(entry.run, upload, request.space, request.steps)
            task.done, task.version = request.steps, task.version + 1
            latent_id = keep_latent(run_dir, entry, result.latent, result.space,
                                    {"psnr": result.psnr, "upload": request.upload})  # fmt: skip
            path = run_dir / "studio" / f"{time.strftime('%Y%m%d-%H%M%S')}-inv-{latent_id[:8]}.png"
            params = run_params(entry) | {"space": result.space,
                                          "latent": str(latent_file(run_dir, latent_id)),
                                          "studio": {"init": request.upload}}  # fmt: skip
            save_png(to_pil(result.image), path, params)
            return {"run": request.run, "image": gallery_entry(request.run, path),
                    "latent": latent_id, "space": result.space, "psnr": round(result.psnr, 3),
                    "resolution": family.data.resolution, "notes": notes}  # fmt: skip

        return await studio.as_task(request.task, invert)

    @routes.post("/api/latents/drag", summary="Drag handle points of a latent's image to targets")
    async def post_drag(request: DragRequest) -> dict[str, Any]:
        run_dir = studio.run_dir(request.run)
        path = latent_file(run_dir, request.latent)
        bad = [p for p in request.points if len(p) != 4]
        if bad:
            raise HTTPException(422, f"points: each point is [hx, hy, tx, ty], got {bad[0]}.")

        def drag(task: Task) -> dict[str, Any]:
            from huashi.core.images import save_png, to_pil

            _, entry, _ = latent_run(request.run)
            handles = [(p[0], p[1]) for p in request.points]
            targets = [(p[2], p[3]) for p in request.points]
            task.total, task.message, task.version = request.steps, "dragging", task.version + 1
            with entry.lock:
                result = api.drag_latent(entry.run, path, handles, targets, request.steps)
            task.done, task.version = result.steps, task.version + 1
            latent_id = keep_latent(run_dir, entry, result.ws, "w+",
                                    {"from": request.latent, "points": request.points})  # fmt: skip
            out = run_dir / "studio" / f"{time.strftime('%Y%m%d-%H%M%S')}-drag-{latent_id[:8]}.png"
            params = run_params(entry) | {"space": "w+",
                                          "latent": str(latent_file(run_dir, latent_id)),
                                          "points": request.points}  # fmt: skip
            save_png(to_pil(result.image), out, params)
            return {"run": request.run, "image": gallery_entry(request.run, out),
                    "latent": latent_id, "handles": result.handles, "steps": result.steps,
                    "distances": [round(d, 3) for d in result.distances]}  # fmt: skip

        return await studio.as_task(request.task, drag)

    @routes.get("/api/images/{run}/{image}.png", summary="A painted image (PNG with parameters)")
    async def image_file(run: str, image: str) -> FileResponse:
        path = studio.run_dir(run) / "studio" / f"{image}.png"
        if not IMAGE_ID.match(image) or not path.is_file():
            raise HTTPException(404, f"no image {run}/{image}.")
        return FileResponse(path, media_type="image/png")

    @routes.post(
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
        if length and length.isdigit() and int(length) > studio.limits.upload_bytes:
            raise HTTPException(413, f"uploads are limited to {studio.limits.upload_bytes} bytes.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > studio.limits.upload_bytes:
                raise HTTPException(
                    413, f"uploads are limited to {studio.limits.upload_bytes} bytes."
                )
        if not body:
            raise HTTPException(422, "the upload is empty: send the image file as the body.")
        return await studio.in_thread(store_upload, bytes(body))

    def store_upload(body: bytes) -> dict[str, Any]:
        from PIL import Image, UnidentifiedImageError

        from huashi.core.metadata import PARAMETERS_KEY, parse_parameters

        try:
            with Image.open(io.BytesIO(body)) as image:
                width, height = image.size
                if width * height > studio.limits.upload_pixels:
                    raise HTTPException(
                        413, f"the image is {width}x{height}: uploads are limited to "
                             f"{studio.limits.upload_pixels} pixels."
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
                413, f"the image is far over the limit of {studio.limits.upload_pixels} pixels "
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

    @routes.get("/api/uploads/{upload_id}.png", summary="An uploaded image")
    async def upload_file(upload_id: str) -> FileResponse:
        return FileResponse(studio.upload_path(upload_id), media_type="image/png")

    return routes
