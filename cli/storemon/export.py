"""`storemon export`: build the report with dbt, then write it as CSV atomically."""

from __future__ import annotations

import csv
import fcntl
import glob
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from storemon import plan, spark
from storemon.project import DbtFailure, NodeResult, eprint, run_dbt, state_dir

REPORT_COLUMNS = [
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
]
INPUT_FILE_NAMES = {
    "status": ["store_status"],
    "hours": ["menu_hours", "business_hours"],
    "timezones": ["timezones"],
}
# The staging model that reads each input, and the setting that names its file.
STAGING_INPUTS = {
    "stg_store_status": "status_path",
    "stg_menu_hours": "hours_path",
    "stg_timezones": "timezones_path",
}


# The rows read from each input, as the progress line names them.
STAGING_ROWS = {
    "stg_store_status": "polls",
    "stg_menu_hours": "business-hours rows",
    "stg_timezones": "timezones",
}

# What a build from an earlier database (`base`) does not build again or check: the hours and
# zones it was built with, and the rows read of an input that is only the added polls.
APPENDED_EXCLUDED = ["stg_menu_hours", "stg_timezones", "assert_rows_read_are_accepted_or_rejected"]

# What the export reads from the database it builds: with --engine spark these come over from
# Spark.
REPORT_TABLES = ["store_uptime_report", "rejected_rows", "int_report_clock", "store_status_now"]


class ExportError(Exception):
    """A user-facing failure of the export; the message is one line."""


@dataclass
class Summary:
    """What a finished export reports: its stores, rejected rows and report time (None when
    there was no valid poll and no --as-of)."""

    stores: int
    rejected_rows: int
    report_at: datetime | None


class Progress:
    """What a long export is doing, for a person at a terminal: each dbt model and test as it
    finishes, on one status line rewritten in place, then the rows read from each input. Off
    (nothing printed) when stderr is not a terminal, and under --verbose, which prints every
    node on a line of its own."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.done = 0
        self.started = time.monotonic()
        self.pending = False  # a status line is on the screen

    def note(self, message: str) -> None:
        if self.live:
            width = shutil.get_terminal_size().columns - 1
            sys.stderr.write(f"\r\033[K{f'storemon: {message}'[:width]}")
            sys.stderr.flush()
            self.pending = True

    def node(self, node: NodeResult) -> None:
        self.done += 1
        self.note(f"[{self.done}] {node.status} {node.name} ({node.seconds:.2f}s)")

    def end(self, message: str = "") -> None:
        """Clear the status line and print `message` (if any) on a line of its own."""
        if self.pending:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.pending = False
        if self.live and message:
            eprint(message)


@dataclass
class Inputs:
    # str: a URI (spark.is_uri) that only Spark reads, passed to it untouched.
    status: Path | str
    hours: Path | str
    timezones: Path | str


def resolve_inputs(
    data_dir: Path | None,
    status: Path | str | None,
    hours: Path | str | None,
    timezones: Path | str | None,
) -> Inputs | None:
    """The three input files, or None for the bundled sample data. Files named one by one win
    over `data_dir`; without `data_dir` all three must be named."""
    named = {"status": status, "hours": hours, "timezones": timezones}
    if data_dir is None and not any(named.values()):
        return None
    for kind, path in named.items():
        if path is None and data_dir is not None:
            named[kind] = _find_in_dir(data_dir, INPUT_FILE_NAMES[kind])
        if isinstance(named[kind], str):
            continue
        if named[kind] is None:
            raise ExportError(
                f"no {kind} file: give --{kind} FILE, or --data DIR holding "
                f"{INPUT_FILE_NAMES[kind][0]}.csv"
            )
        if plan.is_file_pattern(str(named[kind])):
            _check_pattern(kind, named[kind])
            continue
        if named[kind].is_dir():
            raise ExportError(
                f"{kind} file {named[kind]} is a directory, not a file (for its Parquet files"
                f" as one input, give a quoted pattern: '{named[kind]}/*/*.parquet')"
            )
        if not named[kind].is_file():
            raise ExportError(f"{kind} file not found: {named[kind]}")
    return Inputs(**{kind: p if isinstance(p, str) else p.resolve() for kind, p in named.items()})


def _check_pattern(kind: str, pattern: Path) -> None:
    """A pattern reads several Parquet files as one input (the service's archive of polls,
    say); it must match at least one file."""
    if pattern.suffix.lower() != ".parquet":
        raise ExportError(
            f"{kind} pattern {pattern} must end in .parquet: only Parquet files are read "
            "several at a time"
        )
    if not any(Path(match).is_file() for match in glob.iglob(str(pattern), recursive=True)):
        raise ExportError(f"no {kind} file matches {pattern}")


def _find_in_dir(data_dir: Path, stems: list[str]) -> Path:
    """The first of the file names that exists, CSV before Parquet; else the first CSV name,
    which the caller then reports as not found."""
    for stem in stems:
        for suffix in (".csv", ".parquet"):
            if (data_dir / f"{stem}{suffix}").is_file():
                return data_dir / f"{stem}{suffix}"
    return data_dir / f"{stems[0]}.csv"


def export(
    inputs: Inputs | None,
    *,
    db_path: Path,
    out: str,
    as_of: str | None = None,
    interpolation: str = "nearest",
    strict: bool = False,
    verbose: bool = False,
    engine: str = "duckdb",
    html: Path | None = None,
    html_stores: int = 50,
    spark_target: str = "session",
    staged: dict[str, str] | None = None,
    silent_after: int | None = None,
    write_report: bool = True,
    plans: Path | None = None,
    progress: bool = False,
    base: Path | None = None,
    changed_from: str | None = None,
    appendable: bool = False,
    take_base: bool = False,
) -> Summary:
    """Build the report into a fresh database beside `db_path`, write the CSV (or Parquet) and
    the optional HTML page, then move them all into place. A failed or killed run leaves the
    previous database and outputs as they were, and readers of the old database file keep
    reading it undisturbed. With `engine` "spark" dbt builds on Spark (`spark_target`: a
    SparkSession or a Thrift server) and the report's tables are copied into the fresh
    database. `staged`: queries for staging models whose rows are already parsed (see
    plan.run), used when the export runs its plan; dbt reads the input files instead.
    `silent_after`: the minutes without a poll after which an open store is silent in
    store_status_now (None: the project's default). `write_report` False builds the database
    only (`out` is then ignored), as `storemon status` does. `plans`: the folder of recorded
    plans, by default the user's cache (plan.plans_dir). `progress`: show the work as it goes
    on stderr (a terminal's; see Progress). `base`: a database built earlier from polls up to
    some instant (an `appendable` one: the service's last report) to start from, instead of an
    empty one: the polls of `inputs` are added to its `stg_store_status`, the status changes are
    recomputed from `changed_from` (the earliest instant of those polls) on, the hours and zones
    are kept, the business hours are expanded for the local dates the base lacks, and every
    later model is built again. `appendable`: build the database that way (the `append_polls`
    setting), to be a base later. `take_base`: build in `base` itself, moved into place
    rather than copied (a base that nothing else needs, as the service keeps one for its next
    report); a plan that fails then fails the export with its own error, since dbt cannot
    start again from a base that the plan has changed."""
    if base is not None and not changed_from:
        raise ExportError("a build from an earlier database needs changed_from")
    shown = Progress(progress and not verbose)
    if engine == "spark" and (missing := spark.missing_requirement(spark_target)):
        raise ExportError(missing)
    uris = [path for path in vars(inputs).values() if isinstance(path, str)] if inputs else []
    if engine != "spark" and uris:
        raise ExportError(f"cannot read {uris[0]}: a URI input needs --engine spark")
    if engine == "spark" and html is not None:
        # The page reads store_timeline, which the Spark export does not copy back yet.
        raise ExportError("--html needs --engine duckdb")
    db_path = db_path.resolve()
    state = state_dir(db_path)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create {state}: {error.strerror}") from None
    building = state / "building.duckdb"
    if not write_report:
        out = ""
    csv_file = None if out in ("-", "") else _temporary_report_path(out)
    html_file = None if html is None else _temporary_report_path(str(html))
    with _exclusive_lock(state / "export.lock", db_path):
        try:
            _remove_leftovers(building, csv_file, html_file)  # of a killed run
            if take_base and base is not None:
                os.replace(base, building)
            elif base is not None:
                shutil.copyfile(base, building)
            summary = _build(
                inputs,
                building,
                state,
                as_of,
                interpolation,
                verbose,
                engine,
                spark_target,
                staged,
                plans if plans is not None else plan.plans_dir(),
                silent_after,
                shown,
                base,
                changed_from,
                appendable,
                take_base,
                start=lambda connection: _check_database_free(db_path, connection),
                finish=lambda built: _check_and_write_report(built, csv_file, out, strict, shown),
            )
            if html_file is not None:
                _write_html(building, html_file, html, html_stores)
            # The CSV goes first: its folder is the user's choice, so it is the likelier to fail.
            if csv_file is not None:
                _move(csv_file, Path(out))
            if html_file is not None:
                _move(html_file, html)
            _replace_database(building, db_path)
        finally:
            shown.end()  # an error's message starts on a clean line
            _remove_leftovers(building, csv_file, html_file)
    outputs = [db_path.name] + ([] if out in ("-", "") else [out]) + ([str(html)] if html else [])
    eprint("wrote " + " and ".join(outputs))
    return summary


def _temporary_report_path(out: str) -> Path:
    """Where the CSV is written before it is renamed over `out`: beside it, so the rename is
    atomic, and under a fixed name, so that a killed run's leftover is cleared by the next.
    Checked before any work, so a bad --out fails fast."""
    target = Path(out).resolve()
    if target.is_dir():
        raise ExportError(f"cannot write {out}: it is a directory")
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {out}: no folder {target.parent}")
    if not os.access(target.parent, os.W_OK):
        raise ExportError(f"cannot write {out}: folder {target.parent} is not writable")
    return target.with_name(f".{target.name}.storemon-tmp")


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as error:
        raise ExportError(f"cannot write {target}: {error.strerror}") from None


def _build(
    inputs: Inputs | None,
    building: Path,
    state: Path,
    as_of: str | None,
    interpolation: str,
    verbose: bool,
    engine: str,
    spark_target: str,
    staged: dict[str, str] | None,
    plans: Path | None,
    silent_after: int | None = None,
    progress: Progress | None = None,
    base: Path | None = None,
    changed_from: str | None = None,
    appendable: bool = False,
    took_base: bool = False,
    *,
    start: Callable[[duckdb.DuckDBPyConnection], None],
    finish: Callable[[duckdb.DuckDBPyConnection], Summary],
) -> Summary:
    """Build the database, after `start` has been given a DuckDB connection, then return what
    `finish` makes of a connection to the database built. Both are the plan's own when the
    plan runs: no other DuckDB instance to start."""
    progress = progress or Progress(False)
    settings = {
        "interpolation": interpolation,
        "report_time": as_of or "",
        "silent_after_minutes": "" if silent_after is None else str(silent_after),
        "status_path": str(inputs.status) if inputs else "",
        "hours_path": str(inputs.hours) if inputs else "",
        "timezones_path": str(inputs.timezones) if inputs else "",
    }
    # The models, and the tests tagged `invariant` (docs/numbers.md: "Checked on every
    # export"), which run as soon as the models they read are built; only the tests named here,
    # not every test of those models. The sample data are dbt seeds, loaded first.
    selection = ["resource_type:model", "tag:invariant"]
    if inputs is None:
        selection.insert(0, "resource_type:seed")
        eprint("building the report from the bundled sample data")
    else:
        status = str(inputs.status)
        source = status if plan.is_file_pattern(status) else status.rpartition("/")[0]
        eprint(f"building the report from {source}")
    command = ["build", "--select", *selection, "--indirect-selection", "empty"]
    if appendable or base is not None:
        settings["append_polls"] = "1"
    if base is not None:
        settings["changed_from"] = changed_from or ""
        # The hours and zones are the base's; its rows read were checked when it was built.
        command += ["--exclude", *APPENDED_EXCLUDED]
    if engine == "spark":
        command += ["--target", spark.DBT_TARGETS[spark_target]]
        # store_timeline (the HTML report's mart) is DuckDB SQL, and --html needs DuckDB.
        command += ["--exclude", "store_timeline"]
        # Spark's tables and catalog; fixed for the life of the process's SparkSession.
        settings["spark_warehouse"] = spark.warehouse(state)
        spark.quiet_logging()

    def show(node: NodeResult) -> None:  # as each node finishes
        if verbose:
            eprint(f"  {node.status:<7} {node.name} ({node.seconds:.2f}s)")
        progress.node(node)

    def built(connection: duckdb.DuckDBPyConnection) -> Summary:  # every node has passed
        if verbose:  # the nodes' times add up to more: two can run at once
            eprint(f"  built in {time.monotonic() - started:.2f}s")
        return finish(connection)

    started = time.monotonic()
    key = plan.plan_key(settings) if engine == "duckdb" else None
    if key and (cached := plan.load(plans, key)):
        try:
            return plan.run(
                cached,
                building,
                settings,
                on_node=show,
                staged=staged,
                first=start,
                then=built,
            )
        except plan.PlanFailed as failure:
            if took_base:
                raise ExportError(f"the report's build failed: {failure}") from None
            # dbt runs the same SQL and fails with its own message.
            _remove_leftovers(building)
            if base is not None:
                shutil.copyfile(base, building)
    if engine == "duckdb":
        # The SQL reads the run settings as DuckDB variables (see the `setting_sql` macro).
        settings["plan"] = "1"
    with duckdb.connect() as connection:
        start(connection)
    recorder = plan.Recorder() if key else None
    progress.note("dbt is reading the project (later exports here replay the plan it records)")
    try:
        run_dbt(
            command,
            building,
            state,
            settings,
            on_node=show,
            callbacks=[recorder] if recorder else None,
        )
    except DbtFailure as failure:
        if failure.is_test:
            raise ExportError(
                f"the report broke the invariant {failure.node} ({failure.message}); nothing "
                f"was written. This is a bug in storemon: please report it with "
                f"{state / 'logs' / 'dbt.log'}"
            ) from None
        # DuckDB's read errors quote the offending line first: lead with the file instead.
        path = settings.get(STAGING_INPUTS.get(failure.node, ""), "")
        if path and path not in failure.message:
            raise ExportError(f"cannot read {path}: {failure.message}") from None
        raise ExportError(str(failure)) from None
    if recorder:
        plan.save(plans, key, recorder.plan())
    if engine == "spark":
        spark.copy_tables(spark_target, REPORT_TABLES, building)
    with duckdb.connect(str(building)) as connection:
        return built(connection)


def _check_and_write_report(
    connection: duckdb.DuckDBPyConnection,
    csv_file: Path | None,
    out: str,
    strict: bool,
    progress: Progress,
) -> Summary:
    """Count rejected rows (stopping here under --strict) and write the CSV to `csv_file`, or
    to stdout when it is None, from the database just built."""
    if progress.live:
        progress.end(_built_message(connection, progress))
    reasons = connection.execute(
        "select rejection_reason, count(*) from rejected_rows group by 1 order by 2 desc, 1"
    ).fetchall()
    rejected = sum(count for _, count in reasons)
    stores = connection.execute("select count(*) from store_uptime_report").fetchall()[0][0]
    eprint(f"{stores} stores; {rejected} rejected rows (see table rejected_rows)")
    if strict and rejected:
        summary = ", ".join(f"{count} {reason}" for reason, count in reasons)
        raise ExportError(f"--strict: {rejected} rows rejected ({summary}); nothing written")
    # Fold the write-ahead log into the file so that it moves into place whole; before the
    # report is written, so that nothing is written when this fails (a full disk).
    connection.execute("checkpoint")
    if out:
        _write_report(connection, csv_file, out)
    report_at = connection.execute("select report_at from int_report_clock").fetchone()[0]
    return Summary(stores, rejected, report_at)


def _built_message(connection: duckdb.DuckDBPyConnection, progress: Progress) -> str:
    """How many nodes ran, how long it took and the rows read from each input (every row of
    its staging model, accepted or rejected; not there after a Spark build)."""
    seconds = time.monotonic() - progress.started
    message = f"built {progress.done} models and tests in {seconds:.1f}s"
    tables = {
        row[0] for row in connection.execute("select table_name from duckdb_tables()").fetchall()
    }
    read = [
        f"{connection.execute(f'select count(*) from {model}').fetchone()[0]:,} {name}"
        for model, name in STAGING_ROWS.items()
        if model in tables
    ]
    return message + (f"; read {', '.join(read)}" if read else "")


@contextmanager
def _exclusive_lock(lock_path: Path, db_path: Path) -> Iterator[None]:
    """One export per database at a time; a second one fails fast rather than waiting. The OS
    drops the lock when the process ends, however it ends."""
    with open(lock_path, "w") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError(_in_use_message(db_path)) from None
        yield


def _check_database_free(db_path: Path, connection: duckdb.DuckDBPyConnection) -> None:
    """Fail with one clear line when another process (a reader included) holds the database:
    attaching it for writing takes the lock that every DuckDB reader and writer holds."""
    if not db_path.exists():
        return
    quoted = str(db_path).replace("'", "''")
    try:
        connection.execute(f"attach '{quoted}' as storemon_previous_report (type duckdb)")
        connection.execute("detach storemon_previous_report")
    except duckdb.IOException as error:
        if "could not set lock" in str(error).lower():
            raise ExportError(_in_use_message(db_path)) from None
        raise ExportError(f"cannot open database {db_path}: {str(error).splitlines()[0]}") from None


def _remove_leftovers(building: Path, *outputs: Path | None) -> None:
    for leftover in (building, building.with_name(building.name + ".wal"), *outputs):
        if leftover is not None:
            leftover.unlink(missing_ok=True)


def _replace_database(building: Path, db_path: Path) -> None:
    # A write-ahead log left beside the old file by a crashed writer would be replayed onto
    # the new file: it belongs to the old one, so it goes first.
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    os.replace(building, db_path)


def _in_use_message(db_path: Path) -> str:
    return f"database {db_path} is in use by another process; try again when it is done"


def _write_html(building: Path, html_file: Path, html: Path, html_stores: int) -> None:
    from storemon.html_report import write_html_report  # altair and vl-convert load slowly

    eprint(f"drawing {html}")
    with duckdb.connect(str(building), read_only=True) as connection:
        try:
            write_html_report(connection, report_query(), html_file, html_stores)
        except OSError as error:
            raise ExportError(f"cannot write {html}: {error.strerror}") from None


def report_query() -> str:
    columns = ", ".join(
        name if name == "store_id" else f"round({name}, 2)::decimal(18, 2) as {name}"
        for name in REPORT_COLUMNS
    )
    return f"select {columns} from store_uptime_report order by store_id"


def _write_report(connection: duckdb.DuckDBPyConnection, csv_file: Path | None, out: str) -> None:
    if csv_file is None:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(connection.execute(report_query()).fetchall())
        return
    escaped = str(csv_file).replace("'", "''")
    if out.lower().endswith(".parquet"):
        # For other tools: the table's own unrounded doubles, NULLs kept.
        columns = ", ".join(REPORT_COLUMNS)
        query = f"select {columns} from store_uptime_report order by store_id"
        copy = f"copy ({query}) to '{escaped}' (format parquet)"
    else:
        copy = f"copy ({report_query()}) to '{escaped}' (header, delimiter ',')"
    try:
        connection.execute(copy)
    except duckdb.Error as error:
        raise ExportError(f"cannot write {out}: {str(error).splitlines()[0]}") from None
