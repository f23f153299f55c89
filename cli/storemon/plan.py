"""The export's plan: every statement that dbt ran for the models and the invariant tests, kept
so that the next export with inputs of the same shape runs them again on DuckDB without
importing dbt (about 5 s of fixed cost): each node once the models it reads are built, two at a
time where neither reads the other.

dbt stays the only author of the SQL: the plan is recorded from dbt's own build (its SQLQuery
events), in the order dbt ran it, with the DDL, renames and `persist_docs` comments. It does not
change with the run settings, which the SQL reads as DuckDB variables (the `setting_sql`
macro). What the SQL does depend on is in the plan's key: the project's files, the versions of
storemon, dbt, dbt-duckdb and DuckDB, the interpolation, whether a report time is given, the
environment variables that profiles.yml reads, and each input's kind and header (the compiled
SQL picks its columns by header name). A plan whose key does not match is never used: the export
runs dbt, which records a new one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

import duckdb

from storemon import project
from storemon.project import NodeResult

PLAN_FORMAT = 1
# The plans kept in the cache, most recently used first (one per input shape and project
# version in use, for every database of the user).
KEEP_PLANS = 32
# Overrides the cache folder (tests give each run its own).
CACHE_ENVIRONMENT = "STOREMON_CACHE_DIR"
# Files of the dbt project that the compiled SQL can depend on.
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests")
PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv")
# Environment variables read by profiles.yml or by macros outside the run settings.
KEY_ENVIRONMENT = ("STOREMON_ENGINE_THREADS", "STOREMON_MEMORY_LIMIT")
# A CSV header line longer than this: dbt decides (and DuckDB's line limit is 2,000,000 bytes).
MAX_HEADER_BYTES = 1_000_000
VARIABLE_PREFIX = "variable storemon_"
# Settings of the whole DuckDB instance rather than of a session: a plan run on a caller's
# connection (the service's live status, on its inbox) leaves them as that caller set them,
# and skips the on-run-start hooks too (they set the engine's thread count, also instance-wide).
INSTANCE_SETTINGS = frozenset({"memory_limit"})
# Nodes that a plan on its own instance runs at once. DuckDB's threads are the instance's, so
# two queries share them: a small node that one thread runs fills the other core while the
# polls are read.
CONCURRENT_NODES = 2

T = TypeVar("T")


class PlanFailed(Exception):
    """The plan stopped (an error, or an invariant test that found rows): the export runs dbt
    instead, which fails the same way with its own message."""


def plan_key(settings: dict[str, str]) -> str | None:
    """The key of the plan for an export with these settings (the input paths included), or
    None when this export has no plan: the bundled seeds, a setting with surrounding
    whitespace (the SQL would trim it), or an input whose header cannot be read here."""
    paths = [settings.get(name, "") for name in ("status_path", "hours_path", "timezones_path")]
    values = [*settings.values(), *(os.environ.get(name, "") for name in KEY_ENVIRONMENT)]
    if not all(paths) or any(value != value.strip() for value in values):
        return None
    digest = hashlib.sha256()
    for part in _project_fingerprint():
        digest.update(part)
    for package in ("storemon", "dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{package}={version(package)}\n".encode())
    shape = {
        "format": PLAN_FORMAT,
        "interpolation": settings.get("interpolation", ""),
        "report_time_given": bool(settings.get("report_time")),
        # A database to be built on (the service's), and one built on a copy of an earlier
        # one from an instant on: other statements.
        "append_polls": bool(settings.get("append_polls")),
        "changed_from_given": bool(settings.get("changed_from")),
        "environment": {name: os.environ.get(name, "") for name in KEY_ENVIRONMENT},
        # A pattern of files names each row's own file: other SQL than one file's.
        "patterns": [is_file_pattern(path) for path in paths],
    }
    digest.update(json.dumps(shape, sort_keys=True).encode())
    for path in paths:
        header = _input_header(Path(path))
        if header is None:
            return None
        digest.update(header)
    return digest.hexdigest()[:32]


def is_file_pattern(path: str) -> bool:
    """Whether an input path is a pattern of several files (as the `is_file_pattern` macro
    decides: DuckDB and Spark read `*`, `?` and `[` as wildcards)."""
    return any(character in path for character in "*?[")


def _project_fingerprint() -> list[bytes]:
    root = project.project_dir()  # looked up at each call, as run_dbt does
    files = [root / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        files += [p for p in (root / folder).rglob("*") if p.suffix in PROJECT_SUFFIXES]
    return [
        str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0"
        for path in sorted(files)
    ]


@functools.cache
def _schema_reader() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads Parquet schemas, one per process: starting an instance
    takes about 15 ms, ten times the read (a service report reads three)."""
    return duckdb.connect()


def _input_header(path: Path) -> bytes | None:
    """What the compiled SQL depends on in an input: Parquet's schema, or a CSV file's first
    line as bytes. None when it cannot be read (dbt then reports the problem)."""
    try:
        if path.suffix.lower() == ".parquet":
            with _schema_reader().cursor() as cursor:
                schema = cursor.execute(
                    "describe select * from read_parquet(?)", [str(path)]
                ).fetchall()
            return b"parquet\0" + json.dumps([list(map(str, row)) for row in schema]).encode()
        with open(path, "rb") as file:
            head = file.read(MAX_HEADER_BYTES)
    except (OSError, duckdb.Error):
        return None
    line, newline, _ = head.partition(b"\n")
    if not newline or not line.strip():
        return None
    return b"csv\0" + line + b"\0"


def cache_dir() -> Path | None:
    """storemon's folder in the user's cache: $STOREMON_CACHE_DIR, else
    $XDG_CACHE_HOME/storemon, else ~/.cache/storemon. None when there is no home to put it in
    (the export then runs dbt and keeps no plan)."""
    if folder := os.environ.get(CACHE_ENVIRONMENT):
        return Path(folder)
    # The XDG Base Directory specification: a relative path is invalid and ignored.
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "storemon"
    try:
        return Path.home() / ".cache" / "storemon"
    except RuntimeError:  # no $HOME and no password entry
        return None


def plans_dir() -> Path | None:
    """Where the export's plans are kept: `plans/` in the cache folder."""
    folder = cache_dir()
    return None if folder is None else folder / "plans"


def plan_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.json"


def load(folder: Path | None, key: str) -> dict | None:
    """The plan of `key` in `folder`, or None when there is none or it cannot be read or is not
    a plan (a file cut short, another format): the export then runs dbt."""
    if folder is None:
        return None
    path = plan_path(folder, key)
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _well_formed(plan):
        return None
    # Used now: the newest to keep when the cache is pruned.
    with contextlib.suppress(OSError):
        os.utime(path)
    return plan


def _well_formed(plan: object) -> bool:
    return (
        isinstance(plan, dict)
        and plan.get("format") == PLAN_FORMAT
        and isinstance(plan.get("settings"), dict)
        and all(isinstance(v, str) for v in plan["settings"].values())
        and isinstance(plan.get("variables"), list)
        and all(isinstance(v, str) for v in plan["variables"])
        and isinstance(plan.get("nodes"), list)
        and all(
            isinstance(node, dict)
            and isinstance(node.get("name"), str)
            and isinstance(node.get("kind"), str)
            and isinstance(node.get("statements"), list)
            and all(isinstance(statement, str) for statement in node["statements"])
            and (node["kind"] != "test" or node["statements"])
            for node in plan["nodes"]
        )
    )


def save(folder: Path | None, key: str, plan: dict) -> None:
    """Write the plan atomically (a unique temporary file renamed into place, so that exports
    of several databases at once cannot mix their writes), and keep only the most recently used
    few. A plan that cannot be written (an unwritable cache, a full disk) is left out: the
    export it came from has succeeded, and the next one runs dbt."""
    if folder is None:
        return
    path = plan_path(folder, key)
    temporary = None
    try:
        # Plans are SQL that the export runs: the folder is the user's alone.
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=folder)
        temporary = Path(name)
        with os.fdopen(descriptor, "w") as file:
            json.dump(plan, file)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        return
    _prune(folder)


def _prune(folder: Path) -> None:
    """Keep the KEEP_PLANS most recently used plans. Another export may be pruning too: a plan
    already gone is skipped."""
    used = []
    for candidate in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            used.append((candidate.stat().st_mtime, candidate.name, candidate))
    used.sort(reverse=True)
    for _, _, old in used[KEEP_PLANS:]:
        with contextlib.suppress(OSError):
            old.unlink()
    # The temporary file of an export killed while it wrote its plan.
    for leftover in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < time.time() - 3600:
                leftover.unlink()


class Recorder:
    """A dbt callback that records the statements each node runs (not those run while it is
    compiled, which read the inputs' headers by their literal paths), and the profile's
    session settings."""

    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.settings: dict[str, str] | None = None
        self._executing: str | None = None

    def __call__(self, event) -> None:  # dbt's EventMsg
        name = event.info.name
        node_info = getattr(event.data, "node_info", None)
        unique_id = getattr(node_info, "unique_id", "")
        if name == "NodeExecuting":
            self._executing = unique_id
            kind = unique_id.split(".")[0]
            self.nodes.append({"name": unique_id.split(".")[2], "kind": kind, "statements": []})
            if self.settings is None:
                self.settings = _profile_settings()
        elif name == "NodeFinished":
            self._executing = None
        elif name == "SQLQuery" and self._executing and unique_id == self._executing:
            self.nodes[-1]["statements"].append(event.data.sql)
        elif (
            name == "SQLQuery"
            and unique_id.startswith("operation.")
            and event.data.sql.strip() not in ("BEGIN", "COMMIT")
        ):
            # on-run-start hooks (the engine's thread count); their transaction is dbt's own.
            self.nodes.append({"name": unique_id, "kind": "hook", "statements": [event.data.sql]})

    def plan(self) -> dict:
        settings = self.settings or {}
        return {
            "format": PLAN_FORMAT,
            "settings": {k: v for k, v in settings.items() if not k.startswith(VARIABLE_PREFIX)},
            "variables": sorted(
                k.removeprefix(VARIABLE_PREFIX) for k in settings if k.startswith(VARIABLE_PREFIX)
            ),
            "nodes": self.nodes,
        }


def _profile_settings() -> dict[str, str]:
    """The session settings dbt-duckdb applies to each connection (profiles.yml, rendered)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    return {str(k): str(v) for k, v in (environment.creds.settings or {}).items()}


def run(
    plan: dict,
    database: Path,
    settings: dict[str, str],
    on_node: Callable[[NodeResult], None] | None = None,
    staged: dict[str, str] | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    first: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    then: Callable[[duckdb.DuckDBPyConnection], T] | None = None,
) -> T | None:
    """Run the plan into `database` (named like the one dbt built: the SQL names its catalog)
    with the run settings as DuckDB variables, as dbt-duckdb would set them on a session;
    raise PlanFailed on the first error or failed test. `staged` maps a staging model to a
    query that yields its rows already parsed (the service's stored polls): its table is
    created from that query, and the rest of its node (rename, comments) runs as recorded.
    With `connection` (whose catalog has the recorded name) the plan runs there instead, and
    the queries of `staged` may read that connection's own tables and views; its instance
    keeps its own memory limit. `first`, before any node runs, and `then`, once every node
    has passed, are given the connection (another DuckDB instance would take 15-30 ms to
    start), and what `then` returns is returned; a DuckDB error in either is a PlanFailed too,
    as one in closing is."""
    results = []
    try:
        with duckdb.connect(str(database)) if connection is None else _kept(connection) as used:
            own_instance = connection is None
            if first is not None:
                first(used)
            try:
                _run_nodes(used, plan, settings, staged or {}, results, on_node, own_instance)
            except (KeyError, TypeError, ValueError) as error:  # not the plan this code records
                raise PlanFailed(f"the plan cannot be run: {error!r}") from None
            return then(used) if then is not None else None
    except duckdb.Error as error:
        raise PlanFailed(str(error)) from None


@contextmanager
def _kept(connection: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    yield connection  # the caller's: not closed here


def _run_nodes(
    connection: duckdb.DuckDBPyConnection,
    plan: dict,
    settings: dict[str, str],
    staged: dict[str, str],
    results: list[NodeResult],
    on_node: Callable[[NodeResult], None] | None = None,
    own_instance: bool = True,
) -> None:
    """Run the nodes, each once the nodes it reads have finished; `on_node` receives each as it
    finishes. The recorded settings apply to the session, and to the instance (with the hooks)
    only when it is the plan's own. On its own instance the plan runs up to CONCURRENT_NODES
    nodes at once (no more than the engine's threads), each on a cursor of its own; on a
    caller's connection (whose temporary tables its cursors would not see), one at a time."""

    def prepared(cursor: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        for key, value in plan["settings"].items():
            if not own_instance and key.lower() in INSTANCE_SETTINGS:
                continue
            escaped = value.replace("'", "''")
            cursor.execute(f"SET {key} = '{escaped}'")
        for name in plan["variables"]:  # a DuckDB variable is its connection's own
            value = settings.get(name, os.environ.get(f"STOREMON_{name.upper()}", ""))
            cursor.execute(f"SET VARIABLE storemon_{name} = ?", [value])
        return cursor

    prepared(connection)
    nodes = []
    for node in plan["nodes"]:
        if node["kind"] != "hook":
            nodes.append(node)
        elif own_instance:
            _run_node(connection, node, None)

    def finished(node: dict, status: str, seconds: float) -> None:
        results.append(NodeResult(node["name"], status, seconds))
        if on_node:
            on_node(results[-1])

    # Never more nodes at once than the engine has threads (STOREMON_ENGINE_THREADS): each
    # query's own thread works too.
    threads = connection.execute("select current_setting('threads')").fetchone()[0]
    at_once = min(CONCURRENT_NODES, threads) if own_instance else 1
    if at_once == 1:
        for node in nodes:
            started = time.monotonic()
            status = _run_node(connection, node, staged.get(node["name"]))
            finished(node, status, time.monotonic() - started)
        return
    with ThreadPoolExecutor(at_once) as pool:
        _run_concurrently(connection, nodes, staged, pool, at_once, prepared, finished)


def _run_concurrently(
    connection: duckdb.DuckDBPyConnection,
    nodes: list[dict],
    staged: dict[str, str],
    pool: ThreadPoolExecutor,
    at_once: int,
    prepared: Callable[[duckdb.DuckDBPyConnection], duckdb.DuckDBPyConnection],
    finished: Callable[[dict, str, float], None],
) -> None:
    """Run `nodes` on `pool`, `at_once` at a time, each after the nodes it reads: of those
    ready, models before tests (nothing waits for a test), then in the plan's order. A node's
    result does not depend on what else runs: each is one transaction that reads only finished
    nodes' tables. After the first failure no node starts, the running ones are interrupted,
    and the failure is raised."""
    needs = _dependencies(nodes)
    cursors = [connection] + [prepared(connection.cursor()) for _ in range(at_once - 1)]
    waiting = list(range(len(nodes)))
    running: dict[Future, tuple[int, duckdb.DuckDBPyConnection]] = {}
    done: set[int] = set()
    failure: BaseException | None = None

    def timed(index: int, cursor: duckdb.DuckDBPyConnection) -> tuple[str, float]:
        started = time.monotonic()
        status = _run_node(cursor, nodes[index], staged.get(nodes[index]["name"]))
        return status, time.monotonic() - started

    try:
        while waiting or running:
            ready = [i for i in waiting if needs[i] <= done] if failure is None else []
            ready.sort(key=lambda i: nodes[i]["kind"] == "test")  # the models' chain first
            for index in ready[: len(cursors)]:
                waiting.remove(index)
                cursor = cursors.pop()
                running[pool.submit(timed, index, cursor)] = (index, cursor)
            if not running:
                break
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                index, cursor = running.pop(future)
                cursors.append(cursor)
                try:
                    status, seconds = future.result()
                except BaseException as error:  # noqa: BLE001 - raised below, once all stop
                    if failure is None:
                        failure = error
                        for _, other in running.values():
                            other.interrupt()
                    continue
                done.add(index)
                finished(nodes[index], status, seconds)
    finally:
        for cursor in cursors:
            if cursor is not connection:
                cursor.close()
    if failure is not None:
        raise failure


def _dependencies(nodes: list[dict]) -> list[set[int]]:
    """For each node, the earlier models whose quoted name its statements hold: dbt renders
    every `ref` as "<catalog>"."<schema>"."<name>", so a node waits for each model it reads (a
    name that is only mentioned makes it wait longer, never less). Nothing waits for a test."""
    needs = []
    for index, node in enumerate(nodes):
        text = "\n".join(node["statements"])
        needs.append(
            {
                earlier
                for earlier in range(index)
                if f'"{nodes[earlier]["name"]}"' in text and nodes[earlier]["kind"] != "test"
            }
        )
    return needs


def _run_node(connection: duckdb.DuckDBPyConnection, node: dict, staged: str | None) -> str:
    if node["kind"] != "test":
        replaced = False
        for statement in node["statements"]:
            if staged and (creation := _created_table(statement, node["name"])):
                statement, replaced = f"{creation} as {staged}", True
            connection.execute(statement)
        if staged and not replaced:
            raise PlanFailed(f"{node['name']} does not create its table as expected")
        return "success"
    # A data test: dbt opens a transaction it never commits, then reads one row of
    # (failures, should_warn, should_error) from its last statement.
    statements = [s for s in node["statements"] if s.strip() != "BEGIN"]
    for statement in statements[:-1]:
        connection.execute(statement)
    cursor = connection.execute(statements[-1])
    columns = [column[0] for column in cursor.description]
    row = dict(zip(columns, cursor.fetchone(), strict=True))
    if row["should_error"]:
        raise PlanFailed(f"{node['name']} found {row['failures']} rows")
    return "warn" if row["should_warn"] else "pass"


def _created_table(statement: str, model: str) -> str | None:
    """`create [temporary] table <name>` of the table that dbt-duckdb creates with the model's
    rows when `statement` is that creation, else None: the table materialization's
    `<model>__dbt_tmp` (then renamed), the incremental one's table in a database without it
    (`<model>` itself), or its temporary `<model>__dbt_tmp<suffix>` (then inserted)."""
    model = re.escape(model)
    found = re.search(
        rf'\bcreate\s+(?:table\s+"[^"]*"\."[^"]*"\."{model}(?:__dbt_tmp)?"'
        rf'|temporary\s+table\s+"{model}__dbt_tmp\d*")(?=\s+as\s*\()',
        statement,
        re.IGNORECASE,
    )
    return found.group(0) if found else None
