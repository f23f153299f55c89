"""A long export shows its progress on a terminal: each dbt model and test as it finishes, on
one status line rewritten in place, then the rows read; with stderr not a terminal (a log, a
pipe, CI) it prints what it always did, line by line."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import time

from support import run_export, storemon_executable

STATUS_LINE = "\r\033[K"


def export_on_a_terminal(folder, *args: str) -> str:
    """stderr of `storemon export` run with its stderr a pseudo-terminal."""
    parent, child = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
    process = subprocess.Popen(
        [storemon_executable(), "export", *args],
        cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child,
        env=environment,
    )  # fmt: skip
    os.close(child)
    received = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(parent)
    assert process.wait(timeout=60) == 0, received
    return received.decode().replace("\r\n", "\n")


def test_on_a_terminal_each_model_shows_as_it_finishes_then_the_rows_read(tmp_path):
    # The first export here runs dbt; the second replays the plan dbt recorded.
    for run in ("dbt", "plan"):
        shown = export_on_a_terminal(tmp_path)
        statuses = [part for part in shown.split(STATUS_LINE) if part.startswith("storemon: [")]
        names = [re.match(r"storemon: \[\d+\] \w+ (\S+)", status)[1] for status in statuses]
        assert "stg_store_status" in names and "store_uptime_report" in names, run
        # Tests too: the invariants checked on every export.
        assert "assert_uptime_plus_downtime_is_open_time" in names, run
        numbers = [int(re.match(r"storemon: \[(\d+)\]", status)[1]) for status in statuses]
        assert numbers == list(range(1, len(numbers) + 1)), run
        # The bundled sample: store_status.csv has 3199 rows (7 of them rejected in all).
        built = re.search(r"built (\d+) models and tests in [0-9.]+s; read 3,199 polls, ", shown)
        assert built and int(built[1]) == len(numbers), shown
        # The status line is cleared before the lines that stay.
        assert f"{STATUS_LINE}storemon: built" in shown
        assert shown.rstrip("\n").endswith("storemon: wrote storemon.duckdb and report.csv")
        assert "storemon: 19 stores; 7 rejected rows (see table rejected_rows)\n" in shown


def test_without_a_terminal_it_prints_only_its_lines(tmp_path):
    code, _, stderr = run_export(cwd=tmp_path)
    assert code == 0
    assert stderr == (
        "storemon: building the report from the bundled sample data\n"
        "storemon: 19 stores; 7 rejected rows (see table rejected_rows)\n"
        "storemon: wrote storemon.duckdb and report.csv\n"
    )


def test_a_failure_on_a_terminal_starts_on_a_clean_line(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "store_status.csv").write_text("store_id,status,timestamp_utc\n")
    (tmp_path / "bad" / "menu_hours.csv").write_text("nothing,here\n")
    (tmp_path / "bad" / "timezones.csv").write_text("store_id,timezone_str\n")
    parent, child = pty.openpty()
    process = subprocess.run(
        [storemon_executable(), "export", "--data", "bad"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child,
        timeout=300,
    )  # fmt: skip
    os.close(child)
    shown = b""
    os.set_blocking(parent, False)
    try:
        while chunk := os.read(parent, 65536):
            shown += chunk
    except (BlockingIOError, OSError):
        pass
    os.close(parent)
    assert process.returncode == 1
    error = shown.decode().replace("\r\n", "\n").split("Error: ")
    assert len(error) == 2 and error[0].endswith(("\n", STATUS_LINE)), shown
