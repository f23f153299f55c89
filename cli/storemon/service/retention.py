"""Retention of polls (`storemon serve --keep-polls-days N`, docs/operating.md, Retention): polls
older than the cut move out of the inbox into date-partitioned Parquet files under the home,
`<home>/archive/store_status/date=YYYY-MM-DD/polls.parquet` (hive layout), each a valid
store_status input (the text as received) with the parsed `polled_at` and `is_active` beside.

The cut is midnight UTC of the latest stored poll's date minus N days: whole UTC days are
archived, and the cut depends on the stored polls alone. It never moves back: the largest cut
ever applied is kept in the inbox (table `retention_cut`), and a report whose week would start
before it is refused (ReportBeforeCut, 422), as is a status at an instant before it
(StatusBeforeCut, 422: its latest poll and the start of its run may be archived ones).

What stays in the inbox: every poll at or after the cut and, per store, every poll at two
instants before it: its latest one (what a report's week that starts at or after the cut
starts with) and the first of the trailing run of instants that share its status (where the
live status's `state_since` starts when the run goes on past the cut: live.reduced, the same
set the live status keeps at its base). Over these, every report whose week starts at or after
the cut, and every status at or after it, is the one over all polls.

One day at a time, oldest first: the day's file is written (its rows already archived, if any,
and the inbox's rows of that day, each once) under a temporary name and renamed over the
day's file, then the rows of the file are deleted from the inbox in one short transaction
under the inbox's write lock (the kept ones excepted). A crash between the two leaves rows in
both; the next run writes the day's file again from both, each row once. A poll of an archived
day that arrives later is archived by the next run the same way.
"""

from __future__ import annotations

import os
import threading
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from storemon.project import eprint
from storemon.service.errors import ReportBeforeCut, StatusBeforeCut, is_disk_full
from storemon.service.health import DiskWatch
from storemon.service.inbox import Inbox
from storemon.service.live import INBOX_INSTANTS, reduced

# A report's week is 168 hours and a report of the latest poll must always be possible: with a
# cut at midnight of the latest poll's date minus 7 days, its week starts at or after the cut.
# The live status's clock is at most a day behind the latest poll (polls are taken up to 24 h
# ahead of it), so it is after the cut too.
MIN_KEEP_DAYS = 7
REPORT_WEEK = timedelta(hours=168)
ARCHIVE = Path("archive") / "store_status"
DAY_FILE = "polls.parquet"
# How often the archiving runs (a new day passes the cut once a day; late polls of archived
# days are moved by the next run), and how soon after a failure it tries again.
EVERY_SECONDS = 3600.0
RETRY_SECONDS = 60.0
# Tries of one run when polls before the cut arrive while it runs (it then starts over).
TRIES = 3

SCHEMA = """
create table if not exists retention_cut (cut timestamp not null);
create table if not exists archived_days (
    day date primary key,
    read_at timestamp not null
);
"""

# Polls before the cut $base + 1 µs that arrived after their day's file was written (a poll
# sent again, or one over N days late), older than their store's latest poll that did not:
# left out when the kept instants are found, since the polls around them are archived (the
# run they would fall in is not whole in the inbox); they are archived like the others.
LATE = """
select polls.rowid
from polls
inner join archived_days on polls.polled_at::date = archived_days.day
where polls.polled_at <= $base
    and polls.received_at >= archived_days.read_at
    and polls.polled_at < (
        select max(settled.polled_at)
        from polls as settled
        left join archived_days as settled_day on settled.polled_at::date = settled_day.day
        where settled.store_id = polls.store_id
            and settled.polled_at <= $base
            and (settled_day.day is null or settled.received_at < settled_day.read_at)
    )
"""
# The instants of each store kept before the cut (see the module's docstring).
KEPT = f"""
select store_id, polled_at
from ({
    reduced(
        INBOX_INSTANTS.format(where=f"where polled_at <= $base and rowid not in ({LATE})"),
        after="latest",
    )
})
where polled_at <= $base
"""


class Conflict(Exception):
    """Polls before the cut arrived while a run was archiving: it starts over."""


@dataclass
class Outcome:
    cut: datetime | None
    days: int = 0  # day files written
    moved: int = 0  # polls deleted from the inbox


def cut_of(latest: datetime | None, keep_days: int) -> datetime | None:
    """Midnight UTC of the latest poll's date minus `keep_days` days (None: no polls)."""
    if latest is None:
        return None
    return datetime.combine(latest.date(), datetime.min.time()) - timedelta(days=keep_days)


def day_folder(home: Path, day: date) -> Path:
    return home / ARCHIVE / f"date={day.isoformat()}"


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class Retention:
    def __init__(self, inbox: Inbox, home: Path, keep_days: int | None, disk: DiskWatch) -> None:
        if keep_days is not None and keep_days < MIN_KEEP_DAYS:
            raise ValueError(f"keep_polls_days {keep_days} is under {MIN_KEEP_DAYS}")
        self.inbox = inbox
        self.home = home
        self.keep_days = keep_days
        self.disk = disk
        self.error: str | None = None  # the last run's failure, for /health
        self.last: Outcome | None = None
        self._one_run = threading.Lock()  # the background run and a caller's, one at a time
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storemon-archive", daemon=True)
        with closing(inbox.cursor()) as cursor:
            cursor.execute(SCHEMA)

    # ------------------------------------------------------------------ the cut
    def cut(self, cursor: duckdb.DuckDBPyConnection) -> datetime | None:
        """The cut that reports must respect, in `cursor`'s transaction: the largest applied
        so far, or the one the stored polls give now, whichever is later."""
        applied = cursor.execute("select max(cut) from retention_cut").fetchone()[0]
        current = None
        if self.keep_days is not None:
            current = cut_of(Inbox.latest_poll(cursor), self.keep_days)
        found = [c for c in (applied, current) if c is not None]
        return max(found) if found else None

    def check_report(self, cursor: duckdb.DuckDBPyConnection, report_at: datetime | None) -> None:
        """Refuse (ReportBeforeCut) a report whose week starts before the cut."""
        cut = self.cut(cursor)
        if cut is None:
            return
        report_at = Inbox.latest_poll(cursor, report_at)
        if report_at is not None and report_at - REPORT_WEEK < cut:
            raise ReportBeforeCut(report_at, cut, cut + REPORT_WEEK)

    def check_status(self, cursor: duckdb.DuckDBPyConnection, at: datetime, text: str) -> None:
        """Refuse (StatusBeforeCut) a status at an instant before the cut (`text`: `at` as
        asked)."""
        cut = self.cut(cursor)
        if cut is not None and at < cut:
            raise StatusBeforeCut(text, at, cut)

    # ------------------------------------------------------------------ the background run
    def start(self) -> None:
        if self.keep_days is not None:
            self._thread.start()

    def stop(self) -> None:
        """Stop between two days' work (the current day's is finished first)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._stopping.wait(self.run_once()):
                return

    def run_once(self) -> float:
        """One run whatever happens (a failure is logged, kept for /health and tried again
        sooner); the seconds until the next."""
        try:
            self.last = self.archive()
        except Exception as error:  # noqa: BLE001 - the service goes on; tried again later
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            if is_disk_full(error):
                self.disk.failed(error)
            self.error = first
            eprint(f"archive: failed, trying again in {RETRY_SECONDS:.0f} s: {first}")
            return RETRY_SECONDS
        if self.error is not None:
            self.disk.ok()  # what failed went through
        self.error = None
        return EVERY_SECONDS

    def reasons(self) -> list[str]:
        """Why the archiving makes the service degraded (empty: it does not)."""
        return [] if self.error is None else [f"archive: the last run failed ({self.error})"]

    # ------------------------------------------------------------------ archiving
    def archive(self) -> Outcome:
        """Move the polls before the cut to the archive, a day at a time (see the module's
        docstring); then a checkpoint, so that the space they held is reused."""
        assert self.keep_days is not None
        with self._one_run:
            for attempt in range(TRIES):
                try:
                    outcome = self._archive_once()
                    break
                except Conflict:
                    if attempt == TRIES - 1:
                        raise RuntimeError(
                            "polls before the cut kept arriving while archiving"
                        ) from None
            if outcome.moved:
                self.checkpoint()
            return outcome

    def checkpoint(self) -> bool:
        """Write the deletions to the database file, whose freed blocks later writes then
        reuse; skipped (False) while another write transaction is open (DuckDB checkpoints by
        itself when its log grows)."""
        with closing(self.inbox.cursor()) as cursor, self.inbox.write_lock:
            try:
                cursor.execute("checkpoint")
            except duckdb.TransactionException:
                return False
        return True

    def _archive_once(self) -> Outcome:
        with closing(self.inbox.cursor()) as cursor:
            # The kept instants and the days to archive from one snapshot, taken under the write
            # lock (as a report's is) so that the count of polls before the cut is exact.
            with self.inbox.write_lock:
                cursor.execute("begin transaction")
                cut = cut_of(Inbox.latest_poll(cursor), self.keep_days)
                if cut is None:
                    cursor.execute("rollback")
                    return Outcome(None)
                before = cursor.execute(
                    "select count(*) from polls where polled_at < $1", [cut]
                ).fetchone()[0]
            try:
                base = cut - timedelta(microseconds=1)
                cursor.execute(
                    f"create or replace temp table retention_kept as {KEPT}", {"base": base}
                )
                days = cursor.execute(self._days_sql(), [cut]).fetchall()
                cursor.execute("commit")
            except BaseException:
                cursor.execute("rollback")
                raise
            outcome = Outcome(cut)
            for day, write in days:
                if self._stopping.is_set():
                    break  # the rest at the next start
                if write or not (day_folder(self.home, day) / DAY_FILE).exists():
                    file, read_at = self._write_day(day, cut)
                    outcome.days += 1
                else:
                    file, read_at = day_folder(self.home, day) / DAY_FILE, None
                deleted = self._delete_archived(cursor, day, cut, file, read_at, before)
                before -= deleted
                outcome.moved += deleted
            return outcome

    @staticmethod
    def _days_sql() -> str:
        """The days before the cut $1 with polls to archive, and whether their file must be
        written: yes when one of their polls is not in it yet (a day never written, or a poll
        received after it was), else only polls that are no longer kept are deleted."""
        return """
        with
        marked as (
            select
                polls.polled_at::date as day,
                kept.store_id is null as movable,
                archived_days.day is null or polls.received_at >= archived_days.read_at
                    as unwritten
            from polls
            left join temp.retention_kept as kept using (store_id, polled_at)
            left join archived_days on polls.polled_at::date = archived_days.day
            where polls.polled_at < $1
        )
        select day, bool_or(unwritten) as write
        from marked
        group by day
        having bool_or(movable) or bool_or(unwritten)
        order by day
        """

    def _write_day(self, day: date, cut: datetime) -> tuple[Path, datetime]:
        """The day's file with its archived rows and the inbox's rows of that day, each once;
        written aside and renamed over the old one. Its path, and when the inbox was read."""
        folder = day_folder(self.home, day)
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / DAY_FILE
        temporary = folder / f".{DAY_FILE}.tmp"
        archived = (
            f"select store_id, status, timestamp_utc, polled_at, is_active, 0 as source"
            f" from read_parquet({_sql_path(file)})"
            if file.exists()
            else "select null::varchar as store_id, null::varchar as status,"
            " null::varchar as timestamp_utc, null::timestamp as polled_at,"
            " null::boolean as is_active, 0 as source where false"
        )
        start = datetime.combine(day, datetime.min.time())
        with closing(self.inbox.cursor()) as cursor:
            with self.inbox.write_lock:
                cursor.execute("begin transaction")
                read_at = cursor.execute("select now()::timestamp").fetchone()[0]
            try:
                cursor.execute(
                    f"""
                    copy (
                        select store_id, status, timestamp_utc, polled_at, is_active
                        from (
                            {archived}
                            union all
                            select raw_store_id, raw_status, raw_timestamp_utc, polled_at,
                                is_active, 1
                            from polls
                            where polled_at >= $1 and polled_at < least($2, $1 + interval 1 day)
                        )
                        qualify row_number() over (
                            partition by store_id, polled_at, is_active order by source
                        ) = 1
                        order by store_id, polled_at, is_active
                    ) to {_sql_path(temporary)} (format parquet)
                    """,
                    [start, cut],
                )
            finally:
                cursor.execute("rollback")
        _sync(temporary)
        os.replace(temporary, file)
        _sync(folder)
        return file, read_at

    def _delete_archived(
        self,
        cursor: duckdb.DuckDBPyConnection,
        day: date,
        cut: datetime,
        file: Path,
        read_at: datetime | None,
        before: int,
    ) -> int:
        """Delete the file's rows from the inbox (the kept ones excepted), in one transaction;
        Conflict when polls before the cut arrived since the run's snapshot. `read_at`: when
        the inbox was read for the file just written (None: it was not written now)."""
        with self.inbox.transaction(cursor):
            now = cursor.execute(
                "select count(*) from polls where polled_at < $1", [cut]
            ).fetchone()[0]
            if now != before:
                raise Conflict()
            cursor.execute(
                "insert into retention_cut select $1 where $1 > coalesce("
                "(select max(cut) from retention_cut), '-infinity'::timestamp)",
                [cut],
            )
            deleted = cursor.execute(
                f"""
                delete from polls
                where polled_at < $1
                    and polled_at >= $2 and polled_at < $2 + interval 1 day
                    and (raw_store_id, polled_at, is_active) in (
                        select store_id, polled_at, is_active from read_parquet({_sql_path(file)})
                    )
                    and (store_id, polled_at) not in (
                        select store_id, polled_at from temp.retention_kept
                    )
                """,
                [cut, datetime.combine(day, datetime.min.time())],
            ).fetchone()[0]
            if read_at is not None:
                cursor.execute(
                    "insert or replace into archived_days values ($1, $2)", [day, read_at]
                )
        return deleted


# The start-up compacts the inbox when this much of its file is free (DuckDB reuses freed
# blocks but never shrinks its file): at least COMPACT_MIN_BYTES, and half of it.
COMPACT_MIN_BYTES = 64 * 1024 * 1024
COMPACT_MIN_SHARE = 0.5


def compact_inbox(path: Path) -> str | None:
    """Before the server opens it: when much of the inbox's file is free blocks, copy the
    database into a new file (`COPY FROM DATABASE`: tables, constraints and rows, in their
    order) and swap it in; a sentence saying what it did, or None. Any failure (a full disk)
    leaves the inbox as it was."""
    if not path.is_file():
        return None
    spare = path.with_name(path.name + ".compact")
    for leftover in (spare, spare.with_name(spare.name + ".wal")):
        leftover.unlink(missing_ok=True)  # of a start-up that stopped midway
    with duckdb.connect(str(path)) as connection:
        free, total, block = connection.execute(
            "select free_blocks, total_blocks, block_size from pragma_database_size()"
        ).fetchone()
        if free * block < COMPACT_MIN_BYTES or free < total * COMPACT_MIN_SHARE:
            return None
        name = connection.execute("select current_database()").fetchone()[0]
        try:
            connection.execute(f"attach {_sql_path(spare)} as compact")
            connection.execute(f'copy from database "{name}" to compact')
            for (table,) in connection.execute(
                "select table_name from duckdb_tables() where database_name = $1", [name]
            ).fetchall():
                counts = connection.execute(
                    f'select (select count(*) from "{name}".main."{table}"),'
                    f' (select count(*) from compact.main."{table}")'
                ).fetchone()
                if counts[0] != counts[1]:
                    raise RuntimeError(f"table {table}: {counts[0]} rows, {counts[1]} copied")
            connection.execute("detach compact")
        except Exception as error:
            spare.unlink(missing_ok=True)
            return f"the inbox was not compacted: {error}"
    if path.with_name(path.name + ".wal").exists():
        spare.unlink(missing_ok=True)
        return None  # not checkpointed at close: left as it is
    before = path.stat().st_size
    _sync(spare)
    os.replace(spare, path)
    _sync(path.parent)
    return (
        f"compacted {path.name}: {before / 1e6:.0f} MB to {path.stat().st_size / 1e6:.0f} MB"
        " (most of it was space freed by archiving)"
    )


def _sync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
