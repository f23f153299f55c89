"""The report worker: one thread that does all of the service's dbt work, in trigger order.

dbt's in-process runner is not made for concurrent invocations, so one thread owns it: at
start-up it compiles the staging models (the SQL that validates received rows), then it runs
one report at a time. Every report builds into the same database path in `<home>/work/`
before its files move into the report's own folder. The export's plan recorded by the home's
first report (see storemon/plan.py) is kept in the home, not in the user's cache: a home is
whole by itself (moved, backed up, served by a user with no cache folder), and its plan serves
every later report, without dbt.

A report's polls were parsed by the staging SQL when they arrived: the plan's
`stg_store_status` is created from those stored values rather than by parsing their text
again. The text still goes to the report's input file, which the home's first report (dbt)
parses and whose rows the invariant `assert_rows_read_are_accepted_or_rejected` counts as the
rows read: for a service report, the polls of its snapshot.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from storemon import plan
from storemon.export import Inputs, export
from storemon.project import run_dbt
from storemon.service.inbox import SNAPSHOT_HOURS, SNAPSHOT_POLLS, SNAPSHOT_TIMEZONES, Inbox
from storemon.service.live import PLAN_CATALOG
from storemon.service.validation import (
    FUTURE_LIMIT_HOURS,
    STAGING_MODELS,
    Validator,
    rows_to_table,
    write_placeholder,
)

REPORT_CSV = "report.csv"
REPORT_DB = "report.duckdb"
# The stored values of a report's polls (their text goes to the report's store_status.parquet),
# in the worker's folder: read by the report, then overwritten by the next.
PARSED_POLLS = "store_status.parsed.parquet"
# Columns of stg_store_status that a stored poll has (source_file is the input's path; the
# others are NULL: a stored poll was accepted).
STORED_COLUMNS = ("source_row_number", "store_id", "polled_at", "is_active")


@dataclass
class ReportJob:
    report_id: str
    snapshot: duckdb.DuckDBPyConnection  # a transaction opened when the report was triggered
    report_at: object  # the parsed as_of, or None for the latest poll
    as_of: str | None
    interpolation: str


class ReportWorker:
    def __init__(self, inbox: Inbox, home: Path, keep_reports: int) -> None:
        self.inbox = inbox
        self.home = home
        self.keep_reports = keep_reports
        self.work = home / "work"
        self.jobs: queue.Queue[ReportJob | None] = queue.Queue()
        self.ready = threading.Event()
        self.polls_shape: list[tuple[str, str]] = []  # stg_store_status's (column, type)
        self.status_plan: dict | None = None  # store_status_now's, for the live status
        self.startup_error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="storemon-reports", daemon=True)

    def start(self, timeout: float = 300) -> None:
        self.thread.start()
        if not self.ready.wait(timeout) or self.startup_error:
            raise RuntimeError(f"the report worker could not start: {self.startup_error}")

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=600)

    def submit(self, job: ReportJob) -> None:
        self.jobs.put(job)

    def reports_folder(self, report_id: str) -> Path:
        return self.home / "reports" / report_id

    def _run(self) -> None:
        try:
            self.inbox.validator = self._compile_validation()
            self.polls_shape = self._staged_shape("store_status")
        except BaseException as error:  # reported by start()
            self.startup_error = error
            return
        finally:
            self.ready.set()
        while (job := self.jobs.get()) is not None:
            self._report(job)

    def _compile_validation(self) -> Validator:
        """The staging SQL that validates received rows, compiled by dbt over placeholder
        inputs; and the live status's plan of store_status_now (see live.py), recorded by the
        same dbt invocation when this home has none for this version of the project: one dbt
        start-up either way."""
        placeholders = {name: self.work / "inputs" / f"{name}.parquet" for name in STAGING_MODELS}
        for name, path in placeholders.items():
            write_placeholder(path, name)
        state = self.work / "report.dbt"
        settings = {
            "status_path": str(placeholders["store_status"]),
            "hours_path": str(placeholders["menu_hours"]),
            "timezones_path": str(placeholders["timezones"]),
            "future_limit_hours": str(FUTURE_LIMIT_HOURS),
        }
        plans = self.work / "status.dbt"
        key = plan.plan_key(settings)
        if key and (recorded := plan.load(plans, key)):
            self.status_plan = recorded
            run_dbt(["compile", "--select", *STAGING_MODELS.values()],
                    state / "building.duckdb", state, settings)  # fmt: skip
            return Validator.load(state / "target", placeholders)
        # The run reads the settings as DuckDB variables (as an export that records its plan
        # does); the staging SQL it compiles names the placeholders through them.
        recorder = plan.Recorder()
        plans.mkdir(parents=True, exist_ok=True)
        run_dbt(
            ["run", "--select", "+store_status_now"],
            plans / f"{PLAN_CATALOG}.duckdb",
            state,
            {**settings, "plan": "1"},
            callbacks=[recorder],
        )
        self.status_plan = recorder.plan()
        if key:
            plan.save(plans, key, self.status_plan)
        return Validator.load(state / "target", placeholders, settings)

    def _staged_shape(self, input_name: str) -> list[tuple[str, str]]:
        """The columns and types of a staging model, from its compiled SQL over no rows."""
        with closing(self.inbox.cursor()) as cursor:
            rows_to_table(cursor, input_name, [], "shape")
            described = cursor.execute(
                f"describe {self.inbox.validator.staged(input_name, 'shape')}"
            ).fetchall()
        return [(row[0], row[1]) for row in described]

    def _staged_polls(self, status_path: Path) -> str:
        """A query of the stored values of a report's polls in stg_store_status's shape: what
        its SQL makes of the report's input file (see the module's docstring)."""
        columns = []
        for name, type_ in self.polls_shape:
            if name == "source_file":
                value = "'" + str(status_path).replace("'", "''") + "'"
            else:
                value = name if name in STORED_COLUMNS else "null"
            columns.append(f'cast({value} as {type_}) as "{name}"')
        parsed = str(self.work / PARSED_POLLS).replace("'", "''")
        return f"select {', '.join(columns)} from read_parquet('{parsed}')"

    def _report(self, job: ReportJob) -> None:
        started = time.monotonic()
        folder = self.reports_folder(job.report_id)
        self.inbox.update_report(job.report_id, started_at=_now())
        try:
            inputs = self._snapshot(job, folder / "inputs")
            summary = export(
                inputs,
                db_path=self.work / REPORT_DB,
                out=str(self.work / REPORT_CSV),
                as_of=job.as_of,
                interpolation=job.interpolation,
                strict=False,
                verbose=False,
                staged={"stg_store_status": self._staged_polls(inputs.status)},
                plans=self.work / "report.dbt" / "plans",
            )
            shutil.move(self.work / REPORT_DB, folder / REPORT_DB)
            shutil.move(self.work / REPORT_CSV, folder / REPORT_CSV)
        except Exception as error:  # the report fails; the service goes on
            self.inbox.update_report(
                job.report_id,
                status="Failed",
                error=str(error) or type(error).__name__,
                finished_at=_now(),
                seconds=time.monotonic() - started,
            )
            return
        # Old reports go first, so that a client that sees this one complete sees them gone.
        self._remove_old_reports(newest=job.report_id)
        self.inbox.update_report(
            job.report_id,
            status="Complete",
            report_at=summary.report_at,
            stores=summary.stores,
            rejected_rows=summary.rejected_rows,
            finished_at=_now(),
            seconds=time.monotonic() - started,
        )

    def _snapshot(self, job: ReportJob, folder: Path) -> Inputs:
        """Write what the report sees to Parquet files, inside the transaction that was opened
        when it was triggered: exactly the data stored before that answer."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / f"{name}.parquet" for name in STAGING_MODELS}
        polls = ", ".join(STORED_COLUMNS)
        try:
            job.snapshot.execute(
                f"create temp table snapshot_polls as {SNAPSHOT_POLLS}", [job.report_at]
            )
            for target, sql in (
                (
                    paths["store_status"],
                    "select polls.raw_store_id as store_id, polls.raw_status as status,"
                    " polls.raw_timestamp_utc as timestamp_utc"
                    " from snapshot_polls inner join polls on polls.rowid = snapshot_polls.poll_row"
                    " order by snapshot_polls.source_row_number",
                ),
                (
                    self.work / PARSED_POLLS,
                    f"select {polls} from snapshot_polls order by source_row_number",
                ),
                (paths["menu_hours"], SNAPSHOT_HOURS),
                (paths["timezones"], SNAPSHOT_TIMEZONES),
            ):
                escaped = str(target).replace("'", "''")
                job.snapshot.execute(f"copy ({sql}) to '{escaped}'")
        finally:
            job.snapshot.execute("rollback")
            job.snapshot.close()
        return Inputs(paths["store_status"], paths["menu_hours"], paths["timezones"])

    def _remove_old_reports(self, newest: str) -> None:
        """Keep the files of the newest `keep_reports` finished reports, `newest` (about to
        complete) counted; older ones keep their history row only (and answer 410)."""
        finished = [
            r for r in self.inbox.reports() if r["status"] != "Running" and r["report_id"] != newest
        ]
        for old in finished[self.keep_reports - 1 :]:
            if not old["files_removed"]:
                # Marked first: a request from now on answers 410, not a missing file.
                self.inbox.update_report(old["report_id"], files_removed=True)
                shutil.rmtree(self.reports_folder(old["report_id"]), ignore_errors=True)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
