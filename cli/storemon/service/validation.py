"""Validating received rows with the staging models' own SQL, so that the service and the files
path can never disagree about what a valid row is.

At start-up the worker compiles the three staging models with dbt, each reading a Parquet file
at a fixed placeholder path; a request's rows are written to a Parquet file of their own and
the compiled SQL is pointed at it. What comes back is exactly what `stg_*` would hold: the
parsed values and a `rejection_reason` per row.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

# Each input's columns: the SPEC §1 name first, then the names it may also have in a file.
INPUT_COLUMNS: dict[str, list[list[str]]] = {
    "store_status": [["store_id"], ["status"], ["timestamp_utc"]],
    "menu_hours": [["store_id"], ["day", "dayOfWeek"], ["start_time_local"], ["end_time_local"]],
    "timezones": [["store_id"], ["timezone_str"]],
}
STAGING_MODELS = {
    "store_status": "stg_store_status",
    "menu_hours": "stg_menu_hours",
    "timezones": "stg_timezones",
}
# The field each rejection reason is about (SPEC §7).
REASON_FIELDS = {
    "empty store_id": "store_id",
    "unknown status": "status",
    "unparseable timestamp_utc": "timestamp_utc",
    "day not in 0-6": "day",
    "unparseable start_time_local": "start_time_local",
    "unparseable end_time_local": "end_time_local",
    "invalid timezone": "timezone_str",
}


class InputShapeError(Exception):
    """A file or body that is not a table of the input's columns (the message names which)."""


def columns_of(input_name: str) -> list[str]:
    return [names[0] for names in INPUT_COLUMNS[input_name]]


def write_placeholder(path: Path, input_name: str) -> None:
    """An empty Parquet file with the input's columns, for dbt to compile against."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(f"''::varchar as \"{name}\"" for name in columns_of(input_name))
    with duckdb.connect() as connection:
        connection.execute(f"copy (select {columns} where false) to '{_quoted(path)}'")


@dataclass
class Validator:
    """The compiled staging SQL of each input, and the placeholder path it reads."""

    compiled: dict[str, str]
    placeholders: dict[str, Path]
    scratch: Path

    @classmethod
    def load(cls, target: Path, placeholders: dict[str, Path], scratch: Path) -> Validator:
        folder = target / "compiled" / "storemon" / "models" / "staging"
        compiled = {
            name: (folder / f"{model}.sql").read_text() for name, model in STAGING_MODELS.items()
        }
        for name, sql in compiled.items():
            if f"'{_quoted(placeholders[name])}'" not in sql:
                raise RuntimeError(f"compiled {STAGING_MODELS[name]} does not read its placeholder")
        scratch.mkdir(parents=True, exist_ok=True)
        return cls(compiled, placeholders, scratch)

    def staged(self, input_name: str, parquet: Path) -> str:
        """SQL for the staging model of `input_name` over the rows of `parquet`."""
        placeholder = f"'{_quoted(self.placeholders[input_name])}'"
        return self.compiled[input_name].replace(placeholder, f"'{_quoted(parquet)}'")

    def scratch_file(self) -> Path:
        return self.scratch / f"{uuid.uuid4().hex}.parquet"


def rows_to_parquet(
    connection: duckdb.DuckDBPyConnection, input_name: str, rows: list[dict], path: Path
) -> None:
    """Request rows (dicts of text) as a Parquet file of the input's columns, in order."""
    names = columns_of(input_name)
    selects = ", ".join(f'unnest(${i + 1}::varchar[]) as "{name}"' for i, name in enumerate(names))
    values = [[row.get(name) for row in rows] for name in names]
    connection.execute(f"copy (select {selects}) to '{_quoted(path)}'", values)


def file_to_parquet(
    connection: duckdb.DuckDBPyConnection, input_name: str, source: Path, path: Path, label: str
) -> None:
    """A CSV or Parquet file of one input (SPEC §1: any column order, trimmed header names, a
    byte-order mark ignored, `dayOfWeek` for `day`) as a Parquet file of the input's columns in
    file order. `label` names the file in errors."""
    is_parquet = source.read_bytes()[:4] == b"PAR1"
    if is_parquet:
        described = connection.execute(f"describe select * from read_parquet('{_quoted(source)}')")
        header = [row[0].strip() for row in described.fetchall()]
    else:
        header = _csv_header(source, label)
    chosen = []
    for names in INPUT_COLUMNS[input_name]:
        found = next((name for name in names if name in header), None)
        if found is None:
            raise InputShapeError(
                f"{label} has no column {' or '.join(names)} (its header: {', '.join(header)})"
            )
        chosen.append((names[0], header.index(found), found))
    if is_parquet:
        selects = ", ".join(f'"{found}"::varchar as "{name}"' for name, _, found in chosen)
        scan = f"read_parquet('{_quoted(source)}')"
    else:
        selects = ", ".join(f'column{index} as "{name}"' for name, index, _ in chosen)
        types = ", ".join(f"'column{i}': 'VARCHAR'" for i in range(len(header)))
        scan = (
            f"read_csv('{_quoted(source)}', header = true, auto_detect = false, delim = ',',"
            f" quote = '\"', escape = '\"', null_padding = true, strict_mode = false,"
            f" columns = {{{types}}})"
        )
    try:
        connection.execute(f"copy (select {selects} from {scan}) to '{_quoted(path)}'")
    except duckdb.Error as error:
        raise InputShapeError(f"cannot read {label}: {str(error).splitlines()[0]}") from None


def _csv_header(source: Path, label: str) -> list[str]:
    with source.open("rb") as handle:
        first = handle.readline(2_000_000)
    try:
        text = first.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise InputShapeError(f"{label} is not UTF-8 text") from None
    if not text.strip():
        raise InputShapeError(f"{label} is empty: it needs a header row")
    return [name.strip() for name in next(csv.reader(io.StringIO(text)))]


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
