"""Benchmark `storemon export` at Loop scale and beyond.

    python bench/benchmark.py [--scales 1,10] [--runs 5] [--check] [--format csv,parquet]
                              [--workdir DIR] [--seed S] [--generate-only]

For each scale (1x = Loop's real size: 14,092 stores, 7.75 days, ~1.82 M polls) and format, the
script generates data with `storemon generate` (reused when already in the work folder), then
runs `storemon export` as a whole, fresh process `--runs` times and prints a Markdown table:
wall time (median, min-max), peak RSS, the slowest dbt models, and the floor - a bare DuckDB
`count(*)` over the same three files in a fresh process - with the ratio export / floor.

`--check` exits 1 when a target is missed: 1x median <= 3 s, 10x median <= 15 s,
100x peak RSS <= 8 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LOOP_STORES = 14_092
LOOP_DAYS = 7.75
GIB = 1024**3

# scale -> (what is measured, limit): the targets.
TARGETS: dict[float, tuple[str, float]] = {
    1.0: ("median_s", 3.0),
    10.0: ("median_s", 15.0),
    100.0: ("peak_rss", 8 * GIB),
}

# The floor: what reading the three files costs DuckDB alone, in a fresh process like the export.
FLOOR_SCRIPT = """
import sys, duckdb
reader = "read_csv" if sys.argv[1] == "csv" else "read_parquet"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # it would print on stdout, among the counts
counts = []
for path in sys.argv[2:]:
    lit = "'" + path.replace("'", "''") + "'"
    counts.append(con.execute(f"SELECT count(*) FROM {reader}({lit})").fetchone()[0])
print(",".join(str(c) for c in counts))
"""


@dataclass
class Measure:
    """One cold-process run: wall seconds, peak RSS in bytes, exit code, output text."""

    seconds: float
    peak_rss: int
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Scenario:
    scale: float
    fmt: str
    stores: int
    data_dir: Path
    status_rows: int = 0
    generated_s: float | None = None
    floor_s: list[float] = field(default_factory=list)
    export: list[Measure] = field(default_factory=list)
    model_times: dict[str, list[float]] = field(default_factory=dict)


def run_measured(argv: list[str], cwd: Path | None = None) -> Measure:
    """Run argv as a fresh process; wall time and the peak RSS of it and its descendants.

    os.wait4 returns this child's own rusage (its ru_maxrss already covers the descendants it
    waited for), unlike getrusage(RUSAGE_CHILDREN), which is a max over every child so far.
    """
    # Files, not pipes: nothing reads a pipe while we block in wait4, so a chatty child could
    # fill it and hang.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    # Linux reports ru_maxrss in KiB.
    return Measure(seconds, usage.ru_maxrss * 1024, proc.returncode, stdout, stderr)


def storemon_prefix() -> list[str]:
    """How to call the `storemon` CLI of this interpreter's environment."""
    beside = Path(sys.executable).with_name("storemon")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("storemon")
    if found:
        return [found]
    return [sys.executable, "-c", "from storemon.cli import cli; cli(prog_name='storemon')"]


def has_command(prefix: list[str], name: str) -> bool:
    """True when `storemon NAME --help` works (the command exists and imports)."""
    proc = subprocess.run([*prefix, name, "--help"], capture_output=True)
    return proc.returncode == 0


def generate_prefix(prefix: list[str]) -> list[str]:
    if has_command(prefix, "generate"):
        return [*prefix, "generate"]
    # Not registered in the group yet: the same command object, called directly.
    code = "from storemon.generate import generate; generate(prog_name='storemon generate')"
    return [sys.executable, "-c", code]


def data_files(data_dir: Path, fmt: str) -> list[Path]:
    return [data_dir / f"{name}.{fmt}" for name in ("store_status", "menu_hours", "timezones")]


def ensure_data(sc: Scenario, gen: list[str], seed: int) -> None:
    """Generate the scenario's data unless a complete set is already there.

    `storemon generate` writes each file under a temporary name and renames it, so three
    present files are three complete files.
    """
    if all(p.exists() for p in data_files(sc.data_dir, sc.fmt)):
        return
    argv = [*gen, "--out", str(sc.data_dir), "--stores", str(sc.stores)]
    argv += ["--days", str(LOOP_DAYS), "--seed", str(seed), "--format", sc.fmt]
    m = run_measured(argv)
    if m.returncode != 0:
        sys.exit(f"generation failed for {sc.data_dir}:\n{m.stderr.strip()}")
    sc.generated_s = m.seconds


def measure_floor(sc: Scenario, runs: int) -> None:
    paths = [str(p) for p in data_files(sc.data_dir, sc.fmt)]
    argv = [sys.executable, "-c", FLOOR_SCRIPT, sc.fmt, *paths]
    for _ in range(runs):
        m = run_measured(argv)
        if m.returncode != 0:
            sys.exit(f"floor scan failed for {sc.data_dir}:\n{m.stderr.strip()}")
        sc.floor_s.append(m.seconds)
        # The scan prints the row counts of the three files: the status rows for the table.
        sc.status_rows = int(m.stdout.strip().splitlines()[-1].split(",")[0])


def export_argv(prefix: list[str], sc: Scenario, db: Path, report: Path) -> list[str]:
    argv = [*prefix, "export"]
    if sc.fmt == "csv":
        argv += ["--data", str(sc.data_dir)]
    else:
        status, hours, zones = data_files(sc.data_dir, sc.fmt)
        argv += ["--status", str(status), "--hours", str(hours), "--timezones", str(zones)]
    return [*argv, "--db", str(db), "--out", str(report)]


def latest_run_results(root: Path, since: float) -> Path | None:
    """dbt's run_results.json written by this run, wherever the export put its target/."""
    found = [p for p in root.rglob("run_results.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def record_model_times(sc: Scenario, results: Path) -> None:
    data = json.loads(results.read_text())
    for r in data.get("results", []):
        uid = str(r.get("unique_id", ""))
        if uid.startswith("model."):
            name = uid.split(".")[-1]
            sc.model_times.setdefault(name, []).append(float(r.get("execution_time") or 0.0))


def measure_export(sc: Scenario, prefix: list[str], runs: int, workdir: Path) -> None:
    run_dir = workdir / f"run-{sc.scale:g}x-{sc.fmt}"
    # Start from an empty database; later runs reuse it, as a user re-running the export would.
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    db, report = run_dir / "storemon.duckdb", run_dir / "report.csv"
    for i in range(runs):
        since = time.time() - 1  # mtime granularity
        m = run_measured(export_argv(prefix, sc, db, report), cwd=run_dir)
        if m.returncode != 0:
            tail = "\n".join(m.stderr.strip().splitlines()[-20:])
            sys.exit(f"export failed ({sc.scale:g}x {sc.fmt}, run {i + 1}):\n{tail}")
        sc.export.append(m)
        results = latest_run_results(run_dir, since)
        if results is not None:
            record_model_times(sc, results)


def fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / 1024**2:.0f} MiB"


def slowest(sc: Scenario, k: int = 3) -> str:
    med = {name: statistics.median(ts) for name, ts in sc.model_times.items()}
    top = sorted(med.items(), key=lambda kv: kv[1], reverse=True)[:k]
    return ", ".join(f"{name} {t:.2f} s" for name, t in top) or "-"


def table(scenarios: list[Scenario]) -> str:
    head = (
        "| scale | format | stores | status rows | export median | min - max | peak RSS "
        "| floor (DuckDB scan) | export / floor | slowest models (median) |"
    )
    lines = [head, "|" + "---|" * 10]
    for sc in scenarios:
        floor = statistics.median(sc.floor_s) if sc.floor_s else None
        floor_txt = f"{floor:.2f} s" if floor is not None else "-"
        if sc.export:
            secs = [m.seconds for m in sc.export]
            med = statistics.median(secs)
            cells = [
                f"{med:.2f} s",
                f"{min(secs):.2f} - {max(secs):.2f} s",
                fmt_bytes(max(m.peak_rss for m in sc.export)),
                floor_txt,
                f"{med / floor:.1f}x" if floor else "-",
                slowest(sc),
            ]
        else:
            cells = ["-", "-", "-", floor_txt, "-", "-"]
        row = [f"{sc.scale:g}x", sc.fmt, f"{sc.stores:,}", f"{sc.status_rows:,}", *cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def check(scenarios: list[Scenario]) -> list[str]:
    """The targets missed (or not measurable), as readable lines."""
    missed = []
    for sc in scenarios:
        target = TARGETS.get(sc.scale)
        if target is None:
            continue
        what, limit = target
        if not sc.export:
            missed.append(f"{sc.scale:g}x {sc.fmt}: export not measured")
            continue
        if what == "median_s":
            value = statistics.median(m.seconds for m in sc.export)
            if value > limit:
                missed.append(f"{sc.scale:g}x {sc.fmt}: median {value:.2f} s > {limit:g} s")
        else:
            value = max(m.peak_rss for m in sc.export)
            if value > limit:
                missed.append(
                    f"{sc.scale:g}x {sc.fmt}: peak RSS {fmt_bytes(value)} > {fmt_bytes(limit)}"
                )
    return missed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Example: python bench/benchmark.py --scales 1,10 --runs 5 --check",
    )
    p.add_argument(
        "--scales",
        default="1,10",
        help="comma-separated multiples of Loop's size (1 = 14,092 stores); default 1,10",
    )
    p.add_argument("--runs", type=int, default=5, help="export runs per scenario (default 5)")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--format", default="csv", help="input formats: csv, parquet or csv,parquet")
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "storemon-bench",
        help="where data and databases go; generated data is reused (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    p.add_argument(
        "--generate-only",
        action="store_true",
        help="generate data and measure the floor, but do not run the export",
    )
    args = p.parse_args(argv)
    try:
        args.scales = [float(s) for s in args.scales.split(",") if s.strip()]
    except ValueError:
        p.error(f"--scales: not a list of numbers: {args.scales!r}")
    if not args.scales or any(s <= 0 for s in args.scales):
        p.error("--scales: give positive numbers, e.g. 1,10")
    args.formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not args.formats or any(f not in ("csv", "parquet") for f in args.formats):
        p.error("--format: csv, parquet or csv,parquet")
    if args.runs < 1:
        p.error("--runs: at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = storemon_prefix()
    gen = generate_prefix(prefix)
    can_export = not args.generate_only and has_command(prefix, "export")
    if not args.generate_only and not can_export:
        note = "note: `storemon export` is not available; measuring generation and floor only"
        print(note, file=sys.stderr)

    scenarios = []
    for scale in args.scales:
        for fmt in args.formats:
            stores = max(1, round(LOOP_STORES * scale))
            data_dir = workdir / f"data-{scale:g}x-{fmt}-seed{args.seed}"
            sc = Scenario(scale=scale, fmt=fmt, stores=stores, data_dir=data_dir)
            ensure_data(sc, gen, args.seed)
            how = f"generated in {sc.generated_s:.1f} s" if sc.generated_s else "reused"
            print(f"{scale:g}x {fmt}: {stores:,} stores, data {how} ({data_dir})", file=sys.stderr)
            measure_floor(sc, args.runs)
            if can_export:
                measure_export(sc, prefix, args.runs, workdir)
            scenarios.append(sc)

    print(table(scenarios))
    if args.check:
        missed = check(scenarios)
        for line in missed:
            print(f"target missed: {line}", file=sys.stderr)
        if missed:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
