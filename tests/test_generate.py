"""`storemon generate`: real formats, determinism, realistic shape, and a round trip."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import click
import duckdb
import pytest
import reference
from click.testing import CliRunner, Result

from storemon.cli import generate_command as generate

REPO = Path(__file__).resolve().parents[1]
LOOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "loop"
V1, V2 = LOOP / "v1_2023", LOOP / "v2_2024"

STATUS_HEADER = ["store_id", "status", "timestamp_utc"]
HOURS_HEADER = ["store_id", "day", "start_time_local", "end_time_local"]
ZONES_HEADER = ["store_id", "timezone_str"]
REPORT_HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)
# The real format: 1-6 fraction digits with trailing zeros trimmed, or none at all.
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{0,5}[1-9])? UTC$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
ID_RE = re.compile(r"^[1-9]\d{18}$")
START = datetime(2023, 1, 18)
RICH_START = datetime(2024, 3, 30)  # docs/cli.md: the rich profile's default start


def run(*args: str) -> Result:
    result = CliRunner().invoke(generate, list(args), catch_exceptions=False)
    return result


def make(out: Path, *extra: str, stores: int = 20, days: str = "2", seed: int = 1) -> Result:
    result = run(
        "--out", str(out), "--stores", str(stores), "--days", days, "--seed", str(seed), *extra
    )
    assert result.exit_code == 0, result.output
    return result


def rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        header, *body = list(csv.reader(f))
    return header, body


def parse_ts(text: str) -> datetime:
    fmt = "%Y-%m-%d %H:%M:%S.%f UTC" if "." in text else "%Y-%m-%d %H:%M:%S UTC"
    return datetime.strptime(text, fmt)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    make(out)
    return out


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Loop's period for 300 stores: enough polls for shape statistics."""
    out = tmp_path_factory.mktemp("week")
    make(out, stores=300, days="7.75", seed=5)
    return out


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rich profile over its default period, for 80 stores."""
    out = tmp_path_factory.mktemp("rich")
    make(out, "--profile", "rich", stores=80, days="7.75", seed=9)
    return out


def test_writes_three_files_with_the_real_headers(small: Path) -> None:
    assert rows(small / "store_status.csv")[0] == STATUS_HEADER
    assert rows(small / "menu_hours.csv")[0] == HOURS_HEADER
    assert rows(small / "timezones.csv")[0] == ZONES_HEADER
    # LF line endings and no quoting, like the real files.
    raw = (small / "store_status.csv").read_bytes()
    assert b"\r" not in raw and b'"' not in raw


def test_summary_line_on_stderr(tmp_path: Path) -> None:
    result = make(tmp_path)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "store_status.csv" in lines[0] and "rows" in lines[0]
    assert result.stdout == ""


def test_status_rows_match_the_real_format(small: Path) -> None:
    _, body = rows(small / "store_status.csv")
    assert body
    end = START + timedelta(days=2)
    for store_id, status, ts in body:
        assert ID_RE.match(store_id), store_id
        assert status in ("active", "inactive")
        assert TS_RE.match(ts), ts
        assert START <= parse_ts(ts) < end
    assert len({r[0] for r in body}) == 20


def test_hours_and_zones_match_the_real_format(week: Path) -> None:
    _, hours = rows(week / "menu_hours.csv")
    for store_id, day, start, end in hours:
        assert ID_RE.match(store_id)
        assert day in {str(d) for d in range(7)}
        assert TIME_RE.match(start) and TIME_RE.match(end), (start, end)
        # Like the real files: no interval with end <= start; overnight hours are two rows.
        assert end > start
    zones = available_timezones()
    _, tz = rows(week / "timezones.csv")
    assert all(ID_RE.match(s) and z in zones and z.startswith("America/") for s, z in tz)
    assert len({s for s, _ in tz}) == len(tz)


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    make(tmp_path / "a", seed=7)
    make(tmp_path / "b", seed=7)
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    make(tmp_path / "a", seed=1)
    make(tmp_path / "b", seed=2)
    a = (tmp_path / "a" / "store_status.csv").read_bytes()
    assert a != (tmp_path / "b" / "store_status.csv").read_bytes()


def test_parquet_holds_the_same_rows_as_csv(tmp_path: Path) -> None:
    make(tmp_path / "csv", seed=3)
    make(tmp_path / "pq", "--format", "parquet", seed=3)
    for name in ("store_status", "menu_hours", "timezones"):
        pq = tmp_path / "pq" / f"{name}.parquet"
        assert pq.exists() and not (tmp_path / "pq" / f"{name}.csv").exists()
        header, body = rows(tmp_path / "csv" / f"{name}.csv")
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{pq}')")
        assert rel.columns == header
        assert [list(r) for r in rel.fetchall()] == body
    # Parquet output is deterministic too.
    make(tmp_path / "pq2", "--format", "parquet", seed=3)
    for name in ("store_status", "menu_hours", "timezones"):
        a = (tmp_path / "pq" / f"{name}.parquet").read_bytes()
        assert a == (tmp_path / "pq2" / f"{name}.parquet").read_bytes()


def test_start_sets_the_polling_period(tmp_path: Path) -> None:
    make(tmp_path, "--start", "2024-03-01T06:00:00Z", days="1.5")
    _, body = rows(tmp_path / "store_status.csv")
    ts = [parse_ts(r[2]) for r in body]
    start = datetime(2024, 3, 1, 6)
    assert min(ts) >= start and max(ts) < start + timedelta(days=1.5)
    assert max(ts) > start + timedelta(days=1.2)


def test_offset_start_is_converted_to_utc(tmp_path: Path) -> None:
    make(tmp_path, "--start", "2024-03-01T06:00:00+02:00", days="1")
    _, body = rows(tmp_path / "store_status.csv")
    assert min(parse_ts(r[2]) for r in body) >= datetime(2024, 3, 1, 4)
    assert max(parse_ts(r[2]) for r in body) < datetime(2024, 3, 2, 4)


def test_realistic_polls(week: Path) -> None:
    _, body = rows(week / "store_status.csv")
    by_store: dict[str, list[tuple[datetime, str]]] = {}
    for store_id, status, ts in body:
        by_store.setdefault(store_id, []).append((parse_ts(ts), status))
    assert len(by_store) == 300
    # ~129 polls per store over 7.75 days, like Loop's data.
    assert 115 <= len(body) / 300 <= 145
    active = sum(s == "active" for _, s, _ in body) / len(body)
    assert 0.85 <= active < 1.0
    gaps, runs = [], []
    for polls in by_store.values():
        assert polls == sorted(polls)  # each store's polls come in time order
        gaps += [b[0] - a[0] for a, b in zip(polls, polls[1:], strict=False)]
        run = 0
        for _, status in polls:
            if status == "inactive":
                run += 1
            elif run:
                runs.append(run)
                run = 0
    assert min(gaps) >= timedelta(minutes=15)
    assert max(gaps) >= timedelta(hours=3)  # missing polls
    assert max(gaps) <= timedelta(hours=24)
    gaps.sort()
    assert timedelta(minutes=45) <= gaps[len(gaps) // 2] <= timedelta(minutes=90)
    # Sticky status: inactive runs are mostly 1-5 polls, and some are longer than one poll.
    assert runs and sum(r <= 5 for r in runs) / len(runs) >= 0.9
    assert any(r >= 2 for r in runs)


def test_realistic_hours(week: Path) -> None:
    _, hours = rows(week / "menu_hours.csv")
    _, tz = rows(week / "timezones.csv")
    _, status = rows(week / "store_status.csv")
    stores = {r[0] for r in status}
    with_hours = {r[0] for r in hours}
    # Some stores are open 24/7 (no rows) and some have no timezone row, as in the real data.
    assert 0.6 <= len(with_hours) / len(stores) <= 0.95
    assert 0.85 <= len({r[0] for r in tz}) / len(stores) < 1.0
    assert with_hours <= stores and {r[0] for r in tz} <= stores
    ends = [r[3] for r in hours]
    assert "23:59:59" in ends and "23:59:00" in ends
    per_day: dict[tuple[str, str], int] = {}
    for store_id, day, _, _ in hours:
        per_day[store_id, day] = per_day.get((store_id, day), 0) + 1
    assert max(per_day.values()) >= 2  # split shifts
    # Overnight: a day ending 23:59:59 and the next day starting 00:00:00 at an early hour.
    starts = {(r[0], r[1]): r for r in hours if r[2] == "00:00:00" and r[3] < "06:00:00"}
    assert any((s, str((int(d) + 1) % 7)) in starts for s, d, _, e in hours if e == "23:59:59")
    zones = {z for _, z in tz}
    assert {"America/New_York", "America/Los_Angeles", "America/Chicago"} <= zones


@pytest.mark.skipif(not (V1 / "menu_hours.csv").exists(), reason="real v1 files absent")
def test_hours_and_zones_from_real_v1_files(tmp_path: Path) -> None:
    make(
        tmp_path,
        "--hours-from",
        str(V1 / "menu_hours.csv"),
        "--timezones-from",
        str(V1 / "timezones.csv"),
        stores=40,
    )
    header, hours = rows(tmp_path / "menu_hours.csv")
    assert header == HOURS_HEADER
    _, real_hours = rows(V1 / "menu_hours.csv")
    _, real_tz = rows(V1 / "timezones.csv")
    _, tz = rows(tmp_path / "timezones.csv")
    _, status = rows(tmp_path / "store_status.csv")
    stores = {r[0] for r in status}
    assert len(stores) == 40
    real_stores = {r[0] for r in real_hours} | {r[0] for r in real_tz}
    # 40 of the ~13,600 real stores, with exactly their real rows.
    assert stores <= real_stores
    assert sorted(hours) == sorted(r for r in real_hours if r[0] in stores)
    assert sorted(tz) == sorted(r for r in real_tz if r[0] in stores)
    assert all(TS_RE.match(r[2]) for r in status)


@pytest.mark.skipif(not (V2 / "menu_hours.csv").exists(), reason="real v2 files absent")
def test_day_of_week_column_becomes_day(tmp_path: Path) -> None:
    make(tmp_path, "--hours-from", str(V2 / "menu_hours.csv"), stores=10)
    header, hours = rows(tmp_path / "menu_hours.csv")
    assert header == HOURS_HEADER
    _, real = rows(V2 / "menu_hours.csv")
    assert hours and set(map(tuple, hours)) <= set(map(tuple, real))


def test_more_stores_than_the_real_file_adds_made_up_ones(tmp_path: Path) -> None:
    src = tmp_path / "hours.csv"
    src.write_text("store_id,dayOfWeek,start_time_local,end_time_local\nabc,0,09:00:00,17:00:00\n")
    make(tmp_path / "out", "--hours-from", str(src), stores=30)
    _, status = rows(tmp_path / "out" / "store_status.csv")
    stores = {r[0] for r in status}
    assert len(stores) == 30 and "abc" in stores
    assert sum(bool(ID_RE.match(s)) for s in stores) == 29
    _, hours = rows(tmp_path / "out" / "menu_hours.csv")
    assert hours[0] == ["abc", "0", "09:00:00", "17:00:00"]


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "hours.csv"
    src.write_text("store_id,weekday,start_time_local,end_time_local\n1,0,09:00:00,17:00:00\n")
    result = run(
        "--out",
        str(tmp_path / "o"),
        "--stores",
        "5",
        "--days",
        "1",
        "--seed",
        "1",
        "--hours-from",
        str(src),
    )
    assert result.exit_code == 2
    assert "hours.csv" in result.output and "day" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--stores", "0", "--days", "1", "--seed", "1"],
        ["--stores", "5", "--days", "0", "--seed", "1"],
        ["--stores", "5", "--days", "1", "--seed", "-1"],
        ["--stores", "5", "--days", "1", "--seed", "1", "--format", "json"],
        ["--stores", "5", "--days", "1", "--seed", "1", "--start", "yesterday"],
        ["--stores", "5", "--days", "1"],
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    result = run("--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_help_has_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "storemon generate --out" in result.output
    for opt in ("--hours-from", "--timezones-from", "--format", "--start"):
        assert opt in result.output


def _export_command() -> click.Command | None:
    """The main group when it has `export` (it may not exist yet), else None."""
    try:
        from storemon.cli import cli
    except ImportError:
        return None
    return cli if "export" in getattr(cli, "commands", {}) else None


@pytest.mark.skipif(_export_command() is None, reason="`storemon export` is not registered yet")
def test_round_trip_through_export(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make(data, stores=20, days="2", seed=11)
    db, out = tmp_path / "tmp.duckdb", tmp_path / "tmp.csv"
    result = CliRunner().invoke(
        _export_command(), ["export", "--data", str(data), "--db", str(db), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    m = re.search(r"(\d[\d,]*)\s+rejected|rejected\D{0,40}?(\d[\d,]*)", result.stderr, re.I)
    assert m, result.stderr
    assert int((m.group(1) or m.group(2)).replace(",", "")) == 0, result.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'rejected_rows'"
        ).fetchall()
        assert found, "no rejected_rows table"
        for (schema,) in found:
            count = con.execute(f'SELECT count(*) FROM "{schema}".rejected_rows').fetchone()
            assert count == (0,)
    lines = out.read_text().splitlines()
    assert lines[0] == REPORT_HEADER
    _, status = rows(data / "store_status.csv")
    report_ids = [line.split(",")[0] for line in lines[1:]]
    assert sorted(report_ids) == sorted({r[0] for r in status})


def test_benchmark_generates_and_measures_the_floor(tmp_path: Path) -> None:
    """The benchmark's generation and floor parts, for real, at a tiny scale."""
    script = REPO / "bench" / "benchmark.py"
    args = ["--scales", "0.001", "--runs", "1", "--workdir", str(tmp_path), "--generate-only"]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.strip().splitlines()
    assert table[0].startswith("| scale | format | engine | stores | status rows |")
    assert table[2].startswith("| 0.001x | csv | duckdb | 14 |")
    data = tmp_path / "data-0.001x-csv-seed42"
    assert (data / "store_status.csv").exists()
    # A second run reuses the data.
    again = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    assert again.returncode == 0 and "reused" in again.stderr
    assert again.stdout.splitlines()[2].split("|")[4] == table[2].split("|")[4]  # status rows


def test_benchmark_measures_the_export_and_its_sql_without_dbt(tmp_path: Path) -> None:
    """A whole benchmark run at a tiny scale: dbt's fixed cost, the export, and the models'
    SQL run without dbt, whose report must equal the export's."""
    script = REPO / "bench" / "benchmark.py"
    args = ["--scales", "0.001", "--runs", "1", "--workdir", str(tmp_path)]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("dbt's fixed cost (medians of 1 fresh processes)")
    lines = proc.stdout.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| scale |"))
    header, _, row = lines[start : start + 3]
    cells = dict(zip(header.split("|"), row.split("|"), strict=True))
    assert cells[" models' SQL alone (no dbt) "].endswith("(same report) ")
    assert cells[" direct SQL (bench/direct_sql.py) "].endswith("(same report) ")
    assert cells[" export / direct "].strip().endswith("x")
    assert cells[" new database / direct "].strip().endswith("x")
    assert cells[" export median "].strip().endswith(" s")
    # The targets follow the table: at this scale, only that the reports are the same.
    assert (
        lines[-1]
        == "| 0.001x csv: the SQL alone writes the export's report | same bytes | same | met |"
    )


# ------------------------------------------------------------------------ the rich profile


def test_the_loop_profile_is_the_default(tmp_path: Path) -> None:
    make(tmp_path / "default", seed=4)
    make(tmp_path / "loop", "--profile", "loop", seed=4)
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        default = (tmp_path / "default" / name).read_bytes()
        assert default == (tmp_path / "loop" / name).read_bytes()
    # Loop's polls come in the first 45 minutes of their hour.
    _, body = rows(tmp_path / "loop" / "store_status.csv")
    assert max(parse_ts(r[2]).minute for r in body) < 45


def test_the_rich_profile_is_deterministic(tmp_path: Path) -> None:
    make(tmp_path / "a", "--profile", "rich", seed=7)
    make(tmp_path / "b", "--profile", "rich", seed=7)
    make(tmp_path / "c", "--profile", "rich", seed=8)
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    status = (tmp_path / "a" / "store_status.csv").read_bytes()
    assert status != (tmp_path / "c" / "store_status.csv").read_bytes()


def test_the_rich_profile_has_harder_hours(rich: Path) -> None:
    header, hours = rows(rich / "menu_hours.csv")
    assert header == HOURS_HEADER
    assert all(TIME_RE.match(r[2]) and TIME_RE.match(r[3]) for r in hours)
    assert all(r[1] in "0123456" and len(r[1]) == 1 for r in hours)
    # Overnight rows: the end is the next day's (end < start, not an end-of-day 23:59:xx).
    assert sum(r[3] < r[2] for r in hours) >= 20
    # 24-hour days (start = end), at midnight and at other times.
    all_day = [r for r in hours if r[2] == r[3]]
    assert len(all_day) >= 20 and any(r[2] != "00:00:00" for r in all_day)
    by_day: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for store_id, day, start, end in hours:
        by_day.setdefault((store_id, day), []).append((start, end))
    split = [sorted(v) for v in by_day.values() if len(v) == 2]
    # Split shifts: two intervals a day with a break between them.
    assert any(first[1] < second[0] for first, second in split)
    overlapping = [sorted(v) for v in by_day.values() if len(v) == 3]
    assert any(a[1] > b[0] for v in overlapping for a, b in zip(v, v[1:], strict=False))
    # Openings in the spring-forward gap (02:00-03:00 local on change days).
    assert any("02:00:00" <= r[2] < "03:00:00" and r[2] != r[3] for r in hours)
    # Business days that are not whole weeks: some stores close on some days.
    days_open = {}
    for store_id, day, _, _ in hours:
        days_open.setdefault(store_id, set()).add(day)
    assert any(len(days) < 7 for days in days_open.values())


def test_the_rich_profile_has_zones_of_both_hemispheres_and_odd_offsets(rich: Path) -> None:
    _, status = rows(rich / "store_status.csv")
    _, tz = rows(rich / "timezones.csv")
    zones = {zone for _, zone in tz}
    assert zones <= available_timezones()
    assert len(zones) >= 15
    assert {r[0] for r in tz} <= {r[0] for r in status}
    january, july = datetime(2024, 1, 15, 12, tzinfo=UTC), datetime(2024, 7, 15, 12, tzinfo=UTC)

    def offset_minutes(zone: str, moment: datetime) -> int:
        offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
        assert offset is not None
        return int(offset.total_seconds() // 60)

    # Summer time in January: the southern hemisphere's DST.
    southern = {z for z in zones if offset_minutes(z, january) > offset_minutes(z, july)}
    assert len(southern) >= 3
    # Offsets that are not whole hours (half and quarter hours).
    odd = {z for z in zones if offset_minutes(z, january) % 60}
    assert {"Asia/Kolkata", "Australia/Adelaide"} & odd and len(odd) >= 4


def test_the_rich_profile_polls_over_the_whole_span(rich: Path) -> None:
    _, body = rows(rich / "store_status.csv")
    assert all(TS_RE.match(r[2]) for r in body)
    times = sorted(parse_ts(r[2]) for r in body)
    end = RICH_START + timedelta(days=7.75)
    assert RICH_START <= times[0] < RICH_START + timedelta(minutes=10)
    assert end - timedelta(minutes=10) < times[-1] < end
    # Every hour of the period has polls, at every quarter of the hour.
    hours = {t.replace(minute=0, second=0, microsecond=0) for t in times}
    assert len(hours) == 7.75 * 24
    assert {t.minute // 15 for t in times} == {0, 1, 2, 3}


@pytest.mark.skipif(_export_command() is None, reason="`storemon export` is not registered yet")
def test_the_export_of_rich_data_rejects_nothing_and_matches_the_reference(tmp_path: Path) -> None:
    """The rich profile's files are all valid input, and the export's numbers are the
    reference's (tests/reference.py) over a week that crosses DST changes."""
    data = tmp_path / "data"
    make(data, "--profile", "rich", stores=30, days="7.75", seed=21)
    db, out = tmp_path / "rich.duckdb", tmp_path / "rich.csv"
    args = ["export", "--data", str(data), "--db", str(db), "--out", str(out), "--strict"]
    result = CliRunner().invoke(_export_command(), args)
    assert result.exit_code == 0, result.output  # --strict: a rejected row would fail it
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM rejected_rows").fetchone() == (0,)
    expected = reference.compute_report(
        data / "store_status.csv", data / "menu_hours.csv", data / "timezones.csv"
    )
    lines = out.read_text().splitlines()
    assert lines[0] == REPORT_HEADER
    got = {line.split(",")[0]: line.split(",")[1:] for line in lines[1:]}
    assert set(got) == set(expected) and len(got) == 30
    for store, measures in expected.items():
        for name, value, want in zip(
            reference.REPORT_COLUMNS[1:], got[store], measures, strict=True
        ):
            assert want is not None
            # The CSV rounds to 2 decimals.
            assert abs(float(value) - want) <= 0.0051, (store, name, value, want)
