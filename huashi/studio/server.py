"""The studio app: ``create_app(runs_dir)`` returns a FastAPI app over one
:class:`~huashi.studio.state.Studio` with the guards (host names, token), the error answers, one
router per tab (:mod:`huashi.studio.routes`) and the page.

Everything the page does goes through the routers' endpoints (the OpenAPI schema is at
``/openapi.json``, a reference page drawn from it, offline, at ``/docs``); every action calls
:mod:`huashi.api`. Paints, walks, inversions, drags, translations, evals and comparisons run
through one fair, bounded queue in worker threads (the server keeps answering); loaded runs are
kept in the API's one run cache. Only run folders directly under
``runs_dir`` and the zoo's painters (``zoo:NAME``) are reachable, uploads are limited in bytes
and pixels and kept in a bounded folder, and a bad request is a 4xx with a message.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from huashi.core.errors import HuashiError, missing_package

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
except ImportError:  # pragma: no cover - the extra is missing
    raise missing_package("fastapi", "studio", "huashi studio") from None

from huashi import __version__
from huashi.studio.painters import is_zoo_name
from huashi.studio.routes import data, latents, measure, paint, runs, train, uploads
from huashi.studio.state import Limits, Studio
from huashi.studio.views import validation_message

__all__ = ["LOOPBACK", "Limits", "create_app"]

log = logging.getLogger("huashi.studio")

STATIC = Path(__file__).parent / "static"
TOKEN_HEADER = "X-Huashi-Token"
TOKEN_COOKIE = "huashi_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The tabs' routers, in the order their endpoints are listed.
TABS = (runs, measure, paint, latents, uploads, train, data)


def create_app(
    runs_dir: str | Path,
    token: str | None = None,
    limits: Limits | None = None,
    max_jobs: int = 1,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK,
    data_dir: str | Path | None = None,
) -> FastAPI:
    """The studio app over the run folders in ``runs_dir``.

    With ``token`` every ``/api`` request needs it (header ``X-Huashi-Token`` or the
    ``huashi_token`` cookie the page sets), else 401. ``allowed_hosts`` are the host names the
    requests may address (None: any; the default, loopback names, stops DNS rebinding).
    ``data_dir``, if given, is the one folder whose image folders the Train and Data pages may
    use besides the built-in datasets; ``max_jobs`` training jobs run at once (others queue).
    """
    if is_zoo_name(str(runs_dir)):
        raise HuashiError(
            f"--runs {runs_dir} names the zoo, but --runs is the folder for your own runs (the "
            "studio lists the zoo's painters anyway): give a folder such as runs/."
        )
    runs_dir = Path(runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    data_root = Path(data_dir).resolve() if data_dir else None
    studio = Studio(runs_dir, limits or Limits(), max_jobs, data_root)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.get_running_loop().run_in_executor(None, studio.jobs.close)
        studio.paints.close()
        studio.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="huashi studio",
        version=__version__,
        description="Paint with, train and inspect huashi runs. Every page action is one of "
        "these endpoints.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI comes from a CDN: the own page below works offline
        redoc_url=None,
    )
    app.state.studio = studio

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable) -> Any:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        if request.headers.get("host", "").startswith("[") and "]" in request.headers["host"]:
            host = request.headers["host"][1 : request.headers["host"].index("]")]
        if allowed_hosts is not None and host not in allowed_hosts:
            return JSONResponse(
                {"detail": f"this studio answers only to {', '.join(allowed_hosts)}."}, 400
            )
        if token and request.url.path.startswith(("/api", "/openapi.json", "/docs")):
            given = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse(
                    {"detail": f"this studio needs its token: send the {TOKEN_HEADER} header "
                               "(the page takes it from the URL that `huashi studio` printed)."},
                    401,
                )  # fmt: skip
        return await call_next(request)

    @app.exception_handler(HuashiError)
    async def huashi_error(_: Request, error: HuashiError) -> JSONResponse:
        return JSONResponse({"detail": studio.relative(str(error))}, 422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(error)}, 422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("studio request failed")
        message = f"the studio failed on this request ({type(error).__name__}: {error})."
        return JSONResponse({"detail": studio.relative(message)}, 500)

    for tab in TABS:
        app.include_router(tab.router(studio))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def api_reference() -> FileResponse:
        """The API reference: a page of this studio drawn from /openapi.json."""
        return FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
