"""The history curve of bench/service_benchmark.py, without a server: how it cuts a generated
dataset into weeks to upload, the targets it holds the curve to, and its CSV and plot."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import service_benchmark as bench
from click.testing import CliRunner

from storemon.cli import cli

FORMATS = ["%Y-%m-%d %H:%M:%S.%f UTC", "%Y-%m-%d %H:%M:%S UTC"]


def polls(path: Path) -> list[tuple[str, str, datetime]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    found = []
    for row in rows:
        text = row["timestamp_utc"]
        fmt = FORMATS[0] if "." in text else FORMATS[1]
        found.append((row["store_id"], row["status"], datetime.strptime(text, fmt)))
    return found


@pytest.mark.parametrize("profile", ["loop", "rich"])
def test_the_weeks_are_cut_in_time_order_into_parts_within_the_row_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    data = tmp_path / "data"
    argv = ["generate", "--out", str(data), "--stores", "40", "--days", "22", "--seed", "3"]
    result = CliRunner().invoke(cli, [*argv, "--profile", profile])
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(bench, "UPLOAD_ROWS", 700)
    parts, folders = bench.split_weeks(data, 3, tmp_path / "weeks")

    everything = polls(data / "store_status.csv")
    start = datetime.combine(min(at for *_, at in everything).date(), datetime.min.time())
    uploaded = []
    for week, files in enumerate(parts):
        assert len(files) > 1  # a week of 40 stores is more than 700 polls
        rows = [polls(path) for path in files]
        assert all(0 < len(part) <= 700 for part in rows)
        flat = [row for part in rows for row in part]
        # In time order within the week, and the week's days: 8 for the first, then 7 each.
        assert [at for *_, at in flat] == sorted(at for *_, at in flat)
        since = start + timedelta(days=0 if week == 0 else 7 * week + 1)
        assert all(since <= at < start + timedelta(days=7 * week + 8) for *_, at in flat)
        uploaded += flat
        # The direct SQL's folder: the week's polls and the day before them, hours and zones.
        direct = polls(folders[week] / "store_status.csv")
        assert sorted(direct) == sorted(
            row for row in everything
            if start + timedelta(days=7 * week) <= row[2] < start + timedelta(days=7 * week + 8)
        )  # fmt: skip
        for name in ("menu_hours.csv", "timezones.csv"):
            assert (folders[week] / name).read_bytes() == (data / name).read_bytes()
    # Every poll once, none lost or repeated.
    assert sorted(uploaded) == sorted(everything)


def point(weeks: int, recomputed: float, direct: float, *, inbox: float = 10, peak: float = 300,
          same: bool = True, warm: float = 0.1) -> bench.Point:  # fmt: skip
    return bench.Point(weeks, polls=1000 * weeks, polls_csv_mb=20.0 * weeks, inbox_mb=inbox,
                       first_s=recomputed * 2, warm_s=[warm] * 2, server_s=[warm / 2] * 2,
                       recomputed_s=[recomputed, recomputed + 0.2],
                       recomputed_server_s=[recomputed - 0.1] * 2, direct_s=[direct] * 2,
                       peak_upload_mb=peak, peak_report_mb=peak - 10,
                       same_report=same)  # fmt: skip


def test_the_curve_s_targets() -> None:
    rows = {row[0]: row[1:] for row in bench.history_rows([
        point(1, 1.0, 3.0), point(8, 1.1, 3.0), point(16, 1.3, 3.0, inbox=400, peak=1100),
    ])}  # fmt: skip
    # Each point's reports over the direct SQL; held to 0.5x from 8 weeks on.
    ratio = "history, {} weeks: {} / cold direct-SQL one-week export (3.00 s)"
    assert rows[ratio.format(1, "report after a poll")] == ("0.37x", "-", None)
    assert rows[ratio.format(16, "report after a poll")] == ("0.47x", "<= 0.5x", True)
    assert rows[ratio.format(1, "warm report")] == ("0.03x", "-", None)
    assert rows[ratio.format(16, "warm report")] == ("0.03x", "<= 0.5x", True)
    # 16 weeks over 1 week, of the report that runs: the medians 1.4 / 1.1.
    assert rows["history: report after a poll, 16 weeks / 1 stored"] == (
        "1.27x", "<= 1.15x", False)  # fmt: skip
    assert rows["history, 16 weeks: inbox size (the polls as CSV: 320 MB)"] == (
        "400 MB", "<= 320 MB", False)  # fmt: skip
    memory = "history, 16 weeks: server's peak memory (receiving 1,100 MB, reporting 1,090 MB)"
    assert rows[memory] == ("1,100 MB", "<= 1,024 MB", False)


def test_no_ratio_when_the_reports_differ_and_a_short_curve_holds_its_last_point() -> None:
    rows = bench.history_rows([point(1, 1.0, 3.0), point(2, 1.0, 1.0, same=False)])
    assert ("history, 2 weeks: the direct SQL writes the service's report",
            "DIFFERENT: no ratio", "same bytes", False) in rows  # fmt: skip
    assert not any(" / cold direct-SQL" in row[0] and "2 weeks" in row[0] for row in rows)
    rows = {row[0]: row[1:] for row in bench.history_rows([point(1, 1.0, 3.0),
                                                           point(2, 1.0, 2.5)])}  # fmt: skip
    assert rows["history, 2 weeks: report after a poll / cold direct-SQL one-week export (2.50 s)"
                ] == ("0.44x", "<= 0.5x", True)  # fmt: skip


def test_the_curve_s_csv_and_plot(tmp_path: Path) -> None:
    points = [point(1, 1.0, 3.0), point(2, 1.1, 3.1), point(4, 1.2, 3.0)]
    bench.write_curve(points, tmp_path / "curve.csv")
    table = duckdb.read_csv(str(tmp_path / "curve.csv")).fetchall()
    assert [row[0] for row in table] == [1, 2, 4]
    with (tmp_path / "curve.csv").open() as f:
        header = next(csv.reader(f))
    assert tuple(header) == bench.CURVE_COLUMNS
    bench.write_plot(points, tmp_path / "curve.svg", "a title")
    svg = (tmp_path / "curve.svg").read_text()
    assert svg.startswith("<svg") and "weeks of polls stored" in svg and "a title" in svg
    bench.write_plot(points, tmp_path / "curve.png", "a title")
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")
