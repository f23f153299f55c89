"""The service's live status against the dbt model built over every row sent.

One service runs with a clock of the test's own (Settings.clock). Hypothesis sends polls (on
time, late by hours, stamped ahead of the clock), batches, registrations in both forms and
uploads, interleaved with moves of the clock; then `GET /status` (the last evaluation's table)
and `GET /status?at=` (an instant after the live set's base, and one long before it) must be,
byte for byte, what `storemon export` of the same rows as files gives in store_status_now at
that instant (with the status_time setting), formatted by storemon.status as
`storemon status --format json` formats it. The rows accumulate over the examples, so later
examples run against a longer history.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import duckdb
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from support import HOURS_HEADER, STATUS_HEADER, ZONES_HEADER, write_csv

from storemon.export import Inputs, export
from storemon.service.inbox import INBOX_MEMORY_LIMIT
from storemon.status import format_instant, read_status, render_json

START = datetime(2024, 11, 4, 6, 0)  # New York fell back the day before
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "America/Chicago"]
STORES = [f"s{n}" for n in range(6)]
TIMES = ["00:00", "06:30", "09:00", "12:00", "17:00", "22:00", "23:59:59"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def advance(self, minutes: int) -> None:
        with self.lock:
            self.now += timedelta(minutes=minutes)


@dataclass
class Sent:
    """Every row the service has been sent, as the files that hold the same data."""

    polls: list[tuple[str, str, str]] = field(default_factory=list)
    hours: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)

    def write(self, folder: Path) -> Inputs:
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(folder / "store_status.csv", STATUS_HEADER, self.polls)
        rows = [row for store in sorted(self.hours) for row in self.hours[store]]
        write_csv(folder / "menu_hours.csv", HOURS_HEADER, rows)
        write_csv(folder / "timezones.csv", ZONES_HEADER, sorted(self.zones.items()))
        return Inputs(
            folder / "store_status.csv", folder / "menu_hours.csv", folder / "timezones.csv"
        )


@pytest.fixture(scope="module")
def live(service_client, tmp_path_factory):
    clock = Clock(START)
    with service_client(clock=clock) as client:
        yield client, clock, Sent(), tmp_path_factory.mktemp("expected")


def expected_document(sent: Sent, folder: Path, at: datetime) -> tuple[str, dict]:
    """store_status_now of `storemon export` over the rows sent, at `at`: the stores as
    `storemon status --format json` writes them, and the counts."""
    inputs = sent.write(folder / "inputs")
    saved = os.environ.get("STOREMON_STATUS_TIME")
    os.environ["STOREMON_STATUS_TIME"] = at.isoformat(sep=" ")
    try:
        export(inputs, db_path=folder / "status.duckdb", out="-", write_report=False)
    finally:
        if saved is None:
            os.environ.pop("STOREMON_STATUS_TIME")
        else:
            os.environ["STOREMON_STATUS_TIME"] = saved
    with duckdb.connect(str(folder / "status.duckdb"), read_only=True) as connection:
        status = read_status(connection)
    assert status.at == at
    return render_json(status.rows).rstrip("\n"), status.counts()


def stamp(at: datetime) -> str:
    return at.isoformat(sep=" ", timespec="seconds")


# --- what a client does ------------------------------------------------------------------------

stores = st.sampled_from(STORES)
statuses = st.sampled_from(["active", "inactive"])
# Minutes from the clock: mostly the last hours, some late (beyond the live set's base, two
# hours back) or stamped ahead of the clock (the service accepts up to a day).
offsets = st.one_of(st.integers(-150, 5), st.integers(-3000, -150), st.integers(1, 600))
polls = st.tuples(stores, statuses, offsets, st.integers(0, 59))
hours_rows = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(TIMES), st.sampled_from(TIMES)), max_size=4
)
actions = st.one_of(
    st.tuples(st.just("poll"), polls),
    st.tuples(st.just("polls"), st.lists(polls, min_size=1, max_size=6)),
    st.tuples(st.just("register"), st.tuples(stores, st.sampled_from([None, *ZONES]), hours_rows)),
    st.tuples(st.just("flat"), st.tuples(stores, st.sampled_from(ZONES), hours_rows.filter(bool))),
    st.tuples(st.just("upload"), st.tuples(st.lists(polls, max_size=5), hours_rows, stores)),
    st.tuples(st.just("clock"), st.integers(1, 400)),
)


def poll_row(clock: Clock, poll) -> tuple[str, str, str]:
    store, status, minutes, seconds = poll
    return store, status, stamp(clock() + timedelta(minutes=minutes, seconds=seconds))


def act(client, clock: Clock, sent: Sent, action) -> None:
    kind, value = action
    if kind == "poll":
        row = poll_row(clock, value)
        answer = client.post("/poll", json=dict(zip(STATUS_HEADER, row, strict=True)))
        sent.polls.append(row)
    elif kind == "polls":
        rows = [poll_row(clock, poll) for poll in value]
        answer = client.post(
            "/polls", json=[dict(zip(STATUS_HEADER, r, strict=True)) for r in rows]
        )
        sent.polls += rows
    elif kind == "register":
        store, zone, hours = value
        body = {
            "store_id": store,
            "business_hours": [
                {"day": d, "start_time_local": s, "end_time_local": e} for d, s, e in hours
            ],
        }
        if zone is not None:
            body["timezone_str"] = zone
        answer = client.post("/register_store", json=body)
        sent.hours[store] = [(store, str(d), s, e) for d, s, e in hours]
        if zone is None:
            sent.zones.pop(store, None)
        else:
            sent.zones[store] = zone
    elif kind == "flat":
        store, zone, hours = value
        for day, start, end in hours:
            answer = client.post("/register_store", json={
                "store_id": store, "timezone_str": zone, "day": day,
                "start_time_local": start, "end_time_local": end})  # fmt: skip
            assert answer.status_code == 200, answer.text
            kept = [row for row in sent.hours.get(store, []) if row[1] != str(day)]
            sent.hours[store] = [*kept, (store, str(day), start, end)]
            sent.zones[store] = zone
    elif kind == "upload":
        poll_list, hours, store = value
        rows = [poll_row(clock, poll) for poll in poll_list]
        files = {"store_status": ("store_status.csv", csv_text(STATUS_HEADER, rows))}
        if hours:
            hour_rows = [(store, str(d), s, e) for d, s, e in hours]
            files["menu_hours"] = ("menu_hours.csv", csv_text(HOURS_HEADER, hour_rows))
            sent.hours[store] = hour_rows
        answer = client.post("/upload", files=files)
        sent.polls += rows
    else:
        clock.advance(value)
        client.app.state.service.live.wake()
        return
    assert answer.status_code == 200, answer.text


def csv_text(header, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def check(client, sent: Sent, folder: Path, query: str, at: datetime) -> None:
    answer = client.get(f"/status{query}")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["status_at"] == format_instant(at)
    stores, counts = expected_document(sent, folder, at)
    assert answer.text.endswith(f',"stores":{stores}}}'), (answer.text, stores)
    assert document["counts"] == counts


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(actions, min_size=1, max_size=8), back=st.integers(0, 100))
def test_status_equals_the_model_over_every_row_sent(live, steps, back):
    client, clock, sent, folder = live
    note(f"clock {clock()}")
    for step in steps:
        act(client, clock, sent, step)
    board = client.app.state.service.live.settle()
    now = clock()
    assert board.at == now
    # The last evaluation's table, at the clock.
    check(client, sent, folder, "", now)
    # An explicit instant within the live set (after its base, two hours back) ...
    recent = now - timedelta(minutes=back)
    check(client, sent, folder, f"?at={recent.isoformat()}Z", recent)
    # ... and one long before it, from every stored poll.
    past = now - timedelta(hours=30, minutes=back)
    check(client, sent, folder, f"?at={past.isoformat()}Z", past)


def test_filters_and_counts(live):
    client, clock, sent, folder = live
    client.app.state.service.live.settle()
    everything = client.get("/status").json()
    for state in ("down", "silent", "up", "closed"):
        only = client.get("/status", params={"state": state}).json()
        assert [s["state"] for s in only["stores"]] == [state] * everything["counts"][state]
        assert only["counts"] == everything["counts"]
    both = client.get("/status", params=[("state", "down"), ("state", "up")]).json()["stores"]
    assert {s["state"] for s in both} <= {"down", "up"}
    one = client.get("/status", params={"store_id": everything["stores"][0]["store_id"]})
    assert one.json()["stores"] == everything["stores"][:1]
    assert client.get("/status", params={"store_id": "nope"}).json()["stores"] == []
    assert json.loads(client.get("/status?at=2024-11-04 06:00:00").text)["status_at"] == (
        "2024-11-04T06:00:00Z"
    )


def test_only_the_polls_an_ingestion_stored_reach_the_live_status(live):
    """A poll stored already (a client's retry) changes no store's row: the live status hears
    of the polls each ingestion stored, so a retry's store is not evaluated again; the same
    instant with the other status is stored, and heard of."""
    client, clock, sent, folder = live
    inbox = client.app.state.service.inbox
    heard = []

    def observer(cursor, ingested) -> None:
        rows = [] if ingested.polls is None else cursor.execute(ingested.polls).fetchall()
        heard.append(sorted((store, str(at), active) for store, at, active in rows))

    at = clock() - timedelta(minutes=7, seconds=13)
    poll = {"store_id": "retried", "status": "active", "timestamp_utc": stamp(at)}
    inbox.observers.append(observer)
    try:
        for body in (poll, poll, {**poll, "status": "inactive"}):
            assert client.post("/poll", json=body).status_code == 200
        assert client.post("/polls", json=[poll, poll]).status_code == 200
    finally:
        inbox.observers.remove(observer)
    sent.polls += [("retried", "active", stamp(at)), ("retried", "inactive", stamp(at))]
    assert heard == [[("retried", str(at), True)], [], [("retried", str(at), False)], []]


def test_the_inbox_keeps_its_memory_limit(live):
    """The live status runs the status model's recorded plan on the inbox's connection: the
    export's settings recorded with it (its memory limit) must not lift the inbox's."""
    client = live[0]
    inbox = client.app.state.service.live.inbox
    client.app.state.service.live.settle()
    with duckdb.connect(config={"memory_limit": INBOX_MEMORY_LIMIT}) as fresh:
        expected = fresh.execute("select current_setting('memory_limit')").fetchone()
    assert inbox.connection.execute("select current_setting('memory_limit')").fetchone() == (
        expected
    )


# --- a rebuild from the inbox reads one window at a time ---------------------------------------


def reduced_reference(polls, base: datetime, stores, after: str) -> list[tuple]:
    """The reduced set at `base` (live.reduced's docstring) in plain Python: per store, the
    instants (inactive when any poll at it is), the trailing run at or before the base as its
    first instant (weighted by the run's instants but the last) and its last, then the later
    instants (all, or only the latest)."""
    instants: dict[str, dict[datetime, bool]] = {}
    for store, at, active in polls:
        if stores is None or store in stores:
            held = instants.setdefault(store, {})
            held[at] = held.get(at, True) and active
    rows = []
    for store, held in instants.items():
        settled = sorted(at for at in held if at <= base)
        if settled:
            status = held[settled[-1]]
            first = settled[-1]
            for at in reversed(settled):
                if held[at] != status:
                    break
                first = at
            length = sum(1 for at in settled if at >= first)
            rows.append((store, first, status, 1 if length == 1 else length - 1))
            if length > 1:
                rows.append((store, settled[-1], status, 1))
        later = sorted(at for at in held if at > base)
        if after == "latest":
            later = later[-1:]
        rows += [(store, at, held[at], 1) for at in later]
    return sorted(rows)


@settings(max_examples=60, deadline=None)
@given(
    polls=st.lists(
        st.tuples(
            st.sampled_from(STORES),
            st.integers(0, 20 * 24 * 4).map(lambda q: START + timedelta(minutes=15 * q)),
            st.booleans() | st.just(True),
        ),
        max_size=60,
    ),
    base_hours=st.integers(-24, 21 * 24),
    lookback_minutes=st.integers(1, 3 * 24 * 60),
    subset=st.none() | st.lists(st.sampled_from([*STORES, "unknown"]), max_size=4),
    after=st.sampled_from(["all", "latest"]),
)
def test_a_rebuild_by_windows_equals_one_over_every_poll(
    polls, base_hours, lookback_minutes, subset, after
):
    """Whatever the first window, a rebuild reads the same reduced set as one pass over every
    stored poll would (duplicates, conflicting polls at one instant and long runs included)."""
    from storemon.service import live

    base = START + timedelta(hours=base_hours)
    first_window = patch.object(live, "REBUILD_LOOKBACK", timedelta(minutes=lookback_minutes))
    with first_window, duckdb.connect() as connection:
        connection.execute(
            "create table polls (store_id varchar, polled_at timestamp, is_active boolean)"
        )
        if polls:
            connection.executemany("insert into polls values (?, ?, ?)", polls)
        connection.execute(
            "create table store_poll_bounds as select store_id, min(polled_at) as"
            " first_polled_at, max(polled_at) as last_polled_at from polls group by store_id"
        )
        live.LiveStatus._reduce_inbox(connection, base, subset, after)
        found = connection.execute(
            "select store_id, polled_at, is_active, weight from live_reduced order by all"
        ).fetchall()
    assert found == reduced_reference(polls, base, subset, after)
