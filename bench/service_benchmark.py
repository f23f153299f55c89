"""Benchmark `storemon serve`: ingestion rates, upload time and report time at Loop scale.

    python bench/service_benchmark.py [--workdir DIR] [--runs 3] [--weeks 8] [--stores 14092]

Starts a real server (the installed `storemon serve`) on a free port of 127.0.0.1 and, from
this process, measures:
  - single `POST /poll` with 16 concurrent clients (polls/s);
  - `POST /polls` with JSON batches of 10,000 (polls/s);
  - `POST /upload` of the Loop-scale polls file (`storemon generate --stores 14092 --days 8`);
  - `trigger_report` -> Complete at Loop scale (warm worker; median of --runs), beside a cold
    `storemon export` of the same files;
  - the same report time with --weeks weeks of Loop-scale polls stored, and its ratio to one.
Targets (issue 7): >= 500 polls/s, >= 50,000 polls/s, <= 10 s, <= 6 s, ratio <= 1.5.
Every request goes to 127.0.0.1; each loop is bounded in count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

STOREMON = str(Path(sys.executable).with_name("storemon"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
        self.process = subprocess.Popen(
            [STOREMON, "serve", "--home", str(home), "--port", str(self.port),
             "--max-upload-mb", "4096"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        sys.exit("the server did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)


def generate(folder: Path, stores: int, days: int) -> Path:
    if not (folder / "store_status.csv").exists():
        subprocess.run(
            [STOREMON, "generate", "--out", str(folder), "--stores", str(stores), "--days",
             str(days), "--seed", "42"],
            check=True, capture_output=True,
        )  # fmt: skip
    return folder


def single_polls(url: str, clients: int = 16, per_client: int = 250) -> float:
    def run(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for n in range(per_client):
                poll = {"store_id": f"bench-{worker}", "status": "active",
                        "timestamp_utc": f"2024-02-{1 + n // 1440:02} "
                                         f"{n // 60 % 24:02}:{n % 60:02}:00"}  # fmt: skip
                assert client.post("/poll", json=poll).status_code == 200

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return clients * per_client / (time.perf_counter() - started)


def batch_polls(url: str, batches: int = 10, size: int = 10_000) -> float:
    with httpx.Client(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        for batch in range(batches):
            polls = [{"store_id": f"batch-{n % 997}", "status": "inactive",
                      "timestamp_utc": f"2024-03-{1 + batch:02} 00:00:00.{n:06d}"}
                     for n in range(size)]  # fmt: skip
            assert client.post("/polls", json=polls).status_code == 200
        return batches * size / (time.perf_counter() - started)


def upload(url: str, data: Path) -> float:
    files = {name: (f"{name}.csv", (data / f"{name}.csv").open("rb"))
             for name in ("store_status", "menu_hours", "timezones")}  # fmt: skip
    with httpx.Client(base_url=url, timeout=1800) as client:
        started = time.perf_counter()
        answer = client.post("/upload", files=files)
        seconds = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return seconds


def report_seconds(url: str, as_of: str, runs: int) -> float:
    times = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(runs):
            started = time.perf_counter()
            report_id = client.post("/trigger_report", json={"as_of": as_of}).json()["report_id"]
            while (report := client.get(f"/get_report/{report_id}").json())["status"] == "Running":
                time.sleep(0.05)
            assert report["status"] == "Complete", report
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def cold_export(data: Path, as_of: str, runs: int, workdir: Path) -> float:
    times = []
    for run in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [STOREMON, "export", "--data", str(data), "--as-of", as_of, "--db",
             str(workdir / f"cold-{run}.duckdb"), "--out", str(workdir / "cold.csv")],
            check=True, capture_output=True,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def last_poll(data: Path) -> str:
    import duckdb

    found = duckdb.sql(
        f"select max(timestamp_utc) from read_csv('{data / 'store_status.csv'}', all_varchar=true)"
    ).fetchall()[0][0]
    return found.replace(" UTC", "Z").replace(" ", "T")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "svc-bench")
    parser.add_argument("--stores", type=int, default=14092)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=8, help="0 skips the many-weeks figure")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    week = generate(args.workdir / "week", args.stores, 8)
    as_of = last_poll(week)
    rows = []

    home = args.workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    server = Server(home)
    try:
        rows.append(
            ("POST /poll, 16 clients", f"{single_polls(server.url):,.0f} polls/s", ">= 500")
        )
        rows.append(("POST /polls, batches of 10,000", f"{batch_polls(server.url):,.0f} polls/s",
                     ">= 50,000"))  # fmt: skip
        rows.append(
            ("POST /upload, Loop-scale polls", f"{upload(server.url, week):.1f} s", "<= 10 s")
        )
        one_week = report_seconds(server.url, as_of, args.runs)
        rows.append(("trigger_report -> Complete, 1 week", f"{one_week:.1f} s", "<= 6 s"))
    finally:
        server.stop()
    cold = cold_export(week, as_of, args.runs, args.workdir)
    rows.append(("cold storemon export, same data", f"{cold:.1f} s", "(reference)"))

    if args.weeks:
        many = generate(args.workdir / f"weeks-{args.weeks}", args.stores, 7 * args.weeks + 1)
        shutil.rmtree(home, ignore_errors=True)
        server = Server(home)
        try:
            upload(server.url, many)
            seconds = report_seconds(server.url, last_poll(many), args.runs)
        finally:
            server.stop()
        rows.append((f"trigger_report -> Complete, {args.weeks} weeks stored", f"{seconds:.1f} s",
                     f"<= {1.5 * one_week:.1f} s (1.5x)"))  # fmt: skip

    print(f"| figure ({args.stores:,} stores, medians of {args.runs}) | measured | target |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
