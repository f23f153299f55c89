"""Reports as pages: the HTML report of `storemon export --html` for a Complete report, and
one page per store, both drawn from the report's own database (docs/html-report.md)."""

from __future__ import annotations

from typing import Annotated

import duckdb
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from storemon import html_report
from storemon.export import report_query
from storemon.service.core import Service, get_service, report_removed
from storemon.service.routers.reports import GONE, NOT_COMPLETE, json_refusal, report_answer
from storemon.service.schemas import Report
from storemon.service.worker import REPORT_DB

router = APIRouter(tags=["pages"])
ServiceDependency = Annotated[Service, Depends(get_service)]
HTML_ANSWER = {"content": {"text/html": {}}, "description": "the report as a page"}
PAGE_TIMELINES = 50


def _database(service: Service, row: dict) -> duckdb.DuckDBPyConnection:
    if row["status"] != "Complete":
        raise HTTPException(409, detail=f"report {row['report_id']} is {row['status']}")
    path = service.report_file(row["report_id"], REPORT_DB)
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException:
        if path.exists():
            raise
        # Removed (--keep-reports) after its history row was read.
        raise report_removed(row["report_id"]) from None


@router.get(
    "/reports/{report_id}",
    response_model=Report,
    responses={200: HTML_ANSWER, **NOT_COMPLETE, **GONE},
)
def report_page(report_id: str, request: Request, service: ServiceDependency):
    """The report's status as `GET /get_report/{report_id}`; with `Accept: text/html` (a
    browser) a Complete report answers with its page: fleet summary, stores ranked by last
    week's downtime, timelines of the 50 worst, each linking to its store's page."""
    row = service.report(report_id)
    if "text/html" not in request.headers.get("accept", ""):
        return report_answer(row)
    with _database(service, row) as connection:
        page = html_report.report_page(
            connection,
            report_query(),
            PAGE_TIMELINES,
            store_url=f"/reports/{report_id}/stores/{{store_id}}",
        )
    return HTMLResponse(page)


@router.get(
    "/reports/{report_id}/stores/{store_id}",
    response_class=HTMLResponse,
    # An HTML route: its refusals are JSON all the same.
    responses={200: HTML_ANSWER, 404: json_refusal("unknown report or store"),
               409: json_refusal("not Complete"), 410: json_refusal("files removed")},
)  # fmt: skip
def store_page(report_id: str, store_id: str, service: ServiceDependency) -> HTMLResponse:
    """One store's page in a Complete report: its six measures and its week timeline."""
    row = service.report(report_id)
    with _database(service, row) as connection:
        page = html_report.store_page(connection, report_query(), store_id)
    if page is None:
        raise HTTPException(404, detail=f"no store {store_id} in report {report_id}")
    return HTMLResponse(page)
