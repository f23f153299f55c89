"""Benchmark `storemon export` at Loop scale and beyond.

    python bench/benchmark.py [--scales 1,10] [--runs 3] [--check] [--format csv,parquet]
                              [--profile loop,rich] [--workdir DIR] [--data-root DIR] [--seed S]
                              [--generate-only]

For each scale (1x = Loop's real size: 14,092 stores, 7.75 days, ~1.82 M polls) and format, the
script generates data with `storemon generate` (reused when already in the data folder), then
runs `storemon export --verbose` as a whole, fresh process `--runs` times and prints a Markdown
table: wall time (median, min-max); the sum of dbt's node times for the models (and for the
invariant tests) and the three slowest models, as dbt reports them (their sum can exceed the
wall time: the plan runs two nodes at once); the rest of the run, outside the build from its
first node to its last (import, start-up, writing the CSV); peak RSS; and the floor - a bare DuckDB
`count(*)` over the same three files in a fresh process. Beside it, the models' SQL alone: the
statements the last export ran (dbt's target/run), in the same order, in a fresh process with
DuckDB and no dbt, writing a fresh database file and the report CSV, which must equal the
export's byte for byte. The difference is what dbt costs; the invariant tests are not in it.
`--profile rich` (or `loop,rich`) also measures `storemon generate --profile rich` data, whose
hours and zones are harder than Loop's; its rows say "rich" beside the scale.

Each scenario's exports keep their plans (storemon/plan.py) in a cache folder of their own
(STOREMON_CACHE_DIR), so that its first export runs dbt, whatever ran before on the machine.

Before the table it measures dbt's fixed cost directly, as medians of `--runs` fresh processes:
importing dbt (and dbt-duckdb), the first export of a one-row input (dbt parses and records the
plan), the next ones (the plan), and the first export of another database (the plan, from the
cache folder).

Beside the export, the direct SQL: bench/direct_sql.py, a hand-written report in one DuckDB
query, run as a fresh Python process over the same files. Its report must equal the export's
byte for byte, or no ratio to it is printed (and the check fails). And the first export into a
new database: a new database file in a new folder whose plan is already in the scenario's
cache folder, as every database after a machine's first export is. Each measured export is
followed by one run of each, so that the three alternate and a change in the machine's speed
during a scenario weighs on every ratio alike.

After it, the targets for the export beside the figures measured (EXPORT_1X_S,
EXPORT_10X_OVER_SQL, EXPORT_1X_OVER_DIRECT and NEW_DATABASE_10X_OVER_DIRECT below); `--check`
exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import os
import re
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

# The targets for the export (bench/service_benchmark.py has the service's): the wall
# time of a fresh `storemon export` process at 1x, CSV (dbt's parse cache warm; with the plan,
# dbt is not imported), and at 10x its ratio to the models' SQL alone.
EXPORT_1X_S = 3.5
EXPORT_10X_OVER_SQL = 1.15
# Against the hand-written direct SQL (bench/direct_sql.py) over the same files, medians of
# fresh processes: the 1x export with its plan cached, and at 10x the first export into a new
# database (the plan from the cache folder).
EXPORT_1X_OVER_DIRECT = 1.3
NEW_DATABASE_10X_OVER_DIRECT = 1.5
DIRECT_SQL = Path(__file__).resolve().with_name("direct_sql.py")
# time(10x) / time(1x) of the models, CSV inputs: linear or better.
MAX_GROWTH = 10.0

# `storemon export --verbose` prints one line per dbt node: "  success stg_x (1.23s)", and
# then how long the build took from the first node to the last: "  built in 1.75s" (less than
# the nodes' sum: the plan runs two at once).
NODE_LINE = re.compile(r"^storemon:\s+(\w+)\s+(\S+) \(([\d.]+)s\)$")
BUILT_LINE = re.compile(r"^storemon:\s+built in ([\d.]+)s$", re.MULTILINE)

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

# The models' SQL without dbt: argv = database, report CSV, the three input files, then the
# run/ SQL files in build order. dbt builds `x__dbt_tmp` in database "building" and renames it;
# here `x` is built at once. The SQL reads the run settings, the input paths among them, as
# DuckDB variables (setting_sql).
SQL_ALONE_SCRIPT = """
import re, sys, duckdb
from storemon.export import report_query
database, report, status, hours, timezones, *files = sys.argv[1:]
con = duckdb.connect(database)
con.execute("SET enable_progress_bar = false")
con.execute("SET TimeZone = 'UTC'")
# Every run setting the SQL reads (profiles.yml declares them); unset, a variable is NULL.
settings = {"status_path": status, "hours_path": hours, "timezones_path": timezones}
for name in ("report_time", "default_timezone", "status_time", "silent_after_minutes",
             "changed_from", *settings):
    con.execute(f"SET VARIABLE storemon_{name} = ?", [settings.get(name, "")])
for path in files:
    sql = open(path).read().replace('"building"."main".', "")
    con.execute(re.sub(r'__dbt_tmp"', '"', sql))
escaped = report.replace("'", "''")
con.execute(f"copy ({report_query()}) to '{escaped}' (header, delimiter ',')")
con.execute("checkpoint")
"""


@dataclass
class Measure:
    """One cold-process run: wall seconds, peak RSS in bytes, exit code, output text, and the
    CPU seconds (user + system) of it and its descendants: on a shared machine the wall time
    varies with the load, the CPU time much less."""

    seconds: float
    peak_rss: int
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float = 0.0


@dataclass
class Scenario:
    scale: float
    fmt: str
    stores: int
    data_dir: Path
    engine: str = "duckdb"
    profile: str = "loop"  # of `storemon generate`
    status_rows: int = 0
    generated_s: float | None = None
    first_s: float | None = None  # the unmeasured first export: full parse
    floor_s: list[float] = field(default_factory=list)
    export: list[Measure] = field(default_factory=list)
    model_times: dict[str, list[float]] = field(default_factory=dict)
    models_s: list[float] = field(default_factory=list)  # per run: sum over the models
    tests_s: list[float] = field(default_factory=list)  # per run: sum over the tests
    outside_s: list[float] = field(default_factory=list)  # per run: wall minus the build
    sql_alone_s: list[float] = field(default_factory=list)  # the models' SQL without dbt
    sql_alone_cpu_s: list[float] = field(default_factory=list)
    sql_alone_same: bool | None = None  # its report equals the export's
    direct_s: list[float] = field(default_factory=list)  # bench/direct_sql.py, cold
    direct_cpu_s: list[float] = field(default_factory=list)
    direct_same: bool | None = None  # its report equals the export's
    new_database: list[Measure] = field(default_factory=list)  # first exports, plan cached


def run_measured(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> Measure:
    """Run argv as a fresh process; wall time and the peak RSS of it and its descendants.

    os.wait4 returns this child's own rusage (its ru_maxrss already covers the descendants it
    waited for), unlike getrusage(RUSAGE_CHILDREN), which is a max over every child so far.
    """
    # Files, not pipes: nothing reads a pipe while we block in wait4, so a chatty child could
    # fill it and hang.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    # Linux reports ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(seconds, usage.ru_maxrss * 1024, proc.returncode, stdout, stderr, cpu)


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
    code = "from storemon.cli import generate_command as g; g(prog_name='storemon generate')"
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
    if sc.profile != "loop":
        argv += ["--profile", sc.profile]
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
    return [*argv, "--db", str(db), "--out", str(report), "--engine", sc.engine, "--verbose"]


def record_node_times(sc: Scenario, m: Measure) -> None:
    """The dbt node times that `storemon export --verbose` printed for one run."""
    models = tests = 0.0
    for line in m.stderr.splitlines():
        found = NODE_LINE.match(line.strip())
        if not found:
            continue
        status, name, seconds = found.group(1), found.group(2), float(found.group(3))
        if status == "success" and not name.startswith("storemon-on-run"):
            sc.model_times.setdefault(name, []).append(seconds)
            models += seconds
        elif status == "pass":
            tests += seconds
    sc.models_s.append(models)
    sc.tests_s.append(tests)
    built = BUILT_LINE.search(m.stderr)
    sc.outside_s.append(m.seconds - float(built.group(1)) if built else float("nan"))


def label(sc: Scenario) -> str:
    """The scale, and the profile when it is not Loop's."""
    return f"{sc.scale:g}x" + ("" if sc.profile == "loop" else f" {sc.profile}")


def own_cache(run_dir: Path) -> dict[str, str]:
    """The environment of a scenario's exports: plans in a cache folder of their own."""
    return {**os.environ, "STOREMON_CACHE_DIR": str(run_dir / "cache")}


def measure_export(sc: Scenario, prefix: list[str], runs: int, workdir: Path) -> Path:
    """The scenario's exports; the folder they ran in."""
    suffix = "" if sc.profile == "loop" else f"-{sc.profile}"
    run_dir = workdir / f"run-{sc.scale:g}x-{sc.fmt}-{sc.engine}{suffix}"
    # A fresh database, parse cache and plan cache; the first, unmeasured run parses the whole
    # project and records the plan (as a machine's first export does), the measured ones reuse
    # them as re-runs do.
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    db, report = run_dir / "storemon.duckdb", run_dir / "report.csv"
    for i in range(runs + 1):
        m = run_measured(export_argv(prefix, sc, db, report), cwd=run_dir, env=own_cache(run_dir))
        if m.returncode != 0:
            tail = "\n".join(m.stderr.strip().splitlines()[-20:])
            sys.exit(f"export failed ({label(sc)} {sc.fmt} {sc.engine}, run {i + 1}):\n{tail}")
        if i == 0:
            sc.first_s = m.seconds
            continue
        sc.export.append(m)
        record_node_times(sc, m)
        if sc.engine == "duckdb":
            # Alternated with the export, so that a change in the machine's speed during the
            # scenario weighs on both sides of each ratio alike.
            measure_direct(sc, run_dir)
            measure_new_database(sc, prefix, run_dir, i)
    if sc.engine == "duckdb":
        sc.direct_same = (run_dir / "direct.csv").read_bytes() == report.read_bytes()
        measure_sql_alone(sc, runs, run_dir, report)
    return run_dir


def measured_runs(argv: list[str], runs: int, what: str, fresh: Path) -> list[Measure]:
    """`runs` fresh processes of argv, each after removing the file `fresh` it writes."""
    found = []
    for _ in range(runs):
        fresh.unlink(missing_ok=True)
        m = run_measured(argv)
        if m.returncode != 0:
            sys.exit(f"{what} failed:\n{m.stderr.strip()[-2000:]}")
        found.append(m)
    return found


def measure_direct(sc: Scenario, run_dir: Path) -> None:
    """One run of bench/direct_sql.py over the scenario's files, a fresh process, writing
    direct.csv in `run_dir`."""
    direct_report = run_dir / "direct.csv"
    argv = [sys.executable, str(DIRECT_SQL), "--data", str(sc.data_dir)]
    argv += ["--out", str(direct_report)]
    [m] = measured_runs(argv, 1, "the direct SQL", direct_report)
    sc.direct_s.append(m.seconds)
    sc.direct_cpu_s.append(m.cpu_s)


def measure_new_database(sc: Scenario, prefix: list[str], run_dir: Path, number: int) -> None:
    """One first export into a new database file, in a new folder, with the plan the
    scenario's first export recorded in its cache folder."""
    elsewhere = run_dir / f"new-database-{number}"
    shutil.rmtree(elsewhere, ignore_errors=True)
    elsewhere.mkdir()
    argv = export_argv(prefix, sc, elsewhere / "new.duckdb", elsewhere / "report.csv")
    m = run_measured(argv, cwd=elsewhere, env=own_cache(run_dir))
    if m.returncode != 0:
        sys.exit(f"export of a new database failed:\n{m.stderr.strip()[-2000:]}")
    sc.new_database.append(m)


def measure_sql_alone(sc: Scenario, runs: int, run_dir: Path, export_report: Path) -> None:
    """The statements of the last export's models, without dbt, `runs` times (see the top)."""
    compiled = run_dir / "storemon.dbt" / "target" / "run" / "storemon" / "models"
    order = [
        found.group(2)
        for line in sc.export[-1].stderr.splitlines()
        if (found := NODE_LINE.match(line.strip())) and found.group(1) == "success"
    ]
    files = [str(path) for name in order for path in compiled.glob(f"*/{name}.sql")]
    alone_db, alone_report = run_dir / "sql-alone.duckdb", run_dir / "sql-alone.csv"
    inputs = [str(path) for path in data_files(sc.data_dir, sc.fmt)]
    argv = [sys.executable, "-c", SQL_ALONE_SCRIPT, str(alone_db), str(alone_report)]
    found = measured_runs([*argv, *inputs, *files], runs, "the models' SQL alone", alone_db)
    sc.sql_alone_s, sc.sql_alone_cpu_s = [m.seconds for m in found], [m.cpu_s for m in found]
    sc.sql_alone_same = alone_report.read_bytes() == export_report.read_bytes()


def fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / 1024**2:.0f} MiB"


def slowest(sc: Scenario, k: int = 3) -> str:
    med = {name: statistics.median(ts) for name, ts in sc.model_times.items()}
    top = sorted(med.items(), key=lambda kv: kv[1], reverse=True)[:k]
    return ", ".join(f"{name} {t:.2f} s" for name, t in top) or "-"


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "-"


def sql_alone(sc: Scenario) -> str:
    if not sc.sql_alone_s:
        return "-"
    same = "same report" if sc.sql_alone_same else "REPORT DIFFERS"
    return f"{med(sc.sql_alone_s)}, CPU {med(sc.sql_alone_cpu_s)} ({same})"


def direct(sc: Scenario) -> str:
    if not sc.direct_s:
        return "-"
    same = "same report" if sc.direct_same else "REPORT DIFFERS"
    return f"{med(sc.direct_s)}, CPU {med(sc.direct_cpu_s)} ({same})"


def over_direct(sc: Scenario, seconds: list[float]) -> float | None:
    """The median of `seconds` over the direct SQL's; None when there is nothing to compare
    or the direct SQL's report is not the export's (a ratio to another report means nothing)."""
    if not seconds or not sc.direct_s or not sc.direct_same:
        return None
    return statistics.median(seconds) / statistics.median(sc.direct_s)


def ratio_cell(value: float | None, sc: Scenario) -> str:
    if value is not None:
        return f"{value:.2f}x"
    return "no ratio: reports differ" if sc.direct_s and not sc.direct_same else "-"


def table(scenarios: list[Scenario]) -> str:
    head = (
        "| scale | format | engine | stores | status rows | export median | min - max "
        "| export CPU (user + sys) | models (sum) | invariant tests (sum) | outside the build "
        "| peak RSS "
        "| models' SQL alone (no dbt) | direct SQL (bench/direct_sql.py) | export / direct "
        "| new database (plan cached) | new database / direct "
        "| floor (DuckDB scan) | slowest models (median) |"
    )
    lines = [head, "|" + "---|" * 19]
    for sc in scenarios:
        if sc.export:
            secs = [m.seconds for m in sc.export]
            cells = [
                med(secs),
                f"{min(secs):.2f} - {max(secs):.2f} s",
                med([m.cpu_s for m in sc.export]),
                med(sc.models_s),
                med(sc.tests_s),
                med(sc.outside_s),
                fmt_bytes(max(m.peak_rss for m in sc.export)),
                sql_alone(sc),
                direct(sc),
                ratio_cell(over_direct(sc, secs), sc),
                med([m.seconds for m in sc.new_database]),
                ratio_cell(over_direct(sc, [m.seconds for m in sc.new_database]), sc),
                med(sc.floor_s),
                slowest(sc),
            ]
        else:
            cells = ["-"] * 12 + [med(sc.floor_s), "-"]
        row = [label(sc), sc.fmt, sc.engine, f"{sc.stores:,}", f"{sc.status_rows:,}", *cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def figure(sc: Scenario, what: str) -> float:
    if what == "peak_rss":
        return max(m.peak_rss for m in sc.export)
    if what == "models_s":
        return statistics.median(sc.models_s)
    return statistics.median(m.seconds for m in sc.export)


def targets(scenarios: list[Scenario]) -> list[tuple[str, str, str, bool]]:
    """The export figures beside their targets: (figure, target, measured, met), for
    the scenarios that ran; then the report checks (the SQL alone must write the same report)
    and the growth bound."""
    rows = []
    for profile in dict.fromkeys(sc.profile for sc in scenarios):
        measured = {
            (sc.scale, sc.fmt): sc
            for sc in scenarios
            if sc.export and sc.engine == "duckdb" and sc.profile == profile
        }
        # The same targets for every profile; the rich profile's rows say so.
        prefix = "" if profile == "loop" else f"{profile}: "
        one, ten = measured.get((1.0, "csv")), measured.get((10.0, "csv"))
        if one:
            value = figure(one, "export_s")
            rows.append((f"{prefix}`storemon export`, 1x, fresh process", f"<= {EXPORT_1X_S:g} s",
                         f"{value:.2f} s", value <= EXPORT_1X_S))  # fmt: skip
        if ten and ten.sql_alone_s:
            ratio = figure(ten, "export_s") / statistics.median(ten.sql_alone_s)
            rows.append((f"{prefix}`storemon export`, 10x, / the models' SQL alone",
                         f"<= {EXPORT_10X_OVER_SQL:g}x", f"{ratio:.2f}x",
                         ratio <= EXPORT_10X_OVER_SQL))  # fmt: skip
        # Against the direct SQL, for every format measured (the same files for both).
        for sc in measured.values():
            if sc.direct_same is False:
                rows.append((f"{label(sc)} {sc.fmt}: the direct SQL writes the export's report",
                             "same bytes", "DIFFERENT: no ratio", False))  # fmt: skip
                continue
            if sc.scale == 1.0 and sc.direct_s:
                ratio = over_direct(sc, [m.seconds for m in sc.export])
                rows.append((f"{prefix}`storemon export`, 1x {sc.fmt}, plan cached, / direct SQL",
                             f"<= {EXPORT_1X_OVER_DIRECT:g}x", f"{ratio:.2f}x",
                             ratio <= EXPORT_1X_OVER_DIRECT))  # fmt: skip
            if sc.scale == 10.0 and sc.direct_s and sc.new_database:
                ratio = over_direct(sc, [m.seconds for m in sc.new_database])
                rows.append((f"{prefix}`storemon export`, 10x {sc.fmt}, first export into a new "
                             "database (plan cached), / direct SQL",
                             f"<= {NEW_DATABASE_10X_OVER_DIRECT:g}x", f"{ratio:.2f}x",
                             ratio <= NEW_DATABASE_10X_OVER_DIRECT))  # fmt: skip
        for sc in measured.values():
            if sc.direct_same:
                rows.append((f"{label(sc)} {sc.fmt}: the direct SQL writes the export's report",
                             "same bytes", "same", True))  # fmt: skip
            if sc.sql_alone_same is not None:
                rows.append((f"{label(sc)} {sc.fmt}: the SQL alone writes the export's report",
                             "same bytes", "same" if sc.sql_alone_same else "DIFFERENT",
                             sc.sql_alone_same))  # fmt: skip
        if one and ten:
            growth = figure(ten, "models_s") / figure(one, "models_s")
            rows.append((f"{prefix}models' time, 10x / 1x (CSV)", f"<= {MAX_GROWTH:g}",
                         f"{growth:.1f}", growth <= MAX_GROWTH))  # fmt: skip
    return rows


def targets_table(rows: list[tuple[str, str, str, bool]]) -> str:
    lines = ["| figure | target | measured | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {'met' if ok else 'MISSED'} |" for a, b, c, ok in rows]
    return "\n".join(lines)


FIXED_IMPORT = "import dbt.cli.main, dbt.adapters.duckdb"


def measure_fixed_cost(prefix: list[str], runs: int, workdir: Path) -> str:
    """dbt's fixed cost, measured: the import alone, the first export of one-row inputs (dbt
    parses and records the plan), the next ones (the plan, without dbt), and the first export
    of other databases (the plan from the cache folder), as medians of `runs` fresh
    processes."""
    tiny = workdir / "fixed-cost"
    shutil.rmtree(tiny, ignore_errors=True)
    tiny.mkdir(parents=True)
    (tiny / "store_status.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-25 18:13:00.000000 UTC\n"
    )
    (tiny / "menu_hours.csv").write_text(
        "store_id,day,start_time_local,end_time_local\n1,2,09:00:00,17:00:00\n"
    )
    (tiny / "timezones.csv").write_text("store_id,timezone_str\n1,America/Chicago\n")
    sc = Scenario(scale=0, fmt="csv", stores=1, data_dir=tiny)
    imports = [run_measured([sys.executable, "-c", FIXED_IMPORT]).seconds for _ in range(runs)]
    measure_export(sc, prefix, runs, workdir)  # with the first exports of new databases
    new_databases = [m.seconds for m in sc.new_database]
    return (
        f"dbt's fixed cost (medians of {runs} fresh processes): `{FIXED_IMPORT}` "
        f"{med(imports)}; the machine's first export (full parse, dbt records the "
        f"plan) {sc.first_s:.2f} s; a whole export of one-row inputs from then on (the plan, "
        f"without dbt) {med([m.seconds for m in sc.export])}"
        f" ({med(sc.outside_s)} of it outside the build); the first export of another "
        f"database (the plan from the cache) {med(new_databases)}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Example: python bench/benchmark.py --scales 1,10 --runs 3 --check",
    )
    p.add_argument(
        "--scales",
        default="1,10",
        help="comma-separated multiples of Loop's size (1 = 14,092 stores); default 1,10",
    )
    p.add_argument("--runs", type=int, default=3, help="export runs per scenario (default 3)")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--format", default="csv", help="input formats: csv, parquet or csv,parquet")
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "storemon-bench",
        help="where the databases go (default: %(default)s)",
    )
    p.add_argument(
        "--data-root",
        type=Path,
        help="where generated data goes and is reused from (default: the workdir)",
    )
    p.add_argument(
        "--engine",
        default="duckdb",
        help="engines to export with: duckdb, spark or duckdb,spark (default duckdb)",
    )
    p.add_argument(
        "--profile",
        default="loop",
        help="`storemon generate` profiles: loop, rich or loop,rich (default loop)",
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
    args.profiles = [f.strip() for f in args.profile.split(",") if f.strip()]
    if not args.profiles or any(f not in ("loop", "rich") for f in args.profiles):
        p.error("--profile: loop, rich or loop,rich")
    args.engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    if not args.engines or any(e not in ("duckdb", "spark") for e in args.engines):
        p.error("--engine: duckdb, spark or duckdb,spark")
    if args.runs < 1:
        p.error("--runs: at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data_root: Path = (args.data_root or workdir).resolve()
    prefix = storemon_prefix()
    gen = generate_prefix(prefix)
    can_export = not args.generate_only and has_command(prefix, "export")
    if not args.generate_only and not can_export:
        note = "note: `storemon export` is not available; measuring generation and floor only"
        print(note, file=sys.stderr)

    if can_export:
        print(measure_fixed_cost(prefix, args.runs, workdir) + "\n")
    scenarios = []
    for profile in args.profiles:
        for scale in args.scales:
            for fmt in args.formats:
                stores = max(1, round(LOOP_STORES * scale))
                named = fmt if profile == "loop" else f"{fmt}-{profile}"
                data_dir = data_root / f"data-{scale:g}x-{named}-seed{args.seed}"
                for engine in args.engines:
                    sc = Scenario(scale, fmt, stores, data_dir, engine=engine, profile=profile)
                    ensure_data(sc, gen, args.seed)
                    how = f"generated in {sc.generated_s:.1f} s" if sc.generated_s else "reused"
                    print(f"{label(sc)} {fmt} {engine}: {stores:,} stores, data {how} "
                          f"({data_dir})", file=sys.stderr)  # fmt: skip
                    measure_floor(sc, args.runs)
                    if can_export:
                        measure_export(sc, prefix, args.runs, workdir)
                        print(f"  first export (full parse) {sc.first_s:.2f} s", file=sys.stderr)
                    scenarios.append(sc)

    print(table(scenarios))
    rows = targets(scenarios)
    print("\n" + targets_table(rows))
    if args.check and not all(met for *_, met in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
