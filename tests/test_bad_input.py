"""Bad and unusual input files, run in-process through Click's CliRunner.

Every case ends one of two ways: exit 0 with the expected report and `rejected_rows`, or exit 1
with one `Error: ...` line that names the file (and the column where there is one), no
traceback, and the earlier report CSV and database tables left as they were.

Where the rules are silent, the tests pin down what storemon does now (marked "decision" below) so
that a change is noticed: non-UTF-8 bytes, binary files, over-long lines and quoted line breaks
are refused with an error naming the file; tabs are not blanks; blank lines are not rows.

All runs share one database (`db` fixture) so that dbt's parse state beside it stays warm.
Unless a test says otherwise the clock is --as-of Wed 2024-01-10 12:00 UTC: last hour
[11:00, 12:00), last day [Tue 01-09 12:00, Wed 01-10 12:00), last week [Wed 01-03 12:00, ...).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import REPORT_HEADER, query

from storemon.cli import cli

AS_OF = "2024-01-10T12:00:00Z"
KINDS = ("status", "hours", "timezones")
FILE_NAMES = {"status": "store_status.csv", "hours": "menu_hours.csv", "timezones": "timezones.csv"}
INPUT_NAMES = {"status": "store_status", "hours": "menu_hours", "timezones": "timezones"}
HEADERS = {
    "status": ("store_id", "status", "timestamp_utc"),
    "hours": ("store_id", "day", "start_time_local", "end_time_local"),
    "timezones": ("store_id", "timezone_str"),
}
# Store `s` in UTC, one active poll, open Wednesdays 08:00-09:00: on 01-10 in the day and the
# week (1 h); on 01-03 before the week; the hour window is closed.
GOOD = {
    "status": b"store_id,status,timestamp_utc\ns,active,2024-01-10 00:00:00 UTC\n",
    "hours": b"store_id,day,start_time_local,end_time_local\ns,2,08:00,09:00\n",
    "timezones": b"store_id,timezone_str\ns,UTC\n",
}
GOOD_ROW = ("0.00", "1.00", "1.00", "0.00", "0.00", "0.00")
ALL_ACTIVE = ("60.00", "24.00", "168.00", "0.00", "0.00", "0.00")  # open 24/7, always active
OLD_REPORT = b"store_id,uptime_last_hour\r\nold,1\r\n"  # what an earlier run left in --out
TABLES = ("store_uptime_report", "rejected_rows")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """One database for the module: dbt's partial-parse state beside it stays warm."""
    return tmp_path_factory.mktemp("db") / "bad_input.duckdb"


def snapshot(db: Path) -> dict[str, list[tuple]] | None:
    if not db.exists():
        return None
    return {table: query(db, f"select * from {table} order by all") for table in TABLES}


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    output: str
    exception: BaseException | None
    out: Path
    files: dict[str, Path]
    db: Path
    tables_before: dict[str, list[tuple]] | None = field(repr=False)

    @property
    def report(self) -> dict[str, tuple[str, ...]]:
        return parse_csv_report(self.out.read_text(encoding="utf-8"))

    def table(self) -> dict[str, tuple]:
        rows = query(
            self.db,
            "select store_id, uptime_last_hour, uptime_last_day, uptime_last_week,"
            " downtime_last_hour, downtime_last_day, downtime_last_week from store_uptime_report",
        )
        return {row[0]: tuple(row[1:]) for row in rows}

    def rejected(self) -> list[tuple[str, str, int, dict, str]]:
        """rejected_rows as (input_name, source_file, row number, raw values, reason)."""
        rows = query(
            self.db,
            "select input_name, source_file, source_row_number, raw_values, rejection_reason"
            " from rejected_rows order by input_name, source_row_number",
        )
        return [(i, f, n, json.loads(raw), reason) for i, f, n, raw, reason in rows]


def parse_csv_report(text: str) -> dict[str, tuple[str, ...]]:
    """A report CSV (RFC 4180, so quoted commas and quotes are allowed) as {store_id: fields}."""
    csv.field_size_limit(1 << 24)  # store ids of a megabyte
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows and ",".join(rows[0]) == REPORT_HEADER, f"bad report header: {rows[:1]}"
    assert all(len(row) == 7 for row in rows[1:]), rows
    return {row[0]: tuple(row[1:]) for row in rows[1:]}


def write_input(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def csv_text(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def export(
    directory: Path,
    db: Path,
    *,
    status: bytes | str | Path | None = None,
    hours: bytes | str | Path | None = None,
    timezones: bytes | str | Path | None = None,
    names: dict[str, str] | None = None,
    data_dir: Path | None = None,
    out_name: str = "report.csv",
    args: tuple[str, ...] = ("--as-of", AS_OF),
) -> Run:
    """`storemon export` in-process. Each input is file content (written to `directory`, under
    `names[kind]` or its default name), an existing path, or None for the GOOD file. With
    `data_dir`, `--data DIR` is passed instead of the three files. --out starts out holding
    OLD_REPORT, so that a failed run can be checked to leave it alone; `out_name="-"` writes
    the report to standard output."""
    files: dict[str, Path] = {}
    options: list[str] = []
    if data_dir is not None:
        options += ["--data", str(data_dir)]
    else:
        given = {"status": status, "hours": hours, "timezones": timezones}
        for kind, content in given.items():
            if isinstance(content, Path):
                files[kind] = content
            else:
                name = (names or {}).get(kind, FILE_NAMES[kind])
                files[kind] = write_input(
                    directory / name, GOOD[kind] if content is None else content
                )
            options += [f"--{kind}", str(files[kind])]
    out = directory / ("report.csv" if out_name == "-" else out_name)
    out.write_bytes(OLD_REPORT)
    before = snapshot(db)
    result = CliRunner().invoke(
        cli,
        ["export", *options, *args, "--db", str(db), "--out", "-" if out_name == "-" else str(out)],
        prog_name="storemon",
        env={"STOREMON_DB": None},
    )
    return Run(
        result.exit_code, result.stdout, result.stderr, result.output, result.exception, out,
        files, db, before,
    )  # fmt: skip


def assert_succeeded(run: Run) -> None:
    assert run.exit_code == 0, run.output
    assert run.exception is None, run.output
    assert "Traceback" not in run.output


def assert_failed(run: Run, *must_name: str) -> str:
    """Exit 1, a single `Error:` line (the last on stderr) naming each of `must_name`, no
    traceback, and the earlier CSV and tables untouched. Returns the error line."""
    assert run.exit_code == 1, run.output
    # CliRunner reports an uncaught exception as exit 1 too: it must be Click's own exit.
    assert isinstance(run.exception, SystemExit), repr(run.exception)
    assert "Traceback" not in run.output
    lines = run.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], run.stderr
    for text in must_name:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"
    assert run.out.read_bytes() == OLD_REPORT
    assert snapshot(run.db) == run.tables_before
    return errors[0]


# --- whole files: empty, header only, columns ------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_empty_file_is_an_error_naming_it(tmp_path, db, kind):
    run = export(tmp_path, db, **{kind: b""})
    line = assert_failed(run, str(run.files[kind]))
    assert "empty" in line


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("status", ("", "", "", "", "", "")),  # no poll at all: unknown, not 0
        ("hours", ALL_ACTIVE),  # no business-hours row: open 24/7
        # America/Chicago: Wed 08-09 CST = 14-15 UTC; 01-10 is after now, 01-03 in the week.
        ("timezones", ("0.00", "0.00", "1.00", "0.00", "0.00", "0.00")),
    ],
)
def test_header_only_is_a_valid_file_with_no_rows(tmp_path, db, kind, expected):
    header_only = GOOD[kind].split(b"\n")[0]  # and no line break at the end
    run = export(tmp_path, db, **{kind: header_only})
    assert_succeeded(run)
    assert run.report == {"s": expected}
    assert run.rejected() == []
    assert "0 rejected rows" in run.stderr


@pytest.mark.parametrize(
    ("kind", "header", "column"),
    [
        ("status", "store_id,status,timestamp", "timestamp_utc"),
        ("hours", "store_id,weekday,start_time_local,end_time_local", "dayOfWeek"),
        ("hours", "store_id,day,start_time_local", "end_time_local"),
        ("timezones", "store_id,timezone", "timezone_str"),
    ],
)
def test_missing_column_names_the_file_and_the_column(tmp_path, db, kind, header, column):
    run = export(tmp_path, db, **{kind: f"{header}\ns,x,y,z\n"})
    assert_failed(run, str(run.files[kind]), column)


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_with_another_delimiter_is_refused_saying_so(tmp_path, db, delimiter, name):
    # Decision: spreadsheets in some locales write ';' (or tabs) into a ".csv"; the error says
    # so rather than only that store_id is missing.
    row = delimiter.join(["s", "active", "2024-01-10 00:00:00 UTC"])
    header = delimiter.join(["store_id", "status", "timestamp_utc"])
    run = export(tmp_path, db, status=f"{header}\n{row}\n")
    assert_failed(run, str(run.files["status"]), "store_id", f"separated by {name}, not commas")


def test_extra_columns_are_ignored(tmp_path, db):
    run = export(
        tmp_path,
        db,
        status="note,store_id,status,timestamp_utc,more\nhi,s,active,2024-01-10 00:00:00 UTC,x\n",
        hours="store_id,day,start_time_local,end_time_local,comment\ns,2,08:00,09:00,lunch\n",
        timezones="store_id,timezone_str,\ns,UTC,\n",  # an unnamed trailing column
    )
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}
    assert run.rejected() == []


def test_identical_rejected_poll_rows_each_keep_their_row_number(tmp_path, db):
    """Poll rows are numbered only when some are rejected (rejected_rows matches them by raw
    values): identical bad rows, short rows and a row that differs only in blanks each get
    their own row number."""
    status = (
        "store_id,status,timestamp_utc\n"
        "s,active,2024-01-10 00:00:00 UTC\n"  # 1
        "s,maybe,2024-01-10 01:00:00 UTC\n"  # 2
        "s,active,2024-01-10 02:00:00 UTC\n"  # 3
        "s,maybe,2024-01-10 01:00:00 UTC\n"  # 4: the same as 2
        "s\n"  # 5: short, padded with nulls
        "s, maybe,2024-01-10 01:00:00 UTC\n"  # 6: 2 with a blank
        "s\n"  # 7: the same as 5
    )
    run = export(tmp_path, db, status=status)
    assert_succeeded(run)
    file = str(run.files["status"])
    maybe = {"store_id": "s", "status": "maybe", "timestamp_utc": "2024-01-10 01:00:00 UTC"}
    short = {"store_id": "s", "status": None, "timestamp_utc": None}
    assert run.rejected() == [
        ("store_status", file, 2, maybe, "unknown status"),
        ("store_status", file, 4, maybe, "unknown status"),
        ("store_status", file, 5, short, "unknown status"),
        ("store_status", file, 6, {**maybe, "status": " maybe"}, "unknown status"),
        ("store_status", file, 7, short, "unknown status"),
    ]


def test_identical_rejected_hours_rows_each_keep_their_row_number(tmp_path, db):
    """The business hours are staged unnumbered too: identical bad rows and short rows each
    get their own row number, and the good rows still count."""
    hours = (
        "store_id,day,start_time_local,end_time_local\n"
        "s,2,08:00,09:00\n"  # 1
        "s,9,08:00,09:00\n"  # 2
        "s,9,08:00,09:00\n"  # 3: the same as 2
        "s,2\n"  # 4: short
        "s,2\n"  # 5: the same as 4
    )
    run = export(tmp_path, db, hours=hours)
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}
    file = str(run.files["hours"])
    bad_day = {"store_id": "s", "day": "9", "start_time_local": "08:00", "end_time_local": "09:00"}
    short = {"store_id": "s", "day": "2", "start_time_local": None, "end_time_local": None}
    assert run.rejected() == [
        ("menu_hours", file, 2, bad_day, "day not in 0-6"),
        ("menu_hours", file, 3, bad_day, "day not in 0-6"),
        ("menu_hours", file, 4, short, "unparseable start_time_local"),
        ("menu_hours", file, 5, short, "unparseable start_time_local"),
    ]


def test_columns_in_another_order(tmp_path, db):
    run = export(
        tmp_path,
        db,
        status="timestamp_utc,status,store_id\n2024-01-10 00:00:00 UTC,active,s\n",
        hours="end_time_local,start_time_local,store_id,day\n09:00,08:00,s,2\n",
        timezones="timezone_str,store_id\nUTC,s\n",
    )
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}
    assert run.rejected() == []


def test_utf8_byte_order_mark_is_ignored(tmp_path, db):
    bom = b"\xef\xbb\xbf"
    run = export(
        tmp_path,
        db,
        status=bom + GOOD["status"],
        hours=bom + b'"store_id", "day" ,start_time_local,end_time_local\ns,2,08:00,09:00\n',
        timezones=bom + b"timezone_str,store_id\nUTC,s\n",  # the BOM before a moved column
    )
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}
    assert run.rejected() == []


def test_crlf_and_cr_line_endings_and_blank_lines(tmp_path, db):
    # Decision: an empty line is not a row (row numbers skip it); a line holding only a blank
    # is a row, rejected for its empty store_id.
    run = export(
        tmp_path,
        db,
        status=b"store_id,status,timestamp_utc\r\ns,active,2024-01-10 00:00:00 UTC\r\n\r\n"
        b" \r\ns,maybe,2024-01-10 01:00:00 UTC\r\n\r\n",
        hours=b"store_id,day,start_time_local,end_time_local\rs,2,08:00,09:00\r",  # old Mac
        timezones=b"store_id,timezone_str\r\ns,UTC",
    )
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}
    status = str(run.files["status"])
    assert run.rejected() == [
        ("store_status", status, 2, {"store_id": " ", "status": None, "timestamp_utc": None},
         "empty store_id"),
        ("store_status", status, 3, {"store_id": "s", "status": "maybe",
                                     "timestamp_utc": "2024-01-10 01:00:00 UTC"},
         "unknown status"),
    ]  # fmt: skip


QUOTED_STATUS = (
    'store_id,status,timestamp_utc\n'
    '"s,1",active,2024-01-10 00:00:00 UTC\n'
    '"s ""2""","active","2024-01-10 00:00:00 UTC"\n'
    's,active,2024-01-10 00:00:00 UTC\n'
    '"t,3","on, off",2024-01-10 00:00:00 UTC\n'
)  # fmt: skip


def test_quoted_fields_with_commas_and_quotes(tmp_path, db):
    run = export(tmp_path, db, status=QUOTED_STATUS)
    assert_succeeded(run)
    # No hours or zone rows for "s,1" and 's "2"': open 24/7 (in America/Chicago).
    assert run.report == {"s": GOOD_ROW, 's "2"': ALL_ACTIVE, "s,1": ALL_ACTIVE}
    text = run.out.read_text()
    assert '\n"s,1",60.00,' in text and '\n"s ""2""",60.00,' in text
    assert run.rejected() == [
        ("store_status", str(run.files["status"]), 4,
         {"store_id": "t,3", "status": "on, off", "timestamp_utc": "2024-01-10 00:00:00 UTC"},
         "unknown status"),
    ]  # fmt: skip


def test_quoted_fields_on_standard_output(tmp_path, db):
    run = export(tmp_path, db, status=QUOTED_STATUS, out_name="-")
    assert_succeeded(run)
    assert parse_csv_report(run.stdout) == {
        "s": GOOD_ROW, 's "2"': ALL_ACTIVE, "s,1": ALL_ACTIVE,
    }  # fmt: skip


def test_quoted_header_name_with_a_comma(tmp_path, db):
    run = export(
        tmp_path,
        db,
        status='"store,id",store_id,status,timestamp_utc\nq,s,active,2024-01-10 00:00:00 UTC\n',
    )
    assert_succeeded(run)
    assert run.rejected() == []
    assert run.report == {"s": GOOD_ROW}


def test_quoted_line_break_is_refused_naming_the_file(tmp_path, db):
    # Decision: a line break inside a quoted field is refused, not read.
    run = export(
        tmp_path,
        db,
        status='store_id,status,timestamp_utc\n"two\nlines",active,2024-01-10 00:00:00 UTC\n',
    )
    assert_failed(run, str(run.files["status"]))


# --- bytes that are not UTF-8 text ----------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"store_id,status,timestamp_utc\ncaf\xe9,active,2024-01-10 00:00:00 UTC\n",
        b"store_id,status,timestamp_utc,r\xe9gion\ns,active,2024-01-10 00:00:00 UTC,x\n",
    ],
    ids=["latin1-in-store_id", "latin1-in-header"],
)
def test_non_utf8_bytes_are_refused_naming_the_file(tmp_path, db, content):
    # Decision: the whole run stops; no row is read with replaced characters.
    run = export(tmp_path, db, status=content)
    line = assert_failed(run, str(run.files["status"]))
    assert "utf-8" in line.lower()


@pytest.mark.parametrize("kind", KINDS)
def test_binary_file_is_refused_naming_the_file(tmp_path, db, kind):
    # Decision: an error naming the file, not rows rejected one by one.
    # Random bytes, with no line break in the first kilobyte: a long first line.
    garbage = bytearray(random.Random(f"binary-{kind}").randbytes(4096))
    garbage[:1024] = garbage[:1024].replace(b"\n", b"\xff").replace(b"\r", b"\xff")
    run = export(tmp_path, db, **{kind: bytes(garbage)}, names={kind: "data.bin"})
    assert_failed(run, str(run.files[kind]))


def test_one_megabyte_fields(tmp_path, db):
    big_id = "big-" + "x" * (1 << 20)
    big_status = "y" * (1 << 20)
    run = export(
        tmp_path,
        db,
        status=csv_text(
            HEADERS["status"],
            [
                (big_id, "active", "2024-01-10 00:00:00 UTC"),
                ("s", big_status, "2024-01-10 00:00:00 UTC"),
                ("s", "active", "2024-01-10 00:00:00 UTC"),
            ],
        ),
    )
    assert_succeeded(run)
    # A megabyte is read whole; as an id it is over the 255 characters a store_id may have.
    assert run.report == {"s": GOOD_ROW}
    assert set(run.table()) == {"s"}
    assert run.rejected() == [
        ("store_status", str(run.files["status"]), 1,
         {"store_id": big_id, "status": "active", "timestamp_utc": "2024-01-10 00:00:00 UTC"},
         "invalid store_id"),
        ("store_status", str(run.files["status"]), 2,
         {"store_id": "s", "status": big_status, "timestamp_utc": "2024-01-10 00:00:00 UTC"},
         "unknown status"),
    ]  # fmt: skip


def test_line_over_two_megabytes_is_refused_naming_the_file(tmp_path, db):
    status = csv_text(HEADERS["status"], [("s", "y" * 2_500_000, "2024-01-10 00:00:00 UTC")])
    run = export(tmp_path, db, status=status)
    assert_failed(run, str(run.files["status"]))


# --- one dataset, many rows: timestamps, statuses, days, times, zones, duplicates -------------
#
# Status cases: store t-<case> has an inactive anchor poll at 11:00 UTC and the case poll,
# `active` at 11:30 UTC (written in the case's form). No hours row: open 24/7. Nearest: the
# anchor owns [.., 11:15), the case poll [11:15, now): uptime_last_hour = 45 min. A fraction f
# (seconds) after 11:30 moves the midpoint by f/2: 45 - f/120 min. A rejected case poll leaves
# the anchor alone: uptime 0, downtime 60.

ANCHOR = "2024-01-10 11:00:00 UTC"
CASE_AT = "2024-01-10 11:30:00 UTC"
UNPARSEABLE_TS = "unparseable timestamp_utc"


def uptime_after(fraction_seconds: float) -> float:
    return 45 - fraction_seconds / 120


TIMESTAMP_CASES = {
    # the documented forms, all 11:30 UTC; 0 to 6 fraction digits
    "0-digits": ("2024-01-10 11:30:00 UTC", 45.0),
    **{
        f"{n}-digits": (
            f"2024-01-10 11:30:00.{'123456'[:n]} UTC",
            uptime_after(float(f"0.{'123456'[:n]}")),
        )
        for n in range(1, 7)
    },
    "no-suffix": ("2024-01-10 11:30:00", 45.0),
    "no-suffix-fraction": ("2024-01-10 11:30:00.5", uptime_after(0.5)),
    "T": ("2024-01-10T11:30:00", 45.0),
    "T-Z": ("2024-01-10T11:30:00Z", 45.0),
    "T-fraction-Z": ("2024-01-10T11:30:00.25Z", uptime_after(0.25)),
    "offset-+05:30": ("2024-01-10T17:00:00+05:30", 45.0),
    "offset--0800": ("2024-01-10T03:30:00-0800", 45.0),
    "offset-+01": ("2024-01-10T12:30:00+01", 45.0),
    "offset-fraction": ("2024-01-10T11:30:00.5+00:00", uptime_after(0.5)),
    # Decisions: surrounding blanks and lower case are accepted; 7 to 9
    # fraction digits are truncated to microseconds; 10 are refused.
    "blanks": ("  2024-01-10 11:30:00 UTC  ", 45.0),
    "lower-case": ("2024-01-10t11:30:00z", 45.0),
    "7-digits": ("2024-01-10 11:30:00.1234567 UTC", uptime_after(0.123456)),
    "10-digits": ("2024-01-10 11:30:00.1234567891 UTC", UNPARSEABLE_TS),
    # garbage
    "no-seconds": ("2024-01-10 11:30 UTC", UNPARSEABLE_TS),
    "date-only": ("2024-01-10", UNPARSEABLE_TS),
    "word": ("yesterday", UNPARSEABLE_TS),
    "empty": ("", UNPARSEABLE_TS),
    "feb-30": ("2024-02-30 11:30:00 UTC", UNPARSEABLE_TS),
    "hour-24": ("2024-01-10 24:30:00 UTC", UNPARSEABLE_TS),
    "one-digit-offset": ("2024-01-10T11:30:00+5:30", UNPARSEABLE_TS),
    "zone-abbreviation": ("2024-01-10 11:30:00 PST", UNPARSEABLE_TS),
    "epoch": ("1704886200", UNPARSEABLE_TS),
    "day-first": ("10/01/2024 11:30:00", UNPARSEABLE_TS),
    "dot-no-digits": ("2024-01-10 11:30:00. UTC", UNPARSEABLE_TS),
    # one space before UTC, as in the real data; other runs of blanks are refused, with a
    # fraction or without (the two once took different paths)
    "no-space-utc": ("2024-01-10 11:30:00.5UTC", uptime_after(0.5)),
    "two-spaces-utc": ("2024-01-10 11:30:00.5  UTC", UNPARSEABLE_TS),
    "two-spaces-utc-no-fraction": ("2024-01-10 11:30:00  UTC", UNPARSEABLE_TS),
    "tab-utc": ("2024-01-10 11:30:00.5\tUTC", UNPARSEABLE_TS),
    "two-spaces-one-digit-hour": ("2024-01-10  1:30:00.5 UTC", UNPARSEABLE_TS),
    "unicode-blanks": ("\u00a02024-01-10 11:30:00.5 UTC\u3000", uptime_after(0.5)),
    "tab-before": ("\t2024-01-10 11:30:00.5 UTC", UNPARSEABLE_TS),
    # offsets are real ones: hours 00-23, minutes 00-59
    "offset-99:99": ("2024-01-10T11:30:00+99:99", UNPARSEABLE_TS),
    "offset-24:00": ("2024-01-10 11:30:00+24:00", UNPARSEABLE_TS),
    "offset-minutes-60": ("2024-01-10T11:30:00-00:60", UNPARSEABLE_TS),
    "offset-23:59": ("2024-01-11T11:29:00+23:59", 45.0),
}
# Valid ids at the edges of the rule (accepted with blanks around them), and invalid ones.
VALID_STORE_IDS = [
    "t-" + "x" * 253,
    "t-inner=+-@",
    "t-cafe\u0301",
    "t-a\u00a0b",
    "t\u200bzw",
    't-"quoted"',  # JSON escapes " and \, as it does control characters: not one
    "t-back\\slash",
]
INVALID_STORE_IDS = [
    "t-" + "x" * 254,  # 256 characters
    "=t-formula",
    "+t-formula",
    "-t-formula",
    "@t-formula",
    "  -t-after-blanks",
    "t-control\x01middle",
    "t-unit\x1fseparator",
    "t-delete\x7f",
    "t-next-line\x85",
    "t-last-c1\x9f",
    "\tt-tab",
    't-"quoted"\x7f',
    "t-caf\u00e9\x1b",
]
STATUS_VALUE_CASES = {
    "Active": ("Active", 45.0),
    "INACTIVE": ("INACTIVE", 0.0),
    "aCtIvE": ("aCtIvE", 45.0),
    "inActive": ("inActive", 0.0),
    "blanks": ("  active  ", 45.0),
    "tab": ("\tactive", "unknown status"),  # decision: a tab is not a blank
    "empty": ("", "unknown status"),
    "other-word": ("up", "unknown status"),
    "typo": ("activ", "unknown status"),
}


def status_dataset() -> tuple[list[tuple], dict[str, float]]:
    """The status rows, each with the reason it should be rejected for (None: accepted), and
    the expected uptime_last_hour of each store."""
    rows: list[tuple[tuple, str | None]] = []
    expected: dict[str, float] = {}

    def case(store: str, polls: list[tuple], uptime: float, reasons: list[str | None]) -> None:
        rows.append(((store, "inactive", ANCHOR), None))
        rows.extend(zip(polls, reasons, strict=True))
        expected[store] = uptime

    for name, (text, outcome) in TIMESTAMP_CASES.items():
        rejected = isinstance(outcome, str)
        case(f"t-ts-{name}", [(f"t-ts-{name}", "active", text)], 0.0 if rejected else outcome,
             [outcome if rejected else None])  # fmt: skip
    for name, (text, outcome) in STATUS_VALUE_CASES.items():
        rejected = isinstance(outcome, str)
        case(f"t-status-{name}", [(f"t-status-{name}", text, CASE_AT)],
             0.0 if rejected else outcome, [outcome if rejected else None])  # fmt: skip
    # store_id: trimmed; blank ones rejected; any UTF-8 text
    case("t-trim", [("  t-trim  ", "active", CASE_AT)], 45.0, [None])
    case("t-café ☕", [("t-café ☕", "active", CASE_AT)], 45.0, [None])
    rows.append((("", "active", CASE_AT), "empty store_id"))
    rows.append((("   ", "active", CASE_AT), "empty store_id"))
    rows.append((("\u00a0\u3000", "active", CASE_AT), "empty store_id"))
    # store_id: 1-255 characters after trimming, no control character, not a formula's start
    for store in VALID_STORE_IDS:
        case(store, [(f"\u00a0{store} ", "active", CASE_AT)], 45.0, [None])
    rows.extend(((store, "active", CASE_AT), "invalid store_id") for store in INVALID_STORE_IDS)
    # short and long rows: missing fields are empty, extra fields are ignored (decision)
    case("t-short-row", [("t-short-row", "active")], 0.0, [UNPARSEABLE_TS])
    case("t-long-row", [("t-long-row", "active", CASE_AT, "extra", "more")], 45.0, [None])
    # duplicates: identical rows count once; at one instant `inactive` wins, also
    # when the instant is written in two forms
    case("t-duplicate", [("t-duplicate", "active", CASE_AT)] * 2, 45.0, [None, None])
    case("t-conflict", [("t-conflict", "active", CASE_AT), ("t-conflict", "inactive", CASE_AT)],
         0.0, [None, None])  # fmt: skip
    case("t-conflict-forms",
         [("t-conflict-forms", "inactive", "2024-01-10T17:00:00+05:30"),
          ("t-conflict-forms", "active", CASE_AT)],
         0.0, [None, None])  # fmt: skip
    return rows, expected


# Hours cases: store h-<case>, always active (one poll on 01-05), zone UTC. Expected
# (uptime_last_hour min, uptime_last_day h, uptime_last_week h); downtime is 0. Tuesday (1)
# 20:00-24:00: 01-09 is in the day and the week (4 h), 01-02 before the week.
OPEN_24_7 = (60, 24, 168)
TUESDAY_EVENING = (0, 4, 4)
HOURS_CASES: dict[str, tuple[list[tuple], tuple, list[str | None]]] = {
    "24:00": ([("1", "20:00", "24:00")], TUESDAY_EVENING, [None]),
    "24:00:00": ([("1", "20:00", "24:00:00")], TUESDAY_EVENING, [None]),
    "23:59:59": ([("1", "20:00", "23:59:59")], TUESDAY_EVENING, [None]),
    "23:59:59.999999": ([("1", "20:00", "23:59:59.999999")], TUESDAY_EVENING, [None]),
    "H:MM": ([("1", "8:00", "9:30")], (0, 0, 1.5), [None]),  # Tue 01-09 morning: week only
    "seconds": ([("1", "20:00:30", "24:00")], (0, 4 - 30 / 3600, 4 - 30 / 3600), [None]),
    "blanks": ([(" 1 ", " 20:00 ", " 24:00 ")], TUESDAY_EVENING, [None]),
    # rejected rows: the store has no business-hours row left, so it is open 24/7
    "day-7": ([("7", "20:00", "24:00")], OPEN_24_7, ["day not in 0-6"]),
    "day--1": ([("-1", "20:00", "24:00")], OPEN_24_7, ["day not in 0-6"]),
    "day-name": ([("Tue", "20:00", "24:00")], OPEN_24_7, ["day not in 0-6"]),
    "day-empty": ([("", "20:00", "24:00")], OPEN_24_7, ["day not in 0-6"]),
    "25:00-end": ([("1", "20:00", "25:00")], OPEN_24_7, ["unparseable end_time_local"]),
    "25:00-start": ([("1", "25:00", "02:00")], OPEN_24_7, ["unparseable start_time_local"]),
    "24:01": ([("1", "20:00", "24:01")], OPEN_24_7, ["unparseable end_time_local"]),
    "12-hour-clock": ([("1", "8pm", "11pm")], OPEN_24_7, ["unparseable start_time_local"]),
    # duplicate and overlapping rows are merged; a valid row beside a rejected one counts
    "duplicate": ([("1", "20:00", "24:00")] * 2, TUESDAY_EVENING, [None, None]),
    "overlap": ([("1", "18:00", "22:00"), ("1", "20:00", "24:00")], (0, 6, 6), [None, None]),
    "valid-and-rejected": (
        [("1", "20:00", "24:00"), ("7", "00:00", "24:00")],
        TUESDAY_EVENING,
        [None, "day not in 0-6"],
    ),
}

# Zone cases: store z-<case>, always active, open Wednesdays 06:00-18:00 local. Expected
# (uptime_last_hour min, uptime_last_day h); the week is 12 h in all three zones.
# UTC: 01-10 06:00-12:00 -> hour 60, day 6. Asia/Kolkata (+05:30): 01-10 00:30-12:30 UTC ->
# 60, 11.5. America/Chicago (-06:00): 01-10 12:00-24:00 UTC -> 0, 0.
ZONE_EFFECT = {"UTC": (60, 6), "Asia/Kolkata": (60, 11.5), "America/Chicago": (0, 0)}
ZONE_CASES: dict[str, tuple[list[str], str, list[str | None]]] = {
    "exact": (["Asia/Kolkata"], "Asia/Kolkata", [None]),
    "lower": (["asia/kolkata"], "Asia/Kolkata", [None]),
    "upper": (["ASIA/KOLKATA"], "Asia/Kolkata", [None]),
    "mixed": (["aSiA/kOlKaTa"], "Asia/Kolkata", [None]),
    "blanks": (["  Asia/Kolkata  "], "Asia/Kolkata", [None]),  # decision: trimmed
    "invalid": (["Mars/Olympus"], "America/Chicago", ["invalid timezone"]),
    "empty": ([""], "America/Chicago", ["invalid timezone"]),
    "offset": (["+05:30"], "America/Chicago", ["invalid timezone"]),
    "duplicate": (["UTC", "UTC"], "UTC", ["superseded", None]),
    "conflict": (["UTC", "Asia/Kolkata"], "Asia/Kolkata", ["superseded", None]),
    "valid-then-invalid": (["Asia/Kolkata", "Mars/Olympus"], "Asia/Kolkata",
                           [None, "invalid timezone"]),
    "invalid-then-valid": (["Mars/Olympus", "UTC"], "UTC", ["invalid timezone", None]),
    "case-variants": (["asia/kolkata", "UTC", "ASIA/KOLKATA"], "Asia/Kolkata",
                      ["superseded", "superseded", None]),
}  # fmt: skip


def hours_and_zones_dataset() -> tuple[list, list, list]:
    """(status rows, hours rows with reasons, zone rows with reasons) for the h- and z- stores."""
    polls, hours, zones = [], [], []
    for name, (rows, _, reasons) in HOURS_CASES.items():
        store = f"h-{name}"
        polls.append(((store, "active", "2024-01-05 00:00:00 UTC"), None))
        hours.extend(((store, *row), reason) for row, reason in zip(rows, reasons, strict=True))
        zones.append(((store, "UTC"), None))
    hours.append((("  ", "1", "20:00", "24:00"), "empty store_id"))
    hours.extend(
        ((store, "1", "20:00", "24:00"), "invalid store_id") for store in INVALID_STORE_IDS
    )
    for name, (names, _, reasons) in ZONE_CASES.items():
        store = f"z-{name}"
        polls.append(((store, "active", "2024-01-05 00:00:00 UTC"), None))
        hours.append(((store, "2", "06:00", "18:00"), None))
        zones.extend(((store, zone), reason) for zone, reason in zip(names, reasons, strict=True))
    zones.append((("", "UTC"), "empty store_id"))
    zones.extend(((store, "UTC"), "invalid store_id") for store in INVALID_STORE_IDS)
    return polls, hours, zones


@dataclass
class RowsRun:
    """The run and what it left, read right after it (later tests replace the database)."""

    run: Run
    rows: dict[str, list[tuple[tuple, str | None]]]  # kind -> [(fields, expected reason)]
    status_uptime: dict[str, float]
    report: dict[str, tuple[str, ...]]
    table: dict[str, tuple]
    rejected: list[tuple]
    counts: dict[str, tuple[int, int]]  # staging model -> (rows, rows without a reason)


@pytest.fixture(scope="module")
def rows_run(tmp_path_factory, db) -> RowsRun:
    status_rows, status_uptime = status_dataset()
    polls, hours, zones = hours_and_zones_dataset()
    rows = {"status": status_rows + polls, "hours": hours, "timezones": zones}
    directory = tmp_path_factory.mktemp("rows")
    contents = {kind: csv_text(HEADERS[kind], [r for r, _ in rows[kind]]) for kind in KINDS}
    run = export(directory, db, **contents)
    assert_succeeded(run)
    counts = {
        model: query(
            db, f"select count(*), count(*) filter (where rejection_reason is null) from {model}"
        )[0]
        for model in ("stg_store_status", "stg_menu_hours", "stg_timezones")
    }
    return RowsRun(run, rows, status_uptime, run.report, run.table(), run.rejected(), counts)


def measures(rows_run: RowsRun, store: str) -> tuple:
    """The store's unrounded measures, checked against its CSV row."""
    table = rows_run.table[store]
    written = tuple("" if value is None else f"{value:.2f}" for value in table)
    assert rows_run.report[store] == written
    return table


@pytest.mark.parametrize("name", [*TIMESTAMP_CASES, *(f"status-{n}" for n in STATUS_VALUE_CASES)])
def test_timestamp_and_status_forms(rows_run, name):
    store = f"t-ts-{name}" if not name.startswith("status-") else f"t-{name}"
    uptime = rows_run.status_uptime[store]
    hour_up, *_, hour_down, _, _ = measures(rows_run, store)
    assert (hour_up, hour_down) == pytest.approx((uptime, 60 - uptime), abs=1e-6)


@pytest.mark.parametrize(
    "store",
    ["t-trim", "t-café ☕", "t-short-row", "t-long-row", "t-duplicate", "t-conflict",
     "t-conflict-forms", *VALID_STORE_IDS],
)  # fmt: skip
def test_store_ids_short_and_long_rows_duplicates_and_conflicts(rows_run, store):
    uptime = rows_run.status_uptime[store]
    hour_up, *_, hour_down, _, _ = measures(rows_run, store)
    assert (hour_up, hour_down) == pytest.approx((uptime, 60 - uptime), abs=1e-6)


def test_blank_store_ids_make_no_store(rows_run):
    assert not [store for store in rows_run.table if not store.strip()]
    assert all(store == store.strip() for store in rows_run.table)


def test_invalid_store_ids_make_no_store(rows_run):
    """Every store in the report keeps the rule; none of the invalid ids (nor a trimmed form
    of one) is a store, in any of the three files."""
    for store in rows_run.table:
        assert 1 <= len(store) <= 255, store
        assert store[0] not in "=+-@", store
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in store), store
    assert len("t-" + "x" * 253) == 255 and len(INVALID_STORE_IDS[0]) == 256
    reasons = {}
    for kind in KINDS:
        for fields, reason in rows_run.rows[kind]:
            reasons.setdefault(fields[0], set()).add(reason)
    for store in INVALID_STORE_IDS:
        assert reasons[store] == {"invalid store_id"}, store
        assert store not in rows_run.table and store.strip() not in rows_run.table


@pytest.mark.parametrize("name", HOURS_CASES)
def test_business_hours_rows(rows_run, name):
    _, expected, _ = HOURS_CASES[name]
    got = measures(rows_run, f"h-{name}")
    assert got == pytest.approx((*expected, 0, 0, 0), abs=1e-6)


@pytest.mark.parametrize("name", ZONE_CASES)
def test_timezone_rows(rows_run, name):
    _, zone, _ = ZONE_CASES[name]
    got = measures(rows_run, f"z-{name}")
    assert got == pytest.approx((*ZONE_EFFECT[zone], 12, 0, 0, 0), abs=1e-6)


def test_rejected_rows_have_file_row_number_raw_values_and_reason(rows_run):
    expected = []
    for kind in KINDS:
        for number, (fields, reason) in enumerate(rows_run.rows[kind], start=1):
            if reason is not None:
                # Empty fields and missing trailing fields are recorded as null (decision).
                padded = [*(value or None for value in fields), *[None] * len(HEADERS[kind])]
                padded = padded[: len(HEADERS[kind])]
                raw = dict(zip(HEADERS[kind], padded, strict=True))
                expected.append(
                    (INPUT_NAMES[kind], str(rows_run.run.files[kind]), number, raw, reason)
                )
    assert rows_run.rejected == sorted(expected, key=lambda row: (row[0], row[2]))
    assert f"{len(expected)} rejected rows" in rows_run.run.stderr


@pytest.mark.parametrize(
    ("kind", "model"),
    [("status", "stg_store_status"), ("hours", "stg_menu_hours"), ("timezones", "stg_timezones")],
)
def test_rows_read_are_accepted_plus_rejected(rows_run, kind, model):
    read = len(rows_run.rows[kind])
    rejected = sum(reason is not None for _, reason in rows_run.rows[kind])
    assert rows_run.counts[model] == (read, read - rejected)
    assert sum(row[0] == INPUT_NAMES[kind] for row in rows_run.rejected) == rejected


def test_non_iana_zone_abbreviation_is_rejected(tmp_path, db):
    run = export(
        tmp_path,
        db,
        status=csv_text(HEADERS["status"], [("z", "active", "2024-01-05 00:00:00 UTC")]),
        hours=csv_text(HEADERS["hours"], [("z", "2", "06:00", "18:00")]),
        timezones=csv_text(HEADERS["timezones"], [("z", "BST")]),
    )
    assert_succeeded(run)
    assert [(r[2], r[4]) for r in run.rejected()] == [(1, "invalid timezone")]
    assert run.table()["z"] == pytest.approx((*ZONE_EFFECT["America/Chicago"], 12, 0, 0, 0))


# --- day versus dayOfWeek -------------------------------------------------------------------


def test_day_of_week_column(tmp_path, db):
    run = export(
        tmp_path,
        db,
        hours="store_id,dayOfWeek,start_time_local,end_time_local\ns,2,08:00,09:00\ns,9,1,2\n",
    )
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}
    [(_, _, number, raw, reason)] = run.rejected()
    assert (number, raw["day"], reason) == (2, "9", "day not in 0-6")


def test_day_wins_over_day_of_week(tmp_path, db):
    # dayOfWeek 5 would be Saturday: 01-06 08-09 UTC, in the week only (0, 0, 1).
    run = export(
        tmp_path,
        db,
        hours="store_id,dayOfWeek,day,start_time_local,end_time_local\ns,5,2,08:00,09:00\n",
    )
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}


# --- paths: directories, blanks and quotes, SQL-looking names -------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_directory_given_where_a_file_is_expected(tmp_path, db, kind):
    folder = tmp_path / "a folder.csv"
    folder.mkdir()
    run = export(tmp_path, db, **{kind: folder})
    line = assert_failed(run, str(folder))
    assert "directory" in line


def test_data_dir_holding_a_directory_named_like_an_input(tmp_path, db):
    data = tmp_path / "data"
    for kind in KINDS:
        write_input(data / FILE_NAMES[kind], GOOD[kind])
    (data / "timezones.csv").unlink()
    (data / "timezones.csv").mkdir()
    run = export(tmp_path, db, data_dir=data)
    line = assert_failed(run, str(data / "timezones.csv"))
    assert "directory" in line


def test_path_with_blanks_and_quotes(tmp_path, db):
    data = tmp_path / "my data, 'single' and \"double\" quotes"
    for kind in KINDS:
        write_input(data / FILE_NAMES[kind], GOOD[kind])
    write_input(data / "store_status.csv", GOOD["status"] + b"s,maybe,2024-01-10 01:00:00 UTC\n")
    run = export(tmp_path, db, data_dir=data, out_name="report 'new' \"one\".csv")
    assert_succeeded(run)
    assert run.report == {"s": GOOD_ROW}
    [(_, source_file, number, _, reason)] = run.rejected()
    assert (source_file, number, reason) == (str(data / "store_status.csv"), 2, "unknown status")


INJECTION_ID = "'); drop table store_uptime_report; --"


def test_sql_in_file_names_and_values_is_data(tmp_path, db):
    status = csv_text(
        HEADERS["status"],
        [(INJECTION_ID, "active", "2024-01-10 00:00:00 UTC"),
         ("s", "active", "2024-01-10 00:00:00 UTC"),
         ('"; select 1; --', "maybe'); drop table rejected_rows; --", "2024-01-10 00:00:00 UTC")],
    )  # fmt: skip
    run = export(
        tmp_path,
        db,
        status=status,
        hours=csv_text(HEADERS["hours"], [("s", 2, "08:00", "09:00")]),
        names={"status": "x'; drop table y; --.csv", "hours": 'h"; drop table y; --.csv'},
        out_name="r'; drop table store_uptime_report; --.csv",
    )
    assert_succeeded(run)
    assert run.files["status"].name == "x'; drop table y; --.csv"
    assert run.report == {INJECTION_ID: ALL_ACTIVE, "s": GOOD_ROW}
    assert set(run.table()) == {INJECTION_ID, "s"}
    assert run.rejected() == [
        ("store_status", str(run.files["status"]), 3,
         {"store_id": '"; select 1; --', "status": "maybe'); drop table rejected_rows; --",
          "timestamp_utc": "2024-01-10 00:00:00 UTC"},
         "unknown status"),
    ]  # fmt: skip
