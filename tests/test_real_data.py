"""The real Loop files (../shared/data/loop): both versions load with zero rejected rows, and the
report agrees with what can be read off the files directly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from support import query, read_report, run_export

LOOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "loop"


def store_ids(path: Path) -> set[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["store_id"].strip() for row in csv.DictReader(handle)}


@pytest.mark.skipif(not LOOP.is_dir(), reason="needs ../shared/data/loop beside the checkout")
@pytest.mark.parametrize("version", ["v1_2023", "v2_2024"])
def test_real_files_load_without_rejects_and_cover_every_store(version: str, tmp_path: Path):
    folder = LOOP / version
    status, hours, zones = (
        folder / "store_status_head.csv",
        folder / "menu_hours.csv",
        folder / "timezones.csv",
    )
    code, _, stderr = run_export(
        "--status", str(status), "--hours", str(hours), "--timezones", str(zones),
        "--db", "real.duckdb", "--out", "real.csv", cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, stderr
    assert "; 0 rejected rows" in stderr
    assert query(tmp_path / "real.duckdb", "select count(*) from rejected_rows") == [(0,)]

    report = read_report(tmp_path / "real.csv")
    polled = store_ids(status)
    # One row per store of any file; measures exactly for the stores that were polled.
    assert set(report) == polled | store_ids(hours) | store_ids(zones)
    assert {store for store, row in report.items() if row[0] != ""} == polled
    assert all(row == ("",) * 6 for store, row in report.items() if store not in polled)
    if version == "v1_2023":
        # The v1 sample holds only `active` polls: no store can have any downtime.
        assert all(float(row[3]) == float(row[4]) == float(row[5]) == 0 for row in
                   (report[store] for store in polled))  # fmt: skip
