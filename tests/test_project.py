"""The project as a whole: dbt's own tests on the sample data, the linters, the packaging."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from storemon.project import project_dir

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def test_dbt_build_on_the_sample_data_passes_every_model_and_test(tmp_path: Path) -> None:
    """`dbt build` as an analyst runs it: seeds, models, data tests and unit tests."""
    env = {**os.environ, "STOREMON_DB": str(tmp_path / "analyst.duckdb")}
    result = subprocess.run(
        [
            tool("dbt"), "build",
            "--project-dir", str(REPO), "--profiles-dir", str(REPO),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
        ],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert "ERROR=0" in result.stdout and "unit_test" in result.stdout


def test_dbt_vars_point_the_models_at_user_files(tmp_path: Path) -> None:
    """The analyst's interface: input paths and the clock as dbt vars, no CLI involved."""
    paths = {
        f"{kind}_path": str(REPO / "seeds" / f"{name}.csv")
        for kind, name in (
            ("status", "store_status"),
            ("hours", "menu_hours"),
            ("timezones", "timezones"),
        )
    }
    database = tmp_path / "vars.duckdb"
    result = subprocess.run(
        [
            tool("dbt"), "run",
            "--project-dir", str(REPO), "--profiles-dir", str(REPO),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            "--vars", json.dumps({**paths, "report_time": "2024-11-04T06:00:00Z"}),
        ],
        env={**os.environ, "STOREMON_DB": str(database)}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(database), read_only=True) as connection:
        clock = connection.execute("select report_at::varchar from int_report_clock").fetchall()
        files = connection.execute("select distinct source_file from rejected_rows").fetchall()
        stores = connection.execute("select count(*) from store_uptime_report").fetchall()
    assert clock == [("2024-11-04 06:00:00",)]
    # Read from the files named by the vars, not from the seeds (whose source_file is a name).
    assert {row[0] for row in files} <= set(paths.values()) and files
    assert stores == [(19,)]


def test_input_columns_refuses_an_unknown_input_naming_the_known_ones(tmp_path: Path) -> None:
    """A misspelt input stops compilation (no database needed) with the names it could be."""
    result = subprocess.run(
        [
            tool("dbt"), "compile", "--inline", "select {{ input_columns('menu_hour') }}",
            "--project-dir", str(REPO), "--profiles-dir", str(REPO),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
        ],
        env={**os.environ, "STOREMON_DB": str(tmp_path / "unused.duckdb")},
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert (
        "input_columns: unknown input 'menu_hour'; expected one of menu_hours, store_status,"
        " timezones"
    ) in result.stdout, result.stdout[-3000:]


def test_sql_is_lint_clean() -> None:
    result = subprocess.run(
        [tool("sqlfluff"), "lint", "models", "tests/generic", "tests/singular"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]


def test_python_is_lint_clean() -> None:
    for command in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([tool("ruff"), *command], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_installed_package_finds_a_complete_dbt_project() -> None:
    project = project_dir()
    for part in ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests/generic"):
        assert (project / part).exists(), part
    assert (project / "models" / "marts" / "store_uptime_report.sql").is_file()


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs the checkout")
def test_gitignore_keeps_databases_and_dbt_state_out() -> None:
    ignored = (REPO / ".gitignore").read_text().split()
    assert {"*.duckdb", "target/", "logs/"} <= set(ignored)
