"""The service's refusals, in one place: the exceptions the domain layer (core.py, the inbox,
the worker) and the routers raise, each carrying its HTTP status, and the one handler that
turns any of them into a JSON `{"detail": ...}` answer. Nothing below the routers imports an
HTTP type; a new refusal is a subclass here, with its status."""

from __future__ import annotations

import errno
import json
from typing import Any, ClassVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

INPUT_ECHO = 200  # characters of a refused value echoed back


class ServiceError(Exception):
    """A refusal: `status` and `detail` (text, or a list of problems) of the JSON answer."""

    status: ClassVar[int] = 400

    def __init__(self, detail: str | list[dict], headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class ReportNotFound(ServiceError):
    status = 404

    def __init__(self, report_id: str) -> None:
        super().__init__(f"no report {report_id}")


class StoreNotInReport(ServiceError):
    status = 404

    def __init__(self, store_id: str, report_id: str) -> None:
        super().__init__(f"no store {store_id} in report {report_id}")


class ReportNotComplete(ServiceError):
    """Its CSV or page asked for while it is Running or after it Failed."""

    status = 409

    def __init__(self, report_id: str, status: str) -> None:
        super().__init__(f"report {report_id} is {status}")


class ReportRemoved(ServiceError):
    """The report's files were removed to bound the disk (or are being removed now)."""

    status = 410

    def __init__(self, report_id: str) -> None:
        super().__init__(f"report {report_id} was removed (--keep-reports)")


class InvalidRequest(ServiceError):
    """A request whose form is wrong (an upload's unknown or repeated field, no file)."""

    status = 422


class InvalidRows(ServiceError):
    """Rows that the staging SQL rejects; `problems` name the row (1 = first), field, reason."""

    status = 422

    def __init__(self, problems: list[dict]) -> None:
        super().__init__(problems)
        self.problems = problems


class ReportBeforeCut(ServiceError):
    """A report whose week would start before the retention cut (`--keep-polls-days`): the
    polls before it are archived, so the report could not be exact."""

    status = 422

    def __init__(self, report_at: object, cut: object, earliest: object) -> None:
        super().__init__(
            f"the week of a report as of {report_at} starts before the retention cut {cut}"
            f" (older polls are archived, --keep-polls-days): the earliest as_of is {earliest}"
        )


class StatusBeforeCut(ServiceError):
    """A status at an instant before the retention cut (`--keep-polls-days`): the polls before
    it are archived, so the status could not be exact. The detail is that of the other refused
    `at` of GET /status, a problem naming the query's `at`."""

    status = 422

    def __init__(self, text: str, at: object, cut: object) -> None:
        problem = {
            "loc": ("query", "at"),
            "msg": f"the status at {at} is before the retention cut {cut} (older polls are"
            f" archived, --keep-polls-days): the earliest at is {cut}",
            "type": "value_error",
            "input": text,
        }
        super().__init__(field_problems([problem]))


class InputShapeError(ServiceError):
    """A file or body that is not a table of the input's columns (the message names which)."""

    status = 422


class TooManyRows(ServiceError):
    """More rows in one request than `--max-rows` (413; nothing stored)."""

    status = 413

    def __init__(self, limit: int, label: str = "the request") -> None:
        super().__init__(f"{label} has more than {limit} rows, the limit (--max-rows)")


class TooManyReports(ServiceError):
    """The queue of reports waiting to run is full (`--max-queued-reports`)."""

    status = 429

    def __init__(self, queued: int, retry_after: int) -> None:
        super().__init__(
            f"{queued} reports are waiting to run (--max-queued-reports): try again in"
            f" {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class TooManyWrongTokens(ServiceError):
    """Too many wrong tokens at /login from one client address (routers/login.py, LoginGuard)."""

    status = 429

    def __init__(self, address: str, retry_after: int) -> None:
        super().__init__(
            f"too many wrong tokens from {address}: try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class DiskFull(ServiceError):
    """The home's disk is full: nothing of the request was stored."""

    status = 507

    def __init__(self) -> None:
        super().__init__("the disk of the service's home is full: nothing was stored")


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC (or a quota), from the OS or from DuckDB, which says it in its message."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left on device" in text or "Disk quota exceeded" in text


def _text(value: object) -> str:
    """Text that UTF-8 can carry: a lone surrogate (JSON can escape one) becomes '?'."""
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _echo(value: Any) -> Any:
    """A refused value as JSON, shortened; bytes (an unparsed body) as text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return _text(value[:INPUT_ECHO])
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError):  # not JSON, NaN, a lone surrogate
        return _text(str(value)[:INPUT_ECHO])
    return value if len(text) <= INPUT_ECHO else text[:INPUT_ECHO]


def field_problems(errors: list[dict]) -> list[dict]:
    """pydantic's errors as plain JSON: where, what, why, and (shortened) the value given."""
    return [
        {
            "loc": [
                part if isinstance(part, int) else _text(part) for part in error.get("loc", ())
            ],
            "msg": _text(error.get("msg", "")),
            "type": _text(error.get("type", "")),
            "input": _echo(error.get("input")),
        }
        for error in errors
    ]


def refusal(error: ServiceError) -> JSONResponse:
    return JSONResponse({"detail": error.detail}, error.status, headers=error.headers)


def add_exception_handlers(app) -> None:
    """Every refusal a JSON `detail` (docs/service.md, Bad requests); handlers that cannot
    fail."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_problems(list(error.errors()))}, 422)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return refusal(error)
