"""Differential tests of `store_status_now` (docs/status.md) against the plain-Python
reference (tests/reference.py, compute_status), which shares nothing with the SQL.

One example is a scenario of test_differential.py (random zones with DST changes, overnight,
split, touching and 24-hour business hours, sparse and dense polls, duplicates that disagree)
and an instant T chosen to be hard: a business-hours boundary, a poll, exactly the silence
threshold after a poll or a microsecond either side of one of these, or anywhere. T reaches the
model through the `status_time` setting (its environment variable), the threshold through
`--silent-after`. On DuckDB here; on Spark at the end of test_spark.py's pattern, with few
examples (each is a Spark build).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import reference
from click.testing import CliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from test_differential import SLOW, examples, scenarios, write_inputs

from storemon import spark
from storemon.cli import cli

COLUMNS = ", ".join(reference.STATUS_COLUMNS)
SILENT_AFTER = [0, 1, 30, 120, 600]
SPARK_MISSING = spark.missing_requirement()


@contextmanager
def status_time(value: str) -> Iterator[None]:
    """The `status_time` setting for the exports run inside the block."""
    saved = os.environ.get("STOREMON_STATUS_TIME")
    os.environ["STOREMON_STATUS_TIME"] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("STOREMON_STATUS_TIME", None)
        else:
            os.environ["STOREMON_STATUS_TIME"] = saved


def candidate_instants(paths, silent_after: timedelta) -> list[datetime]:
    """Instants where the status changes or could: every business-hours boundary near the
    polls, every poll, and each poll plus the threshold."""
    inputs = reference.load_inputs(*paths)
    instants = []
    for store, by_time in inputs.polls.items():
        instants += list(by_time) + [moment + silent_after for moment in by_time]
        rows = inputs.hours.get(store)
        if rows and by_time:
            zone = ZoneInfo(inputs.zones.get(store, reference.DEFAULT_TIMEZONE))
            middle = min(by_time).replace(tzinfo=UTC).astimezone(zone).date()
            for a, b in reference.business_intervals(
                rows, zone, middle - timedelta(days=3), middle + timedelta(days=12)
            ):
                instants += [a, b]
    return sorted(set(instants))


@st.composite
def status_examples(draw):
    """(scenario, T as text or None for the report time, silent_after in minutes)."""
    scenario = draw(scenarios())
    silent_after = draw(st.sampled_from(SILENT_AFTER))
    with tempfile.TemporaryDirectory() as folder:
        paths = write_inputs(scenario, Path(folder))
        instants = candidate_instants(paths, timedelta(minutes=silent_after))
    kind = draw(st.sampled_from(["boundary", "boundary", "near", "report", "any"]))
    if kind == "report" or not instants:
        return scenario, None, silent_after
    moment = draw(st.sampled_from(instants))
    if kind == "near":
        moment += timedelta(microseconds=draw(st.sampled_from([-1, 1])))
    elif kind == "any":
        moment += timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return scenario, text, silent_after


def export_status(paths, folder: Path, engine: str, as_of, at, silent_after: int) -> dict:
    """Run `storemon export` in-process; store_status_now as {store_id: the other columns}."""
    db = folder / f"{engine}.duckdb"
    status, hours, zones = paths
    args = ["export", "--status", str(status), "--hours", str(hours), "--timezones", str(zones)]
    args += ["--db", str(db), "--out", str(folder / f"{engine}.csv"), "--engine", engine]
    args += ["--silent-after", str(silent_after)]
    if as_of is not None:
        args += ["--as-of", as_of]
    with status_time(at or ""):
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    with duckdb.connect(str(db), read_only=True) as connection:
        rows = connection.execute(f"select {COLUMNS} from store_status_now").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def assert_matches_reference(paths, folder: Path, engine: str, as_of, at, silent_after) -> None:
    for path in paths:  # shown with a failing example, to reproduce it by hand
        note(f"--- {path.name}\n{path.read_text(encoding='utf-8-sig')}")
    note(f"T = {at or 'the report time'}, silent after {silent_after} min, as of {as_of}")
    got = export_status(paths, folder, engine, as_of, at, silent_after)
    expected = reference.compute_status(
        *paths,
        as_of=reference.parse_timestamp(as_of) if as_of else None,
        status_time=reference.parse_timestamp(at) if at else None,
        silent_after=timedelta(minutes=silent_after),
    )
    assert got.keys() == expected.keys()
    names = reference.STATUS_COLUMNS[1:]
    for store, row in expected.items():
        assert got[store] == row, (
            f"{engine} store {store!r}:\n  got      {dict(zip(names, got[store], strict=True))}"
            f"\n  expected {dict(zip(names, row, strict=True))}"
        )


@settings(max_examples=examples(8), deadline=None, suppress_health_check=SLOW)
@given(status_examples())
def test_duckdb_matches_reference(example):
    scenario, at, silent_after = example
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        paths = write_inputs(scenario, folder)
        assert_matches_reference(paths, folder, "duckdb", scenario.as_of, at, silent_after)


@pytest.mark.skipif(SPARK_MISSING is not None, reason=str(SPARK_MISSING))
@settings(
    max_examples=examples(1),
    deadline=None,
    suppress_health_check=[*SLOW, HealthCheck.function_scoped_fixture],
)
@given(example=status_examples())
def test_spark_matches_reference(tmp_path, example):
    """The process keeps one SparkSession, whose tables and catalog stay in the folder of the
    first Spark export: each example's folder lives as long as the test run (tmp_path)."""
    scenario, at, silent_after = example
    saved = os.environ.get("STOREMON_SPARK_SHUFFLE_PARTITIONS")
    os.environ.setdefault("STOREMON_SPARK_SHUFFLE_PARTITIONS", "2")
    try:
        folder = Path(tempfile.mkdtemp(prefix="example-", dir=tmp_path))
        paths = write_inputs(scenario, folder)
        assert_matches_reference(paths, folder, "spark", scenario.as_of, at, silent_after)
    finally:
        if saved is None:
            os.environ.pop("STOREMON_SPARK_SHUFFLE_PARTITIONS", None)
