"""`storemon export`: build the report with dbt, then write it as CSV atomically."""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

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


class ExportError(Exception):
    """A user-facing failure of the export; the message is one line."""


@dataclass
class Inputs:
    status: Path
    hours: Path
    timezones: Path


def resolve_inputs(
    data_dir: Path | None, status: Path | None, hours: Path | None, timezones: Path | None
) -> Inputs | None:
    """The three input files, or None for the bundled sample data. Files named one by one win
    over `data_dir`; without `data_dir` all three must be named."""
    named = {"status": status, "hours": hours, "timezones": timezones}
    if data_dir is None and not any(named.values()):
        return None
    for kind, path in named.items():
        if path is None and data_dir is not None:
            named[kind] = _find_in_dir(data_dir, INPUT_FILE_NAMES[kind])
        if named[kind] is None:
            raise ExportError(
                f"no {kind} file: give --{kind} FILE, or --data DIR holding "
                f"{INPUT_FILE_NAMES[kind][0]}.csv"
            )
        if named[kind].is_dir():
            raise ExportError(f"{kind} file {named[kind]} is a directory, not a file")
        if not named[kind].is_file():
            raise ExportError(f"{kind} file not found: {named[kind]}")
    return Inputs(**{kind: path.resolve() for kind, path in named.items()})


def _find_in_dir(data_dir: Path, stems: list[str]) -> Path | None:
    for stem in stems:
        for suffix in (".csv", ".parquet"):
            if (data_dir / f"{stem}{suffix}").is_file():
                return data_dir / f"{stem}{suffix}"
    return data_dir / f"{stems[0]}.csv"


def export(
    inputs: Inputs | None,
    db_path: Path,
    out: str,
    as_of: str | None,
    interpolation: str,
    strict: bool,
    verbose: bool,
) -> None:
    """Build the report into a fresh database beside `db_path`, write the CSV, then move both
    into place. A failed or killed run leaves the previous database and CSV as they were, and
    readers of the old database file keep reading it undisturbed."""
    db_path = db_path.resolve()
    state = state_dir(db_path)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create {state}: {error.strerror}") from None
    building = state / "building.duckdb"
    with _exclusive_lock(state / "export.lock", db_path):
        _check_database_free(db_path)
        csv_file = None
        try:
            _remove_database(building)  # left by a killed run
            _build(inputs, building, state, as_of, interpolation, verbose)
            csv_file = _check_and_write_report(building, out, strict)
            _replace_database(building, db_path)
            if csv_file is not None:
                os.replace(csv_file, out)
        except OSError as error:
            raise ExportError(f"cannot write {error.filename}: {error.strerror}") from None
        finally:
            _remove_database(building)
            if csv_file is not None:
                csv_file.unlink(missing_ok=True)
    eprint(f"wrote {db_path.name}" + ("" if out == "-" else f" and {out}"))


def _build(
    inputs: Inputs | None,
    building: Path,
    state: Path,
    as_of: str | None,
    interpolation: str,
    verbose: bool,
) -> None:
    settings = {
        "interpolation": interpolation,
        "report_time": as_of or "",
        "status_path": str(inputs.status) if inputs else "",
        "hours_path": str(inputs.hours) if inputs else "",
        "timezones_path": str(inputs.timezones) if inputs else "",
    }
    if inputs is None:
        # The sample data are dbt seeds: load them, then build the models.
        command = ["build", "--resource-type", "seed", "--resource-type", "model"]
        eprint("building the report from the bundled sample data")
    else:
        command = ["run"]
        eprint(f"building the report from {inputs.status.parent}")

    def show(node: NodeResult) -> None:
        if verbose:
            eprint(f"  {node.status:<7} {node.name} ({node.seconds:.2f}s)")

    try:
        run_dbt(command, building, state, settings, on_node=show)
    except DbtFailure as failure:
        raise ExportError(str(failure)) from None


def _check_and_write_report(building: Path, out: str, strict: bool) -> Path | None:
    """Count rejected rows (stopping here under --strict) and write the CSV: to stdout, or to a
    temporary file beside `out` that the caller renames into place."""
    with duckdb.connect(str(building)) as connection:
        reasons = connection.execute(
            "select rejection_reason, count(*) from rejected_rows group by 1 order by 2 desc"
        ).fetchall()
        rejected = sum(count for _, count in reasons)
        stores = connection.execute("select count(*) from store_uptime_report").fetchall()[0][0]
        eprint(f"{stores} stores; {rejected} rejected rows (see table rejected_rows)")
        if strict and rejected:
            summary = ", ".join(f"{count} {reason}" for reason, count in reasons)
            raise ExportError(f"--strict: {rejected} rows rejected ({summary}); nothing written")
        csv_file = _write_report(connection, out)
        # Fold the write-ahead log into the file so that it moves into place whole.
        connection.execute("checkpoint")
    return csv_file


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


def _check_database_free(db_path: Path) -> None:
    """Fail with one clear line when another process (a reader included) holds the database."""
    if not db_path.exists():
        return
    try:
        duckdb.connect(str(db_path)).close()
    except duckdb.IOException as error:
        if "could not set lock" in str(error).lower():
            raise ExportError(_in_use_message(db_path)) from None
        raise ExportError(f"cannot open database {db_path}: {str(error).splitlines()[0]}") from None


def _remove_database(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _replace_database(building: Path, db_path: Path) -> None:
    # A write-ahead log left beside the old file by a crashed writer would be replayed onto
    # the new file: it belongs to the old one, so it goes first.
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    os.replace(building, db_path)


def _in_use_message(db_path: Path) -> str:
    return f"database {db_path} is in use by another process; try again when it is done"


def _report_query() -> str:
    columns = ", ".join(
        name if name == "store_id" else f"round({name}, 2)::decimal(18, 2) as {name}"
        for name in REPORT_COLUMNS
    )
    return f"select {columns} from store_uptime_report order by store_id"


def _write_report(connection: duckdb.DuckDBPyConnection, out: str) -> Path | None:
    """Write the CSV to stdout, or to a temporary file beside `out` (returned), so that a failure
    or a kill never leaves a half-written report in place."""
    if out == "-":
        rows = connection.execute(_report_query()).fetchall()
        sys.stdout.write(",".join(REPORT_COLUMNS) + "\n")
        for row in rows:
            sys.stdout.write(",".join("" if value is None else str(value) for value in row) + "\n")
        return None
    target = Path(out).resolve()
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        os.close(handle)
    except OSError as error:
        raise ExportError(f"cannot write {out}: {error.strerror}") from None
    try:
        escaped = temporary.replace("'", "''")
        connection.execute(f"copy ({_report_query()}) to '{escaped}' (header, delimiter ',')")
    except duckdb.Error as error:
        os.unlink(temporary)
        raise ExportError(f"cannot write {out}: {str(error).splitlines()[0]}") from None
    return Path(temporary)
