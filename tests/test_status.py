"""`storemon status` (docs/status.md): the table, CSV and JSON of store_status_now, on a small
fleet whose every answer is worked out by hand below."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import query, storemon_executable, write_inputs

from storemon import export as export_module
from storemon.cli import cli
from storemon.status import (
    Status,
    format_duration,
    format_instant,
    render,
    render_json,
    render_plain_table,
)

# T = Monday 2024-03-11 12:00 UTC, silent after 120 minutes.
AS_OF = "2024-03-11T12:00:00Z"
POLLS = [
    # up: open 09:00-17:00; inactive at 10:00, then active since 11:00.
    ("up", "inactive", "2024-03-11 10:00:00 UTC"),
    ("up", "active", "2024-03-11 11:00:00 UTC"),
    ("up", "active", "2024-03-11 11:30:00 UTC"),
    # down: open 24/7; inactive since 11:50 (the 11:55 poll was active and inactive at once:
    # inactive wins); the poll after T does not count.
    ("down", "active", "2024-03-11 11:00:00 UTC"),
    ("down", "inactive", "2024-03-11 11:50:00 UTC"),
    ("down", "active", "2024-03-11 11:55:00 UTC"),
    ("down", "inactive", "2024-03-11 11:55:00 UTC"),
    ("down", "active", "2024-03-11 12:00:00.000001 UTC"),
    # edge: its last poll is exactly 120 minutes old: not silent yet, down since 10:00.
    ("edge", "inactive", "2024-03-11 10:00:00 UTC"),
    # silent: its last poll is 121 minutes old: silent since 09:59 + 120 min = 11:59.
    ("silent", "active", "2024-03-11 09:59:00 UTC"),
    # closed: open 13:00-14:00 only.
    ("closed", "active", "2024-03-11 11:00:00 UTC"),
]
HOURS = [
    ("up", 0, "09:00", "17:00"),
    ("closed", 0, "13:00", "14:00"),
    # never: open 08:00-20:00 New York time (EDT since 2024-03-10: 12:00-24:00 UTC), no poll.
    ("never", 0, "08:00", "20:00"),
]
ZONES = [
    ("up", "UTC"),
    ("down", "UTC"),
    ("edge", "UTC"),
    ("silent", "UTC"),
    ("closed", "UTC"),
    ("never", "America/New_York"),
]
EXPECTED = {  # store_id -> the model's other columns, as JSON writes them
    "closed": ["closed", False, "2024-03-11T11:00:00Z", "active", None, None,
               "2024-03-11T13:00:00Z"],
    "down": ["down", True, "2024-03-11T11:55:00Z", "inactive", "2024-03-11T11:50:00Z", None, None],
    "edge": ["down", True, "2024-03-11T10:00:00Z", "inactive", "2024-03-11T10:00:00Z", None, None],
    "never": ["silent", True, None, None, None, "2024-03-12T00:00:00Z", None],
    "silent": ["silent", True, "2024-03-11T09:59:00Z", "active", "2024-03-11T11:59:00Z", None,
               None],
    "up": ["up", True, "2024-03-11T11:30:00Z", "active", "2024-03-11T11:00:00Z",
           "2024-03-11T17:00:00Z", None],
}  # fmt: skip
COLUMNS = [
    "store_id",
    "state",
    "is_open",
    "last_poll_at",
    "last_status",
    "state_since",
    "closes_at",
    "opens_at",
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("fleet"), POLLS, HOURS, ZONES)


def status(fleet: Path, tmp_path: Path, *options: str) -> tuple[int, str, str]:
    args = ["status", "--data", str(fleet), "--as-of", AS_OF, "--db", str(tmp_path / "s.duckdb")]
    result = CliRunner().invoke(cli, [*args, *options])
    return result.exit_code, result.stdout, result.stderr


def test_json_is_every_column_by_store_id(fleet, tmp_path):
    code, out, _ = status(fleet, tmp_path, "--format", "json")
    assert code == 0
    assert out.endswith("]\n") and "\n" not in out[:-1]
    assert json.loads(out) == [
        dict(zip(COLUMNS, [store, *values], strict=True))
        for store, values in sorted(EXPECTED.items())
    ]
    # The bytes: compact, keys in the model's order.
    assert out.startswith(
        '[{"store_id":"closed","state":"closed","is_open":false,'
        '"last_poll_at":"2024-03-11T11:00:00Z","last_status":"active","state_since":null,'
        '"closes_at":null,"opens_at":"2024-03-11T13:00:00Z"},'
    )


def test_csv(fleet, tmp_path):
    code, out, _ = status(fleet, tmp_path, "--format", "csv", "--state", "down")
    assert code == 0
    assert out == (
        "store_id,state,is_open,last_poll_at,last_status,state_since,closes_at,opens_at\n"
        "down,down,true,2024-03-11T11:55:00Z,inactive,2024-03-11T11:50:00Z,,\n"
        "edge,down,true,2024-03-11T10:00:00Z,inactive,2024-03-11T10:00:00Z,,\n"
    )


def test_table_puts_down_and_silent_first_with_how_long(fleet, tmp_path):
    """Down, then silent, then up, then closed; within a state the longest first (a silent
    store never polled has no known start: first). Plain text when not on a terminal."""
    code, out, err = status(fleet, tmp_path)
    assert code == 0
    expected = """\
store_id  state   for           since                 last poll                      closes / opens
edge      down    2 h 00 min    2024-03-11T10:00:00Z  2024-03-11T10:00:00Z inactive  open 24/7
down      down    10 min        2024-03-11T11:50:00Z  2024-03-11T11:55:00Z inactive  open 24/7
never     silent  never polled                                                       closes 2024-03-12T00:00:00Z
silent    silent  1 min         2024-03-11T11:59:00Z  2024-03-11T09:59:00Z active    open 24/7
up        up      1 h 00 min    2024-03-11T11:00:00Z  2024-03-11T11:30:00Z active    closes 2024-03-11T17:00:00Z
closed    closed                                      2024-03-11T11:00:00Z active    opens 2024-03-11T13:00:00Z
at 2024-03-11T12:00:00Z: 2 down, 2 silent, 1 up, 1 closed (6 stores)
"""  # noqa: E501
    assert out == expected
    assert "6 stores; 0 rejected rows" in err


def test_state_filter_and_threshold(fleet, tmp_path):
    """With a threshold of 180 minutes the 121-minute-old poll is recent again: up since 09:59."""
    code, out, _ = status(
        fleet, tmp_path, "--silent-after", "180", "--state", "up", "--state", "silent",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert [(row["store_id"], row["state"], row["state_since"]) for row in json.loads(out)] == [
        ("never", "silent", None),
        ("silent", "up", "2024-03-11T09:59:00Z"),
        ("up", "up", "2024-03-11T11:00:00Z"),
    ]


def test_the_database_keeps_the_model(fleet, tmp_path):
    code, _, _ = status(fleet, tmp_path, "--format", "csv")
    assert code == 0
    rows = query(tmp_path / "s.duckdb", "select store_id, state from store_status_now order by 1")
    assert rows == [(store, values[0]) for store, values in sorted(EXPECTED.items())]
    assert not list(tmp_path.glob("*.csv"))


def test_export_builds_the_model_with_its_threshold(fleet, tmp_path):
    args = ["export", "--data", str(fleet), "--as-of", AS_OF, "--db", str(tmp_path / "e.duckdb")]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "r.csv"), "--silent-after",
                                      "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = query(tmp_path / "e.duckdb", "select store_id, state from store_status_now order by 1")
    # With no tolerance every open store whose last poll is older than T is silent; `down`
    # was polled at 11:55, `up` at 11:30.
    assert dict(rows) == {"closed": "closed", "down": "silent", "edge": "silent",
                          "never": "silent", "silent": "silent", "up": "silent"}  # fmt: skip


def test_the_recorded_plan_runs_again_at_another_instant(fleet, tmp_path, monkeypatch, plan_cache):
    """The export's plan (replayed without dbt) reads T and the threshold as variables: the
    `status_time` setting from the environment, --silent-after from the command line."""
    db = tmp_path / "p.duckdb"
    args = ["export", "--data", str(fleet), "--as-of", AS_OF, "--db", str(db)]
    args += ["--out", str(tmp_path / "r.csv")]
    assert CliRunner().invoke(cli, args).exit_code == 0  # dbt runs and records the plan

    def refuse(*args, **kwargs):
        raise AssertionError("the export ran dbt although its plan was recorded")

    monkeypatch.setattr(export_module, "run_dbt", refuse)
    monkeypatch.setenv("STOREMON_STATUS_TIME", "2024-03-11T14:30:00+01:00")
    sql = "select store_id, state, state_since from store_status_now order by 1"
    # T = 13:30 UTC, 120 minutes: `down` now sees its poll at 12:00:00.000001 (active, after
    # the inactive 11:55); `up`'s 11:30 poll is exactly 120 minutes old; `closed` opened at
    # 13:00 and its 11:00 poll is 150 minutes old; `edge`'s 10:00 poll is 210 minutes old.
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert query(db, "select * from int_status_clock") == [(datetime(2024, 3, 11, 13, 30), 120)]
    assert query(db, sql) == [
        ("closed", "silent", datetime(2024, 3, 11, 13, 0)),
        ("down", "up", datetime(2024, 3, 11, 12, 0, 0, 1)),
        ("edge", "silent", datetime(2024, 3, 11, 12, 0)),
        ("never", "silent", None),
        ("silent", "silent", datetime(2024, 3, 11, 11, 59)),
        ("up", "up", datetime(2024, 3, 11, 11, 0)),
    ]
    # 300 minutes: only a store never polled is silent.
    assert CliRunner().invoke(cli, [*args, "--silent-after", "300"]).exit_code == 0
    assert query(db, sql) == [
        ("closed", "up", datetime(2024, 3, 11, 11, 0)),
        ("down", "up", datetime(2024, 3, 11, 12, 0, 0, 1)),
        ("edge", "down", datetime(2024, 3, 11, 10, 0)),
        ("never", "silent", None),
        ("silent", "up", datetime(2024, 3, 11, 9, 59)),
        ("up", "up", datetime(2024, 3, 11, 11, 0)),
    ]


def test_bad_options_are_user_errors(fleet, tmp_path):
    code, _, err = status(fleet, tmp_path, "--silent-after", "-1")
    assert code == 2 and "--silent-after" in err
    code, _, err = status(fleet, tmp_path, "--state", "sleeping")
    assert code == 2 and "'sleeping' is not one of" in err
    result = CliRunner().invoke(
        cli, ["status", "--data", str(fleet), "--as-of", "yesterday", "--db",
              str(tmp_path / "x.duckdb")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("Error: ")
    assert "report_time 'yesterday' is not a timestamp" in result.stderr


def test_console_script_plain_table(fleet, tmp_path):
    """Through the installed command, output to a pipe: the plain table, no colours."""
    done = subprocess.run(
        [storemon_executable(), "status", "--data", str(fleet), "--as-of", AS_OF, "--db",
         str(tmp_path / "c.duckdb"), "--state", "down"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "at 2024-03-11T12:00:00Z: 2 down, 2 silent, 1 up, 1 closed (6 stores)"
    )


def test_format_instant():
    assert format_instant(datetime(2024, 11, 4, 6)) == "2024-11-04T06:00:00Z"
    assert format_instant(datetime(2024, 11, 4, 5, 46, 0, 591219)) == "2024-11-04T05:46:00.591219Z"
    assert format_instant(datetime(2024, 11, 4, 5, 0, 0, 500000)) == "2024-11-04T05:00:00.500000Z"
    east = timezone(timedelta(hours=1))
    assert format_instant(datetime(2024, 11, 4, 7, tzinfo=east)) == "2024-11-04T06:00:00Z"
    assert format_instant(datetime(2024, 11, 4, 6, tzinfo=UTC)) == "2024-11-04T06:00:00Z"
    assert format_instant(None) is None


def test_render_json_of_no_rows():
    assert render_json([]) == "[]\n"


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(seconds=59), "<1 min"),
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=59, seconds=59), "59 min"),
        (timedelta(hours=1), "1 h 00 min"),
        (timedelta(hours=23, minutes=5), "23 h 05 min"),
        (timedelta(days=1, hours=2, minutes=30), "1 d 2 h"),
    ],
)
def test_format_duration(length, text):
    assert format_duration(length) == text


def test_on_a_terminal_the_table_has_colours_and_words(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # the terminal's width, which Rich fills
    at = datetime(2024, 3, 11, 12)
    rows = [
        dict(zip(COLUMNS, values, strict=True))
        for values in [
            ("a", "up", True, at, "active", at - timedelta(hours=3), None, None),
            ("b", "down", True, at, "inactive", at - timedelta(minutes=5), None, None),
        ]
    ]
    now = Status(at, 120, rows)
    text = render(now, "table", terminal=True)
    assert "\x1b[" in text  # colours
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [line.split() for line in plain.splitlines()]
    assert [line[:4] for line in lines[1:3]] == [["b", "down", "5", "min"], ["a", "up", "3", "h"]]
    summary = "at 2024-03-11T12:00:00Z: 1 down, 0 silent, 1 up, 0 closed (2 stores)"
    assert plain.splitlines()[-1] == summary
    assert render(now, "table", terminal=False) == render_plain_table(now)
