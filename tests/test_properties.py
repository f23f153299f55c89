"""Properties of the whole pipeline on random data: the report does not depend on how the engine
runs it (thread count), on the order of input rows, on rows given twice, or on the other
stores beside a store; and a store open 24/7 and only ever seen active is up for the whole of
every window.

Hypothesis draws business hours with duplicated, touching and overlapping rows on purpose:
identical rows tie in every window's order, which is where a plan-dependent answer hides.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import parse_report, query, write_inputs

from storemon.cli import cli

AS_OF = datetime(2024, 11, 4, 6, 0)  # the week holds New York's and Chicago's fall-back night
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
ALWAYS_UP = "always-up"
CROWD_SIZE = 3000


def timestamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


@st.composite
def store_rows(draw, store: str) -> tuple[list, list, list]:
    """Polls, business hours and a zone for one store. Hours rows come as runs that touch
    (each starts where the last ended), overlap, or repeat a row exactly."""
    zones = [(store, draw(st.sampled_from(ZONES)))]
    polls = []
    moment = AS_OF - timedelta(days=8)
    for _ in range(draw(st.integers(0, 12))):
        moment += timedelta(minutes=draw(st.integers(1, 24 * 60)))
        polls.append((store, draw(st.sampled_from(["active", "inactive"])), timestamp(moment)))
    hours = []
    for _ in range(draw(st.integers(0, 3))):
        day = draw(st.integers(0, 6))
        opens = draw(st.integers(0, 23))
        for _ in range(draw(st.integers(1, 3))):
            closes = draw(st.integers(0, 24))
            row = (store, day, f"{opens:02}:00:00", f"{closes:02}:00:00")
            hours += [row] * draw(st.sampled_from([1, 1, 2, 3]))
            opens = draw(st.sampled_from([closes % 24, max(opens - 1, 0), opens]))
    return polls, hours, zones


@st.composite
def datasets(draw):
    polls, hours, zones = [], [], []
    for number in range(draw(st.integers(1, 4))):
        store_polls, store_hours, store_zones = draw(store_rows(f"store-{number}"))
        polls += store_polls
        hours += store_hours
        zones += store_zones
    # No business hours (24/7), one active poll long before the week and one after it started.
    polls += [
        (ALWAYS_UP, "active", timestamp(AS_OF - timedelta(days=30))),
        (ALWAYS_UP, "active", timestamp(AS_OF - timedelta(hours=3))),
    ]
    return polls, hours, zones, draw(st.randoms(use_true_random=False))


@cache
def crowd() -> tuple[list, list, list]:
    """A few thousand other stores with hours of every shape, the same for every example."""
    rng = random.Random(2024)
    polls, hours, zones = [], [], []
    for number in range(CROWD_SIZE):
        store = f"crowd-{number:04}"
        zones.append((store, rng.choice(ZONES)))
        for hour in range(0, 9 * 24, rng.randint(1, 5)):
            moment = AS_OF - timedelta(hours=hour, minutes=rng.randint(0, 59))
            polls.append((store, rng.choice(["active", "inactive"]), timestamp(moment)))
        for day in rng.sample(range(7), rng.randint(0, 7)):
            opens, closes = rng.randint(0, 23), rng.randint(0, 24)
            hours += [(store, day, f"{opens:02}:00:00", f"{closes:02}:00:00")] * rng.randint(1, 3)
    return polls, hours, zones


class Exporter:
    """Runs `storemon export` in-process on one database, so dbt's parse cache stays warm."""

    def __init__(self, folder: Path, interpolation: str) -> None:
        self.folder = folder
        self.interpolation = interpolation
        self.runs = 0

    def __call__(self, polls, hours, zones, threads: int | None = None) -> tuple[str, list]:
        """The report CSV and the unrounded table, row by row."""
        self.runs += 1
        data = write_inputs(self.folder / f"run-{self.runs}", polls, hours, zones)
        db = self.folder / "storemon.duckdb"
        result = CliRunner().invoke(
            cli,
            [
                "export", "--data", str(data), "--db", str(db), "--out", "-",
                "--as-of", f"{AS_OF:%Y-%m-%dT%H:%M:%SZ}", "--interpolation", self.interpolation,
            ],
            env={"STOREMON_ENGINE_THREADS": str(threads) if threads else None},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        table = query(db, "select * from store_uptime_report order by store_id")
        return result.stdout, table


def rows_of(report: tuple[str, list], stores: set[str]) -> tuple[dict, list]:
    csv_rows = {k: v for k, v in parse_report(report[0]).items() if k in stores}
    return csv_rows, [row for row in report[1] if row[0] in stores]


@pytest.mark.parametrize("interpolation", ["nearest", "previous"])
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(dataset=datasets())
def test_the_report_depends_on_the_data_only(tmp_path_factory, interpolation, dataset):
    polls, hours, zones, drawn = dataset
    rng = random.Random(drawn.random())  # Hypothesis's own Random would run out of entropy
    export = Exporter(tmp_path_factory.mktemp("properties"), interpolation)
    as_given = export(polls, hours, zones)

    # (a) the engine's thread count
    assert export(polls, hours, zones, threads=1) == as_given
    assert export(polls, hours, zones, threads=4) == as_given

    # (b) the order of the rows (one zone row per store, so no row supersedes another)
    shuffled = [list(rows) for rows in (polls, hours, zones)]
    for rows in shuffled:
        rng.shuffle(rows)
    assert export(*shuffled) == as_given

    # (c) every row given twice: identical polls count once, identical hours merge; the second
    # zone row supersedes an identical first one
    assert export(polls * 2, hours * 2, zones * 2) == as_given

    # (d) among a few thousand other stores, rows interleaved, and each store alone
    stores = {row[0] for rows in (polls, hours, zones) for row in rows}
    crowd_polls, crowd_hours, crowd_zones = crowd()
    mixed = [list(rows) for rows in (polls + crowd_polls, hours + crowd_hours, zones + crowd_zones)]
    for rows in mixed:
        rng.shuffle(rows)
    assert rows_of(export(*mixed, threads=4), stores) == rows_of(as_given, stores)
    store = sorted(stores)[0]
    alone = [[row for row in rows if row[0] == store] for rows in (polls, hours, zones)]
    assert rows_of(export(*alone), {store}) == rows_of(as_given, {store})

    # 60 minutes, 24 hours and 168 hours up, no downtime.
    report = parse_report(as_given[0])
    assert report[ALWAYS_UP] == ("60.00", "24.00", "168.00", "0.00", "0.00", "0.00")
