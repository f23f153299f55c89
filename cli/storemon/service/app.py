"""The FastAPI application: `create_app(settings)` builds one per call (no state at import
time), opening the home folder and starting the report worker in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from storemon import __version__
from storemon.project import eprint
from storemon.service.core import Service, Settings, require_token
from storemon.service.inbox import InvalidRows
from storemon.service.routers import ingest, metrics, pages, reports
from storemon.service.schemas import Health

health = APIRouter(tags=["health"])


@health.get("/health", response_model=Health)
def get_health() -> Health:
    """Liveness; needs no token."""
    return Health()


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings)
        try:
            service.start()
            app.state.service = service
            eprint(f"ready; home {service.home}")
            yield
        finally:
            service.close()

    app = FastAPI(
        title="storemon",
        version=__version__,
        summary="Store uptime and downtime during business hours, from hourly polls.",
        lifespan=lifespan,
    )
    guarded = [Depends(require_token)]
    app.include_router(ingest.router, dependencies=guarded)
    app.include_router(reports.router, dependencies=guarded)
    app.include_router(pages.router, dependencies=guarded)
    metrics.install(app, guarded)
    app.include_router(health)

    @app.exception_handler(InvalidRows)
    async def invalid_rows(request: Request, error: InvalidRows) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": error.problems})

    @app.middleware("http")
    async def upload_limit(request: Request, call_next):
        """Refuse a body over --max-upload-mb before reading it."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_upload_bytes:
            return JSONResponse(
                status_code=413,
                content={"detail": f"body over the limit of {settings.max_upload_mb} MB"},
            )
        return await call_next(request)

    return app
