"""Reports out: trigger one, ask for it, fetch its CSV, list them (docs/service.md, Endpoints)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from storemon.service.core import Service, get_service
from storemon.service.errors import ReportNotComplete, ReportRemoved
from storemon.service.schemas import Refusal, Report, ReportCreated, ReportRequest
from storemon.service.worker import REPORT_CSV

router = APIRouter(tags=["reports"])
ServiceDependency = Annotated[Service, Depends(get_service)]
CSV_ANSWER = {
    "content": {"text/csv": {}},
    "description": "the report CSV, as `storemon export` writes it",
}


def json_refusal(description: str) -> dict:
    """A refusal's answer where the route's own answers are not JSON."""
    schema = {"$ref": "#/components/schemas/Refusal"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


GONE = {
    404: {"model": Refusal, "description": "unknown report"},
    410: {"model": Refusal, "description": "files removed"},
}
NOT_COMPLETE = {409: {"model": Refusal, "description": "not Complete"}}


def report_answer(row: dict) -> Report:
    complete = row["status"] == "Complete"
    return Report(
        report_id=row["report_id"],
        status=row["status"],
        interpolation=row["interpolation"],
        requested_at=row["requested_at"],
        finished_at=row["finished_at"],
        url=f"/reports/{row['report_id']}/{REPORT_CSV}" if complete else None,
        as_of=row["report_at"] if complete else None,
        stores=row["stores"],
        rejected_rows=row["rejected_rows"],
        seconds=row["seconds"],
        error=row["error"],
    )


def csv_file(service: Service, row: dict) -> Response:
    if row["status"] != "Complete":
        raise ReportNotComplete(row["report_id"], row["status"])
    path = service.report_file(row["report_id"], REPORT_CSV)
    try:
        # Read now, not while answering: the file may be removed (--keep-reports) meanwhile.
        content = path.read_bytes()
    except FileNotFoundError:
        raise ReportRemoved(row["report_id"]) from None
    disposition = f'attachment; filename="{REPORT_CSV}"'
    return Response(content, media_type="text/csv", headers={"Content-Disposition": disposition})


TRIGGER_REFUSALS = {
    422: {
        "model": Refusal,
        "description": "as_of is not a timestamp, or over a day ahead of the server's clock; or"
        " the report's week would start before the retention cut (--keep-polls-days), whose"
        " detail names the cut and the earliest as_of; nothing queued",
    },
    429: {
        "model": Refusal,
        "description": "too many reports waiting (--max-queued-reports); nothing queued",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        },
    },
    507: {"model": Refusal, "description": "the home's disk is full; nothing queued"},
}


@router.post("/trigger_report", response_model=ReportCreated, responses=TRIGGER_REFUSALS)
def trigger_report(
    service: ServiceDependency, request: ReportRequest | None = None
) -> ReportCreated:
    """Start a report over the data stored so far; answers at once. Reports run one at a time,
    in trigger order. The same request while an identical report waits (nothing stored since)
    answers that report's id; one identical to the last complete report is a report of its own
    made of that report's files, complete at once."""
    request = request or ReportRequest()
    return ReportCreated(report_id=service.trigger_report(request.as_of, request.interpolation))


@router.get(
    "/get_report/{report_id}",
    response_model=Report,
    responses={200: CSV_ANSWER, **NOT_COMPLETE, **GONE},
)
def get_report(report_id: str, request: Request, service: ServiceDependency):
    """The report's status; when Complete also its CSV's url, report time, stores and rejected
    rows. With `Accept: text/csv` a Complete report answers with the CSV itself."""
    row = service.report(report_id)
    if "text/csv" in request.headers.get("accept", ""):
        return csv_file(service, row)
    return report_answer(row)


@router.get(
    "/get_report", response_model=Report, responses={200: CSV_ANSWER, **NOT_COMPLETE, **GONE}
)
def get_report_by_query(
    request: Request, service: ServiceDependency, report_id: Annotated[str, Query()]
):
    """The same as `GET /get_report/{report_id}`."""
    return get_report(report_id, request, service)


@router.get(
    "/reports/{report_id}/report.csv",
    response_class=Response,
    responses={200: CSV_ANSWER, **NOT_COMPLETE, **GONE},
)
def report_csv(report_id: str, service: ServiceDependency) -> Response:
    """The report CSV, as `storemon export` writes it."""
    return csv_file(service, service.report(report_id))


@router.get("/reports", response_model=list[Report])
def list_reports(service: ServiceDependency) -> list[Report]:
    """Every report, newest first, with its status (removed ones too)."""
    return [report_answer(row) for row in service.history.reports()]
