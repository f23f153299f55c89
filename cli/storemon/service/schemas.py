"""Request and answer bodies. They check shape only (required fields, JSON types); what makes a
value valid is decided by the staging SQL (see validation.py). Field names are the CSV
inputs'; the seeds' names are accepted as aliases (SPEC §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

Text = str | int | float | None


def _as_text(value: Text) -> str | None:
    return None if value is None else str(value)


class Poll(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"store_id": "8419537941919820732", "status": "active",
         "timestamp_utc": "2023-01-22 12:09:39.388884 UTC"}
    ]})  # fmt: skip

    store_id: str | None = Field(validation_alias=AliasChoices("store_id", "id"))
    status: str | None
    timestamp_utc: str | None = Field(
        validation_alias=AliasChoices("timestamp_utc", "utc_timestamp")
    )

    _text = field_validator("store_id", "status", "timestamp_utc", mode="before")(_as_text)


class BusinessHours(BaseModel):
    day: str | None = Field(
        validation_alias=AliasChoices("day", "dayOfWeek"), description="0 = Monday … 6 = Sunday"
    )
    start_time_local: str | None
    end_time_local: str | None

    _text = field_validator("day", "start_time_local", "end_time_local", mode="before")(_as_text)


class StoreRegistration(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"store_id": "8419537941919820732", "timezone_str": "America/New_York",
         "business_hours": [{"day": 0, "start_time_local": "09:00",
                             "end_time_local": "17:00"}]}
    ]})  # fmt: skip

    store_id: str | None = Field(validation_alias=AliasChoices("store_id", "id"))
    timezone_str: str | None = Field(
        default=None,
        validation_alias=AliasChoices("timezone_str", "local_timezone"),
        description="IANA zone; none: America/Chicago",
    )
    business_hours: list[BusinessHours] = Field(default_factory=list, description="none: open 24/7")

    _text = field_validator("store_id", "timezone_str", mode="before")(_as_text)


class ReportRequest(BaseModel):
    as_of: str | None = Field(
        default=None, description="report time (SPEC §1 forms); none: the latest poll"
    )
    interpolation: Literal["nearest", "previous"] = "nearest"


class Stored(BaseModel):
    stored: int = Field(description="rows of the request now stored")


class RejectedRow(BaseModel):
    row: int = Field(description="1 = the first row of the request or the first data row")
    field: str | None
    reason: str
    values: str | None = Field(default=None, description="the row as received, as JSON")


class Problems(BaseModel):
    detail: list[RejectedRow]


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
    requested_at: datetime
    finished_at: datetime | None = None
    url: str | None = Field(default=None, description="the CSV, when Complete")
    as_of: datetime | None = Field(default=None, description="the report time, when Complete")
    stores: int | None = None
    rejected_rows: int | None = None
    seconds: float | None = None
    error: str | None = Field(default=None, description="why, when Failed")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
