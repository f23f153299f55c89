"""The service's state and what the routers ask of it: settings, the home folder, the inbox, the
report worker, and the dependencies that hand them (and check the token) per request."""

from __future__ import annotations

import asyncio
import fcntl
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from fastapi import Request
from fastapi.security import HTTPBearer

from storemon.project import eprint
from storemon.service.alerts import Alerts
from storemon.service.alerts.incidents import Rules
from storemon.service.batcher import PollBatcher
from storemon.service.errors import (
    DiskFull,
    InvalidRows,
    ReportNotFound,
    ReportRemoved,
    ServiceError,
    TooManyReports,
    is_disk_full,
)
from storemon.service.health import DiskWatch
from storemon.service.history import ReportHistory
from storemon.service.inbox import Inbox
from storemon.service.live import LiveStatus, StatusRow
from storemon.service.retention import Retention, compact_inbox
from storemon.service.schemas import StoreRegistration, UploadedFile
from storemon.service.validation import columns_of, file_to_table, rows_to_table
from storemon.service.worker import ReportJob, ReportWorker

REPORT_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Settings:
    home: Path
    token: str | None = None
    keep_reports: int = 50
    max_upload_mb: int = 512
    max_queued_reports: int = 20
    # Rows in one request (a batch, a CSV body, each uploaded file); more answer 413.
    max_rows: int = 1_000_000
    # Seconds without a byte of a body that is still arriving; then 408.
    body_timeout: float | None = 30
    # Report and store pages rendered at once (off the event loop); more wait their turn.
    page_threads: int = 2
    # An open store whose last poll is older than this is silent (docs/service.md).
    silent_after_minutes: int = 120
    # The live status's clock (naive UTC); None: the system's. The tests set their own.
    clock: Callable[[], datetime] | None = None
    # Alerts (docs/alerts.md): the receivers and the incident rules.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    alertmanager_url: str | None = None
    alert_after_polls: int = 2
    alert_on_silent: bool = False
    alert_timeout: float = 10.0
    alertmanager_resend_seconds: float = 60.0
    # Days of polls the inbox keeps before the older ones are archived (docs/operating.md,
    # Retention); None: every poll stays in the inbox.
    keep_polls_days: int | None = None

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


class HomeInUse(Exception):
    """Another server holds the home folder."""


def lock_home(home: Path) -> IO:
    """Hold `<home>/serve.lock` for the life of the process (the OS drops it however the
    process ends); a second server on the same home fails at once."""
    home.mkdir(parents=True, exist_ok=True)
    handle = (home / "serve.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise HomeInUse(f"{home} is in use by another storemon serve") from None
    return handle


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.lock = lock_home(self.home)
        if (compacted := compact_inbox(self.home / "inbox.duckdb")) is not None:
            eprint(compacted)
        self.inbox = Inbox(self.home / "inbox.duckdb")
        self.history = ReportHistory(self.inbox)
        self.history.fail_interrupted()
        self.disk = DiskWatch(self.home)
        self.retention = Retention(self.inbox, self.home, settings.keep_polls_days, self.disk)
        self.worker = ReportWorker(
            self.inbox, self.history, self.home, settings.keep_reports, self.disk
        )
        self.batcher = PollBatcher(self.inbox)
        self.trigger_lock = threading.Lock()
        self.live = LiveStatus(self.inbox, settings.silent_after_minutes, settings.clock)
        self.alerts = Alerts(
            self.inbox,
            Rules(settings.alert_after_polls, settings.alert_on_silent),
            webhook_url=settings.webhook_url,
            webhook_secret=settings.webhook_secret,
            alertmanager_url=settings.alertmanager_url,
            timeout=settings.alert_timeout,
            resend_seconds=settings.alertmanager_resend_seconds,
        )

    def start(self) -> None:
        self.worker.start()
        assert self.worker.status_plan is not None
        # The alerts hear every evaluation, the first after start-up included.
        self.alerts.start()
        self.live.subscribe(self.alerts.listen)
        self.live.start(self.worker.status_plan, self.worker.polls_shape)
        self.batcher.start()
        self.retention.start()

    def close(self) -> None:
        """Stop at once: the waiting reports are left for the next start to mark, the running
        one gets a few seconds (docs/operating.md, Stopping)."""
        self.retention.stop()
        self.live.stop()
        self.alerts.stop()
        self.batcher.stop()
        self.worker.stop()
        self.inbox.close()
        self.lock.close()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A block that writes to the home: a full disk refuses it (DiskFull, 507; the
        transaction rolled back, so nothing stored) and is remembered for /health."""
        try:
            yield
        except ServiceError:
            raise
        except Exception as error:
            if not is_disk_full(error):
                raise
            self.disk.failed(error)
            raise DiskFull() from None
        self.disk.ok()

    def degraded(self) -> list[str]:
        """Why the service is degraded (docs/operating.md, Signals); empty when it is fine."""
        reasons = self.disk.reasons() + self.retention.reasons()
        try:
            with closing(self.inbox.cursor()) as cursor:
                cursor.execute("select count(*) from reports").fetchone()
        except Exception as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            reasons.append(f"inbox: cannot be read ({first})")
        if not self.worker.alive():
            reasons.append("reports: the report worker has stopped")
        if self.worker.unrecorded:
            reasons.append(
                f"reports: {len(self.worker.unrecorded)} report outcomes wait to be written"
                " to the history"
            )
        return reasons

    def scratch_path(self, suffix: str = "") -> Path:
        folder = self.home / "work" / "scratch"
        folder.mkdir(parents=True, exist_ok=True)
        # A request never names a path: only a plain extension of the client's file name.
        extension = suffix if re.fullmatch(r"\.\w{1,10}", suffix) else ""
        return folder / f"{uuid.uuid4().hex}{extension}"

    # ------------------------------------------------------------------ ingestion
    async def store_polls(self, polls: list[dict]) -> int:
        """Store JSON polls (all, or none when one is invalid); awaited on the event loop, so
        that a poll costs no hop to a worker thread and back."""
        with self.writing():
            return await asyncio.wrap_future(self.batcher.submit(polls))

    def store_polls_csv(self, body: bytes) -> int:
        """A CSV batch: all or nothing, like a JSON one."""
        source = self.scratch_path(".csv")
        with self.writing():
            return self._store_polls_csv(source, body)

    def _store_polls_csv(self, source: Path, body: bytes) -> int:
        try:
            source.write_bytes(body)
            with closing(self.inbox.cursor()) as cursor:
                file_to_table(cursor, "store_status", source, "request_csv", "the CSV body",
                              self.settings.max_rows)  # fmt: skip
                staged = self.inbox.stage(cursor, "store_status", "request_csv")
                if staged.rejected:
                    raise InvalidRows(staged.first_rejected)
                return self.inbox.add_polls(cursor, staged)
        finally:
            source.unlink(missing_ok=True)

    def store_poll_chunks(self, chunks: Iterable[list[dict]]) -> int:
        """A large JSON batch, validated chunk by chunk as it is parsed (`chunks`), each chunk
        appended to a temporary table, so that memory holds one chunk of Python objects at a
        time; then staged and stored all or nothing, like a CSV batch."""
        raw = "request_json"
        names = columns_of("store_status")
        columns = ", ".join(f'"{name}" varchar' for name in names)
        selects = ", ".join(f"unnest(${i + 1}::varchar[])" for i in range(len(names)))
        numbers = f"unnest(${len(names) + 1}::bigint[])"
        with closing(self.inbox.cursor()) as cursor, self.writing():
            cursor.execute(
                f"create or replace temp table {raw} ({columns}, file_row_number bigint)"
            )
            first = 0
            for chunk in chunks:
                values = [[row.get(name) for row in chunk] for name in names]
                values.append(list(range(first, first + len(chunk))))
                cursor.execute(f"insert into {raw} select {selects}, {numbers}", values)
                first += len(chunk)
            staged = self.inbox.stage(cursor, "store_status", raw)
            if staged.rejected:
                raise InvalidRows(staged.first_rejected)
            return self.inbox.add_polls(cursor, staged)

    def register_store(self, registration: StoreRegistration) -> int:
        store = {"store_id": registration.store_id}
        flat = registration.flat_hours
        rows = [flat] if flat is not None else registration.business_hours or []
        hours = [{**store, **row.model_dump()} for row in rows]
        # The store's id is checked as part of a zone row even when no zone is given; an
        # empty zone given is checked as it is (an invalid timezone, as in a file).
        given = registration.timezone_str
        zone = {**store, "timezone_str": "UTC" if given is None else given}
        with closing(self.inbox.cursor()) as cursor, self.writing():
            staged_zone = self.inbox.stage_rows(cursor, "timezones", [zone])
            staged_hours = self.inbox.stage_rows(cursor, "menu_hours", hours)
            store_id = cursor.execute(
                f"select store_id from {staged_zone.staged_table}"
            ).fetchone()[0]
            register = self.inbox.register if flat is None else self.inbox.register_day
            return register(
                cursor, store_id, staged_hours, staged_zone if given is not None else None
            )

    def store_upload(
        self, sources: dict[str, Path], labels: dict[str, str]
    ) -> dict[str, UploadedFile]:
        """Uploaded files: every one read and staged first (an unreadable one refuses them
        all), then all stored in one transaction."""
        with closing(self.inbox.cursor()) as cursor, self.writing():
            staged = {}
            for name, source in sources.items():
                file_to_table(cursor, name, source, f"upload_{name}", labels[name],
                              self.settings.max_rows)  # fmt: skip
                staged[name] = self.inbox.stage(cursor, name, f"upload_{name}")
            self.inbox.store_files(cursor, staged)
        return {
            name: UploadedFile(
                rows_read=batch.read,
                stored=batch.read - batch.rejected,
                rejected=batch.rejected,
                first_rejected=batch.first_rejected,
            )
            for name, batch in staged.items()
        }

    # ------------------------------------------------------------------ reports
    def trigger_report(self, as_of: str | None, interpolation: str) -> str:
        """Queue a report, or answer the id of a waiting one that would be the same (same
        report time and interpolation, nothing stored since); refused when the queue is full."""
        report_at = self._parse_as_of(as_of) if as_of is not None else None
        with self.trigger_lock:
            snapshot = self.inbox.cursor()
            try:
                job = self._queue_report(snapshot, report_at, as_of, interpolation)
            except BaseException:
                snapshot.close()
                raise
            if job.snapshot is not snapshot:  # shared with a waiting report
                snapshot.close()
            else:
                self.worker.submit(job)
            return job.report_id

    def _queue_report(self, snapshot, report_at, as_of: str | None, interpolation: str):
        # No write commits while the inbox's write count is read and the snapshot taken.
        with self.inbox.write_lock:
            key = (report_at, interpolation, self.inbox.generation)
            hours_generation = self.inbox.hours_generation
            shared = self.worker.waiting_report(key)
            if shared is not None:
                return ReportJob(shared, None, report_at, as_of, interpolation, key)
            queued = self.worker.queued()
            if queued >= self.settings.max_queued_reports:
                raise TooManyReports(queued, self._retry_after())
            # The report sees exactly what was committed before this answer: a transaction's
            # snapshot is fixed by its first read, here, not when the worker gets to it.
            snapshot.execute("begin transaction")
            snapshot.execute("select count(*) from polls").fetchall()
        # Refused, nothing stored, when its week starts before the retention cut.
        self.retention.check_report(snapshot, report_at)
        report_id = uuid.uuid4().hex
        with self.writing():
            self.history.add_report(report_id, as_of, interpolation)
        return ReportJob(
            report_id, snapshot, report_at, as_of, interpolation, key, hours_generation
        )

    def _retry_after(self) -> int:
        """Seconds until a place in the queue is likely free: about one report's time."""
        seconds = self.history.report_seconds()
        typical = sum(seconds) / len(seconds) if seconds else 1.0
        return max(1, min(3600, math.ceil(typical)))

    def status_rows_at(self, at: datetime, text: str) -> list[StatusRow]:
        """Every store's status row at an explicit instant; refused (StatusBeforeCut, nothing
        evaluated) before the retention cut (`text`: the instant as asked)."""
        return self.live.rows_at(at, lambda cursor: self.retention.check_status(cursor, at, text))

    def parse_instant(self, text: str) -> datetime | None:
        """An instant in any timestamp form of the inputs, read by the staging SQL as a poll's
        timestamp would be (any distance from the clock); None when it is not one."""
        row = {"store_id": "at", "status": "active", "timestamp_utc": text}
        with closing(self.inbox.cursor()) as cursor:
            rows_to_table(cursor, "store_status", [row], "request_instant")
            staged = self.inbox.stage(cursor, "store_status", "request_instant", counted=False)
            return cursor.execute(f"select polled_at from {staged.staged_table}").fetchone()[0]

    def _parse_as_of(self, as_of: str):
        """The report time, parsed and checked by the staging SQL as a poll's timestamp would be
        (so a time over a day after the server's clock is `timestamp in the future`)."""
        row = {"store_id": "as_of", "status": "active", "timestamp_utc": as_of}
        with closing(self.inbox.cursor()) as cursor:
            try:
                staged = self.inbox.stage_rows(cursor, "store_status", [row], counted=False)
            except InvalidRows as error:
                reason = error.problems[0]["reason"].replace("timestamp_utc", "as_of")
                problem = {"row": 1, "field": "as_of", "reason": reason, "values": as_of}
                raise InvalidRows([problem]) from None
            return cursor.execute(f"select polled_at from {staged.staged_table}").fetchone()[0]

    def report(self, report_id: str) -> dict:
        """The history row of a report; 404 when unknown, 410 when its files were removed."""
        found = self.history.report(report_id) if REPORT_ID.fullmatch(report_id) else None
        if found is None:
            raise ReportNotFound(report_id)
        if found["files_removed"]:
            raise ReportRemoved(report_id)
        return found

    def latest_complete_report(self) -> str | None:
        """The newest Complete report whose files are kept, for links to store pages."""
        with closing(self.inbox.cursor()) as cursor:
            found = cursor.execute(
                "select report_id from reports where status = 'Complete' and not files_removed"
                " order by requested_at desc, report_id desc limit 1"
            ).fetchone()
        return found[0] if found else None

    def report_file(self, report_id: str, name: str) -> Path:
        return self.worker.reports_folder(report_id) / name


async def get_service(request: Request) -> Service:
    # async: FastAPI would run a plain function in a worker thread, for every request.
    return request.app.state.service


# Declares the Bearer scheme in the OpenAPI schema (the check itself runs in edges.RequestGate,
# before any body is read).
bearer = HTTPBearer(auto_error=False, description="the token given to `storemon serve --token`")
