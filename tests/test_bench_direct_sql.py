"""bench/direct_sql.py, the benchmarks' hand-written baseline: it must write the same report as
`storemon export`, byte for byte, on generated data of both profiles, or its times measure
something else."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from storemon.cli import cli

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "direct_sql.py"


def storemon(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def direct_sql(data: Path, out: Path, as_of: str | None = None) -> None:
    argv = [sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out)]
    if as_of:
        argv += ["--as-of", as_of]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def export(data: Path, fmt: str, out: Path, as_of: str | None = None) -> None:
    if fmt == "csv":
        inputs = ["--data", str(data)]
    else:
        inputs = [
            f"--{option}={data / name}.parquet"
            for option, name in [
                ("status", "store_status"),
                ("hours", "menu_hours"),
                ("timezones", "timezones"),
            ]
        ]
    extra = ["--as-of", as_of] if as_of else []
    storemon("export", *inputs, *extra, "--db", str(out.with_suffix(".duckdb")), "--out", str(out))


# Report times: the latest poll; inside the week (the rich profile's crosses the DST changes
# of Europe on 31 March 2024 and of the southern hemisphere on 7 April); before every poll.
AS_OF = [None, "2024-04-02T10:30:00Z", "2023-01-21T23:59:59Z", "2000-01-01T00:00:00Z"]


@pytest.mark.parametrize("profile", ["loop", "rich"])
def test_direct_sql_writes_storemon_export_s_report(tmp_path: Path, profile: str) -> None:
    for fmt in ("csv", "parquet"):
        data = tmp_path / f"data-{fmt}"
        storemon("generate", "--out", str(data), "--stores", "150", "--days", "7.75",
                 "--seed", "11", "--profile", profile, "--format", fmt)  # fmt: skip
        for n, as_of in enumerate(AS_OF):
            expected, got = tmp_path / f"export-{fmt}-{n}.csv", tmp_path / f"direct-{fmt}-{n}.csv"
            export(data, fmt, expected, as_of)
            direct_sql(data, got, as_of)
            assert got.read_bytes() == expected.read_bytes(), (fmt, as_of)
    # Not a trivial report: stores with numbers, with NULLs (the report time before every
    # poll), and business hours that matter (some uptime below the window's length).
    lines = (tmp_path / "export-csv-0.csv").read_text().splitlines()
    assert len(lines) > 140
    assert any(",168.00," not in line and ",," not in line for line in lines[1:])
    assert all(line.endswith(",,,,,,") for line in
               (tmp_path / "export-csv-3.csv").read_text().splitlines()[1:])  # fmt: skip


def load_benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", REPO / "bench" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmark"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_holds_the_export_to_the_direct_sql(tmp_path: Path) -> None:
    """The targets against the direct SQL, from figures made up for the purpose: 1x plan
    cached <= 1.3x, 10x first export into a new database <= 1.5x, and no ratio at all when
    the direct SQL's report is not the export's."""
    bench = load_benchmark()

    def scenario(scale: float, export_s: float, new_database_s: float, same: bool):
        sc = bench.Scenario(scale, "csv", 10, tmp_path)
        sc.export = [bench.Measure(export_s, 0, 0, "", "")]
        sc.models_s = [export_s / 2]
        sc.new_database = [bench.Measure(new_database_s, 0, 0, "", "")]
        sc.direct_s, sc.direct_cpu_s, sc.direct_same = [2.0], [2.0], same
        return sc

    rows = {row[0]: row[1:] for row in bench.targets([scenario(1, 2.5, 9, True),
                                                      scenario(10, 30, 3.2, True)])}  # fmt: skip
    assert rows["`storemon export`, 1x csv, plan cached, / direct SQL"] == (
        "<= 1.3x",
        "1.25x",
        True,
    )
    new_database = "`storemon export`, 10x csv, first export into a new database (plan cached)"
    assert rows[new_database + ", / direct SQL"] == ("<= 1.5x", "1.60x", False)
    assert rows["1x csv: the direct SQL writes the export's report"][2] is True

    differs = scenario(1, 2.5, 2.5, False)
    rows = bench.targets([differs])
    assert ("1x csv: the direct SQL writes the export's report", "same bytes",
            "DIFFERENT: no ratio", False) in rows  # fmt: skip
    assert not any("/ direct SQL" in row[0] for row in rows)
    row = bench.table([differs]).splitlines()[2].split(" | ")
    assert row.count("no ratio: reports differ") == 2
