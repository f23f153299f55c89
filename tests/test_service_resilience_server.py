"""`storemon serve` as a real process under stress (docs/operating.md): its home on a small
tmpfs that fills up, SIGTERM with a long queue of reports, and a damaged home at start. The
disk test needs root (to mount the tmpfs) and is skipped without it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from loopback import free_port
from support import generate_inputs, storemon_executable
from test_service_server import Server, upload, wait_report

from storemon.service.history import NOT_STARTED

DISK_MB = 48


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of DISK_MB, unmounted at the end; skipped where mounting is not allowed."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` up, then give back `leave` bytes."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    with filler.open("r+b") as handle:
        handle.truncate(max(0, filler.stat().st_size - leave))
    return filler


def polls_batch(prefix: str, count: int, day: int) -> list[dict]:
    return [
        {"store_id": f"{prefix}{n}", "status": "active",
         "timestamp_utc": f"2024-02-{day:02} {n % 24:02}:{n % 60:02}:00"}
        for n in range(count)
    ]  # fmt: skip


def test_a_full_disk_refuses_writes_with_507_says_so_and_recovers(small_disk):
    server = Server(small_disk / "home").start()
    answered = 0  # polls answered 200: every one must be in the inbox at the end
    try:
        with server.client() as client:
            assert client.post("/polls", json=polls_batch("a", 3000, 1)).json() == {"stored": 3000}
            answered += 3000
            first = wait_report(client, client.post("/trigger_report").json()["report_id"])
            assert first["status"] == "Complete"

            filler = fill(small_disk)
            refused = client.post("/polls", json=polls_batch("b", 3000, 2))
            assert refused.status_code == 507, refused.text
            assert "disk" in refused.json()["detail"]
            health = client.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert any(r.startswith("disk:") for r in health.json()["reasons"])
            assert 'storemon_degraded{kind="disk"} 1.0' in client.get("/metrics").text

            # Room for the history row but not for the report: it fails, saying why.
            filler.unlink()
            fill(small_disk, leave=64 * 1024)
            trigger = client.post("/trigger_report", json={"as_of": "2024-02-01 20:00:00"})
            if trigger.status_code == 200:
                report_id = trigger.json()["report_id"]
                deadline = time.monotonic() + 60
                # Until it failed, or its failure waits for room to be recorded.
                while client.get(f"/get_report/{report_id}").json()["status"] == "Running":
                    if any(r.startswith("reports:") for r in client.get("/health").json().get(
                            "reasons", [])):  # fmt: skip
                        break
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            else:
                assert trigger.status_code == 507, trigger.text
                report_id = None
            (small_disk / "filler").unlink()

            if report_id is not None:
                report = wait_report(client, report_id, timeout=60)
                assert report["status"] == "Failed", report
                assert report["error"].startswith("the disk of the home is full"), report
            assert client.post("/polls", json=polls_batch("c", 3000, 3)).json() == {"stored": 3000}
            answered += 3000
            assert client.get("/health").json() == {"status": "ok"}
            last = wait_report(client, client.post("/trigger_report").json()["report_id"])
            assert last["status"] == "Complete"
            assert last["stores"] == 6000
        server.kill(signal.SIGTERM)
        # uvicorn ends by raising the signal it caught again, once it has stopped cleanly.
        assert server.process.returncode in (0, -signal.SIGTERM)
    finally:
        server.kill()
    log = server.log.read_text()
    assert "Traceback" not in log, log
    with duckdb.connect(str(small_disk / "home" / "inbox.duckdb"), read_only=True) as inbox:
        assert inbox.execute("select count(*) from polls").fetchone() == (answered,)


@pytest.fixture(scope="module")
def busy_data(tmp_path_factory) -> Path:
    """Enough stores that a report takes a while."""
    return generate_inputs(tmp_path_factory.mktemp("busy") / "data", stores=1500, days=8, seed=3)


def test_sigterm_with_a_long_queue_stops_in_seconds_and_no_report_is_lost(tmp_path, busy_data):
    home = tmp_path / "home"
    server = Server(home, "--max-queued-reports", "500").start()
    try:
        with server.client() as client:
            upload(client, busy_data)
            ids = []
            for n in range(200):
                # A poll between triggers: each report of other data, none shared.
                poll = {"store_id": f"q{n}", "status": "active",
                        "timestamp_utc": "2024-01-01 00:00:00"}  # fmt: skip
                assert client.post("/poll", json=poll).status_code == 200
                ids.append(client.post("/trigger_report").json()["report_id"])
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
        assert time.monotonic() - started < 15
        assert server.process.returncode in (0, -signal.SIGTERM)
    finally:
        server.kill()
    assert "Traceback" not in server.log.read_text()
    again = Server(home).start()
    try:
        with again.client() as client:
            reports = {r["report_id"]: r for r in client.get("/reports").json()}
            assert set(ids) <= set(reports)
            statuses = [reports[report_id]["status"] for report_id in ids]
            assert "Running" not in statuses
            not_started = [r for r in reports.values() if r["error"] == NOT_STARTED]
            assert len(not_started) >= 150  # most never had their turn
            assert all(r["status"] == "Failed" for r in not_started)
            fresh = client.post("/trigger_report").json()["report_id"]
            assert wait_report(client, fresh)["status"] == "Complete"
    finally:
        again.kill(signal.SIGTERM)


def test_a_damaged_home_is_refused_at_start_in_one_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "inbox.duckdb").write_bytes(os.urandom(50_000))
    port = free_port()
    started = subprocess.run(
        [storemon_executable(), "serve", "--home", str(home), "--port", str(port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode == 1
    assert "Traceback" not in started.stderr
    assert started.stderr.strip().splitlines() == [
        f"Error: {home / 'inbox.duckdb'} is damaged (IO Error: The file"
        f' "{home / "inbox.duckdb"}" exists, but it is not a valid DuckDB database file!):'
        " restore it (and its .wal, if any) from a backup, or move it aside to start with an"
        " empty inbox (docs/operating.md, A damaged home)"
    ]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
