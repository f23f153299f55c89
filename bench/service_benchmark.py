"""Benchmark `storemon serve`: ingestion rates, upload time and report time at Loop scale.

    python bench/service_benchmark.py [--workdir DIR] [--runs 3] [--weeks 8] [--stores 14092]
                                      [--profile loop|rich] [--check] [--only alerts|history]
                                      [--history 1,2,4,8,16] [--curve-out CSV] [--plot-out SVG]

Starts a real server (the installed `storemon serve`) on a free port of 127.0.0.1 and, from
this process, measures the service's figures, each printed beside its target:
  - single `POST /poll` with 16 concurrent clients (polls/s);
  - `POST /polls` with batches of 10,000, as JSON and as CSV bodies (polls/s);
  - `POST /upload` of the Loop-scale polls file (`storemon generate --stores 14092 --days 8`);
  - `trigger_report` -> Complete with one week stored (warm worker; median of --runs), beside
    a cold `storemon export` of the same files: of nothing new (the last report again), and
    after a poll (a stored one sent again: the report runs in full);
  - with --weeks weeks of Loop-scale polls stored: the first report of the new home (dbt
    records the report's plan), the first report after a restart of the server, and the warm
    report, of nothing new and after a poll (median of --runs);
  - `GET /status` of every store (median and 95th percentile of 200 requests) with one week
    and with --weeks weeks stored: it answers from the live status's last evaluation, so it
    should not grow with the history.
  - the server's peak memory (VmHWM) for the largest request the default limits allow: a
    JSON batch, a CSV body and a Parquet upload of --memory-rows polls (default: the default
    --max-rows), each on a fresh server.
  - the alert delay (docs/alerts.md): with --stores stores known, from the answer to a poll
    that opens an incident to its webhook at a receiver on 127.0.0.1, for one store (median
    of --runs) and for the whole fleet at once (`--only alerts` runs just these).
  - with --history 1,2,4,8,16, the history curve (`--only history` runs just it): one home
    receives Loop-scale weeks of polls in time order (one generated dataset cut into weeks,
    uploaded in parts of at most UPLOAD_ROWS polls), and at each point it measures, on a
    restarted server, the first report after the start, the warm report of nothing new and the
    report after a poll (median of --runs of each: trigger_report -> Complete as the client
    sees it, and the server's own `seconds`), at the last point the report after a round of
    new polls (every store polled an hour after the last poll, before each trigger), the
    inbox's size, the server's peak memory while receiving and while reporting, and beside
    them a cold bench/direct_sql.py export of the same week (its report must equal the
    service's). The curve goes to --curve-out (CSV) and --plot-out (SVG or PNG).
`--profile rich` generates every dataset with `storemon generate --profile rich`.
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from loopback import free_port

STOREMON = str(Path(sys.executable).with_name("storemon"))
DIRECT_SQL = Path(__file__).resolve().with_name("direct_sql.py")
INPUTS = ("store_status", "menu_hours", "timezones")


# The row limit a server has by default (`storemon serve --max-rows`).
DEFAULT_MAX_ROWS = 1_000_000
# The memory a server may reach for one request within the default limits (docs/service.md,
# Limits): the peak resident size of the whole process.
MEMORY_BUDGET_MB = 1024
# Raised for the Loop-scale figures: a week of Loop-scale polls is 2.7 million rows.
LARGE = ("--max-upload-mb", "4096", "--max-rows", "10000000")

# The history curve's targets. The warm report reads one week however many are stored: with 16
# weeks it may take at most 15 % longer than with one, and with 8 or 16 weeks at most half a
# cold hand-written one-week export (bench/direct_sql.py) of the same week, which has to read
# and parse the week's files where the service has the rows stored already.
HISTORY_GROWTH = 1.15
WARM_OVER_DIRECT = 0.5
# Budgets at the curve's last point. The inbox: at most the polls' own size as the generated
# CSV (about 58 bytes a poll; 26.6 M polls, about 1.5 GB, at 16 Loop-scale weeks): a store
# that takes more room than the text it was sent is wasting it. The server's peak memory: the
# service's budget for one request (MEMORY_BUDGET_MB), which a report over any history must
# keep to as well.
INBOX_OVER_CSV = 1.0
# The curve's uploads: at most this many polls per request, the default --max-rows, so the
# uploads would pass a server with the default limits and no request dwarfs the reports' memory.
UPLOAD_ROWS = DEFAULT_MAX_ROWS


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

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user + system, Linux)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self, quiet: float = 1.0, limit: float = 300) -> None:
        """Wait until the server has spent no CPU for `quiet` seconds (the live status's
        evaluation after a start or an upload runs in the background), at most `limit`."""
        deadline = time.monotonic() + limit
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.cpu_seconds()
            if now - before < 0.02 * quiet:
                return
            before = now

    def peak_mb(self) -> float:
        """The server process's peak resident memory so far (Linux: VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc: Linux only")


def generate(folder: Path, stores: int, days: int, profile: str = "loop") -> Path:
    if not (folder / "store_status.csv").exists():
        subprocess.run(
            [STOREMON, "generate", "--out", str(folder), "--stores", str(stores), "--days",
             str(days), "--seed", "42", "--profile", profile],
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


def upload(url: str, data: Path, names: tuple[str, ...] = INPUTS) -> float:
    files = {name: (f"{name}.csv", (data / f"{name}.csv").open("rb")) for name in names}
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


def reports(
    url: str,
    as_of: str | None,
    runs: int,
    resend: dict | None = None,
    rounds: tuple[list[str], datetime] | None = None,
) -> list[tuple[float, float, str]]:
    """`runs` reports one after the other (as of the latest poll when `as_of` is None): for
    each, the seconds from trigger_report to Complete as the client sees them, the server's
    own `seconds`, and its CSV's URL. Without `resend` every report after the first is of
    nothing new, which the server answers with the last report's files; `resend`, a poll
    already stored, is sent again before each trigger: nothing changes, but something was
    received, so the report is not the last one again. `rounds` (store ids, the latest stored
    poll): before each trigger, a poll of every store an hour after the last round, as an
    hourly poller sends them."""
    found = []
    body = {} if as_of is None else {"as_of": as_of}
    with httpx.Client(base_url=url, timeout=600) as client:
        for run in range(runs):
            if resend is not None:
                client.post("/poll", json=resend).raise_for_status()
            if rounds is not None:
                stores, latest = rounds
                at = f"{latest + timedelta(hours=run + 1):%Y-%m-%d %H:%M:%S}"
                polls = "".join(f"{store},active,{at}\n" for store in stores)
                client.post(
                    "/polls", content="store_id,status,timestamp_utc\n" + polls,
                    headers={"content-type": "text/csv"},
                ).raise_for_status()  # fmt: skip
            started = time.perf_counter()
            report_id = client.post("/trigger_report", json=body).json()["report_id"]
            while (report := client.get(f"/get_report/{report_id}").json())["status"] == "Running":
                time.sleep(0.05)
            assert report["status"] == "Complete", report
            found.append((time.perf_counter() - started, report["seconds"], report["url"]))
    return found


def report_seconds(url: str, as_of: str | None, runs: int, resend: dict | None = None) -> float:
    return statistics.median(seconds for seconds, _, _ in reports(url, as_of, runs, resend))


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


def stored_poll(data: Path) -> dict:
    """The first poll of a generated store_status.csv, as a POST /poll body."""
    import csv

    with (data / "store_status.csv").open(newline="") as f:
        return next(csv.DictReader(f))


def last_poll(data: Path) -> str:
    import duckdb

    found = duckdb.sql(
        f"select max(timestamp_utc) from read_csv('{data / 'store_status.csv'}', all_varchar=true)"
    ).fetchall()[0][0]
    return found.replace(" UTC", "Z").replace(" ", "T")


def store_ids(data: Path) -> list[str]:
    import duckdb

    path = str(data / "store_status.csv").replace("'", "''")
    return [row[0] for row in duckdb.sql(
        f"select distinct store_id from read_csv('{path}', all_varchar=true) order by 1"
    ).fetchall()]  # fmt: skip


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


# ------------------------------------------------------------------------ the history curve


@dataclass
class Point:
    """One point of the history curve: `weeks` weeks of polls stored."""

    weeks: int
    polls: int = 0  # stored so far
    polls_csv_mb: float = 0.0  # their size as the generated CSV
    inbox_mb: float = 0.0
    first_s: float = 0.0  # the first report after a restart
    warm_s: list[float] = field(default_factory=list)  # trigger_report -> Complete
    server_s: list[float] = field(default_factory=list)  # the server's own `seconds`
    # The same, a poll received before each trigger (reports(resend=...)): the plan runs.
    recomputed_s: list[float] = field(default_factory=list)
    recomputed_server_s: list[float] = field(default_factory=list)
    # At the last point only, a round of new polls (every store, an hour on) before each
    # trigger (reports(rounds=...)): the report is made from the last one.
    round_s: list[float] = field(default_factory=list)
    round_server_s: list[float] = field(default_factory=list)
    direct_s: list[float] = field(default_factory=list)  # cold direct SQL, the same week
    peak_upload_mb: float = 0.0  # the server that received the weeks so far
    peak_report_mb: float = 0.0  # a restarted server, after its reports
    same_report: bool = False  # the service's report is the direct SQL's


def split_weeks(data: Path, weeks: int, out: Path) -> tuple[list[list[Path]], list[Path]]:
    """The polls of `data` (7 * weeks + 1 days) cut into weeks in time order, each week into
    CSV parts of at most UPLOAD_ROWS polls: the first week is its first 8 days (a day of
    polls before the week, as a week's own files have), each later one the next 7 days. And
    for each week a folder with its polls and the day before them, and every store's hours and
    zone: what the direct SQL reads to write the report as of the week's last poll."""
    import duckdb

    status = str(data / "store_status.csv").replace("'", "''")
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    con.execute(
        "create table polls as select *, strptime(timestamp_utc, "
        "['%Y-%m-%d %H:%M:%S.%f UTC', '%Y-%m-%d %H:%M:%S UTC']) as polled_at"
        f" from read_csv('{status}', all_varchar = true, header = true)"
    )
    (start,) = con.execute("select min(polled_at)::date from polls").fetchone()
    parts, folders = [], []
    for week in range(weeks):
        folder = out / f"week-{week + 1:02}-direct"
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(
            "copy (select store_id, status, timestamp_utc from polls where polled_at >= "
            f"date '{start}' + interval {7 * week} day and polled_at < date '{start}' + interval"
            f" {7 * week + 8} day) to '{folder / 'store_status.csv'}' (header, delimiter ',')"
        )
        for name in INPUTS[1:]:
            shutil.copyfile(data / f"{name}.csv", folder / f"{name}.csv")
        folders.append(folder)
        since = 0 if week == 0 else 7 * week + 1  # days after the first
        con.execute(
            "create or replace temp table week as select store_id, status, timestamp_utc,"
            " row_number() over (order by polled_at, store_id) as n from polls"
            f" where polled_at >= date '{start}' + interval {since} day"
            f" and polled_at < date '{start}' + interval {7 * week + 8} day"
        )
        (count,) = con.execute("select count(*) from week").fetchone()
        files = []
        for part in range(max(1, -(-count // UPLOAD_ROWS))):
            target = out / f"week-{week + 1:02}-part-{part + 1}" / "store_status.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            low, high = part * UPLOAD_ROWS, (part + 1) * UPLOAD_ROWS
            con.execute(
                f"copy (select store_id, status, timestamp_utc from week where n > {low}"
                f" and n <= {high} order by n) to '{target}' (header, delimiter ',')"
            )
            files.append(target)
        parts.append(files)
    return parts, folders


def direct_export(data: Path, as_of: str, out: Path) -> float:
    """A cold bench/direct_sql.py process over `data`; its wall seconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(DIRECT_SQL), "--data", str(data), "--as-of", as_of, "--out",
         str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def inbox_mb(home: Path) -> float:
    """The inbox's size on disk: the database file and its write-ahead log."""
    files = [home / "inbox.duckdb", home / "inbox.duckdb.wal"]
    return sum(path.stat().st_size for path in files if path.exists()) / 2**20


def history_curve(args, workdir: Path) -> list[Point]:
    """The history curve (see the top): one home, weeks added in time order."""
    points = [Point(weeks) for weeks in args.history]
    most = points[-1].weeks
    data = generate(workdir / f"history-{most}w-{args.profile}", args.stores, 7 * most + 1,
                    args.profile)  # fmt: skip
    parts, week_dirs = split_weeks(data, most, workdir / f"history-{most}w-{args.profile}-weeks")
    home = workdir / "history-home"
    shutil.rmtree(home, ignore_errors=True)
    stored = 0  # weeks uploaded
    polls = 0
    csv_bytes = 0
    for point in points:
        server = Server(home)
        try:
            # The static files first, then each new week's parts, oldest first.
            if stored == 0:
                upload(server.url, data, INPUTS[1:])
            for week in range(stored, point.weeks):
                for part in parts[week]:
                    upload(server.url, part.parent, INPUTS[:1])
                    with part.open() as lines:
                        polls += sum(1 for _ in lines) - 1  # less the header
                    csv_bytes += part.stat().st_size
            stored = point.weeks
            point.polls, point.polls_csv_mb = polls, csv_bytes / 2**20
            point.peak_upload_mb = server.peak_mb()
        finally:
            server.stop()
        point.inbox_mb = inbox_mb(home)
        week_dir = week_dirs[point.weeks - 1]
        as_of = last_poll(week_dir)
        server = Server(home)
        try:
            server.settle()
            point.first_s = reports(server.url, as_of, 1)[0][0]
            server.settle()
            found = reports(server.url, as_of, args.runs)
            point.warm_s = [seconds for seconds, _, _ in found]
            point.server_s = [seconds for _, seconds, _ in found]
            recomputed = reports(server.url, as_of, args.runs, resend=stored_poll(week_dir))
            point.recomputed_s = [seconds for seconds, _, _ in recomputed]
            point.recomputed_server_s = [seconds for _, seconds, _ in recomputed]
            service_csvs = {
                httpx.get(server.url + runs[-1][2], timeout=60).content
                for runs in (found, recomputed)
            }
            if point is points[-1]:  # new polls: no later point may see them
                latest = datetime.fromisoformat(as_of.removesuffix("Z"))
                found = reports(server.url, None, args.runs, rounds=(store_ids(week_dir), latest))
                point.round_s = [seconds for seconds, _, _ in found]
                point.round_server_s = [seconds for _, seconds, _ in found]
            point.peak_report_mb = server.peak_mb()
        finally:
            server.stop()
        direct_csv = workdir / "history-direct.csv"
        point.direct_s = [direct_export(week_dir, as_of, direct_csv) for _ in range(args.runs)]
        point.same_report = service_csvs == {direct_csv.read_bytes()}
        print(f"history: {point.weeks} weeks stored, {point.polls:,} polls, warm report "
              f"{statistics.median(point.warm_s):.2f} s", file=sys.stderr)  # fmt: skip
    return points


CURVE_COLUMNS = (
    "weeks", "polls", "polls_csv_mb", "inbox_mb", "first_report_s", "warm_report_s",
    "warm_report_min_s", "warm_report_max_s", "server_seconds", "recomputed_report_s",
    "recomputed_report_min_s", "recomputed_report_max_s", "recomputed_server_seconds",
    "direct_sql_s", "warm_over_direct", "recomputed_over_direct", "peak_upload_mb",
    "peak_report_mb", "same_report",
)  # fmt: skip


def curve_rows(points: list[Point]) -> list[dict]:
    rows = []
    for p in points:
        warm, direct = statistics.median(p.warm_s), statistics.median(p.direct_s)
        recomputed = statistics.median(p.recomputed_s)
        rows.append(dict(zip(CURVE_COLUMNS, [
            p.weeks, p.polls, round(p.polls_csv_mb, 1), round(p.inbox_mb, 1), round(p.first_s, 3),
            round(warm, 3), round(min(p.warm_s), 3), round(max(p.warm_s), 3),
            round(statistics.median(p.server_s), 3), round(recomputed, 3),
            round(min(p.recomputed_s), 3), round(max(p.recomputed_s), 3),
            round(statistics.median(p.recomputed_server_s), 3), round(direct, 3),
            round(warm / direct, 3) if p.same_report else "",
            round(recomputed / direct, 3) if p.same_report else "", round(p.peak_upload_mb),
            round(p.peak_report_mb), p.same_report,
        ], strict=True)))  # fmt: skip
    return rows


def write_curve(points: list[Point], out: Path) -> None:
    import csv

    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, CURVE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(curve_rows(points))


def curve_spec(points: list[Point], title: str) -> dict:
    """A Vega-Lite line chart: report seconds against weeks stored, the warm report (the last
    one again) and the report after a poll (the plan runs) as the client sees them, the latter's
    server's own time, and the cold direct-SQL export of the same week."""
    values = [
        {"weeks": row["weeks"], "seconds": row[column], "series": name}
        for row in curve_rows(points)
        for column, name in [
            ("warm_report_s", "warm report, nothing new: trigger_report -> Complete"),
            ("recomputed_report_s", "report after a poll: trigger_report -> Complete"),
            ("recomputed_server_seconds", "report after a poll: the server's own seconds"),
            ("direct_sql_s", "cold direct-SQL export of the week (bench/direct_sql.py)"),
        ]
    ]
    weeks = [p.weeks for p in points]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": 520,
        "height": 260,
        "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "weeks", "type": "quantitative", "title": "weeks of polls stored",
                  "scale": {"type": "log", "base": 2, "domain": [min(weeks), max(weeks)]},
                  "axis": {"values": weeks, "format": "d"}},
            "y": {"field": "seconds", "type": "quantitative", "title": "seconds (median)",
                  "scale": {"zero": True}},
            "color": {"field": "series", "type": "nominal", "title": None,
                      "legend": {"orient": "bottom", "direction": "vertical", "labelLimit": 0}},
        },
    }  # fmt: skip


def write_plot(points: list[Point], out: Path, title: str) -> None:
    import vl_convert

    spec = curve_spec(points, title)
    if out.suffix.lower() == ".png":
        out.write_bytes(vl_convert.vegalite_to_png(spec, scale=2))
    else:
        out.write_text(vl_convert.vegalite_to_svg(spec))


def history_rows(points: list[Point]) -> list[tuple]:
    """The curve as figures, and its targets (see HISTORY_GROWTH and the budgets)."""
    rows = []
    for p in points:
        warm, recomputed = statistics.median(p.warm_s), statistics.median(p.recomputed_s)
        rows.append((f"history, {p.weeks} weeks stored ({p.polls:,} polls): warm report, "
                     f"nothing new (server's own {statistics.median(p.server_s):.2f} s; first "
                     f"after start {p.first_s:.2f} s)", f"{warm:.2f} s", "-", None))  # fmt: skip
        rows.append((f"history, {p.weeks} weeks stored: report after a poll (server's own "
                     f"{statistics.median(p.recomputed_server_s):.2f} s)", f"{recomputed:.2f} s",
                     "-", None))  # fmt: skip
        if not p.same_report:
            rows.append((f"history, {p.weeks} weeks: the direct SQL writes the service's report",
                         "DIFFERENT: no ratio", "same bytes", False))  # fmt: skip
            continue
        direct = statistics.median(p.direct_s)
        held = p.weeks >= 8 or (p is points[-1] and points[-1].weeks < 8)
        compared = [("warm report", warm), ("report after a poll", recomputed)]
        if p.round_s:
            rounds = statistics.median(p.round_s)
            rows.append((f"history, {p.weeks} weeks stored: report after a round of new polls "
                         f"(server's own {statistics.median(p.round_server_s):.2f} s)",
                         f"{rounds:.2f} s", "-", None))  # fmt: skip
            compared.append(("report after a round of new polls", rounds))
        for name, seconds in compared:
            rows.append((f"history, {p.weeks} weeks: {name} / cold direct-SQL one-week export"
                         f" ({direct:.2f} s)", f"{seconds / direct:.2f}x",
                         f"<= {WARM_OVER_DIRECT:g}x" if held else "-",
                         seconds / direct <= WARM_OVER_DIRECT if held else None))  # fmt: skip
    first, last = points[0], points[-1]
    if len(points) > 1:
        # Of the report that runs: the last one again costs milliseconds at any history.
        growth = statistics.median(last.recomputed_s) / statistics.median(first.recomputed_s)
        rows.append((f"history: report after a poll, {last.weeks} weeks / {first.weeks} stored",
                     f"{growth:.2f}x", f"<= {HISTORY_GROWTH:g}x",
                     growth <= HISTORY_GROWTH))  # fmt: skip
    budget = INBOX_OVER_CSV * last.polls_csv_mb
    rows.append((f"history, {last.weeks} weeks: inbox size (the polls as CSV: "
                 f"{last.polls_csv_mb:,.0f} MB)", f"{last.inbox_mb:,.0f} MB",
                 f"<= {budget:,.0f} MB", last.inbox_mb <= budget))  # fmt: skip
    peak = max(last.peak_upload_mb, last.peak_report_mb)
    rows.append((f"history, {last.weeks} weeks: server's peak memory (receiving "
                 f"{last.peak_upload_mb:,.0f} MB, reporting {last.peak_report_mb:,.0f} MB)",
                 f"{peak:,.0f} MB", f"<= {MEMORY_BUDGET_MB:,} MB",
                 peak <= MEMORY_BUDGET_MB))  # fmt: skip
    return rows


def history_figures(args) -> list[tuple]:
    points = history_curve(args, args.workdir)
    if args.curve_out:
        write_curve(points, args.curve_out)
    if args.plot_out:
        title = (f"storemon serve: report time against history ({args.stores:,} stores, "
                 f"{args.profile} profile)")  # fmt: skip
        write_plot(points, args.plot_out, title)
    return history_rows(points)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "svc-bench")
    parser.add_argument("--stores", type=int, default=14092)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=8, help="0 skips the many-weeks figures")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--memory-rows", type=int, default=DEFAULT_MAX_ROWS,
                        help="rows of the largest requests measured; 0 skips them")  # fmt: skip
    parser.add_argument("--only", choices=["alerts", "history"], help="run only these figures")
    parser.add_argument(
        "--profile",
        choices=["loop", "rich"],
        default="loop",
        help="`storemon generate --profile` of every dataset (default loop)",
    )
    parser.add_argument(
        "--history",
        default="",
        help="the history curve: weeks stored at each point, e.g. 1,2,4,8,16 (default: no curve)",
    )
    parser.add_argument("--curve-out", type=Path, help="write the history curve to this CSV")
    parser.add_argument(
        "--plot-out", type=Path, help="draw the history curve into this SVG (or .png) file"
    )
    args = parser.parse_args()
    try:
        args.history = sorted({int(w) for w in args.history.split(",") if w.strip()})
    except ValueError:
        parser.error(f"--history: not a list of whole numbers: {args.history!r}")
    if any(w < 1 for w in args.history):
        parser.error("--history: weeks are 1 or more")
    if args.only == "history" and not args.history:
        parser.error("--only history needs --history, e.g. --history 1,2,4,8,16")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.only == "alerts":
        return report_table(args, alert_rows(args))
    if args.only == "history":
        return report_table(args, history_figures(args))
    named = "" if args.profile == "loop" else f"-{args.profile}"
    week = generate(args.workdir / f"week{named}", args.stores, 8, args.profile)
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
        seconds("trigger_report -> Complete, 1 week stored, warm, nothing new",
                report_seconds(server.url, as_of, args.runs), None)  # fmt: skip
        seconds("trigger_report -> Complete, 1 week stored, after a poll",
                report_seconds(server.url, as_of, args.runs, stored_poll(week)), None)  # fmt: skip
    finally:
        server.stop()
    seconds("cold `storemon export` of the same files (reference)",
            cold_export(week, as_of, args.runs, args.workdir), None)  # fmt: skip

    if args.weeks:
        many = generate(args.workdir / f"weeks-{args.weeks}{named}", args.stores,
                        7 * args.weeks + 1, args.profile)  # fmt: skip
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
            seconds(f"trigger_report -> Complete, warm, nothing new, {args.weeks} weeks stored",
                    report_seconds(server.url, last_poll(many), args.runs), 1)  # fmt: skip
            seconds(f"trigger_report -> Complete, after a poll, {args.weeks} weeks stored",
                    report_seconds(server.url, last_poll(many), args.runs, stored_poll(many)),
                    1)  # fmt: skip
            status(f"{args.weeks} weeks", server.url)
        finally:
            server.stop()

    if args.memory_rows:
        for kind, body_mb, before, peak in largest_requests(args.memory_rows, args.workdir):
            figure = f"peak memory, {kind} of {args.memory_rows:,} polls ({body_mb:.0f} MB)"
            measured = f"{peak:,.0f} MB ({peak - before:+,.0f} MB)"
            rows.append((figure, measured, f"<= {MEMORY_BUDGET_MB:,} MB", peak <= MEMORY_BUDGET_MB))

    if args.history:
        rows += history_figures(args)
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
