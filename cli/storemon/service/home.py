"""The check of a home folder before a server uses it (`storemon serve` at start, and
`storemon serve --check`): a damaged inbox is refused with one line that names the file and
says what to do, instead of a traceback at start or reports that fail later."""

from __future__ import annotations

from pathlib import Path

import duckdb

INBOX = "inbox.duckdb"
# The check reads every block once: what it read need not stay in memory (by default DuckDB
# would keep up to 80 % of the machine's memory of them, the whole inbox of a year).
CHECK_MEMORY_LIMIT = "256MB"
WHAT_TO_DO = (
    "restore it (and its .wal, if any) from a backup, or move it aside to start with an empty"
    " inbox (docs/operating.md, A damaged home)"
)


class HomeDamaged(Exception):
    """The home cannot be used as it is; the message is one line."""


def check_home(home: Path) -> str:
    """A one-line summary of a sound home; HomeDamaged when it is not. Every block of the
    inbox is read (its checksums verified), which takes seconds for millions of polls."""
    if not home.exists():
        return f"home {home} does not exist yet: storemon serve creates it"
    if not home.is_dir():
        raise HomeDamaged(f"home {home} is not a folder: give --home a folder")
    inbox = home / INBOX
    if not inbox.exists():
        return f"home {home} is sound: no inbox yet (it is created at start)"
    if inbox.is_dir():
        raise HomeDamaged(f"{inbox} is a folder, not the inbox database: {WHAT_TO_DO}")
    if inbox.stat().st_size == 0:
        raise HomeDamaged(f"{inbox} is empty (0 bytes): {WHAT_TO_DO}")
    try:
        counts = _read_everything(inbox)
    except duckdb.Error as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise HomeDamaged(f"{inbox} is damaged ({first}): {WHAT_TO_DO}") from None
    except OSError as error:
        raise HomeDamaged(f"{inbox} cannot be read ({error.strerror}): {WHAT_TO_DO}") from None
    return (
        f"home {home} is sound: {counts.get('polls', 0)} polls, {counts.get('reports', 0)} reports"
    )


def _read_everything(inbox: Path) -> dict[str, int]:
    """Each table's rows, every value read (a hash of each column forces it)."""
    config = {"memory_limit": CHECK_MEMORY_LIMIT}
    with duckdb.connect(str(inbox), read_only=True, config=config) as connection:
        connection.execute("set enable_progress_bar = false")
        tables = [
            name
            for (name,) in connection.execute(
                "select table_name from duckdb_tables() where not temporary order by all"
            ).fetchall()
        ]
        counts = {}
        for name in tables:
            quoted = name.replace('"', '""')
            counts[name] = connection.execute(
                f'select count(*), sum(hash(columns(*))) from "{quoted}"'
            ).fetchone()[0]
    return counts
