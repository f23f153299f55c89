"""Validating received rows with the staging models' own SQL, so that the service and the files
path can never disagree about what a valid row is.

At a home's first start the worker has dbt compile the three staging models, each reading a
Parquet file at a placeholder path, and keeps their SQL in the home; a request's rows are
loaded into a temporary table of the same columns (and `file_row_number`), and the compiled SQL
reads that table instead of the file.
What comes back is exactly what `stg_*` would hold: the parsed values and a
`rejection_reason` per row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import duckdb

from storemon.project import input_columns
from storemon.service.errors import InputShapeError, TooManyRows

STAGING_MODELS = {
    "store_status": "stg_store_status",
    "menu_hours": "stg_menu_hours",
    "timezones": "stg_timezones",
}
# A poll stamped more than this after the service's clock is rejected (docs/service.md, Bad
# requests): the staging SQL's setting `future_limit_hours`, which the files path leaves unset.
FUTURE_LIMIT_HOURS = 24
# The field each rejection reason is about (docs/numbers.md, Bad input).
REASON_FIELDS = {
    "empty store_id": "store_id",
    "invalid store_id": "store_id",
    "unknown status": "status",
    "unparseable timestamp_utc": "timestamp_utc",
    "timestamp in the future": "timestamp_utc",
    "day not in 0-6": "day",
    "unparseable start_time_local": "start_time_local",
    "unparseable end_time_local": "end_time_local",
    "invalid timezone": "timezone_str",
}


def columns_of(input_name: str) -> list[str]:
    return [names[0] for names in input_columns(input_name)]


def write_placeholder(path: Path, input_name: str) -> None:
    """An empty Parquet file with the input's columns, for dbt to compile against."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(f"''::varchar as \"{name}\"" for name in columns_of(input_name))
    with duckdb.connect() as connection:
        connection.execute(f"copy (select {columns} where false) to '{_quoted(path)}'")


@dataclass
class Validator:
    """The compiled staging SQL of each input, with the scan of its placeholder file."""

    compiled: dict[str, str]
    scans: dict[str, str]

    @classmethod
    def of(
        cls,
        compiled: dict[str, str],
        placeholders: dict[str, Path],
        variables: dict[str, str],
    ) -> Validator:
        """The validator of each input's compiled staging SQL (`compiled_staging`).
        `variables`: the settings that the SQL reads as DuckDB variables (compiled for a plan),
        written into it as the literals that it is otherwise compiled with."""
        compiled, scans = dict(compiled), {}
        for name, model in STAGING_MODELS.items():
            for setting, value in variables.items():
                literal = "'" + value.replace("'", "''") + "'"
                variable = f"getvariable('storemon_{setting}')"
                compiled[name] = compiled[name].replace(variable, literal)
            scans[name] = f"read_parquet('{_quoted(placeholders[name])}', file_row_number = true)"
            if compiled[name].count(scans[name]) != 1:
                raise RuntimeError(f"compiled {model} does not read its placeholder once")
        return cls(compiled, scans)

    def staged(self, input_name: str, table: str) -> str:
        """SQL for the staging model of `input_name` over the rows of temporary `table`."""
        return self.compiled[input_name].replace(self.scans[input_name], table)


def compiled_staging(target: Path) -> dict[str, str]:
    """Each input's staging SQL, as dbt compiled it into `target`."""
    folder = target / "compiled" / "storemon" / "models" / "staging"
    return {name: (folder / f"{model}.sql").read_text() for name, model in STAGING_MODELS.items()}


def rows_to_table(
    connection: duckdb.DuckDBPyConnection, input_name: str, rows: list[dict], table: str
) -> None:
    """Request rows (dicts of text) as a temporary table of the input's columns, numbered."""
    names = columns_of(input_name)
    selects = ", ".join(f'unnest(${i + 1}::varchar[]) as "{name}"' for i, name in enumerate(names))
    values = [[row.get(name) for row in rows] for name in names]
    connection.execute(
        f"create or replace temp table {table} as select {selects},"
        f" unnest(range({len(rows)})) as file_row_number",
        values,
    )


def _other_delimiter_note(header: list[str]) -> str:
    """For a header that is one name holding semicolons or tabs (a spreadsheet's "CSV" in some
    locales): a sentence saying so, to end the missing-column error with; else nothing. The
    files path says the same (the `other_delimiter_note` macro)."""
    if len(header) == 1:
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs")):
            if delimiter in header[0]:
                return (
                    f". The header is separated by {name}, not commas: save the file as"
                    " comma-separated CSV"
                )
    return ""


def file_to_table(
    connection: duckdb.DuckDBPyConnection,
    input_name: str,
    source: Path,
    table: str,
    label: str,
    max_rows: int | None = None,
) -> None:
    """A CSV or Parquet file of one input (docs/inputs.md: any column order, trimmed header names, a
    byte-order mark ignored, `dayOfWeek` for `day`) as a temporary table of the input's
    columns, numbered in file order. `label` names the file in errors. Past `max_rows` rows
    TooManyRows, having read at most one more (a small file may hold millions: Parquet)."""
    with source.open("rb") as handle:
        is_parquet = handle.read(4) == b"PAR1"
    if is_parquet:
        try:
            described = connection.execute(
                f"describe select * from read_parquet('{_quoted(source)}')"
            ).fetchall()
        except duckdb.Error:
            raise InputShapeError(f"{label} is not a readable Parquet file") from None
        header = [row[0].strip() for row in described]
    else:
        header = _csv_header(source, label)
    chosen = []
    for names in input_columns(input_name):
        found = next((name for name in names if name in header), None)
        if found is None:
            raise InputShapeError(
                f"{label} has no column {' or '.join(names)} (its header: {', '.join(header)})"
                + _other_delimiter_note(header)
            )
        chosen.append((names[0], header.index(found), found))
    if is_parquet:
        selects = ", ".join(f'"{found}"::varchar as "{name}"' for name, _, found in chosen)
        scan = f"read_parquet('{_quoted(source)}', file_row_number = true)"
        number = "file_row_number"
    else:
        selects = ", ".join(f'column{index} as "{name}"' for name, index, _ in chosen)
        types = ", ".join(f"'column{i}': 'VARCHAR'" for i in range(len(header)))
        scan = (
            f"read_csv('{_quoted(source)}', header = true, auto_detect = false, delim = ',',"
            f" quote = '\"', escape = '\"', null_padding = true, strict_mode = false,"
            f" columns = {{{types}}}) with ordinality"
        )
        number = "ordinality - 1"
    try:
        if is_parquet and max_rows is not None:  # the row count is in the file's footer
            rows = connection.execute(
                f"select sum(num_rows) from parquet_file_metadata('{_quoted(source)}')"
            ).fetchone()[0]
            if rows is not None and rows > max_rows:
                raise TooManyRows(max_rows, label)
        limit = "" if max_rows is None else f" limit {int(max_rows) + 1}"
        connection.execute(
            f"create or replace temp table {table} as"
            f" select {selects}, {number} as file_row_number from {scan}{limit}"
        )
    except duckdb.Error as error:
        raise InputShapeError(f"cannot read {label}: {str(error).splitlines()[0]}") from None
    if max_rows is not None:
        (rows,) = connection.execute(f"select count(*) from {table}").fetchone()
        if rows > max_rows:
            connection.execute(f"drop table {table}")
            raise TooManyRows(max_rows, label)


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
