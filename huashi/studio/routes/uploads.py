"""Uploads: images for init, mask, translate, inversion and DeepDream, limited in bytes and pixels,
kept as PNG in a bounded folder; a PNG's painting parameters are read back for the form."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from huashi import api
from huashi.studio.state import Studio


def store_upload(studio: Studio, body: bytes) -> dict[str, Any]:
    """Keep an uploaded image as PNG under its content's hash; its parameters (A1111's or
    huashi's) are read back for the page."""
    from PIL import Image, UnidentifiedImageError

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
    else:
        path.touch()  # used again: kept as new
    studio.prune_uploads(keep=path)
    parameters = api.text_parameters(text)  # A1111's or huashi's, for the paint form
    return {"id": upload_id, "width": width, "height": height, "parameters": parameters}


def router(studio: Studio) -> APIRouter:
    routes = APIRouter()

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
        return await studio.in_thread(store_upload, studio, bytes(body))

    @routes.get("/api/uploads/{upload_id}.png", summary="An uploaded image")
    async def upload_file(upload_id: str) -> FileResponse:
        return FileResponse(studio.upload_path(upload_id), media_type="image/png")

    return routes
