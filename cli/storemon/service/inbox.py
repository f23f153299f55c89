"""The service's store: one DuckDB file (`<home>/inbox.duckdb`) holding every received row as
text, as received, beside the values the staging SQL parsed from it (the history of the
reports lives in the same file: history.py). The server process is its only writer; each
request is one transaction, committed before the answer, so an answered row survives a crash
(DuckDB syncs its log on commit)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from storemon.service.errors import InvalidRows
from storemon.service.validation import REASON_FIELDS, Validator, rows_to_table

# The inbox's DuckDB memory: blocks read or written are kept only up to this (by default DuckDB
# keeps up to 80 % of the machine's memory, so the server grew with the history it stores), and
# an operation that needs more spills to inbox.duckdb.tmp beside the file.
INBOX_MEMORY_LIMIT = "512MB"

SCHEMA = """
create table if not exists polls (
    store_id varchar not null,
    polled_at timestamp not null,
    is_active boolean not null,
    raw_store_id varchar,
    raw_status varchar,
    raw_timestamp_utc varchar,
    received_at timestamp not null,
    arrival bigint
);
create table if not exists business_hours (
    store_id varchar not null,
    raw_store_id varchar,
    raw_day varchar,
    raw_start_time_local varchar,
    raw_end_time_local varchar,
    received_at timestamp not null
);
create table if not exists timezones (
    store_id varchar primary key,
    raw_store_id varchar,
    raw_timezone_str varchar,
    received_at timestamp not null
);
"""
# Per store, the first and the last instant of every poll ever stored, kept as polls arrive: a
# report finds its stores' bounds here instead of in all the polls (worker.SNAPSHOT_POLLS).
POLL_BOUNDS = """
create table if not exists store_poll_bounds (
    store_id varchar primary key,
    first_polled_at timestamp not null,
    last_polled_at timestamp not null
);
"""
# The latest poll ever stored, or the instant $1 when one is given (an explicit report time):
# from the bounds, not from all the polls. Archiving (retention.py) never lowers it: it moves
# polls before the cut only, and the latest poll is after the cut.
LATEST_POLL = "select coalesce($1::timestamp, max(last_polled_at)) from store_poll_bounds"
# A home from before store_poll_bounds gets it from its polls, once.
POLL_BOUNDS_FROM_POLLS = """
insert into store_poll_bounds
select store_id, min(polled_at), max(polled_at) from polls group by store_id
"""


@dataclass
class Staged:
    """A batch after staging: the names of the temporary tables of its rows as received
    (`raw_table`, numbered by `file_row_number`) and as the staging SQL made them
    (`staged_table`), and what it read and rejected."""

    raw_table: str
    staged_table: str
    read: int
    rejected: int
    first_rejected: list[dict]

    @property
    def accepted(self) -> str:
        """The accepted rows: staged values beside the raw text they came from."""
        return (
            f"{self.staged_table} as stg inner join {self.raw_table} as raw"
            " on stg.source_row_number = raw.file_row_number + 1"
            " where stg.rejection_reason is null"
        )


@dataclass
class Ingested:
    """What a committed ingestion changed, for the live status: a query of the polls it stored
    (`store_id, polled_at, is_active`; not those stored already, which change nothing), and the
    stores whose hours or zone were replaced (a query of `store_id`, or a list, over the
    ingesting cursor's temporary tables)."""

    polls: str | None = None
    stores: str | list[str] | None = None


class Inbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection = duckdb.connect(str(path), config={"memory_limit": INBOX_MEMORY_LIMIT})
        self.connection.execute("set TimeZone = 'UTC'")
        self.connection.execute(SCHEMA)
        self._drop_polls_key()
        self._add_poll_bounds()
        self._add_arrival()
        self.write_lock = threading.Lock()
        # Committed writes of a report's inputs: two reports triggered at the same count see the
        # same data (core.Service.trigger_report). The polls a write adds are stored with the
        # count it makes (`arrival`), so the polls received after a report's trigger are those
        # with a larger one; it starts from the largest stored, so that it only grows.
        self.generation = self.connection.execute(
            "select coalesce(max(arrival), 0) from polls"
        ).fetchone()[0]
        # The count made by the last write of business hours or zones (0: none since start).
        self.hours_generation = 0
        self.validator: Validator | None = None  # set by the worker once dbt has compiled
        # Rows refused since start, by (input, reason): for GET /metrics.
        self.rejected_counts: Counter[tuple[str, str]] = Counter()
        self._counts_lock = threading.Lock()
        # Told of every committed ingestion, in commit order, with the ingesting cursor.
        self.observers: list[Callable[[duckdb.DuckDBPyConnection, Ingested], None]] = []

    def close(self) -> None:
        self.connection.close()

    def _drop_polls_key(self) -> None:
        """Polls were once stored under a primary key, whose index grew with the history (on
        disk and, as inserts touched it, in memory); they are now kept unique by _add_polls.
        Such a home's polls move to a table without it (in time order), in one transaction."""
        if self._in_catalog(
            "duckdb_constraints", "table_name = 'polls' and constraint_type = 'PRIMARY KEY'"
        ):
            self.connection.execute("begin transaction")
            self.connection.execute(
                "create table polls_in_time_order as"
                " from polls order by polled_at, store_id, is_active"
            )
            self.connection.execute("drop table polls")
            self.connection.execute("alter table polls_in_time_order rename to polls")
            self.connection.execute("commit")
            self.connection.execute("checkpoint")

    def _add_poll_bounds(self) -> None:
        if not self._in_catalog(
            "duckdb_tables", "schema_name = 'main' and table_name = 'store_poll_bounds'"
        ):
            self.connection.execute("begin transaction")
            self.connection.execute(POLL_BOUNDS)
            self.connection.execute(POLL_BOUNDS_FROM_POLLS)
            self.connection.execute("commit")

    def _add_arrival(self) -> None:
        """Polls stored before `arrival` existed have none (NULL): they are older than any
        report made since."""
        if not self._in_catalog(
            "duckdb_columns", "table_name = 'polls' and column_name = 'arrival'"
        ):
            self.connection.execute("alter table polls add column arrival bigint")

    def _in_catalog(self, view: str, condition: str) -> bool:
        """Whether DuckDB's catalog function `view` (duckdb_tables, ...) lists something of this
        database that meets `condition`: how an inbox of an earlier version is recognised."""
        return bool(
            self.connection.execute(
                f"select count(*) from {view}() where database_name = current_database()"
                f" and {condition}"
            ).fetchone()[0]
        )

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = self.connection.cursor()
        cursor.execute("set TimeZone = 'UTC'")
        return cursor

    # ------------------------------------------------------------------ staging
    def stage(
        self, cursor, input_name: str, raw: str, keep: int | None = 10, counted: bool = True
    ) -> Staged:
        """Stage the rows of temporary table `raw` with the staging model's SQL, once; keep
        the first `keep` rejected rows (None: all); count the rejected ones by reason unless
        not `counted` (rows that are not input, such as a report's as_of)."""
        assert self.validator is not None, "the service is not ready"
        staged = f"{raw}_staged"
        sql = self.validator.staged(input_name, raw)
        cursor.execute(f"create or replace temp table {staged} as {sql}")
        read, rejected = cursor.execute(
            f"select count(*), count(rejection_reason) from {staged}"
        ).fetchone()
        if rejected and counted:
            reasons = cursor.execute(
                f"select rejection_reason, count(*) from {staged} group by all having "
                "rejection_reason is not null"
            ).fetchall()
            with self._counts_lock:
                for reason, count in reasons:
                    self.rejected_counts[(input_name, reason)] += count
        # Most batches (a single poll above all) have no rejected row: no query for them.
        first = (
            cursor.execute(
                f"select source_row_number, rejection_reason, raw_values from {staged}"
                " where rejection_reason is not null order by source_row_number"
                + ("" if keep is None else f" limit {int(keep)}")
            ).fetchall()
            if rejected
            else []
        )
        problems = [
            {"row": row, "field": REASON_FIELDS.get(reason), "reason": reason, "values": values}
            for row, reason, values in first
        ]
        return Staged(raw, staged, read, rejected, problems)

    def stage_rows(self, cursor, input_name: str, rows: list[dict], counted: bool = True) -> Staged:
        """Stage request rows; raise InvalidRows (nothing stored) when any is rejected."""
        raw = f"request_{input_name}"
        rows_to_table(cursor, input_name, rows, raw)
        staged = self.stage(cursor, input_name, raw, counted=counted)
        invalid = [p for p in staged.first_rejected if p["reason"] != "superseded"]
        if invalid:
            raise InvalidRows(invalid)
        return staged

    # ------------------------------------------------------------------ ingestion
    @contextmanager
    def transaction(
        self,
        cursor: duckdb.DuckDBPyConnection,
        ingested: Ingested | None = None,
        of_inputs: bool = True,
    ) -> Iterator[None]:
        """One writer at a time; committed (and so durable) when the block ends. Then, still
        one at a time, the observers hear of `ingested`. `of_inputs` False: the block writes
        nothing that a report reads (the alerts' tables)."""
        with self.write_lock:
            cursor.execute("begin transaction")
            try:
                yield
                cursor.execute("commit")
            except BaseException:
                # A failed commit (a full disk) may leave the transaction open or end it:
                # either way the cursor must be usable for the next one.
                with suppress(duckdb.Error):
                    cursor.execute("rollback")
                raise
            if of_inputs:
                self.generation += 1
            if ingested is not None and ingested.stores is not None:
                self.hours_generation = self.generation
            if ingested is not None:
                for observer in self.observers:
                    observer(cursor, ingested)

    def add_polls(self, cursor, staged: Staged) -> int:
        """Store staged polls once each (a retried poll is not stored again); the number of
        valid polls in the batch."""
        ingested = Ingested()
        with self.transaction(cursor, ingested):
            ingested.polls = self._add_polls(cursor, staged)
        return staged.read - staged.rejected

    def store_files(self, cursor, staged: dict[str, Staged]) -> None:
        """Uploaded inputs, all in one transaction: polls added; a menu_hours file replaces the
        hours of every store it names, a timezones file their zones (the last valid row of a
        store wins: the staging SQL rejects the earlier ones as superseded)."""
        ingested = Ingested(
            stores=" union ".join(
                f"select stg.store_id from {staged[name].accepted}"
                for name in ("menu_hours", "timezones")
                if name in staged
            )
            or None,
        )
        with self.transaction(cursor, ingested):
            if "store_status" in staged:
                ingested.polls = self._add_polls(cursor, staged["store_status"])
            if "menu_hours" in staged:
                self._replace_hours(cursor, staged["menu_hours"], stores=[])
            if "timezones" in staged:
                self._replace_timezones(cursor, staged["timezones"], stores=[])

    def register(self, cursor, store_id: str, hours: Staged, zone: Staged | None) -> int:
        """A store's zone and hours become exactly these, at once (no zone: the default)."""
        with self.transaction(cursor, Ingested(stores=[store_id])):
            self._replace_hours(cursor, hours, stores=[store_id])
            self._replace_timezones(cursor, zone, stores=[store_id])
        return hours.read

    def register_day(self, cursor, store_id: str, hours: Staged, zone: Staged | None) -> int:
        """The seeds' flat registration: the hours of one day of a store become this row (its
        other days kept), and its zone, when given, this one."""
        with self.transaction(cursor, Ingested(stores=[store_id])):
            day = cursor.execute(f"select day_of_week from {hours.staged_table}").fetchone()[0]
            # Stored rows keep their day as received ("0", " 0", ...): the staging SQL says
            # which of them fall on this day.
            stored = cursor.execute(
                "select raw_store_id, raw_day, raw_start_time_local, raw_end_time_local"
                " from business_hours where store_id = $1",
                [store_id],
            ).fetchall()
            names = ("store_id", "day", "start_time_local", "end_time_local")
            rows = [dict(zip(names, row, strict=True)) for row in stored]
            rows_to_table(cursor, "menu_hours", rows, "kept")
            kept = self.stage(cursor, "menu_hours", "kept", keep=0)
            cursor.execute(
                "delete from business_hours where store_id = $1 and raw_day in"
                f' (select raw."day" from {kept.accepted} and stg.day_of_week = $2)',
                [store_id, day],
            )
            self._insert_hours(cursor, hours)
            if zone is not None:
                self._replace_timezones(cursor, zone, stores=[store_id])
        return hours.read

    def _add_polls(self, cursor, staged: Staged) -> str | None:
        """Store the staged polls (in a transaction); a query of those it stored, the polls of
        this write's arrival (arrivals only grow, so the row groups' bounds skip all but the
        last ones), or None when the batch has no valid poll."""
        # A poll is stored once: not again when it is stored already (a retry) nor twice from
        # one batch (the first row wins). The stored polls are looked for within the batch's
        # instants only, and stored in time order: polls arrive roughly in time order, so the
        # table stays clustered by polled_at and a scan of a range of instants (this one, a
        # report's week) skips the rest by the row groups' min/max (an upload of history is
        # sorted as a whole). The bounds are literals: only constants let DuckDB skip.
        first, last = cursor.execute(
            f"select min(stg.polled_at), max(stg.polled_at) from {staged.accepted}"
        ).fetchone()
        if first is None:
            return None
        arrival = self.generation + 1
        cursor.execute(
            f"""
            insert into polls
            select
                stg.store_id, stg.polled_at, stg.is_active,
                raw.store_id, raw.status, raw.timestamp_utc, now()::timestamp,
                {arrival}
            from {staged.accepted}
                and not exists (
                    select 1 from polls
                    where polls.polled_at between {timestamp_literal(first)}
                        and {timestamp_literal(last)}
                        and polls.store_id = stg.store_id
                        and polls.polled_at = stg.polled_at
                        and polls.is_active = stg.is_active
                )
            qualify row_number() over (
                partition by stg.store_id, stg.polled_at, stg.is_active
                order by stg.source_row_number
            ) = 1
            order by stg.polled_at, stg.store_id, stg.is_active
            """
        )
        cursor.execute(
            f"""
            insert into store_poll_bounds
            select stg.store_id, min(stg.polled_at), max(stg.polled_at)
            from {staged.accepted}
            group by stg.store_id
            on conflict (store_id) do update set
                first_polled_at = least(first_polled_at, excluded.first_polled_at),
                last_polled_at = greatest(last_polled_at, excluded.last_polled_at)
            """
        )
        return f"select store_id, polled_at, is_active from polls where arrival = {arrival}"

    def _replace_hours(self, cursor, staged: Staged, stores: list[str]) -> None:
        cursor.execute(
            "delete from business_hours where store_id in"
            f" (select stg.store_id from {staged.accepted} union all select unnest($1::varchar[]))",
            [stores],
        )
        self._insert_hours(cursor, staged)

    def _insert_hours(self, cursor, staged: Staged) -> None:
        cursor.execute(
            f"""
            insert into business_hours
            select stg.store_id, raw.store_id, raw."day", raw.start_time_local,
                raw.end_time_local, now()::timestamp
            from {staged.accepted}
            """
        )

    def _replace_timezones(self, cursor, staged: Staged | None, stores: list[str]) -> None:
        cursor.execute(
            "delete from timezones where store_id in (select unnest($1::varchar[]))", [stores]
        )
        if staged is not None:
            cursor.execute(
                f"""
                insert or replace into timezones
                select stg.store_id, raw.store_id, raw.timezone_str, now()::timestamp
                from {staged.accepted}
                """
            )

    # ------------------------------------------------------------------ figures
    @staticmethod
    def latest_poll(
        cursor: duckdb.DuckDBPyConnection, given: datetime | None = None
    ) -> datetime | None:
        """The instant of the latest poll ever stored, in `cursor`'s transaction (None: no
        poll); `given` instead when there is one."""
        return cursor.execute(LATEST_POLL, [given]).fetchone()[0]

    def count_polls(self) -> int:
        with closing(self.cursor()) as cursor:
            return cursor.execute("select count(*) from polls").fetchone()[0]


def timestamp_literal(value: datetime | None) -> str:
    """A timestamp as a SQL literal (a constant, which lets a scan skip row groups)."""
    return "null::timestamp" if value is None else f"timestamp '{value.isoformat(sep=' ')}'"
