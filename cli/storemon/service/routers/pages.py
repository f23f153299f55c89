"""Reports as pages: the HTML report of `storemon export --html` for a Complete report, and
one page per store, both drawn from the report's own database (docs/html-report.md).

A Complete report never changes, so each page is rendered once and kept in the report's folder
(`pages/`); rendering runs in worker threads, at most `page_threads` at once, so that pages
never hold up the event loop, ingestion or /health."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import anyio
import duckdb
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from storemon import html_report
from storemon.export import report_query
from storemon.service.core import Service, get_service
from storemon.service.errors import ReportNotComplete, ReportRemoved, StoreNotInReport
from storemon.service.routers.reports import GONE, NOT_COMPLETE, json_refusal, report_answer
from storemon.service.schemas import Report
from storemon.service.worker import REPORT_DB

router = APIRouter(tags=["pages"])
ServiceDependency = Annotated[Service, Depends(get_service)]
HTML_ANSWER = {"content": {"text/html": {}}, "description": "the report as a page"}
PAGE_TIMELINES = 50
PAGES = "pages"  # the folder of a report's rendered pages
STORE_PAGE_REFUSALS = {
    200: HTML_ANSWER,
    404: json_refusal("unknown report or store"),
    409: json_refusal("not Complete"),
    410: json_refusal("files removed"),
}


def _database(service: Service, row: dict) -> duckdb.DuckDBPyConnection:
    if row["status"] != "Complete":
        raise ReportNotComplete(row["report_id"], row["status"])
    path = service.report_file(row["report_id"], REPORT_DB)
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException:
        if path.exists():
            raise
        # Removed (--keep-reports) after its history row was read.
        raise ReportRemoved(row["report_id"]) from None


async def _page(request: Request, cached: Path, render: Callable[[], str | None]) -> str | None:
    """The page kept at `cached`, else rendered (in a worker thread, a few at a time) and kept.
    None when `render` finds nothing to show."""
    limiter = getattr(request.app.state, "page_limiter", None)
    if limiter is None:
        limiter = request.app.state.page_limiter = anyio.CapacityLimiter(
            request.app.state.service.settings.page_threads
        )

    def read_or_render() -> str | None:
        try:
            return cached.read_text(encoding="utf-8")
        except FileNotFoundError:
            pass
        page = render()
        if page is not None:
            _keep(cached, page)
        return page

    return await anyio.to_thread.run_sync(read_or_render, limiter=limiter)


def _keep(path: Path, page: str) -> None:
    """Write the page whole or not at all (another request may render it at the same time);
    a report removed meanwhile keeps nothing."""
    partial = path.with_name(f".{uuid.uuid4().hex}.partial")
    try:
        path.parent.mkdir(exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)


@router.get(
    "/reports/{report_id}",
    response_model=Report,
    responses={200: HTML_ANSWER, **NOT_COMPLETE, **GONE},
)
async def report_page(report_id: str, request: Request, service: ServiceDependency):
    """The report's status as `GET /get_report/{report_id}`; with `Accept: text/html` (a
    browser) a Complete report answers with its page: fleet summary, stores ranked by last
    week's downtime, timelines of the 50 worst, each linking to its store's page."""
    row = await anyio.to_thread.run_sync(service.report, report_id)
    if "text/html" not in request.headers.get("accept", ""):
        return report_answer(row)
    if row["status"] != "Complete":
        raise ReportNotComplete(report_id, row["status"])

    def render() -> str:
        with _database(service, row) as connection:
            return html_report.report_page(
                connection,
                report_query(),
                PAGE_TIMELINES,
                # A query, not a path segment: any store id (".", "..", "a/b") reaches its page.
                store_url=f"/reports/{report_id}/stores?store_id={{store_id}}",
            )

    cached = service.report_file(report_id, PAGES) / "report.html"
    return HTMLResponse(await _page(request, cached, render))


@router.get(
    "/reports/{report_id}/stores/{store_id:path}",
    response_class=HTMLResponse,
    # An HTML route: its refusals are JSON all the same.
    responses=STORE_PAGE_REFUSALS,
)
async def store_page(
    report_id: str, store_id: str, request: Request, service: ServiceDependency
) -> HTMLResponse:
    """One store's page in a Complete report: its six measures, its week timeline and its
    incidents (the latest 50, as they are now). The id
    may hold `/`; percent-encode it as a path segment (`a%2Fb`), or use the query form."""
    return await _store_page(report_id, store_id, request, service)


@router.get("/reports/{report_id}/stores", response_class=HTMLResponse,
            responses=STORE_PAGE_REFUSALS)  # fmt: skip
async def store_page_by_query(
    report_id: str,
    request: Request,
    service: ServiceDependency,
    store_id: Annotated[str, Query()],
) -> HTMLResponse:
    """The same page, the store named in the query: the form that reaches any id (a browser
    folds a path segment `.` or `..`)."""
    return await _store_page(report_id, store_id, request, service)


async def _store_page(
    report_id: str, store_id: str, request: Request, service: ServiceDependency
) -> HTMLResponse:
    row = await anyio.to_thread.run_sync(service.report, report_id)
    if row["status"] != "Complete":
        raise ReportNotComplete(report_id, row["status"])

    def render() -> str | None:
        with _database(service, row) as connection:
            return html_report.store_page(connection, report_query(), store_id)

    name = hashlib.sha256(store_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    cached = service.report_file(report_id, PAGES) / f"store-{name}.html"
    page = await _page(request, cached, render)
    if page is None:
        raise StoreNotInReport(store_id, report_id)
    # The incidents change: added to the kept page on each request.
    incidents = await anyio.to_thread.run_sync(
        lambda: service.alerts.store.incidents(store_id=store_id, limit=50)
    )
    return HTMLResponse(html_report.with_incidents(page, incidents))
