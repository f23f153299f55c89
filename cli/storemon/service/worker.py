"""The report worker: one thread that does all of the service's dbt work, in trigger order.

dbt's in-process runner is not made for concurrent invocations, so one thread owns it: at a
home's first start it records the staging models' SQL (which validates received rows) and the
live status's plan, then it runs one report at a time. Every report builds into the same
database path in `<home>/work/` before its files move into the report's own folder, but for a
report of nothing new since the last complete one, which is made of that report's files. The
export's plan recorded by the home's first report (see storemon/plan.py) is kept in the home,
not in the user's cache: a home is whole by itself (moved, backed up, served by a user with no
cache folder), and its plan serves every later report, without dbt.

A report at or after the latest poll (of it, when no time is given) is made from the last such
report's database when it can be: a copy of it, the polls received since added to its
`stg_store_status`, and every model after it built again (the status changes from the earliest
added poll on, the business hours for the local dates it lacks; see export's `base`). So every
report of the latest poll is built to be built on (export's `appendable`). The copy is made
once that report is complete, so the next one builds in it rather than copying first (export's
`take_base`). That database holds
the polls of the last report built whole and every poll received since: a superset of the
report's snapshot with the same report, since nothing before a store's last poll before the
week counts. The report is built whole instead when business hours or zones were written
since, when its interpolation differs, after a restart, and once the last report built whole
is more than a week older than its report time (so that its polls reach back about two weeks at
most and its cost stays that of its week).

A report's polls were parsed by the staging SQL when they arrived: the plan's
`stg_store_status` is created from those stored values rather than by parsing their text
again. The report's input file holds those values, in the input's columns (a poll's status as
`active` or `inactive`, its instant as a TIMESTAMP): the home's first report (dbt) parses them
as any input, and the invariant `assert_rows_read_are_accepted_or_rejected` counts its rows as
the rows read (for a service report, the polls of its snapshot). The text a poll came with
stays in the inbox.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import deque
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from storemon import plan
from storemon.export import Inputs, Summary, export
from storemon.project import run_dbt
from storemon.service.errors import is_disk_full
from storemon.service.health import DiskWatch
from storemon.service.history import ReportHistory
from storemon.service.inbox import Inbox, timestamp_literal
from storemon.service.live import PLAN_CATALOG
from storemon.service.validation import (
    FUTURE_LIMIT_HOURS,
    STAGING_MODELS,
    Validator,
    compiled_staging,
    rows_to_table,
    write_placeholder,
)

REPORT_CSV = "report.csv"
# The entry of the live status's recorded plan that holds the staging SQL (_compile_validation).
STAGING = "staging"
REPORT_DB = "report.duckdb"
# The inputs a report made from the kept one shares with it.
KEPT_INPUTS = ("menu_hours", "timezones")
# What a stored poll gives each column of stg_store_status, read from a report's input file
# (source_file is the file's path; the others are NULL: a stored poll was accepted).
STORED_COLUMNS = {
    "source_row_number": "file_row_number + 1",
    "store_id": "store_id",
    "is_active": "status = 'active'",
    "polled_at": "timestamp_utc",
}

# What a report reads of the stored polls: per store, every poll in the report's week, the
# last poll before it (what the week starts with), and for a store with no poll at or before
# the report time its first poll after (so it keeps its row, with NULL measures). The result
# is the report of all stored polls (a status in the week comes from these polls alone: nothing
# else reaches into the week), at the cost of one week: the polls are stored in time order
# (inbox.py), so each range below reads only the row groups of its instants, and a store's
# bounds come from store_poll_bounds. The last poll before the week is looked for in the day
# before it, and only for the stores with none there (silent for a day) in all older polls.
# Each poll comes as the staging SQL parsed it when it arrived. The three parts are inserted in
# turn into one table, each in the order its polls are stored in, and the report's input file
# lists them in the table's order: a poll's position there is its number (numbering the
# million polls of a week by a sort instead cost a second). {report_at} and {week_start_at}
# are timestamp literals (constants, which the scans' row-group skipping needs); NULL when no
# poll is stored.
SNAPSHOT_COLUMNS = "store_id, polled_at, is_active, rowid as poll_row"
# A report's input file: the columns of store_status.csv, the parsed values in them.
SNAPSHOT_FILE = (
    "store_id, if(is_active, 'active', 'inactive') as status, polled_at as timestamp_utc"
)
SNAPSHOT_POLLS = (
    f"""
with
day_before_week as (
    select {SNAPSHOT_COLUMNS} from polls
    where polled_at >= {{week_start_at}} - interval 24 hour and polled_at < {{week_start_at}}
),
silent_for_a_day as (
    select store_id from store_poll_bounds
    where first_polled_at < {{week_start_at}} - interval 24 hour
        and store_id not in (select store_id from day_before_week)
),
older_than_a_day as (
    select {SNAPSHOT_COLUMNS} from polls
    where polled_at < {{week_start_at}} - interval 24 hour
        and store_id in (select store_id from silent_for_a_day)
)
select * from (select * from day_before_week union all select * from older_than_a_day)
qualify polled_at = max(polled_at) over (partition by store_id)
order by poll_row
""",
    f"""
select {SNAPSHOT_COLUMNS} from polls
where polled_at between {{week_start_at}} and {{report_at}}
""",
    f"""
select {SNAPSHOT_COLUMNS} from polls
where polled_at > {{report_at}} and (store_id, polled_at) in (
    select store_id, first_polled_at from store_poll_bounds
    where first_polled_at > {{report_at}}
)
order by poll_row
""",
)
# The polls received after the kept database's report was triggered (`arrival` is the inbox's
# write count of the request that stored them), in the order stored.
ADDED_POLLS = (
    f"select {SNAPSHOT_COLUMNS} from polls where arrival > {{generation}} order by poll_row"
)
# The report made from the last one is built whole again once its polls reach back this far
# before its week.
REBUILD_AFTER = timedelta(days=7)
SNAPSHOT_HOURS = """
select
    raw_store_id as store_id,
    raw_day as "day",
    raw_start_time_local as start_time_local,
    raw_end_time_local as end_time_local
from business_hours
order by store_id, raw_day, raw_start_time_local, raw_end_time_local
"""
SNAPSHOT_TIMEZONES = """
select raw_store_id as store_id, raw_timezone_str as timezone_str
from timezones
order by store_id
"""


@dataclass
class ReportJob:
    report_id: str
    snapshot: duckdb.DuckDBPyConnection  # a transaction opened when the report was triggered
    report_at: object  # the parsed as_of, or None for the latest poll
    as_of: str | None
    interpolation: str
    # What the report is of: its parameters and the inbox's write count when it was triggered.
    # A later trigger with the same key (nothing stored since) shares this report while it
    # waits, and once it is complete gets a report of its own made of the same files.
    key: tuple = ()
    # The inbox's write count at the last write of hours or zones before the trigger.
    hours_generation: int = 0

    def release(self) -> None:
        """End the snapshot's transaction (once; later calls do nothing)."""
        try:
            self.snapshot.execute("rollback")
        except duckdb.Error:
            pass  # already ended, or the connection is gone
        finally:
            self.snapshot.close()


@dataclass
class KeptBuild:
    """The database of the last complete report at or after the latest poll, which the next
    one is made from (see the module's docstring), with its hours and zones files."""

    folder: Path  # a copy of the report's report.duckdb, hard links of its hours and zones
    interpolation: str
    generation: int  # the inbox's write count at its trigger
    report_at: datetime
    built_whole_at: datetime  # the report time of the last report built whole

    def serves(self, job: ReportJob, report_at: datetime) -> bool:
        """Whether the report `job`, at `report_at` (no stored poll after it), is this one
        plus the polls received since."""
        return (
            job.interpolation == self.interpolation
            and job.hours_generation <= self.generation
            and self.report_at <= report_at <= self.built_whole_at + REBUILD_AFTER
            and (self.folder / REPORT_DB).is_file()
        )


class ReportWorker:
    """Reports wait in a queue (bounded by the service: core.Service.trigger_report) and run one
    at a time. Whatever goes wrong in one, the report ends Failed and the next one runs: a
    history row that cannot be written (a full disk) is kept and written as soon as it can be."""

    RETRY_SECONDS = 2.0  # how often unrecorded outcomes are retried while the queue is empty

    def __init__(
        self,
        inbox: Inbox,
        history: ReportHistory,
        home: Path,
        keep_reports: int,
        disk: DiskWatch | None = None,
    ) -> None:
        self.inbox = inbox
        self.history = history
        self.home = home
        self.keep_reports = keep_reports
        self.disk = disk or DiskWatch(home)
        self.work = home / "work"
        self.waiting: deque[ReportJob] = deque()
        self.changed = threading.Condition()
        self.stopping = False
        self.running: ReportJob | None = None
        # History updates that failed (report id, columns), retried in order.
        self.unrecorded: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        self.polls_shape: list[tuple[str, str]] = []  # stg_store_status's (column, type)
        # The key, id and summary of the last report that completed (see _reuse).
        self.last_complete: tuple[tuple, str, Summary] | None = None
        self.status_plan: dict | None = None  # store_status_now's, for the live status
        self.kept: KeptBuild | None = None
        # What the running report keeps once it is complete: the kept build and its folder.
        self.to_keep: tuple[KeptBuild, Path] | None = None
        self.startup_error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="storemon-reports", daemon=True)

    def start(self, timeout: float = 300) -> None:
        self.thread.start()
        if not self.ready.wait(timeout) or self.startup_error:
            raise RuntimeError(f"the report worker could not start: {self.startup_error}")

    def stop(self, grace: float = 5.0) -> bool:
        """Stop taking reports: the waiting ones are dropped (their history rows stay Running
        until the next start marks them: history.ReportHistory.fail_interrupted), the running
        one gets `grace` seconds to finish. True when the thread has ended."""
        with self.changed:
            self.stopping = True
            dropped = list(self.waiting)
            self.waiting.clear()
            self.changed.notify_all()
        for job in dropped:
            job.release()
        if self.thread.is_alive():
            self.thread.join(timeout=grace)
        return not self.thread.is_alive()

    def submit(self, job: ReportJob) -> None:
        with self.changed:
            self.waiting.append(job)
            self.changed.notify_all()

    def queued(self) -> int:
        """Reports waiting for their turn (the running one not counted)."""
        with self.changed:
            return len(self.waiting)

    def waiting_report(self, key: tuple) -> str | None:
        """The id of a waiting report with this key, if any."""
        with self.changed:
            return next((job.report_id for job in self.waiting if job.key == key), None)

    def alive(self) -> bool:
        return self.thread.is_alive() or not self.ready.is_set()

    def reports_folder(self, report_id: str) -> Path:
        return self.home / "reports" / report_id

    def _run(self) -> None:
        try:
            # The last run's kept database: the first report after a start is built whole.
            shutil.rmtree(self.work / "kept", ignore_errors=True)
            self.inbox.validator = self._compile_validation()
            self.polls_shape = self._staged_shape("store_status")
        except BaseException as error:  # reported by start()
            self.startup_error = error
            return
        finally:
            self.ready.set()
        while (job := self._next()) is not None:
            try:
                self._report(job)
            except BaseException as error:  # noqa: BLE001 - the worker outlives any report
                self._record(job.report_id, **_failure(error, started=None))
            finally:
                self.running = None
                job.release()

    def _next(self) -> ReportJob | None:
        """The next report, once unrecorded outcomes are written; None when stopping."""
        while True:
            with self.changed:
                while not self.stopping and not self.unrecorded and not self.waiting:
                    self.changed.wait()
                if self.stopping:
                    return None
                if not self.unrecorded:
                    self.running = self.waiting.popleft()
                    return self.running
            # Outside the lock: a write that fails again waits a little before the next try.
            if not self._write_unrecorded():
                with self.changed:
                    self.changed.wait(self.RETRY_SECONDS)

    def _record(self, report_id: str, **values: object) -> bool:
        """Write a history update, or keep it for later (unrecorded ones first, in order)."""
        self.unrecorded.append((report_id, values))
        return self._write_unrecorded()

    def _write_unrecorded(self) -> bool:
        while self.unrecorded:
            report_id, values = self.unrecorded[0]
            try:
                self.history.update_report(report_id, **values)
            except Exception as error:
                if is_disk_full(error):
                    self.disk.failed(error)
                return False
            self.unrecorded.pop(0)
        return True

    def _compile_validation(self) -> Validator:
        """The staging SQL that validates received rows, and the live status's plan of
        store_status_now (see live.py), both recorded by one dbt run over placeholder inputs
        when this home has none for this version of the project; else read from the home, so
        that a restart does not start dbt. The staging SQL is kept in the plan's file as dbt
        compiled it for the plan, reading the settings as DuckDB variables: its placeholder
        paths are filled in at each start, so a home that has moved still finds them."""
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
        if key and (recorded := plan.load(plans, key)) and _is_staging_sql(recorded.get(STAGING)):
            self.status_plan = recorded
            return Validator.of(recorded[STAGING], placeholders, settings)
        recorder = plan.Recorder()
        plans.mkdir(parents=True, exist_ok=True)
        # Recorded into a new database: over the tables of an earlier recording (another
        # version of the project), dbt would move them aside first, and the plan, replayed
        # where they do not exist, would fail.
        recording = plans / f"{PLAN_CATALOG}.duckdb"
        for leftover in (recording, recording.with_name(recording.name + ".wal")):
            leftover.unlink(missing_ok=True)
        run_dbt(
            ["run", "--select", "+store_status_now"],
            recording,
            state,
            {**settings, "plan": "1"},
            callbacks=[recorder],
        )
        staging = compiled_staging(state / "target")
        self.status_plan = {**recorder.plan(), STAGING: staging}
        if key:
            plan.save(plans, key, self.status_plan)
        return Validator.of(staging, placeholders, settings)

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
        path = "'" + str(status_path).replace("'", "''") + "'"
        columns = []
        for name, type_ in self.polls_shape:
            value = path if name == "source_file" else STORED_COLUMNS.get(name, "null")
            columns.append(f'cast({value} as {type_}) as "{name}"')
        return f"select {', '.join(columns)} from read_parquet({path}, file_row_number = true)"

    def _report(self, job: ReportJob) -> None:
        started = time.monotonic()
        folder = self.reports_folder(job.report_id)
        try:
            self.history.update_report(job.report_id, started_at=_now())
            summary = self._reuse(job, folder) or self._build(job, folder)
        except Exception as error:  # the report fails; the service goes on
            if is_disk_full(error):
                self.disk.failed(error)
                # What it wrote is of no use and holds space that the next write needs.
                shutil.rmtree(folder, ignore_errors=True)
            self._record(job.report_id, **_failure(error, started))
            return
        self.disk.ok()
        if job.key:
            self.last_complete = (job.key, job.report_id, summary)
        # Old reports go first, so that a client that sees this one complete sees them gone
        # (when that fails, the next report removes them).
        with suppress(Exception):
            self._remove_old_reports(newest=job.report_id)
        self._record(
            job.report_id,
            status="Complete",
            report_at=summary.report_at,
            stores=summary.stores,
            rejected_rows=summary.rejected_rows,
            finished_at=_now(),
            seconds=time.monotonic() - started,
        )
        if self.to_keep is not None:
            self._keep(*self.to_keep)

    def _reuse(self, job: ReportJob, folder: Path) -> Summary | None:
        """A report of exactly what the last complete report was of (the same report time and
        interpolation, nothing stored since) is that report again: its files are linked into
        `folder` (no space taken, and each outlives the other's removal) and its summary
        returned. None, and nothing left in `folder`, when there is no such report or its
        files are gone."""
        if not job.key or self.last_complete is None or self.last_complete[0] != job.key:
            return None
        _, source_id, summary = self.last_complete
        source = self.reports_folder(source_id)
        names = [REPORT_DB, REPORT_CSV, *(f"inputs/{name}.parquet" for name in STAGING_MODELS)]
        try:
            (folder / "inputs").mkdir(parents=True, exist_ok=True)
            for name in names:
                os.link(source / name, folder / name)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return summary

    def _build(self, job: ReportJob, folder: Path) -> Summary:
        """Snapshot the report's data and run the export's plan over it into `folder`: from the
        kept database and the polls received since when it serves, else whole."""
        try:
            latest = Inbox.latest_poll(job.snapshot)
        except BaseException:
            job.release()
            raise
        # The report time: the given one, else the latest stored poll. A report at or after the
        # latest poll can be kept, and made from the kept one: no poll comes after its time.
        report_at = job.report_at or latest
        of_latest = report_at is not None and (latest is None or report_at >= latest)
        kept = self.kept if of_latest and self.kept and self.kept.serves(job, report_at) else None
        self.to_keep = None
        if kept is None:
            inputs = self._snapshot(job, folder / "inputs", report_at)
            changed_from = None
        else:
            inputs, changed_from = self._snapshot_added(job, folder / "inputs", kept, report_at)
            # Its database becomes this report's: the next one is made from this one or whole.
            self.kept = None
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
            base=None if kept is None else kept.folder / REPORT_DB,
            changed_from=changed_from,
            appendable=of_latest,
            take_base=kept is not None,
        )
        shutil.move(self.work / REPORT_DB, folder / REPORT_DB)
        shutil.move(self.work / REPORT_CSV, folder / REPORT_CSV)
        if of_latest:
            built_whole_at = report_at if kept is None else kept.built_whole_at
            kept_build = KeptBuild(
                self.work / "kept", job.interpolation, job.key[2], report_at, built_whole_at
            )
            self.to_keep = (kept_build, folder)
        return summary

    def _keep(self, kept: KeptBuild, folder: Path) -> None:
        """Keep the complete report's database for the next report to build in (a copy: the
        report's own stays as it is), with links to its hours and zones that outlive the
        report's removal; nothing kept when that fails (a full disk, say): the next report is
        built whole."""
        self.to_keep = None
        self.kept = None
        fresh = kept.folder.with_name(kept.folder.name + ".new")
        try:
            shutil.rmtree(fresh, ignore_errors=True)
            fresh.mkdir(parents=True)
            shutil.copyfile(folder / REPORT_DB, fresh / REPORT_DB)
            for name in KEPT_INPUTS:
                os.link(folder / "inputs" / f"{name}.parquet", fresh / f"{name}.parquet")
            shutil.rmtree(kept.folder, ignore_errors=True)
            os.replace(fresh, kept.folder)
        except OSError as error:
            if is_disk_full(error):
                self.disk.failed(error)
            shutil.rmtree(fresh, ignore_errors=True)
            return
        self.kept = kept

    def _snapshot(self, job: ReportJob, folder: Path, report_at: datetime | None) -> Inputs:
        """Write what the report sees to Parquet files, inside the transaction that was opened
        when it was triggered: exactly the data stored before that answer."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / f"{name}.parquet" for name in STAGING_MODELS}
        try:
            instants = {
                "report_at": timestamp_literal(report_at),
                "week_start_at": timestamp_literal(report_at and report_at - timedelta(hours=168)),
            }
            before_week, in_week, first_after = (part.format(**instants) for part in SNAPSHOT_POLLS)
            job.snapshot.execute(f"create temp table snapshot_polls as {before_week}")
            job.snapshot.execute(f"insert into snapshot_polls {in_week}")
            job.snapshot.execute(f"insert into snapshot_polls {first_after}")
            for target, sql in (
                # A table scan keeps the table's order (DuckDB preserves insertion order).
                (paths["store_status"], f"select {SNAPSHOT_FILE} from snapshot_polls"),
                (paths["menu_hours"], SNAPSHOT_HOURS),
                (paths["timezones"], SNAPSHOT_TIMEZONES),
            ):
                _copy(job.snapshot, sql, target)
        finally:
            job.release()
        return Inputs(paths["store_status"], paths["menu_hours"], paths["timezones"])

    def _snapshot_added(
        self, job: ReportJob, folder: Path, kept: KeptBuild, report_at: datetime
    ) -> tuple[Inputs, str]:
        """The polls received since the kept report, in the transaction opened at the trigger,
        and the kept report's hours and zones (none written since); also the instant from which
        the status changes are recomputed: the earliest of those polls (the report time when
        there is none: a change after every poll)."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / f"{name}.parquet" for name in STAGING_MODELS}
        try:
            added = ADDED_POLLS.format(generation=kept.generation)
            job.snapshot.execute(f"create temp table snapshot_polls as {added}")
            earliest = job.snapshot.execute("select min(polled_at) from snapshot_polls").fetchone()[
                0
            ]
            polls = f"select {SNAPSHOT_FILE} from snapshot_polls"
            _copy(job.snapshot, polls, paths["store_status"])
        finally:
            job.release()
        for name in KEPT_INPUTS:
            os.link(kept.folder / f"{name}.parquet", paths[name])
        changed_from = (earliest or report_at).isoformat(sep=" ")
        return Inputs(paths["store_status"], paths["menu_hours"], paths["timezones"]), changed_from

    def _remove_old_reports(self, newest: str) -> None:
        """Keep the files of the newest `keep_reports` finished reports, `newest` (about to
        complete) counted; older ones keep their history row only (and answer 410)."""
        finished = [
            r
            for r in self.history.reports()
            if r["status"] != "Running" and r["report_id"] != newest
        ]
        for old in finished[self.keep_reports - 1 :]:
            if not old["files_removed"]:
                # Marked first: a request from now on answers 410, not a missing file.
                self.history.update_report(old["report_id"], files_removed=True)
                shutil.rmtree(self.reports_folder(old["report_id"]), ignore_errors=True)


def _copy(cursor: duckdb.DuckDBPyConnection, sql: str, target: Path) -> None:
    escaped = str(target).replace("'", "''")
    cursor.execute(f"copy ({sql}) to '{escaped}'")


def _is_staging_sql(value: object) -> bool:
    """Whether a recorded plan's STAGING entry holds each staging model's SQL (a plan recorded
    by an earlier version has none: the server then records the plan again)."""
    return isinstance(value, dict) and all(isinstance(value.get(name), str) for name in
                                           STAGING_MODELS)  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _failure(error: BaseException, started: float | None) -> dict:
    """The history columns of a report that failed with `error`."""
    reason = str(error).strip() or type(error).__name__
    if is_disk_full(error):
        reason = f"the disk of the home is full: {reason}"
    values: dict = {"status": "Failed", "error": reason, "finished_at": _now()}
    if started is not None:
        values["seconds"] = time.monotonic() - started
    return values
