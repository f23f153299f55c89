"""Where the dbt project is, and running it with dbt's programmatic runner."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_dir() -> Path:
    """The dbt project: shipped inside the installed package, or the checkout it lives in."""
    for candidate in (PACKAGE_DIR / "dbt_project", PACKAGE_DIR.parent.parent):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise RuntimeError(
        f"storemon's dbt project is missing beside {PACKAGE_DIR}; reinstall storemon"
    )


def input_columns(name: str) -> list[list[str]]:
    """One input's columns as the models read them (the `input_columns` macro): one list per
    column, the documented name first, then the other names a file may use. Held once, in the
    `input_columns` var of dbt_project.yml."""
    return _project_vars()["input_columns"][name]


@functools.cache
def _project_vars() -> dict:
    # Read on first use, not at import: a broken install then fails with project_dir's message.
    # PyYAML is imported here too: the export, which reads no var, starts about 13 ms sooner.
    import yaml

    return yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


def state_dir(db_path: Path) -> Path:
    """dbt's target/ and logs/ for a database: beside it, never inside the installed package,
    so that partial parsing stays warm between runs on the same database."""
    return db_path.with_name(db_path.name.removesuffix(".duckdb") + ".dbt")


class DbtFailure(Exception):
    """A dbt invocation failed, in `node` if one node failed (`is_test` when that node is a data
    test); `message` is one line for users."""

    def __init__(self, message: str, node: str = "", is_test: bool = False) -> None:
        super().__init__(f"{node}: {message}" if node else message)
        self.message = message
        self.node = node
        self.is_test = is_test


@dataclass
class NodeResult:
    name: str
    status: str
    seconds: float


def run_dbt(
    command: list[str],
    db_path: Path,
    state: Path,
    settings: dict[str, str],
    on_node: Callable[[NodeResult], None] | None = None,
    callbacks: list[Callable] | None = None,
) -> list[NodeResult]:
    """Run `dbt <command>` in-process against `db_path`, with dbt's target/ and logs/ in
    `state`; raise DbtFailure with the first error.

    `settings` reach the models as STOREMON_<NAME> environment variables (see the `setting`
    macro): unlike --vars, changing them does not force dbt to re-parse the whole project.
    dbt's own log lines are silenced (`on_node` receives each node as it finishes); its full
    debug log is in the state folder's logs/dbt.log; `callbacks` receive dbt's events. The
    DuckDB file is released before returning.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    project = project_dir()
    args = [
        *command,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(state / "target"),
        "--log-path", str(state / "logs"),
        "--log-level", "none",
        "--log-level-file", "debug",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        "--no-version-check",
        # manifest.json and run_results.json are for tools we do not run; serialising the
        # manifest twice per run is most of a second. The parse cache is still written.
        "--no-write-json",
    ]  # fmt: skip
    environment = {f"STOREMON_{name.upper()}": value for name, value in settings.items()}
    callbacks = list(callbacks or [])
    if on_node:

        def node_finished(event) -> None:  # dbt's EventMsg, as each node finishes
            if event.info.name == "NodeFinished":
                node, result = event.data.node_info, event.data.run_result
                on_node(NodeResult(node.node_name, result.status, result.execution_time))

        callbacks.append(node_finished)
    # A full disk must not turn dbt's log handler into pages of tracebacks on stderr.
    logging.raiseExceptions = False
    environment["STOREMON_DB"] = str(db_path)
    try:
        with _environment(environment):
            outcome = dbtRunner(callbacks=callbacks).invoke(args)
    finally:
        _release_database(DuckDBConnectionManager)

    error = outcome.exception
    if isinstance(error, OSError):  # e.g. a full disk while dbt writes its state
        raise DbtFailure(f"cannot write {error.filename or state}: {error.strerror}")
    if error is not None:
        raise DbtFailure(_one_line(str(error)))
    results = [
        NodeResult(r.node.name, str(r.status), float(r.execution_time or 0.0))
        for r in (outcome.result or [])
    ]
    failures = [r for r in (outcome.result or []) if str(r.status) in ("error", "fail")]
    if failures:
        first = failures[0]
        raise DbtFailure(
            _one_line(first.message or ""),
            node=first.node.name,
            is_test=first.node.resource_type == "test",
        )
    if not outcome.success:
        raise DbtFailure("dbt failed; see " + str(state / "logs" / "dbt.log"))
    return results


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them, so that one
    in-process run cannot leak its settings into the next."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release_database(connection_manager: type) -> None:
    """dbt-duckdb keeps its DuckDB instance (and the file lock) for the life of the process;
    close it so the file can be reopened here or by another process."""
    environment = connection_manager._ENV
    if environment is not None:
        environment.close()
    connection_manager.close_all_connections()


def _one_line(message: str) -> str:
    """dbt's multi-line errors, reduced to the lines that say what is wrong."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    # "Compilation Error in model x (models/x.sql)" and similar headers name dbt's internals.
    lines = [line for line in lines if " Error in " not in line or len(lines) == 1]
    # DuckDB appends the failing SQL ("LINE 3: ...") and a caret line, quotes a bad CSV line
    # (which may be binary), suggests read_csv options users cannot set
    # and lists its reader's settings ("quote = (empty) (Set By User)"): not for users.
    noise = ("LINE ", "^", "Original Line:", "Possible Solution:")
    lines = [
        line
        for line in lines
        if not line.startswith(noise) and not re.match(r"[a-z_]+ = ", line) and _is_text(line)
    ]
    # Jinja's macro call stack ("> in macro x (macros/x.sql)") is noise for users too.
    lines = [line.split(" > in macro ")[0] for line in lines if not line.startswith(">")]
    text = " ".join(lines) or "unknown dbt error"
    # The same words on both engines: Spark wraps the message of the raise_error macro, and
    # DuckDB's CSV reader refuses a quoted field that spans lines in its own words (which
    # spark__select_input raises in these).
    text = re.sub(r"\[USER_RAISED_EXCEPTION\] (.*?)(?: SQLSTATE: P0001)?$", r"\1", text)
    text = re.sub(
        r"CSV Error on Line: (\d+) .* in conjunction with quoted new lines\b.*",
        r"line \1: a quoted field spans lines, which storemon does not read",
        text,
    )
    return text if len(text) < 400 else text[:397] + "..."


def _is_text(line: str) -> bool:
    return all(c.isprintable() and c != "\ufffd" for c in line)


def eprint(message: str) -> None:
    print(f"storemon: {message}", file=sys.stderr)
