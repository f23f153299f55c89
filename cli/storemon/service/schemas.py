"""Request and answer bodies. They check shape only (required fields, JSON types); what makes a
value valid is decided by the staging SQL (see validation.py). Field names are the CSV
inputs'; the seeds' names are accepted as aliases (docs/service.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)


def _unicode(text: str) -> str:
    """JSON may escape a lone surrogate (`"\\ud800"`), which is no text a database can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not Unicode text (a lone surrogate)") from None
    return text


def _text_of(value: str | int) -> str:
    return _unicode(str(value))


# docs/service.md, Bad requests: a store_id is a JSON string or integer, read as its text;
# `day` may be an integer too. Every other field is a JSON string. Unknown fields are refused,
# not dropped. The checks run after the union, so that an error's `loc` names the member
# plainly ("str").
Text = Annotated[StrictStr, AfterValidator(_unicode)]
StoreId = Annotated[StrictStr | StrictInt, AfterValidator(_text_of)]
Day = Annotated[
    StrictInt | StrictStr,
    AfterValidator(_text_of),
    Field(validation_alias=AliasChoices("day", "dayOfWeek"), description="0 = Monday … 6 = Sunday"),
]


# Times in answers are UTC without an offset (as the report CSV's clock): text, not RFC 3339.
UtcTime = Annotated[
    datetime, WithJsonSchema({"type": "string", "description": "UTC, ISO 8601 without offset"})
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Poll(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"store_id": "8419537941919820732", "status": "active",
         "timestamp_utc": "2023-01-22 12:09:39.388884 UTC"}
    ]})  # fmt: skip

    store_id: StoreId = Field(validation_alias=AliasChoices("store_id", "id"))
    status: Text
    timestamp_utc: Text = Field(validation_alias=AliasChoices("timestamp_utc", "utc_timestamp"))


class BusinessHours(Strict):
    day: Day
    start_time_local: Text
    end_time_local: Text


class StoreRegistration(Strict):
    """A store's zone and hours: `business_hours` (all of them), or the seeds' flat form, one
    day per call (`day`, `start_time_local`, `end_time_local`: that day's hours)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"store_id": "8419537941919820732", "timezone_str": "America/New_York",
         "business_hours": [{"day": 0, "start_time_local": "09:00",
                             "end_time_local": "17:00"}]},
        {"store_id": "8419537941919820732", "timezone_str": "America/New_York",
         "day": 0, "start_time_local": "09:00:00", "end_time_local": "17:00:00"},
    ]})  # fmt: skip

    store_id: StoreId = Field(validation_alias=AliasChoices("store_id", "id"))
    timezone_str: Text = Field(
        default=None,
        validation_alias=AliasChoices("timezone_str", "local_timezone"),
        description="IANA zone; none: America/Chicago (flat form: the stored zone kept)",
    )
    business_hours: list[BusinessHours] = Field(
        default=None, description="all the store's hours; [] or none: open 24/7"
    )
    day: Day = None
    start_time_local: Text = Field(default=None, description="flat form")
    end_time_local: Text = Field(default=None, description="flat form")

    @model_validator(mode="after")
    def one_form(self) -> StoreRegistration:
        flat = {"day": self.day, "start_time_local": self.start_time_local,
                "end_time_local": self.end_time_local}  # fmt: skip
        given = [name for name, value in flat.items() if value is not None]
        if given and self.business_hours is not None:
            raise ValueError(f"business_hours and {', '.join(given)}: send one form, not both")
        if given and len(given) < len(flat):
            missing = [name for name in flat if name not in given]
            raise ValueError(f"the flat form needs {', '.join(missing)} too")
        return self

    @property
    def flat_hours(self) -> BusinessHours | None:
        """The one day of the flat form, or None for the business_hours form."""
        if self.day is None:
            return None
        return BusinessHours(
            day=self.day, start_time_local=self.start_time_local, end_time_local=self.end_time_local
        )


class ReportRequest(Strict):
    as_of: Text = Field(
        default=None, description="report time, in any timestamp_utc form; none: the latest poll"
    )
    interpolation: Literal["nearest", "previous"] = "nearest"


class Stored(BaseModel):
    stored: int = Field(description="rows of the request now stored")


class RejectedRow(BaseModel):
    row: int = Field(description="1 = the first row of the request or the first data row")
    field: str | None
    reason: str
    values: str | None = Field(default=None, description="the row as received, as JSON")


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="where: body, row index, field")
    msg: str
    type: str
    input: Any = Field(default=None, description="the value given, shortened")


class Refusal(BaseModel):
    """Every 4xx answer (docs/service.md, Bad requests)."""

    detail: str | list[RejectedRow | FieldProblem] = Field(
        description="the reason; for a refused request body, its problems"
    )


class ServerError(BaseModel):
    detail: str
    request_id: str = Field(description="also in the server's log")


class UploadedFile(BaseModel):
    rows_read: int
    stored: int
    rejected: int
    first_rejected: list[RejectedRow] = Field(description="up to 10, in file order")


class ReportCreated(BaseModel):
    report_id: str


class Report(BaseModel):
    report_id: str
    status: Literal["Running", "Complete", "Failed"]
    interpolation: str
    requested_at: UtcTime
    finished_at: UtcTime | None = None
    url: str | None = Field(default=None, description="the CSV, when Complete")
    as_of: UtcTime | None = Field(default=None, description="the report time, when Complete")
    stores: int | None = None
    rejected_rows: int | None = None
    seconds: float | None = None
    error: str | None = Field(default=None, description="why, when Failed")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = "ok"
    reasons: list[str] | None = Field(
        default=None, description="when degraded: what and why (docs/operating.md, Signals)"
    )


class DeliveryAttempt(BaseModel):
    attempt: int = Field(description="1 = the first try")
    attempted_at: UtcTime
    status_code: int | None = Field(description="the receiver's HTTP status; null: no answer")
    error: str | None = Field(description="why it failed; null when delivered")
    seconds: float = Field(description="how long the try took")


class IncidentDelivery(BaseModel):
    delivery_id: str = Field(description="also the webhook-id of every try")
    receiver: Literal["webhook", "alertmanager"]
    change: Literal["opened", "resolved"] = Field(description="which change it carries")
    status: Literal["pending", "delivered"]
    attempts: int = Field(description="tries so far")
    created_at: UtcTime
    delivered_at: UtcTime | None = None
    next_attempt_at: UtcTime | None = Field(
        default=None, description="when the next try is due, while pending"
    )
    last_error: str | None = None
    last_attempts: list[DeliveryAttempt] = Field(description="the latest tries, up to 10")


class Incident(BaseModel):
    incident_id: str
    store_id: str
    state: Literal["down", "silent"] = Field(description="the store's state when it opened")
    started_at: UtcTime = Field(description="when the incident opened")
    reason: str = Field(description="why it opened")
    resolved_at: UtcTime | None = Field(default=None, description="null while open")
    resolution: Literal["up", "closed"] | None = Field(
        default=None, description="why it resolved: the store is up, or closed"
    )
    deliveries: list[IncidentDelivery] = Field(description="to each receiver, oldest first")


class StoreStatus(BaseModel):
    """A store's row of store_status_now (docs/status.md), as `storemon status --format json`
    writes it: instants in ISO 8601 UTC with `Z`."""

    store_id: str
    state: Literal["up", "down", "silent", "closed"]
    is_open: bool
    last_poll_at: str | None = Field(description="the latest poll at or before the instant")
    last_status: Literal["active", "inactive"] | None
    state_since: str | None = Field(description="up, down: the run's first poll; silent: when")
    closes_at: str | None = Field(description="open: when it closes (within 9 days)")
    opens_at: str | None = Field(description="closed: when it opens next")


class StateCounts(BaseModel):
    down: int
    silent: int
    up: int
    closed: int


class StatusAnswer(BaseModel):
    status_at: str | None = Field(description="the instant the rows describe (UTC, with Z)")
    silent_after_minutes: int
    counts: StateCounts = Field(description="stores per state, of the whole fleet")
    stores: list[StoreStatus] = Field(description="the stores asked for, by store_id")
