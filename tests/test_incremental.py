"""int_status_changes built incrementally equals a full build.

A database built from some polls, then built again from those polls and more with the setting
`changed_from` (the earliest instant of the added polls), must hold the same status changes,
status intervals and report as a database built once from all of them: with polls added late
(before others already there), at an instant already polled (where inactive wins), for stores
not seen before, and with a report time that leaves some polls out. Hypothesis draws the
datasets; the full build is the reference. Without the setting a second build must not reuse
anything, and a setting that is not a timestamp stops the build.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import HOURS_HEADER, STATUS_HEADER, ZONES_HEADER, write_csv

from storemon.project import DbtFailure, run_dbt

START = datetime(2024, 11, 1)  # New York falls back on 3 November: the week holds a DST change
ZONES = ["America/New_York", "Asia/Kolkata", "UTC"]
COMPARED = ("int_status_changes", "int_status_intervals", "store_uptime_report")
# Only what the report needs: the status now's models are not incremental.
SELECTION = ["run", "--select", "+store_uptime_report"]

Poll = tuple[str, str, datetime]


def write_polls(path: Path, polls: list[Poll]) -> Path:
    rows = [(store, status, f"{moment:%Y-%m-%d %H:%M:%S} UTC") for store, status, moment in polls]
    return write_csv(path, STATUS_HEADER, rows)


class Builds:
    """dbt runs over one set of hours and zones, each into a database of its own name in
    `folder`; dbt's state in `state` (shared, so that dbt parses the project once)."""

    def __init__(self, folder: Path, stores: list[str], state: Path, plan: bool = False) -> None:
        self.folder = folder
        self.state = state
        # As `storemon export` compiles: the settings read as DuckDB variables (see the
        # `setting_sql` macro), so that the statements can be recorded and run again.
        self.plan = plan
        generator = random.Random(len(stores))
        hours = [
            (store, day, f"{opens:02}:00:00", f"{(opens + length) % 24:02}:00:00")
            for store in stores[::2]  # the others are open all week
            for day in range(7)
            for opens, length in [(generator.randrange(24), generator.randrange(1, 24))]
        ]
        self.hours = write_csv(folder / "menu_hours.csv", HOURS_HEADER, hours)
        zones = [(store, generator.choice(ZONES)) for store in stores]
        self.zones = write_csv(folder / "timezones.csv", ZONES_HEADER, zones)

    def run(self, name: str, polls: Path, report_time: str = "", changed_from: str = "") -> Path:
        database = self.folder / f"{name}.duckdb"
        settings = {
            "status_path": str(polls),
            "hours_path": str(self.hours),
            "timezones_path": str(self.zones),
            "report_time": report_time,
            "changed_from": changed_from,
        }
        if self.plan:
            settings["plan"] = "1"
        run_dbt(SELECTION, database, self.state, settings)
        return database


def differences(full: Path, incremental: Path) -> dict[str, int]:
    """Per compared relation, the rows that only one of the two databases has."""
    with duckdb.connect() as connection:
        connection.execute(f"attach '{full}' as full_build (read_only)")
        connection.execute(f"attach '{incremental}' as incremental_build (read_only)")
        found = {}
        for name in COMPARED:
            one, other = f"full_build.main.{name}", f"incremental_build.main.{name}"
            found[name] = connection.execute(
                f"select count(*) from ((select * from {one} except all select * from {other})"
                f" union all (select * from {other} except all select * from {one}))"
            ).fetchone()[0]
            assert connection.execute(f"select count(*) from {one}").fetchone()[0] or not found
    return found


@st.composite
def additions(draw) -> tuple[list[Poll], list[Poll], str]:
    """Polls of a few stores over two days, split into those built first and those added:
    the added ones are every poll from an instant on, and some earlier ones (late), or polls
    at an instant already polled. Also the report time: after every poll, or within them."""
    polls = []
    for store in [f"s{number}" for number in range(draw(st.integers(1, 6)))]:
        moment = START + timedelta(minutes=draw(st.integers(0, 600)))
        for _ in range(draw(st.integers(1, 10))):
            polls.append((store, draw(st.sampled_from(["active", "inactive"])), moment))
            moment += timedelta(minutes=draw(st.sampled_from([0, 1, 59, 60, 61, 240])))
    instants = sorted({moment for _, _, moment in polls})
    cut = draw(st.sampled_from(instants))
    first = [poll for poll in polls if poll[2] < cut]
    added = [poll for poll in polls if poll[2] >= cut]
    late = draw(st.lists(st.sampled_from(first), max_size=3, unique=True)) if first else []
    first = [poll for poll in first if poll not in late]
    again = draw(st.lists(st.sampled_from(polls), max_size=2))  # a second poll of an instant
    added += late + [(store, "inactive", moment) for store, _, moment in again]
    report_time = draw(st.sampled_from(["", f"{instants[len(instants) // 2]:%Y-%m-%d %H:%M:%S}"]))
    return first, added, report_time


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=additions())
def test_added_polls_recompute_only_their_changes_and_match_a_full_build(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[list[Poll], list[Poll], str]
) -> None:
    first, added, report_time = case
    folder = tmp_path_factory.mktemp("incremental")
    stores = sorted({store for store, _, _ in first + added})
    builds = Builds(folder, stores, tmp_path_factory.getbasetemp() / "dbt")
    every_poll = write_polls(folder / "all.csv", first + added)
    full = builds.run("full", every_poll, report_time)
    incremental = builds.run("incremental", write_polls(folder / "first.csv", first), report_time)
    changed_from = f"{min(moment for _, _, moment in added):%Y-%m-%d %H:%M:%S}"
    builds.run("incremental", every_poll, report_time, changed_from)
    assert differences(full, incremental) == dict.fromkeys(COMPARED, 0)


@pytest.mark.parametrize("plan", [False, True], ids=["literal settings", "settings as variables"])
def test_a_crowd_of_stores_with_an_hour_added(tmp_path: Path, plan: bool) -> None:
    """Three hundred stores polled about hourly for two days, then an hour more and a few
    late polls: the common case of the service, in one build. Also compiled as the export
    compiles its plan, where `changed_from` is a DuckDB variable."""
    generator = random.Random(7)
    stores = [f"store-{number:03}" for number in range(300)]
    first, added = [], []
    end = START + timedelta(days=2)
    for store in stores:
        moment = START + timedelta(minutes=generator.randrange(60))
        while moment < end + timedelta(hours=1):
            poll = (store, generator.choice(["active"] * 4 + ["inactive"]), moment)
            (first if moment < end else added).append(poll)
            moment += timedelta(minutes=generator.choice([55, 60, 60, 65]))
    recent = [poll for poll in first if poll[2] >= end - timedelta(hours=3)]
    late = generator.sample(recent, 20)  # polled before the end, arrived after the first build
    first = [poll for poll in first if poll not in late]
    added += late
    builds = Builds(tmp_path, stores, tmp_path / "dbt", plan)
    every_poll = write_polls(tmp_path / "all.csv", first + added)
    full = builds.run("full", every_poll)
    incremental = builds.run("incremental", write_polls(tmp_path / "first.csv", first))
    changed_from = f"{min(moment for _, _, moment in added):%Y-%m-%d %H:%M:%S}"
    builds.run("incremental", every_poll, changed_from=changed_from)
    assert differences(full, incremental) == dict.fromkeys(COMPARED, 0)
    # Not a rebuild in disguise: the changes before the added polls are the first build's rows.
    with duckdb.connect(str(incremental), read_only=True) as connection:
        kept = connection.execute(
            "select count(*) from int_status_changes where polled_at < ?", [changed_from]
        ).fetchone()[0]
    assert kept > 1000


def test_without_the_setting_a_second_build_starts_over(tmp_path: Path) -> None:
    """Built again from other polls (not more of the same), with no `changed_from`: the changes
    are those of the new polls alone."""
    builds = Builds(tmp_path, ["a", "b"], tmp_path / "dbt")
    before = [("a", "active", START), ("a", "inactive", START + timedelta(hours=1))]
    after = [("b", "inactive", START), ("a", "active", START + timedelta(hours=2))]
    builds.run("reused", write_polls(tmp_path / "before.csv", before))
    database = builds.run("reused", write_polls(tmp_path / "after.csv", after))
    with duckdb.connect(str(database), read_only=True) as connection:
        changes = connection.execute(
            "select store_id, polled_at, is_active from int_status_changes order by all"
        ).fetchall()
    assert changes == [("a", START + timedelta(hours=2), True), ("b", START, False)]


def test_a_changed_from_that_is_not_a_timestamp_stops_the_build(tmp_path: Path) -> None:
    builds = Builds(tmp_path, ["a"], tmp_path / "dbt")
    polls = write_polls(tmp_path / "polls.csv", [("a", "active", START)])
    builds.run("database", polls)
    with pytest.raises(DbtFailure, match="changed_from 'yesterday' is not a timestamp"):
        builds.run("database", polls, changed_from="yesterday")
