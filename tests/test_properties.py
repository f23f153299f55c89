"""Properties of the whole pipeline on random data: the order of input rows changes nothing, and
a store open 24/7 and only ever seen active is up for the whole of every window."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from conftest import parse_report, write_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon.cli import cli

AS_OF = datetime(2024, 11, 4, 6, 0)
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
ALWAYS_UP = "always-up"


@st.composite
def datasets(draw):
    polls, hours, zones = [], [], []
    for number in range(draw(st.integers(1, 4))):
        store = f"store-{number}"
        zones.append((store, draw(st.sampled_from(ZONES))))
        start = AS_OF - timedelta(days=8)
        for _ in range(draw(st.integers(0, 12))):
            start += timedelta(minutes=draw(st.integers(1, 24 * 60)))
            status = draw(st.sampled_from(["active", "inactive"]))
            polls.append((store, status, f"{start:%Y-%m-%d %H:%M:%S} UTC"))
        for _ in range(draw(st.integers(0, 4))):
            day = draw(st.integers(0, 6))
            opens, closes = draw(st.integers(0, 23)), draw(st.integers(0, 24))
            hours.append((store, day, f"{opens:02}:00:00", f"{closes:02}:00:00"))
    # No business hours (24/7), one active poll long before the week and one after it started.
    polls += [
        (ALWAYS_UP, "active", f"{AS_OF - timedelta(days=30):%Y-%m-%d %H:%M:%S} UTC"),
        (ALWAYS_UP, "active", f"{AS_OF - timedelta(hours=3):%Y-%m-%d %H:%M:%S} UTC"),
    ]
    return polls, hours, zones, draw(st.randoms(use_true_random=False))


def export(data_dir: Path, db: Path, interpolation: str) -> str:
    result = CliRunner().invoke(
        cli,
        [
            "export", "--data", str(data_dir), "--db", str(db), "--out", "-",
            "--as-of", f"{AS_OF:%Y-%m-%dT%H:%M:%SZ}", "--interpolation", interpolation,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


@settings(max_examples=4, deadline=None)
@given(datasets(), st.sampled_from(["nearest", "previous"]))
def test_row_order_changes_nothing_and_always_up_is_full_uptime(
    tmp_path_factory, dataset, interpolation
):
    polls, hours, zones, rng = dataset
    folder = tmp_path_factory.mktemp("properties")
    db = folder / "storemon.duckdb"  # one database: dbt's parse cache stays warm
    as_given = export(write_inputs(folder / "given", polls, hours, zones), db, interpolation)
    shuffled_polls, shuffled_hours = list(polls), list(hours)
    random.Random(rng.random()).shuffle(shuffled_polls)
    random.Random(rng.random()).shuffle(shuffled_hours)
    shuffled = export(
        write_inputs(folder / "shuffled", shuffled_polls, shuffled_hours, zones), db, interpolation
    )
    assert shuffled == as_given

    report = parse_report(as_given)
    # 60 minutes, 24 hours and 168 hours up, no downtime.
    assert report[ALWAYS_UP] == ("60.00", "24.00", "168.00", "0.00", "0.00", "0.00")
