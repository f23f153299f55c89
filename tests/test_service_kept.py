"""A service report of the latest poll is made from the last one's database when it can be: a
copy of it, the polls received since added, every later model built again. Each such report
must equal the export of every stored poll (the reference, as for any service report): with
polls later than the last report, late ones (before it, even before its week), repeats, new
stores, reports at an earlier time in between, and hours or zones changed between reports
(which build the report whole). Hypothesis draws the sequences.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import finished, parse_report, write_inputs

from storemon.cli import cli
from storemon.export import ExportError, export

START = datetime(2024, 11, 1)  # New York falls back on 3 November
STORES = ["k1", "k2", "k3"]
ZONES = ["America/New_York", "Asia/Kolkata", "UTC"]


class Fleet:
    """A service's home and everything sent to it, to export the same data."""

    def __init__(self, client, folder: Path) -> None:
        self.client = client
        self.folder = folder
        self.polls: list[tuple[str, str, str]] = []
        self.hours: dict[str, list[tuple[str, int, str, str]]] = {}
        self.zones: dict[str, str] = {}
        self.exports = 0

    @property
    def latest(self) -> datetime:
        return max(datetime.fromisoformat(at) for _, _, at in self.polls)

    def send(self, polls: list[tuple[str, str, datetime]]) -> None:
        rows = [(store, status, f"{at:%Y-%m-%d %H:%M:%S}") for store, status, at in polls]
        body = [dict(zip(("store_id", "status", "timestamp_utc"), row, strict=True))
                for row in rows]  # fmt: skip
        assert self.client.post("/polls", json=body).status_code == 200
        self.polls += rows

    def register(self, store: str, zone: str, opens: int, hours: int) -> None:
        closes = f"{(opens + hours) % 24:02}:00"
        self.hours[store] = [(store, day, f"{opens:02}:00", closes) for day in range(7)]
        self.zones[store] = zone
        answer = self.client.post("/register_store", json={
            "store_id": store, "timezone_str": zone,
            "business_hours": [{"day": day, "start_time_local": opens_at, "end_time_local": end}
                               for _, day, opens_at, end in self.hours[store]]})  # fmt: skip
        assert answer.status_code == 200, answer.text

    def report(self, as_of: str | None = None) -> dict:
        body = {} if as_of is None else {"as_of": as_of}
        report = finished(self.client, self.client.post("/trigger_report", json=body).json()[
            "report_id"])  # fmt: skip
        assert report["status"] == "Complete", report
        return report

    def polls_files(self, report: dict) -> int:
        """How many reports' input files the polls of a report's database came from."""
        folder = self.client.app.state.service.worker.reports_folder(report["report_id"])
        with duckdb.connect(str(folder / "report.duckdb"), read_only=True) as database:
            return database.execute(
                "select count(distinct source_file) from stg_store_status"
            ).fetchone()[0]

    def assert_equals_the_export(self, report: dict, as_of: str | None = None) -> None:
        self.exports += 1
        files = self.folder / f"export-{self.exports}"
        hours = [row for rows in self.hours.values() for row in rows]
        data = write_inputs(files, self.polls, hours, list(self.zones.items()))
        exported = CliRunner().invoke(cli, [
            "export", "--data", str(data), "--out", "-", "--db", str(files / "e.duckdb"),
            *(["--as-of", as_of] if as_of else [])])  # fmt: skip
        assert exported.exit_code == 0, exported.output
        assert parse_report(self.client.get(report["url"]).text) == parse_report(exported.stdout)
        # What the report does not show: the week's open intervals, and the status now but for
        # state_since (a run's start, which the report's polls, its week's, may not reach).
        folder = self.client.app.state.service.worker.reports_folder(report["report_id"])
        for table, columns in [
            ("int_open_intervals_merged", "*"),
            ("store_status_now", "* exclude (state_since)"),
        ]:
            query = f"select {columns} from {table} order by all"
            assert rows_of(folder / "report.duckdb", query) == rows_of(files / "e.duckdb", query)


def rows_of(database: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(query).fetchall()


def hourly_polls(stores: list[str], hours: int) -> list[tuple[str, str, datetime]]:
    return [
        (store, "inactive" if (hour // (3 + number)) % 4 == 0 else "active",
         START + timedelta(hours=hour, minutes=7 * number))
        for hour in range(hours)
        for number, store in enumerate(stores)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def fleet(service_client, tmp_path_factory):
    """A home with eight days of hourly polls of three stores, two with hours and zones, and
    its first report (built whole)."""
    with service_client() as client:
        fleet = Fleet(client, tmp_path_factory.mktemp("kept"))
        fleet.send(hourly_polls(STORES, 8 * 24))
        fleet.register("k1", "America/New_York", 8, 12)
        fleet.register("k2", "Asia/Kolkata", 22, 4)
        fleet.assert_equals_the_export(fleet.report())
        yield fleet


def test_a_report_after_new_polls_is_made_from_the_last_one(fleet):
    first = fleet.report()
    later = fleet.latest + timedelta(minutes=50)
    fleet.send([("k1", "inactive", later), ("k3", "active", later - timedelta(days=2)),
                ("new", "active", later - timedelta(hours=1))])  # fmt: skip
    report = fleet.report()
    # Its polls are the last report's and the new ones, from two reports' input files.
    assert fleet.polls_files(report) == fleet.polls_files(first) + 1
    assert report["stores"] == first["stores"] + 1
    fleet.assert_equals_the_export(report)


def test_a_report_after_a_poll_already_stored_is_made_from_the_last_one(fleet):
    first = fleet.report()
    fleet.send([fleet.polls[-1][:2] + (datetime.fromisoformat(fleet.polls[-1][2]),)])
    report = fleet.report()
    assert report["report_id"] != first["report_id"]
    # Nothing was added: the input file of the new polls has none.
    assert fleet.polls_files(report) == fleet.polls_files(first)
    fleet.assert_equals_the_export(report)


def test_a_report_days_later_is_made_from_the_last_one(fleet):
    """The week and the days around the status time move on by local dates: the business hours
    of the dates that left are dropped, those of the new dates expanded."""
    first = fleet.report()
    later = fleet.latest + timedelta(days=2, hours=5)
    fleet.send([(store, "active", later - timedelta(minutes=number))
                for number, store in enumerate(STORES)])  # fmt: skip
    report = fleet.report()
    assert fleet.polls_files(report) == fleet.polls_files(first) + 1
    fleet.assert_equals_the_export(report)


def test_the_last_report_keeps_its_own_database(fleet):
    """The next report builds in a copy made once the last one completed: the last one's
    database stays as it was, byte for byte."""
    first = fleet.report()
    folder = fleet.client.app.state.service.worker.reports_folder(first["report_id"])
    before = (folder / "report.duckdb").read_bytes()
    fleet.send([("k2", "active", fleet.latest + timedelta(minutes=40))])
    report = fleet.report()
    assert fleet.polls_files(report) == fleet.polls_files(first) + 1
    assert (folder / "report.duckdb").read_bytes() == before
    fleet.assert_equals_the_export(report)


def test_a_report_whose_kept_database_is_broken_fails_and_the_next_is_built_whole(fleet):
    fleet.report()
    kept = fleet.client.app.state.service.worker.kept
    (kept.folder / "report.duckdb").write_bytes(b"not a database")
    fleet.send([("k1", "inactive", fleet.latest + timedelta(minutes=25))])
    failed = finished(fleet.client, fleet.client.post("/trigger_report", json={}).json()[
        "report_id"])  # fmt: skip
    assert failed["status"] == "Failed", failed
    assert "the report's build failed" in failed["error"]
    fleet.send([("k1", "active", fleet.latest + timedelta(minutes=5))])
    report = fleet.report()
    assert fleet.polls_files(report) == 1
    fleet.assert_equals_the_export(report)


def test_changed_hours_build_the_report_whole(fleet):
    fleet.send([("k3", "active", fleet.latest + timedelta(minutes=30))])
    fleet.report()
    fleet.register("k3", "UTC", 6, 10)
    report = fleet.report()
    assert fleet.polls_files(report) == 1
    fleet.assert_equals_the_export(report)


def test_a_report_at_an_earlier_time_leaves_the_next_one_made_from_the_last(fleet):
    fleet.report()
    as_of = f"{fleet.latest - timedelta(days=3):%Y-%m-%dT%H:%M:%SZ}"
    earlier = fleet.report(as_of)
    assert fleet.polls_files(earlier) == 1  # built whole: its own week
    fleet.assert_equals_the_export(earlier, as_of)
    fleet.send([("k2", "inactive", fleet.latest + timedelta(minutes=45))])
    report = fleet.report()
    assert fleet.polls_files(report) > 1
    fleet.assert_equals_the_export(report)


def test_a_week_on_the_report_is_built_whole_again(fleet):
    fleet.send([("k1", "active", fleet.latest + timedelta(minutes=20))])
    fleet.report()
    eight_days_on = fleet.latest + timedelta(days=8)
    fleet.send([(store, "active", eight_days_on + timedelta(minutes=number))
                for number, store in enumerate(STORES)])  # fmt: skip
    report = fleet.report()
    assert fleet.polls_files(report) == 1
    fleet.assert_equals_the_export(report)


@st.composite
def steps(draw) -> list[tuple]:
    """Batches of polls (later than every stored one, late ones back to before the week,
    repeats of an instant with the other status), hours changes and reports (most of the
    latest poll, some at an earlier time), ending with a report of the latest poll."""
    drawn = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["polls", "polls", "polls", "hours", "report", "as_of"]))
        if kind == "polls":
            batch = draw(st.lists(
                st.tuples(st.sampled_from([*STORES, "n1", "n2"]),
                          st.sampled_from(["active", "inactive"]),
                          st.integers(-9 * 24 * 60, 3 * 60)),
                min_size=1, max_size=6))  # fmt: skip
            drawn.append(("polls", batch))
        elif kind == "hours":
            drawn.append(("hours", draw(st.sampled_from(STORES)), draw(st.sampled_from(ZONES)),
                          draw(st.integers(0, 23)), draw(st.integers(1, 23))))  # fmt: skip
        elif kind == "as_of":
            drawn.append(("as_of", draw(st.integers(1, 5 * 24 * 60))))
        else:
            drawn.append(("report",))
    return [*drawn, ("report",)]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=steps())
def test_every_report_equals_the_export_of_every_poll(fleet, case):
    for step in case:
        if step[0] == "polls":
            latest = fleet.latest
            fleet.send([(store, status, latest + timedelta(minutes=minutes, seconds=17))
                        for store, status, minutes in step[1]])  # fmt: skip
        elif step[0] == "hours":
            fleet.register(*step[1:])
        elif step[0] == "as_of":
            as_of = f"{fleet.latest - timedelta(minutes=step[1]):%Y-%m-%dT%H:%M:%SZ}"
            fleet.assert_equals_the_export(fleet.report(as_of), as_of)
        else:
            fleet.assert_equals_the_export(fleet.report())


def test_a_build_from_an_earlier_database_needs_the_instant_of_its_new_polls(tmp_path):
    with pytest.raises(ExportError, match="needs changed_from"):
        export(None, db_path=tmp_path / "r.duckdb", out="-", base=tmp_path / "base.duckdb")
