"""The FastAPI application: `create_app(settings)` builds one per call (no state at import
time), opening the home folder and starting the report worker in its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.responses import JSONResponse

from storemon import __version__
from storemon.project import eprint
from storemon.service.core import Service, Settings, bearer
from storemon.service.edges import RequestGate, body_types_of
from storemon.service.errors import add_exception_handlers
from storemon.service.routers import (
    api_docs,
    incidents,
    ingest,
    login,
    metrics,
    pages,
    reports,
    status,
)
from storemon.service.routers.login import LoginGuard
from storemon.service.schemas import Health, Refusal

health = APIRouter(tags=["health"])


# async: answered on the event loop, never queued behind requests waiting for a worker thread
# (the checks of degraded() run on the loop's own executor, not the request threads').
@health.get(
    "/health",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health, "description": "degraded: the reasons say why"}},
)
async def get_health(request: Request):
    """200 `{"status": "ok"}` when the service is fine; 503 `{"status": "degraded", "reasons":
    [...]}` when the home's disk is full or nearly, the inbox cannot be read or the report
    worker is stuck. Needs no token."""
    reasons = await asyncio.to_thread(request.app.state.service.degraded)
    if not reasons:
        return Health()
    return JSONResponse(Health(status="degraded", reasons=reasons).model_dump(), 503)


# JSON for a client, a page for a browser (edges.unauthorized).
UNAUTHORIZED = {
    "description": "no or wrong token",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}},
        "text/html": {"schema": {"type": "string"}},
    },
}


def refusals(*statuses: int) -> dict:
    return {status: {"model": Refusal} for status in statuses}


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
        # Served by api_docs from local files instead of FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    # With a token, the guarded routers declare the Bearer scheme and its 401.
    guarded = [Security(bearer)] if settings.token else []
    unauthorized = {401: UNAUTHORIZED} if settings.token else {}
    app.include_router(
        ingest.router,
        dependencies=guarded,
        responses={**unauthorized, **refusals(400, 408, 413, 415, 422)},
    )
    app.include_router(
        reports.router,
        dependencies=guarded,
        responses={**unauthorized, **refusals(400, 408, 413, 415)},
    )
    app.include_router(pages.router, dependencies=guarded, responses=unauthorized)
    app.include_router(
        incidents.router, dependencies=guarded, responses={**unauthorized, **refusals(422)}
    )
    app.include_router(status.router, dependencies=guarded, responses=unauthorized)
    metrics.install(app, guarded, responses=unauthorized)
    app.include_router(health)
    app.include_router(login.router)
    api_docs.install(app)
    add_exception_handlers(app)
    app.state.login_guard = LoginGuard()
    app.add_middleware(
        RequestGate,
        token=settings.token,
        max_bytes=settings.max_upload_bytes,
        max_mb=settings.max_upload_mb,
        body_types=body_types_of(app.openapi),
        body_timeout=settings.body_timeout,
    )
    return app
