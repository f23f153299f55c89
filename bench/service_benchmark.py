"""Benchmark `storemon serve`: ingestion rates, upload time and report time at Loop scale.

    python bench/service_benchmark.py [--workdir DIR] [--runs 3] [--weeks 8] [--stores 14092]
                                      [--check]

Starts a real server (the installed `storemon serve`) on a free port of 127.0.0.1 and, from
this process, measures the service's figures, each printed beside its target:
  - single `POST /poll` with 16 concurrent clients (polls/s);
  - `POST /polls` with batches of 10,000, as JSON and as CSV bodies (polls/s);
  - `POST /upload` of the Loop-scale polls file (`storemon generate --stores 14092 --days 8`);
  - `trigger_report` -> Complete with one week stored (warm worker; median of --runs), beside
    a cold `storemon export` of the same files;
  - with --weeks weeks of Loop-scale polls stored: the first report of the new home (dbt
    records the report's plan), the first report after a restart of the server, and the warm
    report (median of --runs);
  - `GET /status` of every store (median and 95th percentile of 200 requests) with one week
    and with --weeks weeks stored: it answers from the live status's last evaluation, so it
    should not grow with the history.
  - the server's peak memory (VmHWM) for the largest request the default limits allow: a
    JSON batch, a CSV body and a Parquet upload of --memory-rows polls (default: the default
    --max-rows), each on a fresh server.
  - the alert delay (docs/alerts.md): with --stores stores known, from the answer to a poll
    that opens an incident to its webhook at a receiver on 127.0.0.1, for one store (median
    of --runs) and for the whole fleet at once (`--only alerts` runs just these).
`--check` exits 1 when a target is missed. Every request goes to 127.0.0.1; each loop is
bounded in count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from loopback import free_port

STOREMON = str(Path(sys.executable).with_name("storemon"))


# The row limit a server has by default (`storemon serve --max-rows`).
DEFAULT_MAX_ROWS = 1_000_000
# The memory a server may reach for one request within the default limits (docs/service.md,
# Limits): the peak resident size of the whole process.
MEMORY_BUDGET_MB = 1024
# Raised for the Loop-scale figures: a week of Loop-scale polls is 2.7 million rows.
LARGE = ("--max-upload-mb", "4096", "--max-rows", "10000000")


class Server:
    def __init__(self, home: Path, *options: str, limits: tuple[str, ...] = LARGE) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
        self.process = subprocess.Popen(
            [STOREMON, "serve", "--home", str(home), "--port", str(self.port),
             *limits, *options],
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

    def peak_mb(self) -> float:
        """The server process's peak resident memory so far (Linux: VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc: Linux only")


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


def batch_polls_csv(url: str, batches: int = 10, size: int = 10_000) -> float:
    with httpx.Client(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        for batch in range(batches):
            body = "store_id,status,timestamp_utc\n" + "".join(
                f"csv-{n % 997},active,2024-04-{1 + batch:02} 00:00:00.{n:06d}\n"
                for n in range(size)
            )
            answer = client.post("/polls", content=body, headers={"content-type": "text/csv"})
            assert answer.status_code == 200, answer.text
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


def largest_requests(rows: int, workdir: Path) -> list[tuple[str, float, float, float]]:
    """Per kind of request (a JSON batch, a CSV body, a Parquet upload) of `rows` polls, on a
    fresh server with the default limits: (kind, body MB, peak MB before, peak MB after)."""
    import duckdb

    def poll(n: int) -> tuple[str, str]:
        return f"store-{n % 14092}", f"2024-11-0{1 + n % 7} {n % 24:02}:00:00.{n:07d}"

    def as_json(n: int) -> str:
        store, at = poll(n)
        return f'{{"store_id":"{store}","status":"active","timestamp_utc":"{at}"}}'

    def as_csv(n: int) -> str:
        store, at = poll(n)
        return f"{store},active,{at}\n"

    parquet = workdir / "memory.parquet"
    duckdb.sql(
        "copy (select 'store-' || (range % 14092) as store_id, 'active' as status,"
        " '2024-11-0' || (1 + range % 7) || ' ' || lpad((range % 24)::varchar, 2, '0')"
        " || ':00:00.' || lpad(range::varchar, 7, '0') as timestamp_utc"
        f" from range({rows})) to '{parquet}'"
    )
    bodies = {
        "POST /polls, JSON batch": (
            "[" + ",".join(as_json(n) for n in range(rows)) + "]",
            {"content-type": "application/json"},
        ),
        "POST /polls, CSV body": (
            "store_id,status,timestamp_utc\n"
            + "".join(as_csv(n) for n in range(rows)),
            {"content-type": "text/csv"},
        ),
    }  # fmt: skip
    found = []
    for kind in [*bodies, "POST /upload, Parquet file"]:
        home = workdir / "memory-home"
        shutil.rmtree(home, ignore_errors=True)
        server = Server(home, limits=())
        try:
            with httpx.Client(base_url=server.url, timeout=1800) as client:
                warm = [
                    {"store_id": "w", "status": "active", "timestamp_utc": "2024-11-01 00:00:00"}
                ]
                assert client.post("/polls", json=warm).status_code == 200
                before = server.peak_mb()
                if kind in bodies:
                    text, headers = bodies[kind]
                    body = text.encode()
                    answer = client.post("/polls", content=body, headers=headers)
                else:
                    body = parquet.read_bytes()
                    answer = client.post("/upload", files={"store_status": ("p.parquet", body)})
                assert answer.status_code == 200, answer.text[:500]
                found.append((kind, len(body) / 2**20, before, server.peak_mb()))
        finally:
            server.stop()
    return found


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


def status_latency(url: str, requests: int = 200) -> tuple[float, float]:
    """`GET /status` of every store, answered from the live status's last evaluation: the
    median and the 95th percentile of `requests` sequential requests, in milliseconds."""
    times = []
    with httpx.Client(base_url=url, timeout=60) as client:
        client.get("/status").raise_for_status()  # the connection, warm
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get("/status")
            times.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000


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


def alert_delays(stores: int, runs: int, workdir: Path) -> tuple[float, float]:
    """Seconds from a poll's 200 to its incident's webhook at a receiver on 127.0.0.1, with
    `stores` stores (no hours: open 24/7) known to a real `storemon serve`: one store's second
    inactive poll (median of `runs` stores), and every other store's in one CSV batch (a
    fleet-wide outage) until the last webhook."""
    import base64
    import json
    import threading
    from datetime import UTC, datetime, timedelta
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[float, int]] = []
    arrived = threading.Condition()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with arrived:
                received.append((time.perf_counter(), len(json.loads(body))))
                arrived.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    def changes() -> int:
        return sum(n for _, n in received)

    def wait_for(count: int) -> float:
        with arrived:
            if not arrived.wait_for(lambda: changes() >= count, timeout=600):
                sys.exit(f"{changes()} of {count} incident changes arrived")
            return received[-1][0]

    receiver = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    home = workdir / "alerts-home"
    shutil.rmtree(home, ignore_errors=True)
    secret = "whsec_" + base64.b64encode(b"benchmark").decode()
    server = Server(home, "--webhook-url", f"http://127.0.0.1:{receiver.server_port}/",
                    "--webhook-secret", secret)  # fmt: skip
    now = datetime.now(UTC).replace(tzinfo=None)
    ids = [f"bench-{n:05}" for n in range(stores)]

    def csv(store_ids: list[str], status: str, minutes_ago: int) -> str:
        at = now - timedelta(minutes=minutes_ago)
        return "store_id,status,timestamp_utc\n" + "".join(
            f"{s},{status},{at} UTC\n" for s in store_ids
        )

    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:

            def post(body: str) -> float:
                answer = client.post("/polls", content=body, headers={"content-type": "text/csv"})
                assert answer.status_code == 200, answer.text
                return time.perf_counter()

            post(csv(ids, "active", 40))
            post(csv(ids, "inactive", 30))  # every store down: one inactive poll counted
            deadline = time.monotonic() + 600
            while client.get("/status", params={"state": "up"}).json()["counts"]["down"] < stores:
                assert time.monotonic() < deadline, "the live status did not catch up"
                time.sleep(0.2)
            singles = []
            for store in ids[:runs]:
                expected = changes() + 1
                answered = post(csv([store], "inactive", 20))
                singles.append(wait_for(expected) - answered)
            expected = changes() + len(ids) - runs
            answered = post(csv(ids[runs:], "inactive", 20))
            fleet = wait_for(expected) - answered
    finally:
        server.stop()
        receiver.shutdown()
    return statistics.median(singles), fleet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "svc-bench")
    parser.add_argument("--stores", type=int, default=14092)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=8, help="0 skips the many-weeks figures")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--memory-rows", type=int, default=DEFAULT_MAX_ROWS,
                        help="rows of the largest requests measured; 0 skips them")  # fmt: skip
    parser.add_argument("--only", choices=["alerts"], help="run only these figures")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.only == "alerts":
        return report_table(args, alert_rows(args))
    week = generate(args.workdir / "week", args.stores, 8)
    as_of = last_poll(week)
    rows = []  # (figure, measured, target, met or None for a reference figure)

    def rate(figure: str, value: float, target: float) -> None:
        rows.append((figure, f"{value:,.0f} polls/s", f">= {target:,}", value >= target))

    def seconds(figure: str, value: float, target: float | None) -> None:
        met = None if target is None else value <= target
        rows.append((figure, f"{value:.2f} s", "-" if target is None else f"<= {target:g} s", met))

    def status(stored: str, url: str) -> None:
        median, p95 = status_latency(url)
        rows.append((f"GET /status, every store, {stored} stored: median", f"{median:.1f} ms",
                     "<= 50 ms", median <= 50))  # fmt: skip
        rows.append((f"GET /status, every store, {stored} stored: p95", f"{p95:.1f} ms", "-",
                     None))  # fmt: skip

    home = args.workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    server = Server(home)
    try:
        rate("POST /poll, 16 concurrent clients", single_polls(server.url), 500)
        rate("POST /polls, JSON batches of 10,000", batch_polls(server.url), 50_000)
        rate("POST /polls, CSV batches of 10,000", batch_polls_csv(server.url), 50_000)
        seconds("POST /upload, Loop-scale polls", upload(server.url, week), 10)
        status("1 week", server.url)
        report_seconds(server.url, as_of, 1)  # the home's first: dbt records the plan
        seconds("trigger_report -> Complete, 1 week stored, warm",
                report_seconds(server.url, as_of, args.runs), None)  # fmt: skip
    finally:
        server.stop()
    seconds("cold `storemon export` of the same files (reference)",
            cold_export(week, as_of, args.runs, args.workdir), None)  # fmt: skip

    if args.weeks:
        many = generate(args.workdir / f"weeks-{args.weeks}", args.stores, 7 * args.weeks + 1)
        shutil.rmtree(home, ignore_errors=True)
        server = Server(home)
        try:
            upload(server.url, many)
            seconds(f"first report of a new home, {args.weeks} weeks stored (dbt records the plan)",
                    report_seconds(server.url, last_poll(many), 1), None)  # fmt: skip
        finally:
            server.stop()
        server = Server(home)
        try:
            seconds(f"trigger_report -> Complete, first after start, {args.weeks} weeks stored",
                    report_seconds(server.url, last_poll(many), 1), 3)  # fmt: skip
            seconds(f"trigger_report -> Complete, warm, {args.weeks} weeks stored",
                    report_seconds(server.url, last_poll(many), args.runs), 1)  # fmt: skip
            status(f"{args.weeks} weeks", server.url)
        finally:
            server.stop()

    if args.memory_rows:
        for kind, body_mb, before, peak in largest_requests(args.memory_rows, args.workdir):
            figure = f"peak memory, {kind} of {args.memory_rows:,} polls ({body_mb:.0f} MB)"
            measured = f"{peak:,.0f} MB ({peak - before:+,.0f} MB)"
            rows.append((figure, measured, f"<= {MEMORY_BUDGET_MB:,} MB", peak <= MEMORY_BUDGET_MB))

    rows += alert_rows(args)
    return report_table(args, rows)


def alert_rows(args) -> list[tuple]:
    single, fleet = alert_delays(args.stores, args.runs, args.workdir)
    return [
        ("alert delay, one store: poll answered -> webhook received", f"{single:.3f} s",
         "<= 1 s", single <= 1),
        (f"alert delay, {args.stores - args.runs:,} stores at once: polls answered -> last"
         " webhook received", f"{fleet:.2f} s", "<= 30 s", fleet <= 30),
    ]  # fmt: skip


def report_table(args, rows: list[tuple]) -> int:
    print(f"| figure ({args.stores:,} stores, medians of {args.runs}) | measured | target | |")
    print("|---|---|---|---|")
    for figure, measured, target, met in rows:
        verdict = "" if met is None else ("met" if met else "MISSED")
        print(f"| {figure} | {measured} | {target} | {verdict} |")
    return 1 if args.check and any(met is False for *_, met in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
