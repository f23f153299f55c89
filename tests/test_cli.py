"""The command line, in-process through Click's CliRunner: help, version, input resolution,
errors (one line, exit 1, nothing overwritten), --out -, --strict and header handling.

Expected numbers are worked out by hand. The small dataset used below: store `s` in UTC, one
active poll, --as-of Wed 2024-01-10 12:00 UTC; hour [11:00, 12:00), day [Tue 01-09 12:00,
Wed 01-10 12:00), week [Wed 01-03 12:00, ...). Wednesday hours 08:00-09:00: on 01-10 in the day
and week (1 h); on 01-03 before the week. Hour window closed.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import version
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner
from support import REPORT_HEADER, parse_report, query, write_csv, write_inputs, write_parquet

from storemon.cli import cli

AS_OF = "2024-01-10T12:00:00Z"
POLLS = [("s", "active", "2024-01-10 00:00:00 UTC")]
WEDNESDAY_8_TO_9 = [("s", 2, "08:00", "09:00")]
ZONES = [("s", "UTC")]
ONE_HOUR_ROW = "s,0.00,1.00,1.00,0.00,0.00,0.00"  # Wed 08-09 on 01-10: day 1 h, week 1 h
TWO_HOURS_ROW = "s,0.00,2.00,2.00,0.00,0.00,0.00"  # Wed 08-10 on 01-10: day 2 h, week 2 h


@pytest.fixture(autouse=True)
def no_database_from_environment(monkeypatch):
    """Each test starts without STOREMON_DB, and whatever a run leaves in it is undone."""
    monkeypatch.setenv("STOREMON_DB", "unset-by-the-next-line")
    monkeypatch.delenv("STOREMON_DB")


def invoke(*args: str, **kwargs) -> click.testing.Result:
    """`storemon ARGS` in-process; STOREMON_DB is removed for the call and restored after it."""
    return CliRunner().invoke(
        cli, list(args), prog_name="storemon", env={"STOREMON_DB": None}, **kwargs
    )


def error_line(result: click.testing.Result) -> str:
    """The one `Error: ...` line on stderr, checked to be the last and only one."""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    return errors[0]


def small_data(directory: Path, hours=WEDNESDAY_8_TO_9) -> Path:
    return write_inputs(directory, POLLS, hours, ZONES)


# --- help and version ----------------------------------------------------------------------


def long_options(command: click.Command) -> list[str]:
    return [opt for param in command.params for opt in param.opts + param.secondary_opts]


def test_group_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: storemon")
    for name in cli.commands:
        assert re.search(rf"^\s+{name}\s", result.stdout, re.MULTILINE), name
    assert "--version" in result.stdout
    assert invoke("-h").stdout == result.stdout


def test_export_help_lists_every_option():
    result = invoke("export", "--help")
    assert result.exit_code == 0
    options = long_options(cli.commands["export"])
    assert {"--data", "--status", "--hours", "--timezones", "--as-of", "--interpolation", "--db",
            "--out", "--strict", "-v", "--verbose"} <= set(options)  # fmt: skip
    for option in [*options, "--help"]:
        assert re.search(rf"(^|[\s,]){re.escape(option)}\b", result.stdout), option
    assert "nearest|previous" in result.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"storemon, version {version('storemon')}"


# --- successful runs -----------------------------------------------------------------------


def test_default_run_uses_the_bundled_sample_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("export")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    text = (tmp_path / "report.csv").read_text()
    assert text.splitlines()[0] == REPORT_HEADER
    ids = list(parse_report(text))
    assert ids == sorted(set(ids)) and len(ids) > 1
    assert f"{len(ids)} stores;" in result.stderr
    assert re.search(r"; \d+ rejected rows", result.stderr)
    assert (tmp_path / "storemon.duckdb").is_file()
    assert query(tmp_path / "storemon.duckdb", "select count(*) from store_uptime_report") == [
        (len(ids),)
    ]


def test_out_dash_writes_the_csv_to_stdout_and_progress_to_stderr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = small_data(tmp_path / "in")
    result = invoke("export", "--data", str(data), "--as-of", AS_OF, "--out", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{REPORT_HEADER}\n{ONE_HOUR_ROW}\n"
    assert "storemon:" not in result.stdout
    assert "0 rejected rows" in result.stderr
    assert not (tmp_path / "report.csv").exists()
    assert not (tmp_path / "-").exists()


def test_business_hours_csv_is_used_when_menu_hours_csv_is_absent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = small_data(tmp_path / "in")
    (data / "menu_hours.csv").unlink()
    # Both `dayOfWeek` (5: Saturday) and `day` (2: Wednesday): `day` wins. Wed 08:00-10:00 on
    # 01-10: day 2 h, week 2 h. (With dayOfWeek, Sat 01-06 08-10: day 0 h, week 2 h.)
    write_csv(
        data / "business_hours.csv",
        ("store_id", "dayOfWeek", "day", "start_time_local", "end_time_local"),
        [("s", 5, 2, "08:00", "10:00")],
    )
    result = invoke("export", "--data", str(data), "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.csv").read_text().splitlines() == [REPORT_HEADER, TWO_HOURS_ROW]


def test_menu_hours_csv_is_preferred_over_business_hours_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = small_data(tmp_path / "in")  # menu_hours.csv: Wed 08:00-09:00
    write_csv(
        data / "business_hours.csv",
        ("store_id", "day", "start_time_local", "end_time_local"),
        [("s", 2, "08:00", "10:00")],
    )
    result = invoke("export", "--data", str(data), "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.csv").read_text().splitlines() == [REPORT_HEADER, ONE_HOUR_ROW]


def test_day_of_week_header_bom_and_padded_header_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = tmp_path / "polls.csv"
    status.write_bytes(
        b"\xef\xbb\xbf store_id , status ,timestamp_utc \n" + b"s,active,2024-01-10 00:00:00 UTC\n"
    )
    hours = tmp_path / "hours.csv"  # also: CRLF line ends and trailing blank lines
    hours.write_bytes(
        b" end_time_local,dayOfWeek , store_id,start_time_local\r\n09:00,2,s,08:00\r\n\r\n\r\n"
    )
    zones = tmp_path / "zones.csv"
    zones.write_text("\ufefftimezone_str , store_id\nUTC,s\n", encoding="utf-8")
    result = invoke(
        "export", "--status", str(status), "--hours", str(hours), "--timezones", str(zones),
        "--as-of", AS_OF, "--out", "-",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{REPORT_HEADER}\n{ONE_HOUR_ROW}\n"
    assert "0 rejected rows" in result.stderr


# --- errors: one line, exit 1, nothing overwritten -----------------------------------------


@pytest.fixture
def old_report(tmp_path, monkeypatch) -> Path:
    """A report.csv from an earlier run, in the current directory."""
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "report.csv"
    report.write_bytes(b"store_id,uptime_last_hour\r\nold,1\r\n")
    return report


def test_missing_file_in_data_dir(tmp_path, old_report):
    data = small_data(tmp_path / "in")
    (data / "timezones.csv").unlink()
    before = old_report.read_bytes()
    result = invoke("export", "--data", str(data))
    assert result.exit_code == 1
    assert "timezones.csv" in error_line(result)
    assert old_report.read_bytes() == before


def test_missing_file_named_by_option(tmp_path, old_report):
    data = small_data(tmp_path / "in")
    before = old_report.read_bytes()
    missing = tmp_path / "nowhere" / "polls.csv"
    result = invoke(
        "export", "--status", str(missing), "--hours", str(data / "menu_hours.csv"),
        "--timezones", str(data / "timezones.csv"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert str(missing) in error_line(result)
    assert old_report.read_bytes() == before


def test_missing_column_names_file_and_column_and_keeps_the_old_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = small_data(tmp_path / "in")
    first = invoke("export", "--data", str(data), "--as-of", AS_OF)
    assert first.exit_code == 0, first.output
    report = tmp_path / "report.csv"
    before = report.read_bytes()
    table_sql = "select * from store_uptime_report order by store_id"
    table_before = query(tmp_path / "storemon.duckdb", table_sql)

    write_csv(
        data / "menu_hours.csv",
        ("store_id", "day", "start_time_local"),  # no end_time_local
        [("s", 3, "08:00")],
    )
    result = invoke("export", "--data", str(data), "--as-of", AS_OF)
    assert result.exit_code == 1
    line = error_line(result)
    assert "menu_hours.csv" in line and "end_time_local" in line
    assert report.read_bytes() == before
    assert query(tmp_path / "storemon.duckdb", table_sql) == table_before


def test_directory_where_a_file_is_expected(tmp_path, old_report):
    data = small_data(tmp_path / "in")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    result = invoke(
        "export", "--status", str(folder), "--hours", str(data / "menu_hours.csv"),
        "--timezones", str(data / "timezones.csv"),
    )  # fmt: skip
    assert result.exit_code == 1
    line = error_line(result)
    assert str(folder) in line and "directory" in line
    # --data must be a folder: a file is a usage error.
    result = invoke("export", "--data", str(data / "timezones.csv"))
    assert result.exit_code == 2
    assert "--data" in result.stderr
    assert old_report.read_bytes() == b"store_id,uptime_last_hour\r\nold,1\r\n"


def test_a_pattern_of_parquet_files_is_one_input_each_row_named_by_its_file(tmp_path, plan_cache):
    """Polls in day folders (the service's archive) and zones in two files, read through
    quoted patterns. Polls at Tue 20:00 inactive, Wed 08:00 active, Wed 08:40 inactive; nearest
    interpolation switches at 08:20, so of Wed 08:00-09:00 20 minutes are up and 40 down, in
    the day and the week. The later zone file's row wins; the earlier one is superseded."""
    header = ("store_id", "status", "timestamp_utc")
    tuesday = write_parquet(
        tmp_path / "polls" / "date=2024-01-09" / "polls.parquet",
        header,
        [("s", "inactive", "2024-01-09 20:00:00 UTC"), ("s", "bogus", "2024-01-09 21:00:00 UTC")],
    )
    wednesday = write_parquet(
        tmp_path / "polls" / "date=2024-01-10" / "polls.parquet",
        header,
        [
            ("s", "active", "2024-01-10 08:00:00 UTC"),
            (" ", "active", "2024-01-10 08:10:00 UTC"),
            ("s", "inactive", "2024-01-10 08:40:00 UTC"),
        ],
    )
    zones = ("store_id", "timezone_str")
    earlier = write_parquet(tmp_path / "zones" / "a.parquet", zones, [("s", "America/New_York")])
    write_parquet(tmp_path / "zones" / "b.parquet", zones, [("s", "UTC")])
    hours = write_csv(
        tmp_path / "menu_hours.csv",
        ("store_id", "day", "start_time_local", "end_time_local"),
        WEDNESDAY_8_TO_9,
    )
    # The first export runs dbt and records the plan; the second runs the plan.
    for run in ("dbt", "plan"):
        db, out = tmp_path / f"{run}.duckdb", tmp_path / f"{run}.csv"
        result = invoke(
            "export", "--status", str(tmp_path / "polls" / "*" / "*.parquet"),
            "--hours", str(hours), "--timezones", str(tmp_path / "zones" / "*.parquet"),
            "--as-of", AS_OF, "--db", str(db), "--out", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"from {tmp_path / 'polls' / '*' / '*.parquet'}" in result.stderr
        assert parse_report(out.read_text()) == {
            "s": ("0.00", "0.33", "0.33", "0.00", "0.67", "0.67")
        }
        assert query(
            db,
            "select input_name, source_file, source_row_number, rejection_reason"
            " from rejected_rows order by all",
        ) == [
            ("store_status", str(tuesday), 2, "unknown status"),
            ("store_status", str(wednesday), 2, "empty store_id"),
            ("timezones", str(earlier), 1, "superseded"),
        ]
        # Rows read: 5 polls = 3 accepted + 2 rejected.
        assert query(db, "select count(*) from stg_store_status") == [(5,)]


def test_a_pattern_must_match_parquet_files(tmp_path, old_report):
    data = small_data(tmp_path / "in")
    inputs = ("--hours", str(data / "menu_hours.csv"), "--timezones", str(data / "timezones.csv"))
    nothing = tmp_path / "archive" / "*" / "*.parquet"
    result = invoke("export", "--status", str(nothing), *inputs)
    assert result.exit_code == 1
    assert error_line(result) == f"Error: no status file matches {nothing}"
    csv_files = tmp_path / "in" / "*.csv"
    result = invoke("export", "--status", str(csv_files), *inputs)
    assert result.exit_code == 1
    assert error_line(result) == (
        f"Error: status pattern {csv_files} must end in .parquet: only Parquet files are read"
        " several at a time"
    )
    assert old_report.read_bytes() == b"store_id,uptime_last_hour\r\nold,1\r\n"


def test_status_alone_is_not_enough(tmp_path, old_report):
    data = small_data(tmp_path / "in")
    result = invoke("export", "--status", str(data / "store_status.csv"))
    assert result.exit_code == 1
    assert "--hours" in error_line(result)
    result = invoke(
        "export", "--status", str(data / "store_status.csv"), "--hours",
        str(data / "menu_hours.csv"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "--timezones" in error_line(result)


def test_bad_as_of_is_one_line_naming_it(tmp_path, old_report):
    data = small_data(tmp_path / "in")
    before = old_report.read_bytes()
    result = invoke("export", "--data", str(data), "--as-of", "not-a-time")
    assert result.exit_code == 1
    assert "not-a-time" in error_line(result)
    assert old_report.read_bytes() == before


def test_failed_run_leaves_the_earlier_tables_as_they_were(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = invoke("export", "--data", str(small_data(tmp_path / "good")), "--as-of", AS_OF)
    assert first.exit_code == 0, first.output
    db = tmp_path / "storemon.duckdb"
    tables = ("store_uptime_report", "rejected_rows")
    before = {table: query(db, f"select * from {table} order by all") for table in tables}
    assert before["rejected_rows"] == []
    bad = write_inputs(tmp_path / "bad", [*POLLS, ("x", "bogus", "2024-01-10")], [], ZONES)
    result = invoke("export", "--data", str(bad), "--as-of", "yesterday")
    assert result.exit_code == 1
    assert "yesterday" in error_line(result)
    after = {table: query(db, f"select * from {table} order by all") for table in tables}
    assert after == before


def test_bad_interpolation_is_a_usage_error():
    result = invoke("export", "--interpolation", "sideways")
    assert result.exit_code == 2
    assert "Invalid value for '--interpolation'" in result.stderr
    assert "sideways" in result.stderr


def test_strict_with_rejected_rows_fails_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_inputs(
        tmp_path / "in",
        [*POLLS, ("s", "sleeping", "2024-01-10 01:00:00 UTC"), ("t", "active", "soon")],
        WEDNESDAY_8_TO_9,
        ZONES,
    )
    result = invoke("export", "--data", str(data), "--as-of", AS_OF, "--strict")
    assert result.exit_code == 1
    line = error_line(result)
    assert re.search(r"\b2\b", line) and "reject" in line
    assert "2 rejected rows" in result.stderr
    assert not (tmp_path / "report.csv").exists()
    assert result.stdout == ""


# --- the manual ----------------------------------------------------------------------------


def test_the_manual_shows_every_commands_help():
    """cog pastes each `--help` into docs/ and `cog --check` (tests/test_docs.py) keeps it
    current; this checks that no command is left out."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    manual = "".join(page.read_text() for page in docs.glob("*.md"))
    commands = [[], *([name] for name in cli.commands)]
    missing = [
        command
        for command in commands
        if f"$ {' '.join(['storemon', *command, '--help'])}\n" not in manual
    ]
    assert not missing, f"docs/ has no --help of: {missing}"


# --- in-process runs ------------------------------------------------------------------------


def test_second_in_process_run_uses_its_own_default_database(tmp_path, monkeypatch):
    data = small_data(tmp_path / "in")
    runner = CliRunner()  # no env override: as a program embedding the CLI would call it
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        result = runner.invoke(cli, ["export", "--data", str(data), "--as-of", AS_OF])
        assert result.exit_code == 0, result.output
        assert (tmp_path / folder / "report.csv").is_file()
        assert (tmp_path / folder / "storemon.duckdb").is_file(), os.listdir(tmp_path / folder)


# --- what the outputs carry -----------------------------------------------------------------


def test_out_parquet_holds_the_unrounded_table(tmp_path):
    data = small_data(tmp_path / "in")
    out = tmp_path / "report.parquet"
    db = tmp_path / "storemon.duckdb"
    result = CliRunner().invoke(
        cli, ["export", "--data", str(data), "--as-of", AS_OF, "--db", str(db), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as connection:
        table = connection.execute("select * from store_uptime_report order by store_id").fetchall()
        written = connection.execute(f"select * from read_parquet('{out}')").fetchall()
        types = connection.execute(
            f"select column_name, column_type from (describe select * from read_parquet('{out}'))"
        ).fetchall()
    assert written == table and written
    assert [name for name, _ in types] == REPORT_HEADER.split(",")
    assert {kind for name, kind in types if name != "store_id"} == {"DOUBLE"}


def test_the_database_explains_itself_with_the_yaml_descriptions(tmp_path):
    data = small_data(tmp_path / "in")
    db = tmp_path / "storemon.duckdb"
    args = ["export", "--data", str(data), "--as-of", AS_OF, "--db", str(db), "--out", "-"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    with duckdb.connect(str(db), read_only=True) as connection:
        tables = dict(connection.execute(
            "select table_name, comment from duckdb_tables() where table_name in"
            " ('store_uptime_report', 'rejected_rows')"
        ).fetchall())  # fmt: skip
        views = dict(connection.execute(
            "select view_name, comment from duckdb_views()"
            " where view_name = 'int_polls_deduplicated'"
        ).fetchall())  # fmt: skip
        columns = dict(connection.execute(
            "select column_name, comment from duckdb_columns()"
            " where table_name = 'store_uptime_report'"
        ).fetchall())  # fmt: skip
    assert tables["store_uptime_report"].startswith("The report, one row per store")
    assert tables["rejected_rows"].startswith("Every input row that could not be used")
    assert views["int_polls_deduplicated"]
    assert columns["uptime_last_hour"] == "Minutes open and active in [report_at − 1 h, report_at)."
    assert columns["store_id"] == "The store."


def test_every_serve_setting_but_the_address_and_check_has_an_environment_variable(
    tmp_path, monkeypatch
):
    """A service is configured by its unit file's environment as fully as by its options;
    the variables reach the settings the app is created with."""
    serve = cli.commands["serve"]
    without = {
        opt
        for param in serve.params
        if isinstance(param, click.Option) and not param.envvar
        for opt in param.opts
    }
    assert without == {"--host", "--port", "--check"}
    created = []
    monkeypatch.setattr("storemon.service.app.create_app", created.append)
    monkeypatch.setattr("storemon.service.server.run", lambda *args: None)
    monkeypatch.setenv("STOREMON_KEEP_REPORTS", "3")
    monkeypatch.setenv("STOREMON_MAX_QUEUED_REPORTS", "4")
    result = invoke("serve", "--home", str(tmp_path / "home"))
    assert result.exit_code == 0, result.output
    assert (created[0].keep_reports, created[0].max_queued_reports) == (3, 4)
