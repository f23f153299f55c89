"""The example input files the manual offers for download (docs/examples/, linked from
docs/inputs.md) export cleanly: every row accepted, the report the independent reference
computes, and the report docs/inputs.md shows."""

from __future__ import annotations

import re
from pathlib import Path

from reference import compute_report, rejected
from support import parse_report, query, run_export

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
FILES = {
    "--status": EXAMPLES / "store_status.csv",
    "--hours": EXAMPLES / "menu_hours.csv",
    "--timezones": EXAMPLES / "timezones.csv",
}


def shown_report() -> str:
    """The report docs/inputs.md shows: its first text block that starts with the header."""
    page = (ROOT / "docs" / "inputs.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```text\n(store_id,uptime_last_hour.*?)```", page, re.DOTALL)
    assert blocks, "docs/inputs.md shows no report"
    return blocks[0]


def test_the_example_files_export_with_no_rejected_row_and_the_reports_agree(tmp_path):
    args = [str(part) for option, path in FILES.items() for part in (option, path)]
    code, stdout, stderr = run_export(*args, "--strict", "--out", "-", cwd=tmp_path)
    assert code == 0, stderr
    assert "; 0 rejected rows" in stderr
    assert query(tmp_path / "storemon.duckdb", "select count(*) from rejected_rows") == [(0,)]
    assert sum(rejected(*FILES.values()).values()) == 0

    report = parse_report(stdout)
    expected = compute_report(*FILES.values())
    assert list(report) == sorted(expected)
    for store, measures in expected.items():
        assert report[store] == tuple(f"{value:.2f}" for value in measures), store
    assert stdout == shown_report()


def test_every_example_file_is_linked_from_the_inputs_page():
    page = (ROOT / "docs" / "inputs.md").read_text(encoding="utf-8")
    for path in FILES.values():
        assert f"(examples/{path.name})" in page
