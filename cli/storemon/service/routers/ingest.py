"""Stores and polls in: /poll, /polls, /register_store, /upload (SPEC §10)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError

from storemon.service.core import Service, get_service
from storemon.service.schemas import Poll, Problems, Stored, StoreRegistration, UploadedFile
from storemon.service.validation import InputShapeError

router = APIRouter(tags=["ingest"])
INVALID = {422: {"model": Problems, "description": "a row has an invalid value; nothing stored"}}
POLLS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Poll"}}
        },
        "text/csv": {"schema": {"type": "string", "example": "store_id,status,timestamp_utc\n"}},
    },
}  # fmt: skip
UPLOAD_INPUTS = ("store_status", "menu_hours", "timezones")
ServiceDependency = Annotated[Service, Depends(get_service)]


@router.post("/poll", response_model=Stored, responses=INVALID)
def post_poll(poll: Poll, service: ServiceDependency) -> Stored:
    """Store one poll. The same poll twice (store, timestamp and status) is stored once."""
    return Stored(stored=service.store_polls([poll.model_dump()]))


@router.post(
    "/polls", response_model=Stored, responses=INVALID, openapi_extra={"requestBody": POLLS_BODY}
)
async def post_polls(request: Request, service: ServiceDependency) -> Stored:
    """Store a batch of polls: a JSON array, or a CSV body (`Content-Type: text/csv`) with the
    header of store_status.csv. All or nothing: one invalid row stores none."""
    body = await request.body()
    if request.headers.get("content-type", "").split(";")[0].strip() == "text/csv":
        return Stored(stored=await run_in_threadpool(service.store_polls_csv, body))
    try:
        polls = TypeAdapter(list[Poll]).validate_json(body)
    except ValidationError as error:
        raise HTTPException(
            422, detail=error.errors(include_url=False, include_context=False)
        ) from None
    return Stored(
        stored=await run_in_threadpool(service.store_polls, [p.model_dump() for p in polls])
    )


@router.post("/register_store", response_model=Stored, responses=INVALID)
def register_store(registration: StoreRegistration, service: ServiceDependency) -> Stored:
    """Set a store's zone and business hours to exactly these (no hours: open 24/7; no zone:
    America/Chicago). `stored` counts the hours rows."""
    return Stored(stored=service.register_store(registration))


@router.post("/upload", response_model=dict[str, UploadedFile])
def upload(
    service: ServiceDependency,
    store_status: UploadFile | None = None,
    menu_hours: UploadFile | None = None,
    timezones: UploadFile | None = None,
) -> dict[str, UploadedFile]:
    """Upload any of the three input files (CSV or Parquet). Bad rows are rejected row by row
    and counted; polls accumulate, a menu_hours file replaces the hours of every store it
    names, a timezones file their zones."""
    files = dict(zip(UPLOAD_INPUTS, (store_status, menu_hours, timezones), strict=True))
    files = {name: file for name, file in files.items() if file is not None}
    if not files:
        raise HTTPException(422, detail="no file: send store_status, menu_hours or timezones")
    answers = {}
    for name, file in files.items():
        if file.size is not None and file.size > service.settings.max_upload_bytes:
            raise HTTPException(413, detail=f"{name} is larger than the upload limit")
        saved = service.scratch_path(Path(file.filename or name).suffix)
        try:
            with saved.open("wb") as target:
                shutil.copyfileobj(file.file, target)
            answers[name] = service.store_file(name, saved, file.filename or name)
        except InputShapeError as error:
            raise HTTPException(422, detail=f"{name}: {error}") from None
        finally:
            saved.unlink(missing_ok=True)
    return answers
