"""The same dbt project on Apache Spark (`storemon export --engine spark`, dbt-spark with a
local SparkSession): on every input below the Spark report equals the DuckDB report exactly,
CSV byte for byte, the unrounded table and the rejected rows with their row numbers and
reasons. Skipped where the [spark] extra (or Java) is not installed; CI installs both.

All exports run in this process, so the whole test run shares one SparkSession (started by
the first Spark export, local[2], 2 shuffle partitions): a JVM start costs seconds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb
import pytest
import test_differential
import test_scenarios
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import write_csv, write_inputs, write_parquet

from storemon import spark
from storemon.cli import cli

LOOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "loop"
SPARK_MISSING = spark.missing_requirement()
needs_spark = pytest.mark.skipif(SPARK_MISSING is not None, reason=str(SPARK_MISSING))
REPORT = (
    "select store_id, uptime_last_hour, uptime_last_day, uptime_last_week, downtime_last_hour,"
    " downtime_last_day, downtime_last_week from store_uptime_report order by store_id"
)
REJECTED = (
    "select input_name, source_file, source_row_number, raw_values, rejection_reason"
    " from rejected_rows order by input_name, source_file, source_row_number"
)


@pytest.fixture(scope="module", autouse=True)
def small_spark():
    """Spark sized for small test data; the settings only matter to the first Spark export
    of the process, which starts the session."""
    saved = {name: os.environ.get(name) for name in ("STOREMON_SPARK_SHUFFLE_PARTITIONS",)}
    os.environ["STOREMON_SPARK_SHUFFLE_PARTITIONS"] = "2"
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def export(folder: Path, engine: str, *args: str) -> tuple[str, list[tuple], list[tuple], str]:
    """Run `storemon export --engine ENGINE ARGS` in-process into `folder`: the CSV text, the
    unrounded report table, the rejected rows and stderr."""
    folder.mkdir(parents=True, exist_ok=True)
    db, out = folder / f"{engine}.duckdb", folder / f"{engine}.csv"
    command = ["export", "--engine", engine, "--db", str(db), "--out", str(out), *args]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, f"{command}: {result.output}\n{result.exception!r}"
    with duckdb.connect(str(db), read_only=True) as connection:
        table = connection.execute(REPORT).fetchall()
        rejected = connection.execute(REJECTED).fetchall()
    return out.read_text(encoding="utf-8"), table, rejected, result.stderr


def assert_same_report(folder: Path, *args: str) -> tuple[str, list[tuple]]:
    """Spark's report equals DuckDB's on these arguments; returns the CSV and rejected rows."""
    csv_duckdb, table_duckdb, rejected_duckdb, _ = export(folder, "duckdb", *args)
    csv_spark, table_spark, rejected_spark, _ = export(folder, "spark", *args)
    assert rejected_spark == rejected_duckdb
    assert table_spark == table_duckdb
    assert csv_spark == csv_duckdb
    return csv_spark, rejected_spark


def test_without_the_extra_engine_spark_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(spark.importlib.util, "find_spec", lambda name: None)
    result = CliRunner().invoke(
        cli, ["export", "--engine", "spark", "--db", str(tmp_path / "x.duckdb")]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: --engine spark needs the Spark extra: pip install 'storemon[spark]'"
    ]


@needs_spark
def test_sample_data(tmp_path):
    report, rejected = assert_same_report(tmp_path)
    assert report.count("\n") == 20  # header + 19 stores (docs/cli.md)
    assert len(rejected) == 7


@needs_spark
@pytest.mark.parametrize("mode", ["nearest", "previous"])
def test_scenarios_main(tmp_path, mode):
    """The hand-computed scenarios of test_scenarios.py (their numbers are checked there)."""
    write_inputs(
        tmp_path,
        test_scenarios.MAIN_POLLS,
        test_scenarios.MAIN_HOURS,
        test_scenarios.MAIN_ZONES,
    )
    assert_same_report(
        tmp_path,
        "--data", str(tmp_path), "--as-of", test_scenarios.AS_OF_MAIN, "--interpolation", mode,
    )  # fmt: skip


@needs_spark
def test_fall_back_time_is_its_second_occurrence(tmp_path):
    """01:30 on US fall-back night is its second occurrence, 01:30 CST = 07:30 UTC; Spark's
    own to_utc_timestamp reads the first, 01:30 CDT = 06:30 UTC."""
    polls, hours, zones = test_scenarios.dst_inputs("fb", "2024-11-03 12:00:00 UTC")
    polls.append(("fb_second", "active", "2024-11-03 12:00:00 UTC"))
    hours.append(("fb_second", 6, "01:30", "02:30"))
    zones.append(("fb_second", "America/Chicago"))
    write_inputs(tmp_path, polls, hours, zones)
    report, _ = assert_same_report(
        tmp_path, "--data", str(tmp_path), "--as-of", "2024-11-04T06:00:00Z"
    )
    rows = dict(line.split(",", 1) for line in report.splitlines()[1:])
    # Open 07:30-08:30 UTC on 11-03, active (one poll): 1 h in the day and the week, none in
    # the last hour [05:00, 06:00) of 11-04. The first occurrence would make it 2 h.
    assert rows["fb_second"] == "0.00,1.00,1.00,0.00,0.00,0.00"


@needs_spark
@settings(
    max_examples=test_differential.examples(1),
    deadline=None,
    suppress_health_check=[*test_differential.SLOW, HealthCheck.function_scoped_fixture],
)
@given(
    parts=st.lists(test_differential.scenarios(), min_size=3, max_size=6),
    mode=st.sampled_from(["nearest", "previous"]),
)
def test_random_inputs(tmp_path, parts, mode):
    """Several Hypothesis scenarios of test_differential.py in one dataset (store ids made
    distinct), so that one Spark build checks many stores, bad rows and CSV layouts."""
    merged = test_differential.Scenario(layout=parts[0].layout, as_of=parts[0].as_of)
    for number, part in enumerate(parts):

        def distinct(store: str, number=number) -> str:
            return (
                store.replace(store.strip(), f"e{number}-{store.strip()}")
                if store.strip()
                else store
            )

        merged.status += [(distinct(row[0]), *row[1:]) for row in part.status]
        merged.hours += [(distinct(row[0]), *row[1:]) for row in part.hours]
        merged.zones += [(distinct(row[0]), *row[1:]) for row in part.zones]
    folder = Path(tempfile.mkdtemp(prefix="example-", dir=tmp_path))
    status, hours, zones = test_differential.write_inputs(merged, folder)
    args = ["--status", str(status), "--hours", str(hours), "--timezones", str(zones)]
    args += ["--interpolation", mode] + (["--as-of", merged.as_of] if merged.as_of else [])
    assert_same_report(folder, *args)


# Values that fail a cast or a parse: under spark.sql.ansi.enabled each is an error unless the
# SQL asks for NULL (try_cast, try_to_timestamp), and DuckDB rejects the rows they are in.
ANSI_POLLS = [
    ("a", "active", "2024-01-15 01:14:00 UTC"),
    ("a", "inactive", ""),
    ("a", "active", "soon"),
    ("a", "active", "2023-02-30 10:00:00"),
    ("a", "active", "2024-01-15T02:00:00+0530"),
    ("a", "active", "2024-01-15 02:00:00.1234567 UTC"),
    ("b", "active", "2024-01-15T03:00:00-07"),
]
ANSI_HOURS = [
    ("a", 0, "9:00", "17:30:00.5"),
    ("a", 1, "", "17:00"),
    ("a", 2, "25:00", "26:00"),
    ("a", 3, "9:0", "10:00"),
    ("b", "x", "09:00", "10:00"),
    ("b", "", "09:00", "10:00"),
    ("b", 4, "24:00", "24:00:00"),
]
ANSI_ZONES = [("a", "Asia/Kolkata"), ("b", ""), ("b", "Mars/Base")]


@pytest.fixture
def ansi_on(monkeypatch):
    """dbt-spark forces spark.sql.ansi.enabled off in every session query; turn it on, as a
    Thrift server (ANSI by default on Spark 4) or another Spark's defaults may have it."""
    from dbt.adapters.spark import session

    cursor_init = session.Cursor.__init__

    def ansi_cursor(self, *, server_side_parameters=None):
        parameters = {**(server_side_parameters or {}), "spark.sql.ansi.enabled": "true"}
        cursor_init(self, server_side_parameters=parameters)

    monkeypatch.setattr(session.Cursor, "__init__", ansi_cursor)
    yield
    from pyspark.sql import SparkSession

    # What later tests expect (dbt-spark sets it again on their first query anyway).
    SparkSession.builder.getOrCreate().conf.set("spark.sql.ansi.enabled", "false")


@needs_spark
def test_ansi_mode_gives_the_same_report(ansi_on, tmp_path):
    """With spark.sql.ansi.enabled on, bad values still become rejected rows (as on DuckDB)
    instead of stopping the build with CAST_INVALID_INPUT."""
    write_inputs(tmp_path / "bad", ANSI_POLLS, ANSI_HOURS, ANSI_ZONES)
    _, rejected = assert_same_report(
        tmp_path, "--data", str(tmp_path / "bad"), "--as-of", "2024-01-16T00:00:00Z"
    )
    from pyspark.sql import SparkSession

    assert SparkSession.builder.getOrCreate().conf.get("spark.sql.ansi.enabled") == "true"
    assert [(row[0], row[2], row[4]) for row in rejected] == [
        ("menu_hours", 2, "unparseable start_time_local"),
        ("menu_hours", 3, "unparseable start_time_local"),
        ("menu_hours", 4, "unparseable start_time_local"),
        ("menu_hours", 5, "day not in 0-6"),
        ("menu_hours", 6, "day not in 0-6"),
        ("store_status", 2, "unparseable timestamp_utc"),
        ("store_status", 3, "unparseable timestamp_utc"),
        ("store_status", 4, "unparseable timestamp_utc"),
        ("timezones", 2, "invalid timezone"),
        ("timezones", 3, "invalid timezone"),
    ]


@needs_spark
def test_store_ids_blanks_and_timestamps_are_judged_alike(tmp_path):
    """The value rules whose SQL differs between the engines (blanks, the store_id rule, the
    space before UTC): the same rows accepted and rejected, with the same reasons."""
    at = "2024-01-15 01:14:00 UTC"
    invalid = ["x" * 256, "=f", "+f", "-f", "@f", " \u00a0-f", "a\x01b", "a\x85", "\ta", "a\x7f"]
    valid = ["v" * 255, "\u00a0nbsp\u3000", "inner=-+@", "cafe\u0301", "a\u00a0b"]
    polls = [(store, "active", at) for store in invalid + valid]
    polls += [("ts", "active", "2024-01-15 01:14:00.5  UTC"),  # two spaces
              ("ts", "active", "2024-01-15 01:14:00  UTC"),
              ("ts", "active", "2024-01-15 01:14:00.5\tUTC"),
              ("ts", "active", "\u00a02024-01-15 01:14:00.5 UTC\u3000"),
              ("ts", "\u00a0inactive\u2003", "2024-01-15 01:10:00 UTC"),
              ("ts", "\tactive", at)]  # fmt: skip
    hours = [(store, 0, "09:00", "17:00") for store in invalid]
    hours += [("v" * 255, "\u3000 0", "\u00a009:00", "17:00\u202f")]
    zones = [(store, "UTC") for store in invalid] + [("a\u00a0b", "\u00a0Asia/Kolkata\u3000")]
    write_inputs(tmp_path, polls, hours, zones)
    _, rejected = assert_same_report(tmp_path, "--data", str(tmp_path))
    reasons = [(name, number, reason) for name, _, number, _, reason in rejected]
    assert reasons == [
        *(("menu_hours", number, "invalid store_id") for number in range(1, 11)),
        *(("store_status", number, "invalid store_id") for number in range(1, 11)),
        ("store_status", 16, "unparseable timestamp_utc"),
        ("store_status", 17, "unparseable timestamp_utc"),
        ("store_status", 18, "unparseable timestamp_utc"),
        ("store_status", 21, "unknown status"),
        *(("timezones", number, "invalid store_id") for number in range(1, 11)),
    ]


@needs_spark
def test_a_quoted_field_across_lines_is_refused_alike(tmp_path):
    """DuckDB's reader refuses a CSV whose quoted field holds a line break; Spark, which reads
    a CSV line by line, refuses it too, with the same message naming the file and line."""
    write_inputs(tmp_path, [("a", "active", "2024-01-15 01:14:00 UTC")], [], [])
    status = tmp_path / "store_status.csv"
    status.write_text(status.read_text() + '"b\nc",active,2024-01-15 01:14:00 UTC\n')
    errors = []
    for engine in ("duckdb", "spark"):
        command = ["export", "--engine", engine, "--data", str(tmp_path), "--out", "-"]
        command += ["--db", str(tmp_path / f"{engine}.duckdb")]
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1
        errors.append(result.output.strip().splitlines()[-1])
    message = f"cannot read {status}: line 3: a quoted field spans lines, which storemon does"
    assert errors == [f"Error: {message} not read"] * 2


@needs_spark
def test_a_pattern_of_parquet_files_is_read_alike(tmp_path):
    """Polls in day folders, as the service archives them, read through a pattern: the same
    report, and each rejected row named by its own file and row."""
    header = ("store_id", "status", "timestamp_utc")
    for day, rows in (
        ("2024-01-09", [("s", "inactive", "2024-01-09 20:00:00 UTC"), ("s", "?", "2024-01-09")]),
        ("2024-01-10", [("s", "active", "2024-01-10 08:00:00 UTC"), (" ", "active", "x")]),
    ):
        write_parquet(tmp_path / "polls" / f"date={day}" / "polls.parquet", header, rows)
    hours = write_csv(
        tmp_path / "menu_hours.csv",
        ("store_id", "day", "start_time_local", "end_time_local"),
        [("s", 2, "08:00", "09:00")],
    )
    zones = write_csv(tmp_path / "timezones.csv", ("store_id", "timezone_str"), [("s", "UTC")])
    _, rejected = assert_same_report(
        tmp_path / "out",
        "--status", str(tmp_path / "polls" / "*" / "*.parquet"),
        "--hours", str(hours), "--timezones", str(zones), "--as-of", "2024-01-10T12:00:00Z",
    )  # fmt: skip
    assert [(row[1], row[2]) for row in rejected] == [
        (str(tmp_path / "polls" / "date=2024-01-09" / "polls.parquet"), 2),
        (str(tmp_path / "polls" / "date=2024-01-10" / "polls.parquet"), 2),
    ]


@needs_spark
def test_uri_inputs_go_to_spark_untouched(tmp_path):
    """An input given as a URI (file:// here; hdfs://, s3a:// on a cluster) reaches Spark as
    written; DuckDB, which cannot read such URIs, refuses it."""
    write_inputs(tmp_path, test_scenarios.MAIN_POLLS, test_scenarios.MAIN_HOURS,
                 test_scenarios.MAIN_ZONES)  # fmt: skip
    names = {"--status": "store_status", "--hours": "menu_hours", "--timezones": "timezones"}
    uris = [part for option, name in names.items()
            for part in (option, f"file://{tmp_path}/{name}.csv")]  # fmt: skip
    as_of = ("--as-of", test_scenarios.AS_OF_MAIN)
    report, _, rejected, _ = export(tmp_path / "uri", "spark", *uris, *as_of)
    assert report == export(tmp_path / "path", "duckdb", "--data", str(tmp_path), *as_of)[0]
    assert {row[1] for row in rejected} <= {
        f"file://{tmp_path}/{name}.csv" for name in names.values()
    }
    result = CliRunner().invoke(cli, ["export", *uris, "--db", str(tmp_path / "d.duckdb")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot read file://{tmp_path}/store_status.csv: a URI input needs --engine spark\n"
    )


@needs_spark
@pytest.mark.skipif(not LOOP.is_dir(), reason="needs ../shared/data/loop beside the checkout")
@pytest.mark.parametrize("version", ["v1_2023", "v2_2024"])
def test_real_loop_files(tmp_path, version):
    folder = LOOP / version
    _, rejected = assert_same_report(
        tmp_path,
        "--status", str(folder / "store_status_head.csv"),
        "--hours", str(folder / "menu_hours.csv"),
        "--timezones", str(folder / "timezones.csv"),
    )  # fmt: skip
    assert rejected == []


def quoted_names(macro_file: Path) -> list[str]:
    """The SQL string literals that a list macro renders (its body, after the comment)."""
    body = macro_file.read_text().split("{% macro", 1)[1]
    return body.split("'")[1::2]


@needs_spark
def test_zone_names_are_duckdbs_and_convert_the_same(tmp_path):
    """The Spark zone list is DuckDB's (ICU-only names out), and local_to_utc reads the same
    wall times (in DST gaps and overlaps among them) as the same instants in every zone."""
    from dbt.cli.main import dbtRunner
    from pyspark.sql import SparkSession

    from storemon.project import project_dir

    macros = project_dir() / "macros"
    icu_only = set(quoted_names(macros / "icu_only_timezone_names.sql"))
    snapshot = quoted_names(macros / "timezone_names_snapshot.sql")
    with duckdb.connect() as connection:
        names = connection.execute("select name from pg_timezone_names() order by name").fetchall()
    assert snapshot == [name for (name,) in names if name not in icu_only]

    # Names this JVM's tz data lacks (docs/spark.md: America/Coyhaique needs tzdata 2025b) stop a
    # Spark run with an error naming the zone; every other name must convert as on DuckDB.
    spark_session = SparkSession.builder.getOrCreate()
    zone_id = spark_session._jvm.java.time.ZoneId
    unknown = []
    for name in snapshot:
        try:
            zone_id.of(
                {"ROC": "Asia/Taipei", "Factory": "Etc/UTC"}.get(name, name), zone_id.SHORT_IDS
            )
        except Exception:
            unknown.append(name)
    assert set(unknown) <= {"America/Coyhaique"}
    skipped = ", ".join(f"'{name}'" for name in ["", *unknown])

    local_times = ", ".join(
        f"(timestamp '{moment}')"
        for moment in ("2024-03-10 02:30:00", "2024-11-03 01:30:00", "2024-03-31 01:30:00",
                       "2024-10-27 01:30:00", "2024-04-07 01:45:00", "2024-10-06 02:15:00",
                       "2023-01-25 12:00:00")
    )  # fmt: skip
    sql = (
        "select zones.name, times.local_at, {{ local_to_utc('times.local_at', 'zones.name') }}"
        " as utc_at from ({{ timezone_names() }}) as zones"
        f" cross join (values {local_times}) as times (local_at)"
        f" where zones.name not in ({skipped}) order by 1, 2"
    )
    results = {}
    for target in ("duckdb", "spark"):
        compiled = dbtRunner().invoke([
            "compile", "--inline", sql, "--target", target, "--quiet",
            "--project-dir", str(project_dir()), "--profiles-dir", str(project_dir()),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
        ])  # fmt: skip
        assert compiled.success, compiled.exception
        code = compiled.result.results[0].node.compiled_code
        if target == "duckdb":
            with duckdb.connect(str(tmp_path / "zones.duckdb")) as connection:
                connection.execute("set TimeZone = 'UTC'")
                results[target] = connection.execute(code).fetchall()
        else:
            rows = spark_session.sql(code).collect()
            results[target] = [tuple(row) for row in rows]
    assert len(results["spark"]) == 7 * (len(snapshot) - len(unknown))
    assert results["spark"] == results["duckdb"]
