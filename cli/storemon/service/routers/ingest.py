"""Stores and polls in: /poll, /polls, /register_store, /upload (docs/service.md, Endpoints)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from storemon.service.core import Service, get_service
from storemon.service.errors import InvalidRequest, TooManyRows
from storemon.service.schemas import Poll, Refusal, Stored, StoreRegistration, UploadedFile

router = APIRouter(tags=["ingest"])
INVALID = {
    413: {"model": Refusal, "description": "body over --max-upload-mb or rows over --max-rows"},
    422: {"model": Refusal, "description": "an invalid value or shape; nothing stored"},
    507: {"model": Refusal, "description": "the home's disk is full; nothing stored"},
}
POLLS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Poll"}}
        },
        "text/csv": {"schema": {"type": "string", "example": "store_id,status,timestamp_utc\n"}},
    },
}  # fmt: skip
POLL_LIST = TypeAdapter(list[Poll])
POLL = TypeAdapter(Poll)
# A JSON batch larger than this is parsed and stored in chunks of CHUNK_ROWS polls.
SMALL_BATCH_BYTES = 1024 * 1024
CHUNK_ROWS = 20_000
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
UPLOAD_INPUTS = ("store_status", "menu_hours", "timezones")
ServiceDependency = Annotated[Service, Depends(get_service)]


@router.post("/poll", response_model=Stored, responses=INVALID)
async def post_poll(poll: Poll, service: ServiceDependency) -> Stored:
    """Store one poll. The same poll twice (store, timestamp and status) is stored once."""
    return Stored(stored=await service.store_polls([poll.model_dump()]))


@router.post(
    "/polls", response_model=Stored, responses=INVALID, openapi_extra={"requestBody": POLLS_BODY}
)
async def post_polls(request: Request, service: ServiceDependency) -> Stored:
    """Store a batch of polls: a JSON array, or a CSV body (`Content-Type: text/csv`) with the
    header of store_status.csv. All or nothing: one invalid row stores none."""
    body = await request.body()
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "text/csv":
        return Stored(stored=await run_in_threadpool(service.store_polls_csv, body))
    if len(body) > SMALL_BATCH_BYTES:
        return Stored(stored=await run_in_threadpool(_store_large_batch, service, body))
    polls = _validated(body)
    if len(polls) > service.settings.max_rows:
        raise TooManyRows(service.settings.max_rows)
    return Stored(stored=await service.store_polls([p.model_dump() for p in polls]))


def _validated(body: bytes) -> list[Poll]:
    try:
        return POLL_LIST.validate_json(body)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        raise RequestValidationError(errors) from None


def _store_large_batch(service: Service, body: bytes) -> int:
    """A JSON batch parsed one poll at a time and stored in chunks: pydantic validating the
    whole array at once held about twenty times the body in memory. Each poll is validated
    by the same model, from its own JSON text, so the answer is the same; a body that is not
    a JSON array of objects is left to the whole-array path, which says what is wrong."""
    max_rows = service.settings.max_rows
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        _validated(body)  # raises the same 422 as a small body
        raise

    def chunks() -> Iterator[list[dict]]:
        chunk: list[dict] = []
        problems: list[dict] = []
        for index, (start, end) in enumerate(_array_items(text)):
            if index == max_rows:
                raise TooManyRows(max_rows)
            try:
                chunk.append(POLL.validate_json(text[start:end]).model_dump())
            except ValidationError as error:
                problems += [{**e, "loc": ("body", index, *e["loc"])} for e in error.errors()]
            if len(chunk) + len(problems) == CHUNK_ROWS:
                if problems:
                    raise RequestValidationError(problems)
                yield chunk
                chunk = []
        if problems:
            raise RequestValidationError(problems)
        yield chunk

    try:
        return service.store_poll_chunks(chunks())
    except NotAnArray:
        _validated(body)  # raises the same 422 as a small body
        raise


class NotAnArray(ValueError):
    """A body that is not a JSON array of objects."""


def _array_items(text: str) -> Iterator[tuple[int, int]]:
    """The (start, end) of each item of the JSON array `text`, as they are found; NotAnArray
    when it is no array of objects."""
    position = _WHITESPACE.match(text, 0).end()
    if not text.startswith("[", position):
        raise NotAnArray("not an array")
    position = _WHITESPACE.match(text, position + 1).end()
    closed = text.startswith("]", position)
    while not closed:
        if not text.startswith("{", position):
            raise NotAnArray("not an object")
        try:
            _, end = _DECODER.raw_decode(text, position)
        except ValueError:
            raise NotAnArray("invalid JSON") from None
        yield position, end
        position = _WHITESPACE.match(text, end).end()
        if text.startswith(",", position):
            position = _WHITESPACE.match(text, position + 1).end()
        elif text.startswith("]", position):
            closed = True
        else:
            raise NotAnArray("no comma")
    if _WHITESPACE.match(text, position + 1).end() != len(text):
        raise NotAnArray("text after the array")


@router.post("/register_store", response_model=Stored, responses=INVALID)
def register_store(registration: StoreRegistration, service: ServiceDependency) -> Stored:
    """Set a store's zone and business hours to exactly these (no hours: open 24/7; no zone:
    America/Chicago); or, in the seeds' flat form, one day's hours (other days kept) and the
    zone when given. `stored` counts the hours rows."""
    return Stored(stored=service.register_store(registration))


@router.post("/upload", response_model=dict[str, UploadedFile], responses=INVALID)
async def upload(
    request: Request,
    service: ServiceDependency,
    store_status: UploadFile | None = None,
    menu_hours: UploadFile | None = None,
    timezones: UploadFile | None = None,
) -> dict[str, UploadedFile]:
    """Upload any of the three input files (CSV or Parquet), all stored or none. Bad rows are
    rejected row by row and counted; polls accumulate, a menu_hours file replaces the hours
    of every store it names, a timezones file their zones."""
    form = await request.form()
    unknown = sorted(set(form) - set(UPLOAD_INPUTS))
    twice = sorted(name for name in UPLOAD_INPUTS if len(form.getlist(name)) > 1)
    if unknown or twice:
        problems = [f"unknown field {name}" for name in unknown]
        problems += [f"field {name} sent more than once" for name in twice]
        raise InvalidRequest("; ".join(problems) + f" (send {', '.join(UPLOAD_INPUTS)})")
    files = dict(zip(UPLOAD_INPUTS, (store_status, menu_hours, timezones), strict=True))
    files = {name: file for name, file in files.items() if file is not None}
    if not files:
        raise InvalidRequest("no file: send store_status, menu_hours or timezones")
    return await run_in_threadpool(_store_upload, service, files)


def _store_upload(service: Service, files: dict[str, UploadFile]) -> dict[str, UploadedFile]:
    saved = {}
    try:
        with service.writing():
            return _save_and_store(service, files, saved)
    finally:
        for path in saved.values():
            path.unlink(missing_ok=True)


def _save_and_store(
    service: Service, files: dict[str, UploadFile], saved: dict[str, Path]
) -> dict[str, UploadedFile]:
    """The uploaded files saved in the home's scratch folder (`saved`, removed by the caller),
    then stored."""
    for name, file in files.items():
        path = saved[name] = service.scratch_path(Path(file.filename or name).suffix)
        with path.open("wb") as target:
            shutil.copyfileobj(file.file, target)
    labels = {name: f"{name} ({file.filename})" if file.filename else name
              for name, file in files.items()}  # fmt: skip
    return service.store_upload(saved, labels)
