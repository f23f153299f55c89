"""The service's live status: every store's row of the dbt model store_status_now at the
service's clock, kept current as rows arrive and as the clock passes the instants where a
row changes (docs/service.md, "Which stores are down now").

The rules stay the model's: each evaluation replays the model's compiled plan (recorded by the
report worker at start-up, storemon/plan.py) over a reduced input that gives the same rows as
all the stored polls would. Per store, the live set keeps the polls stamped after a base
instant B (some time before the clock) and, of those at or before B, only the first and the
last instant of the trailing run of polls sharing the status of the latest one (the run that
store_status_now's `state_since` starts). At any T >= B the latest poll at or before T, its
status and the start of its run are then the same as over every poll; so is the store
universe. Each kept instant carries a weight, the instants of the run it stands for, so the
length of a run is known without its middle. The set is small (a few rows per store) and
grows only with the polls of the last hours, never with the history.

An evaluation runs for the stores whose input changed (polls, hours, zone) and those whose
row can have changed because the clock passed an instant of theirs: a closing or opening, the
end of the silence threshold, or a poll stamped ahead of the clock. A store's row depends on
its own rows only, so the other stores' rows stay as they were. `GET /status` answers from the
last evaluation's table.

A poll stamped at or before B (a late one, or an upload of history) makes its store's set be
rebuilt from the inbox; so does the start-up, for every store. A rebuild reads the polls after
B and each store's trailing run, not the whole history: it looks back from B (or from the last
poll, when all are older) a window at a time, each twice the last, until a store's window holds
an instant of the other status or its first poll. The inbox stores polls in time order, so a
window's scan skips the row groups before it.
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from storemon import plan
from storemon.project import eprint
from storemon.service.inbox import Inbox, Ingested, timestamp_literal
from storemon.service.live_hook import (
    STATES,
    STATUS_COLUMNS,
    Evaluation,
    Listener,
    StatusChange,
    StatusRow,
)
from storemon.service.validation import rows_to_table
from storemon.status import row_to_json

# How far the base instant B lags behind the clock: polls stamped up to this long before the
# clock go into the live set as they are; older ones rebuild their store from the inbox.
BASE_LAG = timedelta(hours=2)
# How often the live set is reduced to a new base (its size: the polls of BASE_LAG + this).
PRUNE_EVERY = timedelta(minutes=10)
# A store whose row has no instant of change in sight (open through the model's 9-day horizon
# or closed with no opening in it, by its business-hours rows) is evaluated again this often.
RECHECK = timedelta(minutes=1)
# The longest the evaluation thread sleeps with nothing to do (a clock that jumps is noticed).
LONGEST_SLEEP = 30.0
# A batch of more polls than this (an upload) has its stores rebuilt from the inbox by the
# evaluation thread rather than added during the ingestion.
INLINE_POLLS = 10_000
# A rebuild's first window reaches this far back from its base (see the module's docstring).
REBUILD_LOOKBACK = timedelta(days=1)
# The catalog the plan is recorded into and replayed in (the SQL names it).
PLAN_CATALOG = "status_now"
ONE_MICROSECOND = timedelta(microseconds=1)

# The inbox's polls as instants (one row per store and instant; inactive wins, as the model's
# deduplication does), each standing for itself.
INBOX_INSTANTS = """
select store_id, polled_at, bool_and(is_active) as is_active, 1::bigint as weight
from polls {where}
group by store_id, polled_at
"""


def reduced(source: str, after: str = "all") -> str:
    """The reduced set of `source` (store_id, polled_at, is_active, weight; one row per store and
    instant) at base $base: per store the first and last instant of the trailing run at or
    before $base, with weights, and the instants after $base (`after` "all"), or only the
    latest of them ("latest": enough for an evaluation at $base itself)."""
    later = (
        "select store_id, polled_at, is_active, weight from source where polled_at > $base"
        if after == "all"
        else "select store_id, max(polled_at), arg_max(is_active, polled_at), 1::bigint"
        " from source where polled_at > $base group by store_id"
    )
    return f"""
with
source as ({source}),
settled as (select * from source where polled_at <= $base),
latest as (
    select store_id, max(polled_at) as last_at, arg_max(is_active, polled_at) as last_active
    from settled group by store_id
),
breaks as (
    select settled.store_id, max(settled.polled_at) as broken_at
    from settled inner join latest on settled.store_id = latest.store_id
    where settled.is_active != latest.last_active
    group by settled.store_id
),
runs as (
    select
        settled.store_id,
        min(settled.polled_at) as first_at,
        sum(settled.weight) as instants,
        any_value(latest.last_at) as last_at,
        any_value(latest.last_active) as is_active
    from settled
    inner join latest on settled.store_id = latest.store_id
    left join breaks on settled.store_id = breaks.store_id
    where breaks.broken_at is null or settled.polled_at > breaks.broken_at
    group by settled.store_id
)
select store_id, first_at as polled_at, is_active,
    case when first_at = last_at then 1 else instants - 1 end::bigint as weight
from runs
union all
select store_id, last_at, is_active, 1::bigint from runs where last_at > first_at
union all
{later}
"""


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def timestamp_text(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds")


def rendered_row(row: StatusRow) -> bytes:
    """A status row as the JSON object `storemon status --format json` writes for it."""
    document = row_to_json(row._asdict())
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Board:
    """The last evaluation's table: every store's row at `at`, rendered for the answers."""

    at: datetime | None
    rows: dict[str, StatusRow]
    rendered: dict[str, bytes]  # each row as JSON
    order: list[str]  # store ids, sorted
    counts: dict[str, int]
    next_due: datetime | None  # the first instant at which some row may change
    _joined: dict[tuple[str, ...], bytes] = field(default_factory=dict, compare=False)

    def described_at(self, now: datetime) -> datetime | None:
        """The instant the rows describe: the clock, unless a row may have changed since the
        last evaluation (then the instant before that change)."""
        if self.at is None:
            return None
        latest = now if self.next_due is None else min(now, self.next_due - ONE_MICROSECOND)
        return max(self.at, latest)

    def joined(self, states: tuple[str, ...] = ()) -> bytes:
        """The rows (of `states`; none: every row) as the JSON array's items, in store_id
        order; kept, so that the next request for them costs nothing."""
        key = tuple(sorted(set(states)))
        if key not in self._joined:
            chosen = [s for s in self.order if not key or self.rows[s].state in key]
            self._joined[key] = b",".join(self.rendered[s] for s in chosen)
        return self._joined[key]


EMPTY_BOARD = Board(None, {}, {}, [], dict.fromkeys(STATES, 0), None)


class LiveStatus:
    def __init__(
        self,
        inbox: Inbox,
        silent_after_minutes: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.inbox = inbox
        self.silent_after = timedelta(minutes=silent_after_minutes)
        self.silent_after_minutes = silent_after_minutes
        self.clock = clock or utc_now
        self.board = EMPTY_BOARD
        self.listeners: list[Listener] = []
        self.evaluations = 0  # rounds that ran the plan, for /metrics and the tests
        self._plan: dict | None = None
        self._polls_shape: list[tuple[str, str]] = []
        self._lock = threading.Lock()  # the live set
        self._evaluating = threading.Lock()  # one evaluation at a time (one plan catalog)
        self._wake = threading.Condition()
        self._dirty: set[str] = set()  # stores to evaluate again
        self._rebuild_pending: set[str] = set()  # their live set from the inbox first
        self._hours_pending: set[str] = set()  # their hours and zone from the inbox first
        self._forced = False
        self._stopping = False
        self._base: datetime | None = None
        self._prune_due: datetime | None = None
        self._due: list[tuple[datetime, str]] = []  # heap of (instant, store), lazily cleaned
        self._due_of: dict[str, datetime] = {}
        self._has_hours: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="storemon-live", daemon=True)

    # ------------------------------------------------------------------ the hook
    def subscribe(self, listener: Listener) -> None:
        """Call `listener(evaluation)` after every evaluation (see live_hook.py)."""
        self.listeners.append(listener)

    # ------------------------------------------------------------------ life
    def start(self, status_plan: dict, polls_shape: list[tuple[str, str]]) -> None:
        """Build the live set from the inbox, evaluate every store, then keep them current."""
        self._plan = status_plan
        self._polls_shape = polls_shape
        with closing(self.inbox.cursor()) as cursor:
            cursor.execute("attach if not exists ':memory:' as live_set")
            cursor.execute(
                "create table live_set.polls (store_id varchar, polled_at timestamp,"
                " is_active boolean, weight bigint, primary key (store_id, polled_at))"
            )
            for input_name, table in (("menu_hours", "hours"), ("timezones", "zones")):
                rows_to_table(cursor, input_name, [], "live_shape")
                sql = self.inbox.validator.staged(input_name, "live_shape")
                cursor.execute(f"create table live_set.{table} as from ({sql}) where false")
        at = self.clock()
        with closing(self.inbox.cursor()) as cursor, self._lock:
            self._rebuild(cursor, at - BASE_LAG, stores=None)
            self._reload_hours(cursor, stores=None)
        self.inbox.observers.append(self._ingested)
        self._round(force_all=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def wake(self) -> None:
        """Evaluate now (the tests' clock moved)."""
        with self._wake:
            self._forced = True
            self._wake.notify_all()

    def settle(self, timeout: float = 30) -> Board:
        """Wait until an evaluation has run after this call with no ingested store pending."""
        with self._wake:
            target = self._rounds_started + 1  # a round that starts after this call
            self._forced = True
            self._wake.notify_all()
            if not self._wake.wait_for(
                lambda: self.evaluations_run >= target and not self._dirty, timeout
            ):
                raise TimeoutError("the live status did not settle")
        return self.board

    evaluations_run = 0  # rounds finished, empty ones included
    _rounds_started = 0

    # ------------------------------------------------------------------ ingestion
    def _ingested(self, cursor: duckdb.DuckDBPyConnection, ingested: Ingested) -> None:
        """An inbox observer: called after each ingestion's commit, one at a time. A batch of
        polls goes into the live set at once; a large one (an upload), and new hours or zones,
        only name their stores, whose sets the evaluation thread then rebuilds from the inbox
        (which holds the same rows by then), so that the ingestion does not wait for it."""
        changed: set[str] = set()
        rebuild: set[str] = set()
        hours: set[str] = set()
        if ingested.polls is not None:
            cursor.execute(
                "create or replace temp table live_new as select store_id, polled_at,"
                f" bool_and(is_active) as is_active from ({ingested.polls}) group by all"
            )
            found = cursor.execute("select distinct store_id from live_new").fetchall()
            changed = {row[0] for row in found}
            if cursor.execute("select count(*) from live_new").fetchone()[0] > INLINE_POLLS:
                rebuild = changed
            else:
                with self._lock:
                    self._add_polls(cursor)
        if ingested.stores is not None:
            hours = set(self._store_list(cursor, ingested.stores))
        if changed or hours:
            with self._wake:
                self._rebuild_pending |= rebuild
                self._hours_pending |= hours
                self._dirty |= changed | hours
                self._wake.notify_all()

    def _add_polls(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """The polls of temporary table live_new into the live set; a store with one at or
        before the base (late) is rebuilt from the inbox instead."""
        late = [
            row[0]
            for row in cursor.execute(
                "select distinct store_id from live_new where polled_at <= $1", [self._base]
            ).fetchall()
        ]
        cursor.execute(
            "insert into live_set.polls select store_id, polled_at, is_active, 1 from live_new"
            " where polled_at > $1 and store_id not in (select unnest($2::varchar[]))"
            " on conflict do update set is_active = is_active and excluded.is_active",
            [self._base, late],
        )
        if late:
            self._rebuild(cursor, self._base, late)

    @staticmethod
    def _store_list(cursor: duckdb.DuckDBPyConnection, stores: str | list[str]) -> list[str]:
        if isinstance(stores, list):
            return stores
        return [row[0] for row in cursor.execute(f"select distinct * from ({stores})").fetchall()]

    def _rebuild(
        self, cursor: duckdb.DuckDBPyConnection, base: datetime, stores: list[str] | None
    ) -> None:
        """The live set of `stores` (None: all) from every stored poll, at `base`."""
        self._reduce_inbox(cursor, base, stores)
        if stores is None:
            cursor.execute("delete from live_set.polls")
        else:
            cursor.execute(
                "delete from live_set.polls where store_id in (select unnest($1::varchar[]))",
                [stores],
            )
        cursor.execute("insert into live_set.polls select * from temp.main.live_reduced")
        self._base = base

    @staticmethod
    def _reduce_inbox(
        cursor: duckdb.DuckDBPyConnection,
        base: datetime,
        stores: list[str] | None,
        after: str = "all",
    ) -> None:
        """Temporary table live_reduced: the reduced set at `base` (see reduced()) of every
        stored poll of `stores` (None: all), read one window at a time back from the base: a
        store is done once its window holds all its polls or an instant before its trailing
        run (then its run, its weight and its later polls are the whole history's)."""
        cursor.execute(
            "create or replace temp table live_scope as "
            + (
                "select store_id from store_poll_bounds"
                if stores is None
                else "select distinct unnest($1::varchar[]) as store_id"
            ),
            [] if stores is None else [stores],
        )
        cursor.execute(
            "create or replace temp table live_reduced (store_id varchar, polled_at timestamp,"
            " is_active boolean, weight bigint)"
        )
        in_scope = "store_id in (select store_id from temp.main.live_scope)"
        lookback = REBUILD_LOOKBACK
        while True:
            # The windows end at the base, or at the last poll when all are older (history).
            oldest, end = cursor.execute(
                "select min(first_polled_at), least($1, max(last_polled_at))"
                f" from store_poll_bounds where {in_scope}",
                [base],
            ).fetchone()
            if oldest is None:  # no store left with a stored poll
                return
            whole = end - oldest <= lookback
            start = oldest if whole else end - lookback
            window = "" if whole else f"polled_at >= {timestamp_literal(start)} and "
            cursor.execute(
                "create or replace temp table live_instants as "
                + INBOX_INSTANTS.format(where=f"where {window}{in_scope}")
            )
            cursor.execute(
                "create or replace temp table live_round as"
                f" {reduced('select * from temp.main.live_instants', after)}",
                {"base": base},
            )
            if whole:
                cursor.execute("insert into live_reduced select * from temp.main.live_round")
                return
            cursor.execute(
                """
                create or replace temp table live_done as
                with
                runs as (
                    select store_id, min(polled_at) as run_first_at
                    from temp.main.live_round where polled_at <= $base group by store_id
                ),
                earliest as (
                    select store_id, min(polled_at) as first_at
                    from temp.main.live_instants where polled_at <= $base group by store_id
                )
                select scope.store_id
                from temp.main.live_scope as scope
                left join store_poll_bounds as bounds on scope.store_id = bounds.store_id
                left join runs on scope.store_id = runs.store_id
                left join earliest on scope.store_id = earliest.store_id
                where bounds.store_id is null
                    or bounds.first_polled_at >= $start
                    or earliest.first_at < runs.run_first_at
                """,
                {"base": base, "start": start},
            )
            cursor.execute(
                "insert into live_reduced select * from temp.main.live_round"
                " where store_id in (select store_id from temp.main.live_done)"
            )
            cursor.execute(
                "delete from temp.main.live_scope"
                " where store_id in (select store_id from temp.main.live_done)"
            )
            lookback *= 2

    def _reload_hours(self, cursor: duckdb.DuckDBPyConnection, stores: list[str] | None) -> None:
        """The staged hours and zone of `stores` (None: all) from the inbox."""
        where = "" if stores is None else " where store_id in (select unnest($1::varchar[]))"
        parameters = [] if stores is None else [stores]
        for table, raw_sql, input_name in (
            (
                "hours",
                'select raw_store_id as store_id, raw_day as "day",'
                " raw_start_time_local as start_time_local,"
                " raw_end_time_local as end_time_local,"
                " (row_number() over (order by rowid) - 1)::bigint as file_row_number"
                f" from business_hours{where}",
                "menu_hours",
            ),
            (
                "zones",
                "select raw_store_id as store_id, raw_timezone_str as timezone_str,"
                " (row_number() over (order by rowid) - 1)::bigint as file_row_number"
                f" from timezones{where}",
                "timezones",
            ),
        ):
            cursor.execute(f"delete from live_set.{table}{where}", parameters)
            cursor.execute(f"create or replace temp table live_raw as {raw_sql}", parameters)
            staged = self.inbox.validator.staged(input_name, "live_raw")
            cursor.execute(
                f"insert into live_set.{table} select * from ({staged})"
                " where rejection_reason is null"
            )
        found = {
            row[0]
            for row in cursor.execute(
                f"select distinct store_id from live_set.hours{where}", parameters
            ).fetchall()
        }
        if stores is None:
            self._has_hours = found
        else:
            self._has_hours = (self._has_hours - set(stores)) | found

    def _prune(self, cursor: duckdb.DuckDBPyConnection, base: datetime) -> None:
        """Reduce the live set to a later base (what it keeps at `base` is what every poll
        would give: see the module's docstring)."""
        if self._base is not None and base <= self._base:
            return
        cursor.execute(
            "create or replace temp table live_pruned as"
            f" {reduced('select * from live_set.polls')}",
            {"base": base},
        )
        cursor.execute("delete from live_set.polls")
        cursor.execute("insert into live_set.polls select * from live_pruned")
        self._base = base

    # ------------------------------------------------------------------ evaluation
    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._stopping or self._forced or self._dirty or self._is_due()):
                    self._wake.wait(self._sleep_seconds())
                if self._stopping:
                    return
                self._forced = False
            try:
                self._round()
            except Exception as error:  # the service goes on; the next round tries again
                eprint(f"live status: evaluation failed: {error}")
                with self._wake:
                    self.evaluations_run += 1
                    self._wake.notify_all()
                with self._wake:
                    self._wake.wait(1.0)

    def _next_due(self) -> datetime | None:
        while self._due and self._due_of.get(self._due[0][1]) != self._due[0][0]:
            heapq.heappop(self._due)
        candidates = [d for d in (self._due[0][0] if self._due else None, self._prune_due) if d]
        return min(candidates) if candidates else None

    def _is_due(self) -> bool:
        due = self._next_due()
        return due is not None and due <= self.clock()

    def _sleep_seconds(self) -> float:
        due = self._next_due()
        if due is None:
            return LONGEST_SLEEP
        return min(LONGEST_SLEEP, max(0.0, (due - self.clock()).total_seconds()) + 0.001)

    def _round(self, force_all: bool = False) -> None:
        changes: list[StatusChange] = []
        with closing(self.inbox.cursor()) as cursor, self._evaluating:
            with self._lock:
                # The clock is read as the round counts as started (under the condition that
                # settle() reads the count with): a round settle() waits for is at its clock.
                with self._wake:
                    self._rounds_started += 1
                    at = self.clock()
                if self._prune_due is None or at >= self._prune_due:
                    self._prune(cursor, at - BASE_LAG)
                    self._prune_due = at + PRUNE_EVERY
                with self._wake:
                    stores = set(self._dirty)
                    self._dirty.clear()
                    rebuild, self._rebuild_pending = self._rebuild_pending, set()
                    hours, self._hours_pending = self._hours_pending, set()
                if rebuild:
                    self._rebuild(cursor, self._base, sorted(rebuild))
                if hours:
                    self._reload_hours(cursor, sorted(hours))
                while self._due and self._due[0][0] <= at:
                    due_at, store_id = heapq.heappop(self._due)
                    if self._due_of.get(store_id) == due_at:
                        del self._due_of[store_id]
                        stores.add(store_id)
                chosen = None if force_all else sorted(stores)
                if force_all or chosen:
                    self._inputs(cursor, at, chosen)
            if force_all or chosen:
                rows, extras = self._evaluate(cursor, at)
                self.evaluations += 1
                changes = self._apply(at, chosen, rows, extras)
            else:
                self.board = Board(
                    at, self.board.rows, self.board.rendered, self.board.order,
                    self.board.counts, self._next_due(),
                )  # fmt: skip
        evaluation = Evaluation(at, tuple(changes))
        for listener in self.listeners:
            try:
                listener(evaluation)
            except Exception as error:
                eprint(f"live status: a listener failed: {error!r}")
        with self._wake:
            self.evaluations_run += 1
            self._wake.notify_all()

    def _inputs(
        self, cursor: duckdb.DuckDBPyConnection, at: datetime, stores: list[str] | None
    ) -> None:
        """The reduced input for an evaluation of `stores` (None: all) at `at`, as temporary
        tables of `cursor`: from the live set when `at` is not before its base, else from the
        stored polls (for an explicit instant in the past: its reads grow with the polls after
        it and the trailing runs before it)."""
        where = "" if stores is None else " where store_id in (select unnest($stores::varchar[]))"
        parameters: dict = {} if stores is None else {"stores": stores}
        if self._base is not None and at >= self._base:
            source = "live_set.polls"
        else:
            self._reduce_inbox(cursor, at, stores, after="latest")
            source = "temp.main.live_reduced"
        for table, source_table in (
            ("polls", source),
            ("hours", "live_set.hours"),
            ("zones", "live_set.zones"),
        ):
            cursor.execute(
                f"create or replace temp table live_{table} as select * from {source_table}{where}",
                parameters,
            )

    def _evaluate(self, cursor: duckdb.DuckDBPyConnection, at: datetime) -> tuple[list, dict]:
        """store_status_now at `at` over the input tables of `cursor` (see _inputs), by the
        model's recorded plan, in a fresh in-memory catalog of the inbox's engine; and per
        store (polls in the trailing run, the first poll after `at`)."""
        assert self._plan is not None
        cursor.execute(f"detach database if exists {PLAN_CATALOG}")
        cursor.execute(f"attach ':memory:' as {PLAN_CATALOG}")
        try:
            cursor.execute(f"use {PLAN_CATALOG}")
            settings = {
                "status_time": timestamp_text(at),
                "silent_after_minutes": str(self.silent_after_minutes),
                "report_time": "",
                "interpolation": "",
            }
            plan.run(
                self._plan,
                None,  # type: ignore[arg-type]
                settings,
                staged={
                    "stg_store_status": self._staged_polls(),
                    "stg_menu_hours": "select * from temp.main.live_hours",
                    "stg_timezones": "select * from temp.main.live_zones",
                },
                connection=cursor,
            )
            # The model is a view, and both queries below read it: computed once.
            cursor.execute(
                "create or replace temp table live_now as select * from store_status_now"
            )
            columns = ", ".join(STATUS_COLUMNS)
            rows = [
                StatusRow(*row)
                for row in cursor.execute(
                    f"select {columns} from temp.main.live_now order by store_id"
                ).fetchall()
            ]
            extras = {
                store_id: (int(run_polls), next_poll_at)
                for store_id, run_polls, next_poll_at in cursor.execute(
                    """
                    select
                        now_.store_id,
                        coalesce(sum(polls.weight) filter (
                            where now_.state in ('up', 'down')
                            and polls.polled_at between now_.state_since and now_.last_poll_at
                        ), 0),
                        min(polls.polled_at) filter (where polls.polled_at > $1)
                    from temp.main.live_now as now_
                    left join temp.main.live_polls as polls on now_.store_id = polls.store_id
                    group by now_.store_id
                    """,
                    [at],
                ).fetchall()
            }
        finally:
            cursor.execute("use inbox")
            cursor.execute(f"detach database if exists {PLAN_CATALOG}")
        return rows, extras

    def _staged_polls(self) -> str:
        """The live polls in stg_store_status's shape (as the report worker stages its polls)."""
        stored = {
            "source_row_number": "row_number() over (order by store_id, polled_at)",
            "store_id": "store_id",
            "polled_at": "polled_at",
            "is_active": "is_active",
        }
        columns = [
            f'cast({stored.get(name, "null")} as {type_}) as "{name}"'
            for name, type_ in self._polls_shape
        ]
        return f"select {', '.join(columns)} from temp.main.live_polls"

    def _apply(
        self,
        at: datetime,
        stores: list[str] | None,
        rows: list[StatusRow],
        extras: dict,
    ) -> list[StatusChange]:
        """The new board: the evaluated stores' rows replace theirs; the changes."""
        old = self.board
        new_rows = {} if stores is None else dict(old.rows)
        rendered = {} if stores is None else dict(old.rendered)
        evaluated = set(old.rows) if stores is None else set(stores)
        found = {row.store_id: row for row in rows}
        changes = []
        for store_id in sorted(evaluated | set(found)):
            before, after = old.rows.get(store_id), found.get(store_id)
            if after is None:
                new_rows.pop(store_id, None)
                rendered.pop(store_id, None)
                self._due_of.pop(store_id, None)
            else:
                new_rows[store_id] = after
                if after != before or store_id not in rendered:
                    rendered[store_id] = rendered_row(after)
                self._schedule(store_id, at, after, extras[store_id][1])
            if after != before:
                run_polls = extras[store_id][0] if after is not None else 0
                changes.append(StatusChange(store_id, before, after, run_polls))
        order = old.order if new_rows.keys() == old.rows.keys() else sorted(new_rows)
        counts = dict.fromkeys(STATES, 0)
        for row in new_rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        self.board = Board(at, new_rows, rendered, order, counts, self._next_due())
        return changes

    def _schedule(
        self, store_id: str, at: datetime, row: StatusRow, next_poll_at: datetime | None
    ) -> None:
        """When the store's row can next change with the clock alone."""
        candidates = [row.closes_at, row.opens_at, next_poll_at]
        if row.state in ("up", "down") and row.last_poll_at is not None:
            # Silent once more than the threshold has passed: one microsecond after it.
            candidates.append(row.last_poll_at + self.silent_after + ONE_MICROSECOND)
        if store_id in self._has_hours and (
            (row.is_open and row.closes_at is None) or (not row.is_open and row.opens_at is None)
        ):
            candidates.append(at + RECHECK)
        later = [c for c in candidates if c is not None and c > at]
        if not later:
            self._due_of.pop(store_id, None)
            return
        due = min(later)
        self._due_of[store_id] = due
        heapq.heappush(self._due, (due, store_id))

    # ------------------------------------------------------------------ explicit instants
    def rows_at(
        self,
        at: datetime,
        check: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> list[StatusRow]:
        """Every store's row at an explicit instant, evaluated now (not kept). `check`, called
        with the cursor in the transaction that then reads the input, may refuse it by raising
        (the retention cut: what it checks is what is read)."""
        with closing(self.inbox.cursor()) as cursor, self._evaluating:
            cursor.execute("begin transaction")
            try:
                if check is not None:
                    check(cursor)
                with self._lock:
                    self._inputs(cursor, at, None)
                cursor.execute("commit")
            except BaseException:
                cursor.execute("rollback")
                raise
            rows, _ = self._evaluate(cursor, at)
        return rows
