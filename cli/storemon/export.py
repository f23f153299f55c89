"""`storemon export`: build the report with dbt, then write it as CSV atomically."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from storemon.project import DbtFailure, NodeResult, eprint, run_dbt

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
    db_path = db_path.resolve()
    _check_database_free(db_path)
    dbt_vars = {"interpolation": interpolation, "report_time": as_of or ""}
    if inputs is None:
        # The sample data are dbt seeds: load them, then build the models.
        command = ["build", "--resource-type", "seed", "--resource-type", "model"]
        eprint("building the report from the bundled sample data")
    else:
        command = ["run"]
        dbt_vars |= {
            "status_path": str(inputs.status),
            "hours_path": str(inputs.hours),
            "timezones_path": str(inputs.timezones),
        }
        eprint(f"building the report from {inputs.status.parent}")

    def show(node: NodeResult) -> None:
        if verbose:
            eprint(f"  {node.status:<7} {node.name} ({node.seconds:.2f}s)")

    try:
        run_dbt(command, db_path, dbt_vars, on_node=show)
    except DbtFailure as failure:
        # Another process may have taken the file between the check above and dbt's connect.
        if "could not set lock" in str(failure).lower():
            raise ExportError(_in_use_message(db_path)) from None
        raise ExportError(str(failure)) from None

    with duckdb.connect(str(db_path), read_only=True) as connection:
        rejected = connection.execute("select count(*) from rejected_rows").fetchall()[0][0]
        stores = connection.execute("select count(*) from store_uptime_report").fetchall()[0][0]
        eprint(f"{rejected} rejected rows (see table rejected_rows in {db_path.name})")
        if strict and rejected:
            raise ExportError(f"--strict: {rejected} input rows were rejected; nothing written")
        _write_report(connection, out)
    eprint(f"wrote {'the report' if out == '-' else out} ({stores} stores)")


def _check_database_free(db_path: Path) -> None:
    """Fail fast, with one clear line, when another process holds the database."""
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        duckdb.connect(str(db_path)).close()
    except duckdb.IOException as error:
        if "could not set lock" in str(error).lower():
            raise ExportError(_in_use_message(db_path)) from None
        raise ExportError(f"cannot open database {db_path}: {str(error).splitlines()[0]}") from None
    except OSError as error:
        raise ExportError(f"cannot open database {db_path}: {error.strerror}") from None


def _in_use_message(db_path: Path) -> str:
    return f"database {db_path} is in use by another process; try again when it is done"


def _report_query() -> str:
    columns = ", ".join(
        name if name == "store_id" else f"round({name}, 2)::decimal(18, 2) as {name}"
        for name in REPORT_COLUMNS
    )
    return f"select {columns} from store_uptime_report order by store_id"


def _write_report(connection: duckdb.DuckDBPyConnection, out: str) -> None:
    """Write the CSV to a temporary file beside `out`, then rename it into place, so that a
    failure or a kill never leaves a half-written report."""
    if out == "-":
        rows = connection.execute(_report_query()).fetchall()
        sys.stdout.write(",".join(REPORT_COLUMNS) + "\n")
        for row in rows:
            sys.stdout.write(",".join("" if value is None else str(value) for value in row) + "\n")
        return
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
        os.replace(temporary, target)
    except (duckdb.Error, OSError) as error:
        message = error.strerror if isinstance(error, OSError) else str(error).splitlines()[0]
        raise ExportError(f"cannot write {out}: {message}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
