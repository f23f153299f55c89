"""The history of the reports: one row per report in the inbox's file (`reports`), from its
trigger to its end, kept after its files are removed (--keep-reports). It shares the inbox's
connection and its one-writer lock."""

from __future__ import annotations

from contextlib import closing

from storemon.service.inbox import Inbox

SCHEMA = """
create table if not exists reports (
    report_id varchar primary key,
    requested_at timestamp not null,
    started_at timestamp,
    finished_at timestamp,
    as_of varchar,
    report_at timestamp,
    interpolation varchar not null,
    status varchar not null,
    stores bigint,
    rejected_rows bigint,
    seconds double,
    error varchar,
    files_removed boolean not null default false
);
"""


# The error of a report that was still waiting for its turn when the server stopped.
NOT_STARTED = "interrupted before it started (the server stopped): trigger it again"


class ReportHistory:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        with inbox.write_lock:
            inbox.connection.execute(SCHEMA)

    def report_seconds(self) -> list[float]:
        """How long each finished report took (complete or failed)."""
        with closing(self.inbox.cursor()) as cursor:
            rows = cursor.execute(
                "select seconds from reports where seconds is not null and status != 'Running'"
            ).fetchall()
        return [seconds for (seconds,) in rows]

    def add_report(self, report_id: str, as_of: str | None, interpolation: str) -> None:
        with self.inbox.write_lock:
            self.inbox.connection.execute(
                "insert into reports (report_id, requested_at, as_of, interpolation, status)"
                " values ($1, now()::timestamp, $2, $3, 'Running')",
                [report_id, as_of, interpolation],
            )

    def update_report(self, report_id: str, **values: object) -> None:
        columns = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(values))
        with self.inbox.write_lock:
            cursor = self.inbox.cursor()
            cursor.execute(
                f"update reports set {columns} where report_id = $1",
                [report_id, *values.values()],
            )

    def report(self, report_id: str) -> dict | None:
        found = self.reports(report_id)
        return found[0] if found else None

    def reports(self, report_id: str | None = None) -> list[dict]:
        cursor = self.inbox.cursor()
        result = cursor.execute(
            "select * from reports where $1 is null or report_id = $1"
            " order by requested_at desc, report_id desc",
            [report_id],
        )
        names = [column[0] for column in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def fail_interrupted(self) -> None:
        """Reports that were running or waiting when the server stopped cannot finish: their
        snapshot (what was stored before their trigger) is gone. Each says which it was."""
        with self.inbox.write_lock:
            self.inbox.connection.execute(
                "update reports set status = 'Failed', finished_at = now()::timestamp,"
                " error = case when started_at is null then $1 else 'interrupted' end"
                " where status = 'Running'",
                [NOT_STARTED],
            )
