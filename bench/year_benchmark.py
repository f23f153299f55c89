"""Store a year of Loop-scale polls in `storemon serve`, week by week, and write down what it
costs: the inbox's size, the server's memory while it ingests and reports, and report times.

    python bench/year_benchmark.py --workdir DIR [--weeks 52] [--stores 14092] [--profile rich]

Generates the polls once (`storemon generate`, kept in DIR/data), splits them into one
Parquet file per week, starts a real server on 127.0.0.1 with a fresh home, uploads the
weeks in time order (hours and zones with the first) and after each `--every` weeks prints
the inbox's size, the server's resident and peak memory and the time of a report
(trigger_report -> Complete). At the end: three reports of the latest week, and the peak;
then a restart of the server on the year's home: the time until it is idle (its start-up
checks and the live status's first evaluation), its peak memory, and three reports again. Each
of those six reports follows a poll (one already stored, sent again), so that it runs in full
rather than being the last report again.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
from service_benchmark import STOREMON, Server, report_seconds


def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident and peak resident memory (VmRSS, VmHWM) in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(float(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))


def week_files(data: Path, weeks: int) -> list[Path]:
    """The polls of store_status.parquet split by week of their timestamp (one pass, in a
    hive-partitioned folder), in time order."""
    folder = data / "weeks"
    if not folder.exists():
        polls = f"read_parquet('{data / 'store_status.parquet'}')"
        formats = "['%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%d %H:%M:%S']"
        instant = f"strptime(replace(timestamp_utc, ' UTC', ''), {formats})"
        connection = duckdb.connect()
        (start,) = connection.execute(f"select min({instant}) from {polls}").fetchone()
        connection.execute(
            f"copy (select store_id, status, timestamp_utc,"
            f" date_diff('day', $1::timestamp, {instant}) // 7 as week from {polls})"
            f" to '{folder}' (format parquet, partition_by (week))",
            [start],
        )
        connection.close()
    return [
        next((folder / f"week={week}").glob("*.parquet"))
        for week in range(weeks)
        if (folder / f"week={week}").exists()
    ]


def stored_poll(week: Path) -> dict:
    """The first poll of a week's file, as a POST /poll body."""
    row = duckdb.execute(
        "select store_id, status, timestamp_utc from read_parquet($1) limit 1", [str(week)]
    ).fetchone()
    return dict(zip(("store_id", "status", "timestamp_utc"), row, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--stores", type=int, default=14092)
    parser.add_argument("--profile", choices=["loop", "rich"], default="rich")
    parser.add_argument("--every", type=int, default=4, help="weeks between measurements")
    args = parser.parse_args()
    data = args.workdir / "data"
    if not (data / "store_status.parquet").exists():
        subprocess.run(
            [STOREMON, "generate", "--out", str(data), "--stores", str(args.stores),
             "--days", str(7 * args.weeks), "--seed", "1", "--profile", args.profile,
             "--format", "parquet"],
            check=True,
        )  # fmt: skip
    weeks = week_files(data, args.weeks)
    home = args.workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    server = Server(home, limits=("--max-upload-mb", "4096", "--max-rows", "10000000"))
    peak_ingesting = 0.0
    try:
        with httpx.Client(base_url=server.url, timeout=3600) as client:
            for week, path in enumerate(weeks, start=1):
                files = {"store_status": (path.name, path.read_bytes())}
                if week == 1:
                    for name in ("menu_hours", "timezones"):
                        files[name] = (f"{name}.parquet", (data / f"{name}.parquet").read_bytes())
                started = time.perf_counter()
                answer = client.post("/upload", files=files)
                assert answer.status_code == 200, answer.text[:500]
                uploaded = time.perf_counter() - started
                rss, peak = memory_mb(server.process.pid)
                peak_ingesting = max(peak_ingesting, peak)
                if week % args.every and week != len(weeks):
                    continue
                report = report_seconds(server.url, None, 1)
                rss_after, peak_after = memory_mb(server.process.pid)
                size = (home / "inbox.duckdb").stat().st_size / 2**30
                print(
                    f"{week:3} weeks: upload {uploaded:6.1f} s, inbox {size:6.2f} GiB,"
                    f" RSS {rss:7,.0f} MB (peak {peak:7,.0f}), report {report:6.2f} s,"
                    f" RSS after it {rss_after:7,.0f} MB (peak {peak_after:7,.0f})",
                    flush=True,
                )
            warm = report_seconds(server.url, None, 3, stored_poll(weeks[-1]))
            rss, peak = memory_mb(server.process.pid)
            print(f"warm report, {len(weeks)} weeks stored: {warm:.2f} s (median of 3);"
                  f" RSS {rss:,.0f} MB, peak {peak:,.0f} MB; peak while ingesting"
                  f" {peak_ingesting:,.0f} MB")  # fmt: skip
    finally:
        server.stop()
    started = time.perf_counter()
    server = Server(home, limits=("--max-upload-mb", "4096", "--max-rows", "10000000"))
    try:
        listening = time.perf_counter() - started
        server.settle()
        idle = time.perf_counter() - started
        _, peak_start = memory_mb(server.process.pid)
        warm = report_seconds(server.url, None, 3, stored_poll(weeks[-1]))
        _, peak = memory_mb(server.process.pid)
        print(f"restart with {len(weeks)} weeks stored: listening after {listening:.1f} s,"
              f" idle after {idle:.1f} s, peak {peak_start:,.0f} MB; reports {warm:.2f} s"
              f" (median of 3), peak {peak:,.0f} MB")  # fmt: skip
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
