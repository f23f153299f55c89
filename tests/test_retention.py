"""Retention of polls (`storemon serve --keep-polls-days`, docs/operating.md, Retention): the
cut, the 422 before it, reports and statuses at or after it byte-identical once the older polls
are archived (and after a restart), the archive's files (each poll once, after a crash or a
poll sent again), the inbox file's size in steady state, and reading the archive."""

from __future__ import annotations

import errno
import json
import random
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    HOURS_HEADER,
    STATUS_HEADER,
    ZONES_HEADER,
    finished,
    inbox_state,
    parse_report,
    storemon_executable,
    write_csv,
)

from storemon import spark
from storemon.cli import cli
from storemon.service import retention as retention_module
from storemon.service.health import DiskWatch
from storemon.service.inbox import Inbox
from storemon.service.live import INBOX_INSTANTS, reduced
from storemon.service.retention import ARCHIVE, Retention, compact_inbox, cut_of

START = datetime(2026, 10, 1)
# The columns a test's own insert gives a stored poll (its `arrival` is NULL: an older poll).
POLL_COLUMNS = (
    "(store_id, polled_at, is_active, raw_store_id, raw_status, raw_timestamp_utc, received_at)"
)
LATEST_DAY = 20  # the latest poll is on 2026-10-21
KEEP = 7
CUT = datetime(2026, 10, 14)  # midnight of 2026-10-21 minus 7 days
CLOCK = datetime(2026, 10, 21, 10, 0)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def fleet_polls(seed: int = 7) -> list[tuple[str, str, str]]:
    """Hand-made stores around the cut, and a random one."""
    rng = random.Random(seed)
    polls = []

    def hourly(store, first_hour, last_hour, status_of, minute=0):
        for hour in range(first_hour, last_hour):
            at = START + timedelta(hours=hour, minutes=minute)
            polls.append((store, status_of(hour), stamp(at)))

    end = (LATEST_DAY + 1) * 24 - 14  # the last poll at 2026-10-21 09:xx
    hourly("busy", 0, end, lambda h: rng.choice(["active", "active", "inactive"]), 5)
    # Silent for longer than the retention: its last poll is long before the cut.
    hourly("silent", 0, 5 * 24, lambda h: "inactive" if h % 7 == 0 else "active", 10)
    hourly("old-only", 0, 30, lambda h: "active", 15)
    # Up since its first poll: the live status's state_since lies deep in the archive.
    hourly("long-run", 0, end, lambda h: "active", 20)
    # Down since day 9, through the cut.
    hourly("down-run", 0, end, lambda h: "active" if h < 9 * 24 else "inactive", 25)
    # Both statuses at some instants, the last one before the cut among them.
    hourly("mixed", 0, end, lambda h: "active", 30)
    for hour in (100, 200, 12 * 24 + 23):
        at = START + timedelta(hours=hour, minutes=30)
        polls.append(("mixed", "inactive", stamp(at)))
    # New after the cut.
    hourly("new", 17 * 24, end, lambda h: rng.choice(["active", "inactive"]), 35)
    # Polls an hour apart with a gap of two days over the cut.
    hourly("gap", 0, 12 * 24, lambda h: "inactive", 40)
    hourly("gap", 14 * 24 + 5, end, lambda h: "active", 40)
    return polls


def upload_fleet(client, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    status = write_csv(folder / "store_status.csv", STATUS_HEADER, fleet_polls())
    hours = write_csv(
        folder / "menu_hours.csv",
        HOURS_HEADER,
        [("busy", str(day), "09:00:00", "17:00:00") for day in range(5)]
        + [("gap", "6", "22:00:00", "02:00:00")],
    )
    zones = write_csv(folder / "timezones.csv", ZONES_HEADER, [("busy", "America/New_York")])
    answer = client.post(
        "/upload",
        files={
            "store_status": ("store_status.csv", status.read_bytes()),
            "menu_hours": ("menu_hours.csv", hours.read_bytes()),
            "timezones": ("timezones.csv", zones.read_bytes()),
        },
    )
    assert answer.status_code == 200, answer.text


# Reports whose week starts at or after the cut: the latest poll's, the earliest allowed,
# and one between; each interpolation.
REPORTS = [
    (as_of, interpolation)
    for as_of in (None, "2026-10-21 00:00:00 UTC", "2026-10-21T05:30:00Z")
    for interpolation in ("nearest", "previous")
]
# Statuses at the cut (each store's latest poll before it and the start of its run: kept),
# a microsecond after it, and later.
STATUS_AT = (
    "",
    "?at=2026-10-14T00:00:00Z",
    "?at=2026-10-14T00:00:00.000001Z",
    "?at=2026-10-17T03:00:00Z",
    "?at=2026-10-21T11:00:00Z",
)

BEFORE_CUT = "2026-10-13T23:59:59.999999Z"  # a microsecond before the cut


def observe(client) -> dict:
    """The reports (CSV bytes) and statuses (JSON bytes) that archiving must not change."""
    seen = {}
    for as_of, interpolation in REPORTS:
        body = {"interpolation": interpolation, **({"as_of": as_of} if as_of else {})}
        answer = client.post("/trigger_report", json=body)
        assert answer.status_code == 200, answer.text
        report = finished(client, answer.json()["report_id"])
        assert report["status"] == "Complete", report
        seen[("report", as_of, interpolation)] = client.get(report["url"]).content
    client.app.state.service.live.settle()
    for query in STATUS_AT:
        answer = client.get(f"/status{query}")
        assert answer.status_code == 200, answer.text
        seen[("status", query)] = answer.content
    return seen


def archive_rows(home: Path) -> list[tuple]:
    glob = str(home / ARCHIVE / "*" / "*.parquet")
    return duckdb.sql(
        f"select store_id, status, timestamp_utc, polled_at, is_active, date"
        f" from read_parquet('{glob}', hive_partitioning = true) order by all"
    ).fetchall()


def bounds(client) -> list[tuple]:
    """Each store's first and last poll ever, as the inbox keeps them."""
    with client.app.state.service.inbox.cursor() as cursor:
        return cursor.execute("select * from store_poll_bounds order by all").fetchall()


@pytest.fixture(scope="module")
def archived(service_client, tmp_path_factory):
    """A home filled without retention (as an earlier version would have), observed; then
    served with --keep-polls-days 7, archived and observed again; then once more after a
    restart (the live status built from the archived inbox)."""
    home = tmp_path_factory.mktemp("retention-home")
    folder = tmp_path_factory.mktemp("retention-inputs")
    with service_client(home=home, clock=lambda: CLOCK) as client:
        upload_fleet(client, folder)
        before = observe(client)
        # No retention, no cut: any instant is answered.
        no_cut = client.get(f"/status?at={BEFORE_CUT}")
        polls_before = client.app.state.service.inbox.count_polls()
        bounds_before = bounds(client)
        all_polls = sorted(
            client.app.state.service.inbox.cursor()
            .execute("select raw_store_id, raw_status, raw_timestamp_utc from polls")
            .fetchall()
        )
    # A home of a version before the retention had none of its tables.
    with duckdb.connect(str(home / "inbox.duckdb")) as db:
        db.execute("drop table retention_cut; drop table archived_days")
    with service_client(home=home, clock=lambda: CLOCK, keep_polls_days=KEEP) as client:
        service = client.app.state.service
        service.retention.archive()  # waits for the start-up's run, or is it
        after = observe(client)
        state = inbox_state(client)
        refused = client.post("/trigger_report", json={"as_of": "2026-10-20T23:59:59Z"})
        status_refused = client.get(f"/status?at={BEFORE_CUT}")
        assert inbox_state(client) == state
        polls_after = service.inbox.count_polls()
        again = service.retention.archive()
        bounds_after = bounds(client)
        with service.inbox.cursor() as cursor:
            latest_after = (
                Inbox.latest_poll(cursor),
                cursor.execute("select max(polled_at) from polls").fetchone()[0],
            )
    with service_client(home=home, clock=lambda: CLOCK, keep_polls_days=KEEP) as client:
        restarted = observe(client)
    # Without the option the cut applied stays: still refused.
    with service_client(home=home, clock=lambda: CLOCK) as client:
        state = inbox_state(client)
        status_refused_later = client.get("/status?at=2026-10-01 12:00:00")
        assert inbox_state(client) == state
    return {
        "home": home,
        "folder": folder,
        "before": before,
        "after": after,
        "restarted": restarted,
        "refused": refused,
        "status_refused": (status_refused, status_refused_later),
        "no_cut": no_cut,
        "polls_before": polls_before,
        "polls_after": polls_after,
        "all_polls": all_polls,
        "again": again,
        "bounds": (bounds_before, bounds_after),
        "latest_after": latest_after,
    }


def test_reports_and_statuses_after_the_cut_are_unchanged(archived):
    assert archived["polls_after"] < archived["polls_before"] / 2
    for key, content in archived["before"].items():
        assert archived["after"][key] == content, key
        assert archived["restarted"][key] == content, key


def test_archiving_leaves_each_stores_first_and_last_poll_as_they_were(archived):
    before, after = archived["bounds"]
    assert after == before
    assert (
        "old-only",
        START + timedelta(minutes=15),
        START + timedelta(hours=29, minutes=15),
    ) in after
    # The latest poll (the default report time, and what the cut is taken from) is the same
    # read from the bounds or from the polls left in the inbox: "gap" at 09:40 on the last day.
    assert archived["latest_after"] == (datetime(2026, 10, 21, 9, 40),) * 2


def test_a_report_before_the_cut_is_refused_naming_the_cut(archived):
    refused = archived["refused"]
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "the retention cut 2026-10-14 00:00:00" in detail
    assert "the earliest as_of is 2026-10-21 00:00:00" in detail


def test_a_status_before_the_cut_is_refused_naming_the_cut(archived):
    for refused, at, text in zip(
        archived["status_refused"],
        ("2026-10-13 23:59:59.999999", "2026-10-01 12:00:00"),
        (BEFORE_CUT, "2026-10-01 12:00:00"),
        strict=True,
    ):
        assert refused.status_code == 422, refused.text
        assert refused.json() == {
            "detail": [
                {
                    "loc": ["query", "at"],
                    "msg": f"the status at {at} is before the retention cut 2026-10-14 00:00:00"
                    " (older polls are archived, --keep-polls-days): the earliest at is"
                    " 2026-10-14 00:00:00",
                    "type": "value_error",
                    "input": text,
                }
            ]
        }
    # Without a cut the same instant is answered (from every poll).
    assert archived["no_cut"].status_code == 200, archived["no_cut"].text
    assert archived["no_cut"].json()["status_at"] == "2026-10-13T23:59:59.999999Z"


def test_the_archive_holds_each_poll_before_the_cut_once(archived):
    rows = archive_rows(archived["home"])
    texts = sorted((row[0], row[1], row[2]) for row in rows)
    expected = [p for p in archived["all_polls"] if p[2] < stamp(CUT)]
    assert texts == expected
    assert all(row[5] == row[3].date() for row in rows)  # each in its day's folder
    assert archived["again"].days == 0  # nothing left to do: idempotent


def test_the_inbox_keeps_the_polls_at_or_after_the_cut_and_two_instants_per_store(archived):
    with duckdb.connect(str(archived["home"] / "inbox.duckdb"), read_only=True) as db:
        kept = db.execute(
            "select store_id, count(distinct polled_at) from polls where polled_at < $1"
            " group by store_id order by store_id",
            [CUT],
        ).fetchall()
        after = db.execute("select count(*) from polls where polled_at >= $1", [CUT]).fetchone()
    kept = dict(kept)
    assert kept.pop("busy") in (1, 2)  # random statuses
    assert kept == {
        "silent": 1,  # its last poll, inactive after an active one
        "old-only": 2,  # its first poll and its last (all active)
        "long-run": 2,  # its first poll ever (state_since) and its last before the cut
        "down-run": 2,
        "mixed": 1,  # the last instant before the cut is inactive, and the one before active
        "gap": 2,
    }
    expected_after = [p for p in archived["all_polls"] if p[2] >= stamp(CUT)]
    assert after[0] == len(expected_after)


def test_storemon_serve_check_passes_with_an_archive(archived):
    result = CliRunner().invoke(cli, ["serve", "--home", str(archived["home"]), "--check"])
    assert result.exit_code == 0, result.output
    assert "is sound" in result.output


def test_keep_polls_days_under_seven_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--home", str(tmp_path), "--keep-polls-days", "6"])
    assert result.exit_code == 2
    assert "--keep-polls-days" in result.output and "at least 7 days" in result.output
    result = CliRunner(env={"STOREMON_KEEP_POLLS_DAYS": "3"}).invoke(
        cli, ["serve", "--home", str(tmp_path)]
    )
    assert result.exit_code == 2 and "3 is under 7" in result.output


def test_the_archive_is_an_export_input(archived, tmp_path):
    """The archive's days, combined into one file (the documented way), are a store_status
    input: the export over them and the inbox's polls after the cut gives the service's
    report, and counts every row as read and accepted."""
    home = archived["home"]
    glob = str(home / ARCHIVE / "*" / "*.parquet")
    combined = tmp_path / "store_status.parquet"
    inbox = str(home / "inbox.duckdb")
    duckdb.sql(
        f"attach '{inbox}' as inbox (read_only); copy ("
        f" select store_id, status, timestamp_utc from read_parquet('{glob}')"
        " union all select raw_store_id, raw_status, raw_timestamp_utc from inbox.polls"
        f" where polled_at >= '{CUT}'"
        f") to '{combined}'"
    )
    folder = archived["folder"]
    done = subprocess.run(
        [
            storemon_executable(), "export", "--status", str(combined),
            "--hours", str(folder / "menu_hours.csv"),
            "--timezones", str(folder / "timezones.csv"),
            "--as-of", "2026-10-21T05:30:00Z", "--out", str(tmp_path / "report.csv"),
            "--db", str(tmp_path / "report.duckdb"),
        ],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = archived["before"][("report", "2026-10-21T05:30:00Z", "nearest")]
    assert (tmp_path / "report.csv").read_bytes() == expected
    with duckdb.connect(str(tmp_path / "report.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from rejected_rows").fetchone()[0] == 0
        accepted = db.execute(
            "select count(*) from stg_store_status where rejection_reason is null"
        ).fetchone()[0]
    assert accepted == len(archived["all_polls"])


def test_the_archive_is_read_through_a_pattern_for_a_report_before_the_cut(archived, tmp_path):
    """A report whose week starts before the cut (the service refuses it) needs only the
    archive when it ends before the cut: exported from the archive's day files through a
    pattern, it equals the export of every poll the service was sent, but for the stores
    that first polled after the cut, which the archive does not name (their rows there are
    empty: no poll counts)."""
    folder = archived["folder"]
    common = (
        "--hours", str(folder / "menu_hours.csv"), "--timezones", str(folder / "timezones.csv"),
        "--as-of", "2026-10-13T23:00:00Z",
    )  # fmt: skip
    reports = {}
    for name, status in (
        ("archive", archived["home"] / ARCHIVE / "*" / "*.parquet"),
        ("sent", folder / "store_status.csv"),
    ):
        out = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(
            cli,
            ["export", "--status", str(status), *common, "--out", str(out),
             "--db", str(tmp_path / f"{name}.duckdb")],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        reports[name] = parse_report(out.read_text())
    later = {
        store: reports["sent"].pop(store)
        for store in set(reports["sent"]) - set(reports["archive"])
    }
    assert later == {"new": ("",) * 6}
    assert reports["archive"] == reports["sent"]
    assert len(reports["archive"]) == 7


# ---------------------------------------------------------------------- the inbox alone


def open_retention(home: Path, keep: int = KEEP) -> tuple[Inbox, Retention]:
    home.mkdir(parents=True, exist_ok=True)
    inbox = Inbox(home / "inbox.duckdb")
    return inbox, Retention(inbox, home, keep, DiskWatch(home))


# Each store's first and last poll kept as an ingestion keeps them (inbox.Inbox._add_polls),
# for polls inserted into the table directly.
KEEP_BOUNDS = """
insert into store_poll_bounds
select store_id, min(polled_at), max(polled_at) from polls group by store_id
on conflict (store_id) do update set
    first_polled_at = least(first_polled_at, excluded.first_polled_at),
    last_polled_at = greatest(last_polled_at, excluded.last_polled_at)
"""


def add_day(inbox: Inbox, day: int, stores: int, seed: int = 1) -> None:
    """Hourly polls of `stores` stores on day `day` after START, inserted as ingestion would."""
    with inbox.cursor() as cursor:
        cursor.execute(
            """
            insert into polls
            select
                'store-' || s, polled, hash(s, polled, $3) % 5 != 0,
                'store-' || s,
                case when hash(s, polled, $3) % 5 != 0 then 'active' else 'inactive' end,
                strftime(polled, '%Y-%m-%d %H:%M:%S.%f UTC'), now()::timestamp, $4
            from range($2) as stores(s), (
                select $1::timestamp + to_hours(h) + to_minutes(1) as polled
                from range(24) as t(h)
            )
            """,
            [START + timedelta(days=day), stores, seed, day + 1],
        )
        cursor.execute(KEEP_BOUNDS)


def polls_set(inbox: Inbox) -> set[tuple]:
    with inbox.cursor() as cursor:
        found = cursor.execute("select raw_store_id, polled_at, is_active from polls")
        return set(found.fetchall())


def resend(archived) -> str:
    """The archived polls of `archived` (a path or glob) stored again, as the inbox stores a
    retry: those not stored already."""
    insert = (
        f"insert into polls {POLL_COLUMNS} select sent.store_id, sent.polled_at,"
        " sent.is_active, sent.store_id,"
        f" sent.status, sent.timestamp_utc, now()::timestamp from read_parquet('{archived}')"
        " as sent"
        " where not exists (select 1 from polls where polls.store_id = sent.store_id"
        " and polls.polled_at = sent.polled_at and polls.is_active = sent.is_active)"
    )
    return f"{insert}; {KEEP_BOUNDS}"


def test_a_crash_between_the_file_and_the_delete_leaves_no_duplicate(tmp_path, monkeypatch):
    inbox, retention = open_retention(tmp_path / "crash")
    for day in range(12):
        add_day(inbox, day, stores=30)
    everything = polls_set(inbox)
    clean_inbox, clean = open_retention(tmp_path / "clean")
    for day in range(12):
        add_day(clean_inbox, day, stores=30)
    clean.archive()

    real = Retention._delete_archived
    calls = []

    def crash_on_the_third_day(self, *args):
        calls.append(args)
        if len(calls) == 3:
            raise OSError(errno.EIO, "simulated crash")
        return real(self, *args)

    monkeypatch.setattr(Retention, "_delete_archived", crash_on_the_third_day)
    with pytest.raises(OSError):
        retention.archive()
    monkeypatch.setattr(Retention, "_delete_archived", real)
    third_day = (START + timedelta(days=2)).date()
    assert (tmp_path / "crash" / ARCHIVE / f"date={third_day}" / "polls.parquet").exists()
    outcome = retention.archive()
    assert outcome.days == 2  # the third day again and the fourth, the last before the cut
    rows = archive_rows(tmp_path / "crash")
    assert len(rows) == len({(r[0], r[3], r[4]) for r in rows})
    archived = {(r[0], r[3], r[4]) for r in rows}
    assert archived | polls_set(inbox) == everything
    assert rows == archive_rows(tmp_path / "clean")
    assert polls_set(inbox) == polls_set(clean_inbox)

    # A day's polls sent again after it was archived are archived again, each once, and the
    # inbox keeps what it kept.
    with inbox.cursor() as cursor:
        glob = tmp_path / "crash" / ARCHIVE / f"date={third_day}" / "polls.parquet"
        cursor.execute(resend(glob))
    kept = polls_set(clean_inbox)
    assert retention.archive().days == 1
    assert archive_rows(tmp_path / "crash") == rows
    assert polls_set(inbox) == kept
    assert retention.archive().days == 0


def test_the_inbox_file_stops_growing_in_steady_state(tmp_path):
    inbox, retention = open_retention(tmp_path / "steady")
    sizes = []
    for day in range(24):
        add_day(inbox, day, stores=3000, seed=day)
        retention.archive()
        sizes.append((tmp_path / "steady" / "inbox.duckdb").stat().st_size)
    # Eight days kept from day 8 on (the seven before the latest day's, and it): the file
    # varies by a few blocks with where the freed ones are, but does not grow with the days
    # (all 24 days would take more than twice the size of 10).
    assert max(sizes[12:]) <= sizes[10] * 1.5, sizes


def test_a_failed_run_says_degraded_and_is_tried_again(tmp_path, monkeypatch):
    inbox, retention = open_retention(tmp_path / "full")
    for day in range(10):
        add_day(inbox, day, stores=3)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Retention, "_write_day", full)
    assert retention.run_once() == 60.0
    assert retention.reasons() == [
        "archive: the last run failed ([Errno 28] No space left on device)"
    ]
    assert retention.disk.error is not None  # /health: "disk: a write ... lack of space"
    monkeypatch.undo()
    assert retention.run_once() == 3600.0
    assert retention.reasons() == [] and retention.disk.error is None
    assert retention.last.days == 2


def test_the_cut_is_whole_utc_days_before_the_latest_polls_date():
    assert cut_of(datetime(2026, 10, 21, 23, 59), 7) == datetime(2026, 10, 14)
    assert cut_of(datetime(2026, 10, 21), 7) == datetime(2026, 10, 14)
    assert cut_of(None, 7) is None
    assert date(2026, 10, 14) == CUT.date()


def test_the_observed_figures_reach_into_the_archive(archived):
    """The statuses compared above do depend on archived polls: the store up since its first
    poll says so, and the silent store is still in the reports."""
    status = json.loads(archived["after"][("status", "")])
    rows = {row["store_id"]: row for row in status["stores"]}
    assert rows["long-run"]["state_since"].startswith("2026-10-01")
    assert rows["down-run"]["state_since"].startswith("2026-10-10")
    report = archived["after"][("report", None, "previous")].decode()
    assert "\nsilent," in report and "\nold-only," in report
    # At the cut itself a status reads the latest poll before it and the start of its run,
    # both kept in the inbox.
    at_cut = json.loads(archived["after"][("status", "?at=2026-10-14T00:00:00Z")])
    rows = {row["store_id"]: row for row in at_cut["stores"]}
    assert rows["mixed"]["state"] == "down"  # both statuses at 23:30: inactive wins
    assert rows["mixed"]["last_poll_at"] == rows["mixed"]["state_since"] == "2026-10-13T23:30:00Z"
    assert rows["long-run"]["state"] == "up"
    assert rows["long-run"]["last_poll_at"] == "2026-10-13T23:20:00Z"
    assert rows["long-run"]["state_since"] == "2026-10-01T00:20:00Z"


def table_contents(path: Path) -> dict[str, list]:
    with duckdb.connect(str(path), read_only=True) as db:
        tables = [row[0] for row in db.execute("select table_name from duckdb_tables()").fetchall()]
        return {t: db.execute(f"select * from {t} order by rowid").fetchall() for t in tables}


def test_the_start_up_compacts_an_inbox_mostly_free(tmp_path, monkeypatch):
    home = tmp_path / "compact"
    inbox, retention = open_retention(home)
    for day in range(20):
        add_day(inbox, day, stores=6000, seed=day)
    retention.archive()
    inbox.close()
    path = home / "inbox.duckdb"
    before, contents = path.stat().st_size, table_contents(path)
    assert compact_inbox(path) is None  # under 64 MB free: left alone
    monkeypatch.setattr(retention_module, "COMPACT_MIN_BYTES", 0)
    said = compact_inbox(path)
    assert said is not None and said.startswith("compacted inbox.duckdb")
    assert path.stat().st_size < before * 0.7
    assert table_contents(path) == contents
    assert not (home / "inbox.duckdb.compact").exists()
    assert compact_inbox(path) is None  # nothing more to gain


@pytest.mark.skipif(spark.missing_requirement() is not None, reason="needs Spark")
def test_spark_reads_the_archive_as_it_is(archived):
    from pyspark.sql import SparkSession

    session = SparkSession.builder.master("local[1]").getOrCreate()
    frame = session.read.parquet(str(archived["home"] / ARCHIVE))
    assert set(frame.columns) == {
        "store_id", "status", "timestamp_utc", "polled_at", "is_active", "date"
    }  # fmt: skip
    texts = frame.select("store_id", "status", "timestamp_utc").collect()
    rows = sorted(tuple(row) for row in texts)
    assert rows == [p for p in archived["all_polls"] if p[2] < stamp(CUT)]
    days = {row[0] for row in frame.select("date").distinct().collect()}
    assert days == {(START + timedelta(days=day)).date() for day in range(13)}


def test_health_says_degraded_while_the_archiving_fails(service_client, tmp_path, monkeypatch):
    home = tmp_path / "home"
    polls = [
        {"store_id": "s", "status": "active", "timestamp_utc": stamp(START + timedelta(hours=h))}
        for h in range(0, 12 * 24, 6)
    ]
    with service_client(home=home) as client:
        assert client.post("/polls", json=polls).status_code == 200

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Retention, "_write_day", full)
    with service_client(home=home, keep_polls_days=KEEP) as client:
        retention = client.app.state.service.retention
        retention.run_once()
        answer = client.get("/health")
        assert answer.status_code == 503
        reasons = answer.json()["reasons"]
        assert "archive: the last run failed ([Errno 28] No space left on device)" in reasons
        assert any(reason.startswith("disk: a write to the home failed") for reason in reasons)
        metrics = client.get("/metrics").text
        assert 'storemon_degraded{kind="archive"} 1.0' in metrics
        monkeypatch.undo()
        assert retention.run_once() == 3600.0
        assert client.get("/health").json() == {"status": "ok"}
        assert retention.last.days == 4  # 2026-10-01 to 2026-10-04, before the cut


# ---------------------------------------------------------------------- what the inbox keeps

STATUSES = st.sampled_from([True, False])
STORE_POLLS = st.lists(st.tuples(st.integers(0, 20 * 24 * 60), STATUSES), min_size=1, max_size=40)


def what_reports_and_statuses_read(connection, instant: datetime) -> dict:
    """Over the `polls` table of `connection`: per store the polls of the latest instant before
    `instant` (a report's week starting there), the live status's reduced set at `instant`
    (without its weights) and the stores."""
    last = connection.execute(
        "select store_id, polled_at, is_active from polls where polled_at < $1"
        " qualify polled_at = max(polled_at) over (partition by store_id) order by all",
        [instant],
    ).fetchall()
    live = connection.execute(
        f"select store_id, polled_at, is_active from ({reduced(INBOX_INSTANTS.format(where=''))})"
        " order by all",
        {"base": instant},
    ).fetchall()
    stores = connection.execute("select distinct store_id from polls order by 1").fetchall()
    return {"last": last, "live": live, "stores": stores}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=st.lists(STORE_POLLS, min_size=1, max_size=4), offsets=st.lists(
    st.integers(0, 7 * 24 * 60), min_size=1, max_size=3))  # fmt: skip
def test_at_and_after_the_cut_the_inbox_reads_as_every_poll(tmp_path_factory, fleet, offsets):
    """Random polls (both statuses at one instant too): once archived, and again once every
    archived poll was sent again and archived again, what a report's week or a status at or
    after the cut reads of the inbox is what every poll gives."""
    home = tmp_path_factory.mktemp("hypothesis")
    inbox, retention = open_retention(home)
    rows = {
        (f"s{number}", START + timedelta(minutes=minute), active)
        for number, polls in enumerate(fleet)
        for minute, active in polls
    }
    with inbox.cursor() as cursor:
        cursor.executemany(
            f"insert into polls {POLL_COLUMNS} values ($1, $2, $3, $1, $4,"
            " strftime($2, '%Y-%m-%d %H:%M:%S'), now()::timestamp)",
            [(s, at, active, "active" if active else "inactive") for s, at, active in rows],
        )
        cursor.execute(KEEP_BOUNDS)
    with duckdb.connect() as everything:
        everything.execute("create table polls (store_id varchar, polled_at timestamp,"
                           " is_active boolean)")  # fmt: skip
        everything.executemany("insert into polls values ($1, $2, $3)", sorted(rows))
        cut = retention.archive().cut
        latest = max(at for _, at, _ in rows)
        with inbox.cursor() as cursor:
            # Archiving leaves the latest poll where it was, in the bounds and in the polls.
            assert Inbox.latest_poll(cursor) == latest
            assert cursor.execute("select max(polled_at) from polls").fetchone()[0] == latest
        for resent in (False, True):
            if resent and (home / ARCHIVE).exists():
                # Every archived poll sent again: archived again, each once.
                with inbox.cursor() as cursor:
                    glob = home / ARCHIVE / "*" / "*.parquet"
                    cursor.execute(resend(glob))
                assert retention.archive().cut == cut
            for offset in offsets:
                instant = min(cut + timedelta(minutes=offset), latest + timedelta(hours=1))
                with inbox.cursor() as cursor:
                    assert what_reports_and_statuses_read(cursor, instant) == (
                        what_reports_and_statuses_read(everything, instant)
                    ), (instant, resent)
    archived = archive_rows(home) if (home / ARCHIVE).exists() else []
    assert {(r[0], r[3], r[4]) for r in archived} == {r for r in rows if r[1] < cut}
    assert len(archived) == len({(r[0], r[3], r[4]) for r in archived})
    inbox.close()
