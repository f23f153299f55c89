"""A failed, killed or refused `storemon export` leaves the previous report and database as they
were (docs/numbers.md, Bad input): SIGKILL at several points, two exports at once, a reader
holding the database, an unwritable --out, a full disk, and failed runs.

Two workspaces: `workspace` is built from `storemon generate` data (2000 stores, 7 days) by the
installed console script, so that a run lasts a few seconds and can be killed or overlapped;
`small` is a tiny dataset run in-process through CliRunner, for the cheap failure cases.
A full disk is emulated with RLIMIT_FSIZE (no root needed): Python ignores SIGXFSZ, so a write
past the limit fails with EFBIG ("File too large") as it would with ENOSPC on a full disk.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import (
    generate_inputs,
    query,
    read_report,
    run_export,
    storemon_executable,
    write_inputs,
)

from storemon import project
from storemon.cli import cli
from storemon.project import project_dir

IN_USE = "is in use by another process; try again when it is done"
KILL_AS_OF = "2023-01-24T00:00:00Z"  # not the first run's clock: a finished run would differ
TABLES = ("store_uptime_report", "rejected_rows")


@dataclass(frozen=True)
class State:
    """What a run must not disturb: the report CSV's bytes and both tables, or why the database
    could not be read."""

    report: bytes | None
    tables: dict[str, list[tuple]] | str


def state(directory: Path, report: str = "report.csv", db: str = "storemon.duckdb") -> State:
    csv_path = directory / report
    try:
        tables = {t: query(directory / db, f"select * from {t} order by all") for t in TABLES}
    except Exception as error:  # a broken database is what we look for
        tables = f"cannot read {db}: {error!r}"
    return State(csv_path.read_bytes() if csv_path.exists() else None, tables)


def leftovers(directory: Path, db: str = "storemon.duckdb") -> list[str]:
    """Temporary files of a run: the CSV written beside --out, the database being built."""
    state_dir = directory / db.replace(".duckdb", ".dbt")
    found = [p for p in directory.iterdir() if p.name.endswith(".storemon-tmp")]
    found += list(state_dir.glob("building.duckdb*")) if state_dir.exists() else []
    return sorted(str(path.relative_to(directory)) for path in found)


def error_line(stderr: str) -> str:
    """The one `Error: ...` line, checked to be the last line of stderr, with no traceback."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr[-3000:]
    return errors[0]


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "STOREMON_DB"}


def start_export(directory: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [storemon_executable(), "export", *args],
        cwd=directory,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen) -> None:
    """End a process this module started, if it is still running."""
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=60)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> float:
    """Poll `condition` until true (returns the seconds waited) or the process ends."""
    started = time.monotonic()
    while not condition():
        assert process.poll() is None, f"the export ended first: {process.communicate()}"
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.002)
    return time.monotonic() - started


# --- the generated workspace ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_data(tmp_path_factory) -> Path:
    return generate_inputs(
        tmp_path_factory.mktemp("generated") / "data", stores=2000, days=7, seed=1
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, big_data) -> Path:
    """storemon.duckdb and report.csv from a first successful run on the generated data."""
    directory = tmp_path_factory.mktemp("workspace").resolve()
    code, _, stderr = run_export("--data", str(big_data), cwd=directory)
    assert code == 0, stderr
    assert len(read_report(directory / "report.csv")) == 2000
    return directory


# --- SIGKILL ---------------------------------------------------------------------------------

KILL_POINTS = (
    "after 0.5 s",  # still importing and parsing
    "building database created",  # dbt has started writing the new database
    "1 s into the build",  # dbt is building models
    "temporary CSV created",  # the report is being written beside report.csv
)


@dataclass
class Kill:
    killed: bool
    seconds: float
    state: State
    leftovers: list[str]


@dataclass
class KillRuns:
    before: State
    kills: dict[str, Kill]
    final_code: int
    final_stderr: str
    final_state: State
    final_leftovers: list[str]


def kill_at(directory: Path, point: str, *args: str) -> tuple[bool, float]:
    """Start an export and SIGKILL it at `point`; (whether it was killed, seconds in). A
    building database or temporary CSV left by an earlier kill does not count as created.

    The export runs in steps of about a millisecond, stopped (SIGSTOP) while the point is
    looked for: the plan writes and renames the temporary CSV within a few milliseconds, a
    window that polling a running process can miss."""
    building = directory / "storemon.dbt" / "building.duckdb"
    stale_building = building.exists()
    stale_csvs = set(directory.glob(".report.csv.storemon-tmp"))
    process = start_export(directory, *args)
    started = time.monotonic()
    building_at = None
    try:
        while process.poll() is None:
            os.kill(process.pid, signal.SIGSTOP)
            wait_stopped(process.pid)
            elapsed = time.monotonic() - started
            if stale_building and not building.exists():
                stale_building = False  # removed by the new run
            if building_at is None and not stale_building and building.exists():
                building_at = elapsed
            reached = {
                "after 0.5 s": elapsed >= 0.5,
                "building database created": building_at is not None,
                "1 s into the build": building_at is not None and elapsed >= building_at + 1,
                "temporary CSV created": bool(
                    set(directory.glob(".report.csv.storemon-tmp")) - stale_csvs
                ),
            }[point]
            if reached:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
                return True, elapsed
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.001)
        return False, time.monotonic() - started
    finally:
        stop(process)


def wait_stopped(pid: int, timeout: float = 10) -> None:
    """Until the process is stopped (T) or has ended (Z): a signal is delivered asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        if fields[0] in ("T", "t", "Z"):
            return
        time.sleep(0.0002)
    raise AssertionError(f"process {pid} did not stop")


@pytest.fixture(scope="module")
def kill_runs(workspace, big_data, tmp_path_factory) -> KillRuns:
    """After the first run: a second run (another --as-of) killed at each point in turn, then
    that run done normally."""
    args = ("--data", str(big_data), "--as-of", KILL_AS_OF)
    before = state(workspace)
    kills = {}
    # An empty plan cache, as on a new machine: each killed run builds with dbt, which leaves
    # every kill point time to be reached (a plan that an earlier test module recorded for
    # inputs of this shape would finish before the later ones).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOREMON_CACHE_DIR", str(tmp_path_factory.mktemp("kill-cache")))
        for point in KILL_POINTS:
            killed, seconds = kill_at(workspace, point, *args)
            kills[point] = Kill(killed, seconds, state(workspace), leftovers(workspace))
        code, _, stderr = run_export(*args, cwd=workspace)
    return KillRuns(before, kills, code, stderr, state(workspace), leftovers(workspace))


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_leaves_the_previous_report_and_tables(kill_runs, point):
    kill = kill_runs.kills[point]
    assert kill.killed, f"the run finished ({kill.seconds:.1f} s) before '{point}'"
    assert kill.state.report == kill_runs.before.report
    assert kill.state.tables == kill_runs.before.tables


def test_after_the_kills_a_normal_run_succeeds(kill_runs):
    assert kill_runs.final_code == 0, kill_runs.final_stderr
    assert kill_runs.final_state.report != kill_runs.before.report  # the new clock
    assert kill_runs.final_state.tables != kill_runs.before.tables
    assert isinstance(kill_runs.final_state.tables, dict)
    assert len(kill_runs.final_state.tables["store_uptime_report"]) == 2000
    assert "storemon.dbt/building.duckdb" not in kill_runs.final_leftovers


def test_a_later_run_removes_what_a_killed_run_left(kill_runs):
    assert kill_runs.final_leftovers == []


# --- two exports, and a reader ----------------------------------------------------------------


def test_second_concurrent_export_fails_fast(workspace, big_data):
    building = workspace / "storemon.dbt" / "building.duckdb"
    left_before = leftovers(workspace)  # e.g. what a killed run left
    first = start_export(workspace, "--data", str(big_data))
    try:
        wait_for(building.exists, first)
        # Held there (the plan would finish in well under a second) while the second runs.
        os.kill(first.pid, signal.SIGSTOP)
        wait_stopped(first.pid)
        started = time.monotonic()
        code, _, stderr = run_export("--data", str(big_data), cwd=workspace)
        second_seconds = time.monotonic() - started
        os.kill(first.pid, signal.SIGCONT)
        _, first_stderr = first.communicate(timeout=300)
    finally:
        stop(first)
    assert code == 1
    assert error_line(stderr) == (f"Error: database {workspace / 'storemon.duckdb'} {IN_USE}")
    assert second_seconds < 5
    assert first.returncode == 0, first_stderr
    after = state(workspace)
    assert isinstance(after.tables, dict), after.tables
    assert len(after.tables["store_uptime_report"]) == 2000
    assert len(read_report(workspace / "report.csv")) == 2000
    assert leftovers(workspace) == left_before


READER = """
import sys
import duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
connection.execute("select count(*) from store_uptime_report").fetchall()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture(params=["plan", "dbt"])
def build_path(request, workspace) -> str:
    """How the export under test builds: replaying the plan that the workspace's export recorded
    (it checks the database on the plan's own DuckDB instance), or running dbt (the first export
    of this shape, with a cache folder of its own)."""
    if request.param == "dbt":
        request.getfixturevalue("plan_cache")
    return request.param


@pytest.mark.usefixtures("build_path")
def test_export_refuses_while_a_reader_holds_the_database(workspace, big_data):
    before = state(workspace)
    db = workspace / "storemon.duckdb"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "ready"
        code, _, stderr = run_export("--data", str(big_data), cwd=workspace)
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    assert code == 1
    assert error_line(stderr) == f"Error: database {db} {IN_USE}"
    assert state(workspace) == before


@pytest.mark.usefixtures("build_path")
def test_export_leaves_a_file_that_is_not_a_database_alone(tmp_path, big_data):
    """Refused before anything is built."""
    db = tmp_path / "storemon.duckdb"
    db.write_text("my notes\n")
    code, _, stderr = run_export("--data", str(big_data), "--db", str(db), cwd=tmp_path)
    assert code == 1
    assert error_line(stderr) == (
        f'Error: cannot open database {db}: IO Error: The file "{db}" exists, but it is not'
        " a valid DuckDB database file!"
    )
    assert db.read_text() == "my notes\n"
    assert not (tmp_path / "report.csv").exists()
    assert leftovers(tmp_path) == []


# --- a full disk --------------------------------------------------------------------------------


def file_size_limit(limit: int):
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


def run_with_file_size_limit(directory: Path, limit: int, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [storemon_executable(), "export", *args],
        cwd=directory,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=file_size_limit(limit),
    )
    return done.returncode, done.stderr


def test_disk_full_while_building_the_database(workspace, big_data):
    # 1.5 MB: dbt's manifest and parse state (under 1 MB) fit; the new database (about
    # 3 MB) does not. dbt.log is emptied first so that its appends fit too.
    before = state(workspace)
    left_before = leftovers(workspace)
    (workspace / "storemon.dbt" / "logs" / "dbt.log").write_bytes(b"")
    code, stderr = run_with_file_size_limit(
        workspace, 1_500_000, "--data", str(big_data), "--as-of", KILL_AS_OF
    )
    assert code == 1
    line = error_line(stderr)
    assert "File too large" in line and "building.duckdb" in line
    assert state(workspace) == before
    assert leftovers(workspace) == left_before


@dataclass
class FullDisk:
    code: int
    stderr: str
    before: State
    after: State
    leftovers_before: list[str]
    leftovers_after: list[str]


@pytest.fixture(scope="module")
def disk_full_everywhere(workspace, big_data) -> FullDisk:
    """No file can grow past 4 KB: dbt's own log and parse state cannot be written either."""
    before, left_before = state(workspace), leftovers(workspace)
    code, stderr = run_with_file_size_limit(
        workspace, 4096, "--data", str(big_data), "--as-of", KILL_AS_OF
    )
    return FullDisk(code, stderr, before, state(workspace), left_before, leftovers(workspace))


def test_disk_full_everywhere_keeps_the_previous_report(disk_full_everywhere):
    assert disk_full_everywhere.code == 1
    assert disk_full_everywhere.after == disk_full_everywhere.before
    assert disk_full_everywhere.leftovers_after == disk_full_everywhere.leftovers_before


def test_disk_full_everywhere_is_one_clear_line(disk_full_everywhere):
    line = error_line(disk_full_everywhere.stderr)
    assert "storemon" in line or ".duckdb" in line or "dbt" in line, line


# --- in-process failures on a small dataset -----------------------------------------------------

AS_OF = "2024-01-10T12:00:00Z"
POLLS = [
    ("s", "active", "2024-01-10 00:00:00 UTC"),
    ("s", "sleeping", "2024-01-10 01:00:00 UTC"),  # rejected: unknown status
]
HOURS = [("s", 2, "08:00", "09:00"), ("s", 9, "08:00", "09:00")]  # rejected: day not in 0-6
ZONES = [("s", "UTC")]


def invoke(*args: str):
    return CliRunner().invoke(
        cli, ["export", *args], prog_name="storemon", env={"STOREMON_DB": None}
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """storemon.duckdb (with two rejected rows) and report.csv from a first successful run."""
    directory = tmp_path_factory.mktemp("small").resolve()
    data = write_inputs(directory / "data", POLLS, HOURS, ZONES)
    result = invoke(*small_args(directory, data))
    assert result.exit_code == 0, result.output
    assert len(state(directory).tables["rejected_rows"]) == 2
    return directory


def small_args(directory: Path, data: Path, out: Path | None = None, as_of: str = AS_OF):
    return ("--data", str(data), "--as-of", as_of, "--db", str(directory / "storemon.duckdb"),
            "--out", str(out or directory / "report.csv"))  # fmt: skip


def other_data(directory: Path) -> Path:
    """Inputs that would give another report and other rejected rows."""
    return write_inputs(
        directory / "other",
        [("s", "inactive", "2024-01-10 00:00:00 UTC"), ("t", "active", "never")],
        [("s", 2, "08:00", "10:00")],
        [("s", "Mars/Olympus")],
    )


@pytest.mark.parametrize("failure", ["bad --as-of", "missing column"])
def test_failed_run_leaves_report_and_both_tables_as_they_were(small, failure):
    before = state(small)
    data = other_data(small)
    as_of = AS_OF
    if failure == "bad --as-of":
        as_of = "the day after tomorrow"
    else:
        (data / "timezones.csv").write_text("store_id,zone\ns,UTC\n")
    result = invoke(*small_args(small, data, as_of=as_of))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    line = error_line(result.stderr)
    assert ("the day after tomorrow" if failure == "bad --as-of" else "timezone_str") in line
    assert state(small) == before
    assert leftovers(small) == []


def sabotaged_project(folder: Path) -> Path:
    """A copy of the dbt project whose intersection model counts every interval twice: a bug
    that no input row can cause, and that the invariants checked on every export must catch."""
    project = project_dir()
    folder.mkdir()
    for part in ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests"):
        source = project / part
        if source.is_dir():
            shutil.copytree(source, folder / part, ignore=shutil.ignore_patterns("*.py"))
        else:
            shutil.copy(source, folder / part)
    model = folder / "models" / "intermediate" / "int_open_status_intervals.sql"
    text = model.read_text()
    assert text.rstrip().endswith("select * from final")
    model.write_text(text + "union all\nselect * from final\n")
    return folder


def test_a_broken_invariant_fails_the_export_and_writes_nothing(small, monkeypatch, tmp_path):
    before = state(small)
    sabotaged = sabotaged_project(tmp_path / "project")
    monkeypatch.setattr(project, "project_dir", lambda: sabotaged)
    result = invoke(*small_args(small, small / "data"))
    assert result.exit_code == 1
    line = error_line(result.stderr)
    assert "broke the invariant assert_uptime_plus_downtime_is_open_time" in line, line
    assert "nothing was written" in line and "bug in storemon" in line
    assert state(small) == before
    assert leftovers(small) == []


@pytest.mark.parametrize(
    "case",
    [
        "read-only directory",
        "missing directory",
        "existing directory",
    ],
)
def test_unwritable_out(small, case):
    folder = small / case.replace(" ", "-")
    out = folder / "report.csv"
    if case == "read-only directory":
        folder.mkdir()
        out.write_bytes(b"store_id\nold\n")
        folder.chmod(0o555)
        if os.access(folder, os.W_OK):
            folder.chmod(0o755)
            pytest.skip("running as root: a read-only mode does not stop writes")
    elif case == "existing directory":
        out.mkdir(parents=True)
    before = state(small)
    listing = sorted(p.name for p in small.iterdir())
    try:
        result = invoke(*small_args(small, small / "data", out=out, as_of="2024-01-10T11:00:00Z"))
    finally:
        if case == "read-only directory":
            folder.chmod(0o755)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    line = error_line(result.stderr)
    assert line.startswith(f"Error: cannot write {out}: ")
    assert state(small) == before  # the database is left as it was, too
    assert sorted(p.name for p in small.iterdir()) == listing
    assert leftovers(small) == []
    if case == "read-only directory":
        assert out.read_bytes() == b"store_id\nold\n"
        assert list(folder.iterdir()) == [out]
    elif case == "existing directory":
        assert list(out.iterdir()) == []


@dataclass
class FailedRename:
    code: int
    exception: BaseException | None
    stderr: str
    before: State
    after: State
    listing_before: list[str]
    listing_after: list[str]


@pytest.fixture(scope="module")
def csv_rename_fails(small) -> FailedRename:
    """The disk fills just as the report moves into place: os.replace(temporary, report.csv)
    fails with ENOSPC (the database has been moved into place before it). Run once for the
    tests below."""
    out = small / "report.csv"
    real_replace = os.replace

    def replace(source, destination, **kwargs):
        if Path(destination) == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(source), None, str(out))
        return real_replace(source, destination, **kwargs)

    # Other inputs and a clock no other test uses: the run's tables differ from any before.
    data = other_data(small)
    before = state(small)
    listing_before = sorted(p.name for p in small.iterdir())
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(os, "replace", replace)
        result = invoke(*small_args(small, data, as_of="2024-01-10T10:30:00Z"))
    return FailedRename(
        result.exit_code, result.exception, result.stderr, before, state(small),
        listing_before, sorted(p.name for p in small.iterdir()),
    )  # fmt: skip


def test_disk_full_when_the_report_moves_into_place(csv_rename_fails):
    run = csv_rename_fails
    assert run.code == 1
    assert isinstance(run.exception, SystemExit), repr(run.exception)
    line = error_line(run.stderr)
    assert line.startswith("Error: cannot write ") and "No space left on device" in line
    assert run.after.report == run.before.report
    assert run.listing_after == run.listing_before  # no temporary CSV left


def test_disk_full_when_the_report_moves_into_place_keeps_the_old_database(csv_rename_fails):
    assert csv_rename_fails.after.tables == csv_rename_fails.before.tables
