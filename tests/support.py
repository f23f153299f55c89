"""Helpers for the tests that drive `storemon export` and the service: write the three input
CSVs, run the installed console script in a subprocess, read the report CSV and the DuckDB
tables, wait for a service report. Imported as a module (`from support import ...`); fixtures
live in conftest.py."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb

# The token of the services the tests start, and the header that carries it.
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# The tables of a service's inbox that hold what clients sent (see inbox_state).
INBOX_TABLES = ("polls", "business_hours", "timezones", "reports")

REPORT_HEADER = (
    "store_id,uptime_last_hour,uptime_last_day,uptime_last_week,"
    "downtime_last_hour,downtime_last_day,downtime_last_week"
)
STATUS_HEADER = ("store_id", "status", "timestamp_utc")
HOURS_HEADER = ("store_id", "day", "start_time_local", "end_time_local")
ZONES_HEADER = ("store_id", "timezone_str")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_parquet(path: Path, header: tuple[str, ...], rows: list[tuple]) -> Path:
    """Rows of text as a Parquet file, as the service's archive and other tools write them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as connection:
        connection.execute(f"create table rows ({', '.join(f'{n} varchar' for n in header)})")
        connection.executemany(f"insert into rows values ({', '.join('?' * len(header))})", rows)
        connection.execute(f"copy rows to '{path}'")
    return path


def write_inputs(
    directory: Path,
    polls: Iterable[Sequence[object]],
    hours: Iterable[Sequence[object]],
    zones: Iterable[Sequence[object]],
) -> Path:
    """store_status.csv, menu_hours.csv and timezones.csv in `directory` (for `--data`)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(directory / "store_status.csv", STATUS_HEADER, polls)
    write_csv(directory / "menu_hours.csv", HOURS_HEADER, hours)
    write_csv(directory / "timezones.csv", ZONES_HEADER, zones)
    return directory


def storemon_executable() -> str:
    beside_python = Path(sys.executable).with_name("storemon")
    found = shutil.which("storemon") or (str(beside_python) if beside_python.exists() else None)
    assert found, "the storemon console script is not installed"
    return found


def generate_inputs(folder: Path, stores: int, days: int, seed: int, profile: str = "loop") -> Path:
    """Input files from `storemon generate` (Loop-shaped, or another `profile`), in `folder`."""
    done = subprocess.run(
        [storemon_executable(), "generate", "--out", str(folder), "--stores", str(stores),
         "--days", str(days), "--seed", str(seed), "--profile", profile],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder


def run_export(*args: str, cwd: Path) -> tuple[int, str, str]:
    """`storemon export ARGS` in a subprocess run in `cwd`: (returncode, stdout, stderr).
    STOREMON_DB is removed from the environment so that `--db` defaults to ./storemon.duckdb."""
    environment = {k: v for k, v in os.environ.items() if k != "STOREMON_DB"}
    done = subprocess.run(
        [storemon_executable(), "export", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def parse_report(text: str) -> dict[str, tuple[str, ...]]:
    """The report CSV text as {store_id: the six measure fields as written}, in file order;
    checks the header."""
    lines = text.splitlines()
    assert lines and lines[0] == REPORT_HEADER, f"bad report header: {lines[:1]}"
    rows = list(csv.reader(lines[1:]))
    assert all(len(row) == 7 for row in rows), rows
    return {row[0]: tuple(row[1:]) for row in rows}


def read_report(path: Path) -> dict[str, tuple[str, ...]]:
    return parse_report(path.read_text(encoding="utf-8"))


def query(db_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def finished(client, report_id: str, timeout: float = 120) -> dict:
    """A service report's answer once it is no longer Running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/get_report/{report_id}")
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "Running":
            return answer.json()
        time.sleep(0.2)
    raise AssertionError(f"report {report_id} still running after {timeout} s")


def inbox_state(client) -> dict[str, tuple]:
    """Per inbox table: its row count and an md5 of all its rows, in a fixed order."""
    cursor = client.app.state.service.inbox.cursor()
    return {
        table: cursor.execute(
            f"select count(*), md5(coalesce(string_agg(t::varchar, '|' order by t::varchar), ''))"
            f" from {table} as t"
        ).fetchone()
        for table in INBOX_TABLES
    }
