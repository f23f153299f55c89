"""The SQL's plans build no more rows than the work needs: DuckDB's optimizer picks the join
order, and an order that joins two lookups to each other first multiplies rows while every
report stays the same. Only a plan's row counts show it, so they are checked here on a
Loop-sized fleet whose hours are varied (the rich profile: wall times at any minute, 26 zones),
where such a join grows with the square of a zone's wall times. The optimizer's choice depends
on the sizes: with 2,000 stores it joined well even before it was told the order. One day of
polls is enough, since the hours make the work."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from support import generate_inputs

from storemon.cli import cli

# Each expands the business hours on local dates (the `business_hours_on_local_dates` macro):
# its biggest step lists every interval's two wall times, twice its rows.
EXPANSIONS = ["int_business_hours_expanded", "int_business_hours_near_status_time"]


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rich")
    data = generate_inputs(folder / "data", stores=14_000, days=1, seed=5, profile="rich")
    db = folder / "storemon.duckdb"
    args = ["export", "--data", str(data), "--db", str(db), "--out", "-"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return db


def operator_rows(node: dict) -> list[tuple[str, int]]:
    """Each operator of a JSON profile with the rows it produced."""
    rows = [(node.get("name", ""), node.get("intermediate_rows", 0))]
    for child in node.get("children", []):
        rows += operator_rows(child)
    return rows


@pytest.mark.parametrize("view", EXPANSIONS)
def test_expanding_business_hours_builds_at_most_two_rows_per_interval(database, view):
    with duckdb.connect(str(database), read_only=True) as connection:
        intervals = connection.execute(f"select count(*) from {view}").fetchone()[0]
        profile = json.loads(
            connection.execute(f"explain (analyze, format json) select * from {view}").fetchone()[1]
        )
    operators = [row for root in profile["operator"] for row in operator_rows(root)]
    assert intervals > 100_000
    biggest = max(operators, key=lambda operator: operator[1])
    assert biggest[1] <= 2 * intervals, (biggest, intervals)
