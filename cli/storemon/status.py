"""`storemon status`: read the `store_status_now` model and show it to people or programs.

The states are computed by the dbt project (docs/status.md); this module only reads the
rows, orders them and writes them as a table, CSV or JSON. `format_instant`, `row_to_json`
and `render_json` are the one definition of the JSON form: the service's GET /status uses them
too, so that both answer the same bytes at the same instant.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from storemon.export import Inputs, export

# The model's columns, in its order; also the keys of the JSON objects and the CSV header.
STATUS_COLUMNS = (
    "store_id",
    "state",
    "is_open",
    "last_poll_at",
    "last_status",
    "state_since",
    "closes_at",
    "opens_at",
)
STATES = ("down", "silent", "up", "closed")
# People read the stores that need them first: down, then silent, then the rest.
_STATE_ORDER = {state: rank for rank, state in enumerate(STATES)}


@dataclass
class Status:
    """store_status_now at one instant: `at` is T (None when there is none: no valid poll and
    no --as-of), `rows` one dict per store keyed by STATUS_COLUMNS, sorted by store_id;
    `states` the states to show (empty: all)."""

    at: datetime | None
    silent_after_minutes: int
    rows: list[dict]
    states: Sequence[str] = ()

    @property
    def shown(self) -> list[dict]:
        """The rows of the states asked for, by store_id."""
        return [row for row in self.rows if not self.states or row["state"] in self.states]

    def counts(self) -> dict[str, int]:
        """Stores per state in the whole fleet, every state listed (0 when none), in STATES
        order."""
        counts = dict.fromkeys(STATES, 0)
        for row in self.rows:
            if row["state"] in counts:
                counts[row["state"]] += 1
        return counts


def read_status(
    connection: duckdb.DuckDBPyConnection, states: Sequence[str] | None = None
) -> Status:
    """store_status_now and its instant from a database the export built; `states` (empty:
    all) are the ones to show."""
    at, silent_after = connection.execute(
        "select status_at, silent_after_minutes from int_status_clock"
    ).fetchone()
    columns = ", ".join(STATUS_COLUMNS)
    cursor = connection.execute(f"select {columns} from store_status_now order by store_id")
    rows = [dict(zip(STATUS_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    return Status(at, silent_after, rows, tuple(states or ()))


def format_instant(moment: datetime | None) -> str | None:
    """A UTC instant as ISO 8601 with `Z`: `2024-11-04T06:00:00Z`, with six fraction digits
    only when the microseconds are not zero (`2024-11-04T05:46:00.591219Z`). Naive datetimes
    are UTC (as DuckDB returns TIMESTAMP columns); None stays None."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text + "Z"


def row_to_json(row: dict) -> dict:
    """One store_status_now row as a JSON object: the model's columns in its order, instants as
    format_instant writes them, is_open a boolean, NULL as null."""
    return {
        name: format_instant(row[name]) if isinstance(row[name], datetime) else row[name]
        for name in STATUS_COLUMNS
    }


def render_json(rows: Iterable[dict]) -> str:
    """The JSON document of `storemon status --format json` (and of the service's
    GET /status): an array of row_to_json objects, in the order given, compact, UTF-8 text,
    one final newline."""
    document = [row_to_json(row) for row in rows]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


def render_csv(rows: Iterable[dict]) -> str:
    """The header STATUS_COLUMNS, then one line per row: instants as in JSON, is_open
    `true`/`false`, NULL as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATUS_COLUMNS)
    for row in rows:
        values = row_to_json(row)
        writer.writerow(
            "" if value is None else str(value).lower() if isinstance(value, bool) else value
            for value in values.values()
        )
    return buffer.getvalue()


def for_people(rows: Iterable[dict]) -> list[dict]:
    """Rows in the order people read them: down, silent, up, closed; within a state the
    longest first (earliest state_since; unknown first), then by store_id."""

    def key(row: dict) -> tuple:
        since = row["state_since"]
        return (
            _STATE_ORDER.get(row["state"], len(STATES)),
            since is not None,
            since or datetime.min,
            row["store_id"],
        )

    return sorted(rows, key=key)


def format_duration(length: timedelta) -> str:
    """A length of time in words a person reads at a glance: `45 min`, `3 h 05 min`,
    `2 d 4 h`; under a minute `<1 min`."""
    minutes = int(length.total_seconds() // 60)
    if minutes < 1:
        return "<1 min"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def table_cells(status: Status) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows (for_people order): how long each store has been in its
    state, its last poll, and when it closes or opens next."""
    header = ["store_id", "state", "for", "since", "last poll", "closes / opens"]
    cells = []
    for row in for_people(status.shown):
        since = row["state_since"]
        if since is not None and status.at is not None:
            length = format_duration(status.at - since)
        elif row["state"] == "silent":
            length = "never polled"
        else:
            length = ""
        last_poll = ""
        if row["last_poll_at"] is not None:
            last_poll = f"{format_instant(row['last_poll_at'])} {row['last_status']}"
        if row["closes_at"] is not None:
            next_change = f"closes {format_instant(row['closes_at'])}"
        elif row["opens_at"] is not None:
            next_change = f"opens {format_instant(row['opens_at'])}"
        else:
            next_change = "open 24/7" if row["is_open"] else ""
        state = row["state"] or "unknown"
        cells.append(
            [row["store_id"], state, length, format_instant(since) or "", last_poll, next_change]
        )
    return header, cells


def summary_line(status: Status) -> str:
    """`at 2024-11-04T05:59:00Z: 2 down, 1 silent, 6 up, 10 closed (19 stores)`: the whole
    fleet, whichever states are shown."""
    counts = ", ".join(f"{count} {state}" for state, count in status.counts().items())
    at = format_instant(status.at) or "no instant (no valid poll and no --as-of)"
    return f"at {at}: {counts} ({len(status.rows)} stores)"


def render_plain_table(status: Status) -> str:
    """The table as plain aligned text (for pipes and files), then the summary line."""
    header, cells = table_cells(status)
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]
    return "\n".join([*lines, summary_line(status)]) + "\n"


def render_rich_table(status: Status) -> str:
    """The table for a terminal, drawn by Rich as text with colours (each state is in words
    too), then the summary line."""
    from rich.console import Console
    from rich.table import Table

    colours = {"down": "bold red", "silent": "yellow", "up": "green", "closed": "dim"}
    header, cells = table_cells(status)
    table = Table(*header, box=None, header_style="bold", pad_edge=False)
    for line in cells:
        table.add_row(*line, style=colours.get(line[1], ""))
    buffer = io.StringIO()
    width = shutil.get_terminal_size().columns
    console = Console(file=buffer, force_terminal=True, width=width, highlight=False)
    console.print(table)
    console.print(summary_line(status))
    return buffer.getvalue()


def render(status: Status, output_format: str, terminal: bool) -> str:
    """The text `storemon status` prints: `table` (Rich on a terminal, else plain text) in the
    people's order, then the counts of the whole fleet; `csv` and `json` by store_id. Each
    shows the states asked for only."""
    if output_format == "json":
        return render_json(status.shown)
    if output_format == "csv":
        return render_csv(status.shown)
    return render_rich_table(status) if terminal else render_plain_table(status)


def build_status(
    inputs: Inputs | None,
    db_path: Path,
    as_of: str | None,
    silent_after: int,
    strict: bool,
    verbose: bool,
    engine: str,
    spark_target: str,
    states: Sequence[str] = (),
) -> Status:
    """Build the database as `storemon export` does (one definition of every number), without
    a report file, and read store_status_now from it."""
    export(
        inputs,
        db_path=db_path,
        out="",
        as_of=as_of,
        strict=strict,
        verbose=verbose,
        engine=engine,
        spark_target=spark_target,
        silent_after=silent_after,
        write_report=False,
    )
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return read_status(connection, states)
