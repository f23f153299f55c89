"""`storemon serve` as a real process on a free port of 127.0.0.1, talked to with httpx: the
whole flow, the same report as `storemon export` byte for byte, kill -9 and restart, a second
server on the same home, what a running report sees, and a bounded load test. Every server a
test starts is stopped by it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest
from loopback import free_port
from support import generate_inputs, run_export, storemon_executable, write_inputs

# America/New_York falls back on Sun 2024-11-03 at 06:00 UTC (02:00 EDT -> 01:00 EST).
DST_AS_OF = "2024-11-03T06:30:00Z"
STORES = [f"90000000000000000{n:02}" for n in range(12)]
START = datetime(2024, 10, 25)


class Server:
    def __init__(self, home: Path, *options: str) -> None:
        self.home = home
        self.options = options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [storemon_executable(), "serve", "--home", str(self.home), "--port",
                 str(self.port), *self.options],
                stdout=log, stderr=subprocess.STDOUT, env=environment,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


@contextmanager
def serving(home: Path):
    server = Server(home).start()
    try:
        yield server
    finally:
        server.kill(signal.SIGTERM)


def wait_report(client: httpx.Client, report_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = client.get(f"/get_report/{report_id}").json()
        if report["status"] != "Running":
            return report
        time.sleep(0.2)
    raise AssertionError(f"report {report_id} still running")


def dst_dataset() -> tuple[list, list, list]:
    """Stores around New York's fall-back night: overnight and repeated-hour business hours,
    polls every 40 minutes with changing status, one store without hours (24/7)."""
    polls, hours, zones = [], [], []
    for number, store in enumerate(STORES):
        zones.append((store, ["America/New_York", "america/chicago", "Europe/London"][number % 3]))
        for step in range(9 * 36):
            moment = START + timedelta(minutes=step * 40 + number * 7)
            status = "inactive" if (step // (3 + number % 4)) % 2 else "active"
            polls.append((store, status, f"{moment:%Y-%m-%d %H:%M:%S} UTC"))
        if number % 4 == 3:
            continue  # no hours: open 24/7
        for day in range(7):
            hours.append((store, day, "22:00", "02:00") if number % 2 else
                         (store, day, "01:00:00", "23:59:59"))  # fmt: skip
        hours.append((store, 6, "00:30", "03:30"))
    return polls, hours, zones


def upload(client: httpx.Client, data: Path) -> None:
    files = {
        name: (f"{name}.csv", (data / f"{name}.csv").read_bytes())
        for name in ("store_status", "menu_hours", "timezones")
    }
    answer = client.post("/upload", files=files)
    assert answer.status_code == 200, answer.text
    assert all(f["rejected"] == 0 for f in answer.json().values()), answer.json()


@pytest.fixture(scope="module")
def dst_data(tmp_path_factory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("dst") / "data", *dst_dataset())


@pytest.fixture(scope="module")
def dst_server(tmp_path_factory, dst_data):
    """One server for the comparisons: the DST data uploaded once."""
    with serving(tmp_path_factory.mktemp("dst-home") / "home") as server:
        with server.client() as client:
            upload(client, dst_data)
        yield server


@pytest.mark.parametrize("interpolation", ["nearest", "previous"])
@pytest.mark.parametrize("as_of", [DST_AS_OF, None])
def test_service_report_equals_export_byte_for_byte(
    tmp_path, dst_data, dst_server, interpolation, as_of
):
    with dst_server.client() as client:
        body = {"interpolation": interpolation, **({"as_of": as_of} if as_of else {})}
        report = wait_report(client, client.post("/trigger_report", json=body).json()["report_id"])
        assert report["status"] == "Complete", report
        served = client.get(report["url"]).content
    args = ["--data", str(dst_data), "--interpolation", interpolation, "--out", "export.csv"]
    code, _, err = run_export(*args, *(["--as-of", as_of] if as_of else []), cwd=tmp_path)
    assert code == 0, err
    assert served == (tmp_path / "export.csv").read_bytes()
    assert served.count(b"\n") == len(STORES) + 1


def test_whole_flow_register_poll_upload_trigger_get_download(tmp_path):
    with serving(tmp_path / "home") as server, server.client() as client:
        assert client.post("/register_store", json={
            "store_id": "1", "timezone_str": "UTC",
            "business_hours": [{"day": d, "start_time_local": "00:00", "end_time_local": "12:00"}
                               for d in range(7)]}).json() == {"stored": 7}  # fmt: skip
        assert client.post("/poll", json={
            "store_id": "1", "status": "inactive", "timestamp_utc": "2024-01-08 11:00:00"
        }).json() == {"stored": 1}  # fmt: skip
        csv_body = b"store_id,status,timestamp_utc\n2,active,2024-01-08 11:30:00\n"
        upload_answer = client.post("/upload", files={"store_status": ("s.csv", csv_body)})
        assert upload_answer.json()["store_status"]["stored"] == 1
        report_id = client.post("/trigger_report").json()["report_id"]
        report = wait_report(client, report_id)
        assert report["status"] == "Complete" and report["stores"] == 2
        assert report["as_of"] == "2024-01-08T11:30:00"
        csv_text = client.get(f"/reports/{report_id}/report.csv").text
    # now = 01-08 11:30 (store 2's poll). Store 1 is open 00:00-12:00 UTC daily and inactive
    # throughout (its one poll): the last hour [10:30, 11:30) is all open, 60 min; the last
    # day: 01-07 11:30-12:00 and 01-08 00:00-11:30, 12 h; the week: 0.5 h on 01-01, 6 x 12 h,
    # 11.5 h on 01-08, 84 h. Store 2 has no hours (24/7) and is active.
    assert csv_text.splitlines()[1:] == [
        "1,0.00,0.00,0.00,60.00,12.00,84.00",
        "2,60.00,24.00,168.00,0.00,0.00,0.00",
    ]


def test_answered_rows_survive_kill_9(tmp_path):
    home = tmp_path / "home"
    server = Server(home).start()
    try:
        with server.client() as client:
            for batch in range(5):
                polls = [
                    {"store_id": f"k{n}", "status": "active",
                     "timestamp_utc": f"2024-01-0{batch + 1} {n % 24:02}:00:00"}
                    for n in range(2000)
                ]  # fmt: skip
                assert client.post("/polls", json=polls).json() == {"stored": 2000}
        server.kill(signal.SIGKILL)  # right after the last answer
    finally:
        server.kill()
    with serving(home) as again, again.client() as client:
        report_id = client.post("/trigger_report").json()["report_id"]
        assert wait_report(client, report_id)["stores"] == 2000
    with duckdb.connect(str(home / "inbox.duckdb"), read_only=True) as inbox:
        assert inbox.execute("select count(*) from polls").fetchone() == (10_000,)


@pytest.fixture(scope="module")
def big_data(tmp_path_factory) -> Path:
    """Enough stores that a report runs for a few seconds."""
    return generate_inputs(tmp_path_factory.mktemp("big") / "data", stores=3000, days=8, seed=7)


def test_report_running_during_kill_is_failed_after_restart(tmp_path, big_data):
    home = tmp_path / "home"
    server = Server(home).start()
    try:
        with server.client() as client:
            upload(client, big_data)
            report_id = client.post("/trigger_report").json()["report_id"]
            time.sleep(0.5)
            assert client.get(f"/get_report/{report_id}").json()["status"] == "Running"
        server.kill(signal.SIGKILL)
    finally:
        server.kill()
    with serving(home) as again, again.client() as client:
        report = client.get(f"/get_report/{report_id}").json()
    assert report["status"] == "Failed" and report["error"] == "interrupted"


def test_second_server_on_the_same_home_fails_clearly(tmp_path):
    with serving(tmp_path / "home"):
        done = subprocess.run(
            [storemon_executable(), "serve", "--home", str(tmp_path / "home"), "--port",
             str(free_port())],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: {(tmp_path / 'home').resolve()} is in use by another storemon serve"
    )


def test_polls_sent_while_a_report_runs_go_to_the_next_report(tmp_path, big_data):
    with serving(tmp_path / "home") as server, server.client() as client:
        upload(client, big_data)
        running = client.post("/trigger_report").json()["report_id"]
        late = {"store_id": "late-store", "status": "active", "timestamp_utc": "2020-01-01"
                " 00:00:00"}  # fmt: skip
        assert client.post("/poll", json=late).json() == {"stored": 1}
        assert client.get(f"/get_report/{running}").json()["status"] == "Running"
        following = client.post("/trigger_report").json()["report_id"]
        first, second = wait_report(client, running), wait_report(client, following)
        assert second["stores"] == first["stores"] + 1
        assert b"\nlate-store," not in client.get(first["url"]).content
        assert b"\nlate-store," in client.get(second["url"]).content


def test_load_16_clients_posting_polls_while_a_report_runs(tmp_path, big_data):
    """Bounded: 16 clients x 40 polls (each sent twice), on loopback, with a deadline."""
    with serving(tmp_path / "home") as server, server.client() as client:
        upload(client, big_data)
        report_id = client.post("/trigger_report").json()["report_id"]

        def post_polls(worker: int) -> list[int]:
            codes = []
            with server.client() as own:
                for n in range(40):
                    poll = {"store_id": f"load-{worker}", "status": "active",
                            "timestamp_utc": f"2024-02-01 00:{n:02}:00"}  # fmt: skip
                    codes += [own.post("/poll", json=poll).status_code for _ in range(2)]
            return codes

        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            codes = [code for codes in pool.map(post_polls, range(16)) for code in codes]
        assert time.monotonic() - started < 120
        assert codes == [200] * 16 * 40 * 2
        assert wait_report(client, report_id)["status"] == "Complete"
    with duckdb.connect(str(tmp_path / "home" / "inbox.duckdb"), read_only=True) as inbox:
        count = inbox.execute("select count(*) from polls where store_id like 'load-%'")
        assert count.fetchone() == (16 * 40,)


def test_chromium_opens_the_served_report_page(tmp_path, dst_server):
    """A browser asks for HTML: the served page renders without console errors."""
    from test_html import run_chromium  # skips where chromium is missing, fails in CI

    with dst_server.client() as client:
        report_id = client.post("/trigger_report").json()["report_id"]
        assert wait_report(client, report_id)["status"] == "Complete"
    url = f"{dst_server.url}/reports/{report_id}"
    run = run_chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stderr.splitlines() if "CONSOLE" in line] == []
    assert run.stdout.count("<svg") == len(STORES)
    assert f"/reports/{report_id}/stores?store_id={STORES[0]}" in run.stdout
