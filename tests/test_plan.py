"""The export's plan (storemon/plan.py): the statements dbt ran, run again without dbt.

Both paths must build the same database: every table and view with the same rows, the same
DuckDB comments, the same report CSV, as an analyst's `dbt build` of the same files. A plan is
used only for the project it was recorded from: a changed model file is recompiled. Plans are
kept in the user's cache folder (each test has its own: the `plan_cache` fixture), so that a
new database's first export runs the plan that another database's export recorded."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from support import write_inputs
from test_differential import SLOW, examples, scenarios
from test_differential import write_inputs as write_scenario

from storemon import export as export_module
from storemon import plan, project
from storemon.cli import cli
from storemon.export import report_query
from storemon.project import run_dbt

# Every test here starts from an empty cache folder of its own: its first export runs dbt.
pytestmark = pytest.mark.usefixtures("plan_cache")
REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
AS_OF = "2024-11-04T06:00:00Z"
# One layout for every random example, so that they share one plan (a layout is a header).
LAYOUT = {
    "bom": False,
    "padded_headers": False,
    "quote_all": False,
    "day_columns": ("day",),
    "orders": [(0, 1, 2), (0, 1, 2, 3), (0, 1)],
}


def export(data: Path, db: Path, out: Path, *options: str) -> str:
    """`storemon export` in-process; its stderr and stdout."""
    args = ["export", "--data", str(data), "--db", str(db), "--out", str(out), *options]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output


def without_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any use of dbt by the export fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the export ran dbt although its plan was cached")

    monkeypatch.setattr(export_module, "run_dbt", refuse)


def analyst_build(data: Path, folder: Path, as_of: str, interpolation: str = "nearest") -> Path:
    """What an analyst's `dbt build` of the same files builds (the export's selection), SQL
    with the settings as literals; then the report CSV written by the export's own query."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "building.duckdb"  # the same catalog name as the export's
    names = {"status_path": "store_status", "hours_path": "menu_hours"}
    names["timezones_path"] = "timezones"
    settings_ = {name: str(data / f"{stem}.csv") for name, stem in names.items()}
    settings_.update(report_time=as_of, interpolation=interpolation)
    command = ["build", "--select", "resource_type:model", "tag:invariant"]
    run_dbt([*command, "--indirect-selection", "empty"], database, folder / "dbt", settings_)
    with duckdb.connect(str(database)) as connection:
        escaped = str(folder / "report.csv").replace("'", "''")
        connection.execute(f"copy ({report_query()}) to '{escaped}' (header, delimiter ',')")
    return database


def contents(database: Path) -> dict:
    """Every relation's rows (sorted) and every DuckDB comment of a database."""
    with duckdb.connect(str(database), read_only=True) as connection:
        relations = connection.execute(
            "select table_name, 'table', comment from duckdb_tables() union all "
            "select view_name, 'view', comment from duckdb_views() where not internal "
            "order by 1"
        ).fetchall()
        columns = connection.execute(
            "select table_name, column_name, data_type, comment from duckdb_columns() "
            "order by table_name, column_index"
        ).fetchall()
        rows = {
            name: sorted(connection.execute(f'select * from "{name}"').fetchall(), key=repr)
            for name, _, _ in relations
        }
    return {"relations": relations, "columns": columns, "rows": rows}


def assert_same(plan_db: Path, plan_csv: Path, analyst_db: Path) -> None:
    got, expected = contents(plan_db), contents(analyst_db)
    assert got["relations"] == expected["relations"]
    assert got["columns"] == expected["columns"]
    for name, rows in expected["rows"].items():
        assert got["rows"][name] == rows, name
    assert plan_csv.read_bytes() == (analyst_db.parent / "report.csv").read_bytes()


def test_the_plan_builds_what_dbt_builds_on_the_sample_data(tmp_path, plan_cache, monkeypatch):
    """The sample data as files, with a rejected row of each kind: the first export records
    the plan with dbt, the second runs it without dbt; both equal an analyst's dbt build."""
    db, out = tmp_path / "storemon.duckdb", tmp_path / "report.csv"
    recorded = export(SEEDS, db, out, "--as-of", AS_OF)
    assert len(list((plan_cache / "plans").glob("*.json"))) == 1
    first = out.read_bytes()
    without_dbt(monkeypatch)
    replayed = export(SEEDS, db, out, "--as-of", AS_OF)
    assert replayed == recorded  # the same messages: stores and rejected rows counted
    assert out.read_bytes() == first
    monkeypatch.undo()
    analyst = analyst_build(SEEDS, tmp_path / "analyst", AS_OF)
    assert_same(db, out, analyst)
    with duckdb.connect(str(db), read_only=True) as connection:
        rejected = connection.execute("select count(*) from rejected_rows").fetchone()[0]
    assert rejected == 7  # docs/cli.md: the sample has 7 rejected rows, numbered by the plan too


def test_the_plan_runs_without_importing_dbt(tmp_path):
    db, out = tmp_path / "storemon.duckdb", tmp_path / "report.csv"
    export(SEEDS, db, out)
    first = out.read_bytes()
    script = (
        "import sys; sys.modules['dbt'] = None\n"  # any `import dbt...` now fails
        "from storemon.cli import cli\n"
        f"cli(['export', '--data', {str(SEEDS)!r}, '--db', {str(db)!r}, '--out', {str(out)!r}])"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == first


def test_a_changed_project_file_is_recompiled_never_run_from_the_old_plan(
    tmp_path, plan_cache, monkeypatch
):
    """A plan recorded from one project is not used for a changed one: a model's description
    edited (which only dbt's comment statements carry) shows in the next export's database."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, copy / name)
    for folder in ("models", "macros", "seeds", "tests"):
        shutil.copytree(REPO / folder, copy / folder, ignore=shutil.ignore_patterns("*.py"))
    monkeypatch.setattr(project, "project_dir", lambda: copy)
    db, out = tmp_path / "storemon.duckdb", tmp_path / "report.csv"
    export(SEEDS, db, out)
    marts = copy / "models" / "marts" / "_marts__models.yml"
    old = "The report, one row per store"
    assert old in marts.read_text()
    marts.write_text(marts.read_text().replace(old, "The changed report, one row per store"))
    export(SEEDS, db, out)
    with duckdb.connect(str(db), read_only=True) as connection:
        (comment,) = connection.execute(
            "select comment from duckdb_tables() where table_name = 'store_uptime_report'"
        ).fetchone()
    assert comment.startswith("The changed report, one row per store")
    assert len(list((plan_cache / "plans").glob("*.json"))) == 2


def test_a_failing_plan_fails_with_dbts_own_message(tmp_path):
    """An unparseable --as-of stops the plan; dbt then runs and says what is wrong, as it
    does without a plan, and the previous report stays."""
    db, out = tmp_path / "storemon.duckdb", tmp_path / "report.csv"
    export(SEEDS, db, out, "--as-of", AS_OF)
    before = out.read_bytes()
    args = ["export", "--data", str(SEEDS), "--out", str(out), "--as-of", "2024-13-01 00:00:00"]
    with_plan = CliRunner().invoke(cli, [*args, "--db", str(db)])
    fresh = CliRunner().invoke(cli, [*args, "--db", str(tmp_path / "fresh.duckdb")])
    assert with_plan.exit_code == fresh.exit_code == 1
    assert with_plan.output == fresh.output
    assert "report_time '2024-13-01 00:00:00' is not a timestamp" in with_plan.output
    assert out.read_bytes() == before


def test_inputs_with_another_header_get_their_own_plan(tmp_path, plan_cache):
    """The compiled SQL picks columns by header name: reordered columns are another plan."""
    polls = [("s", "active", "2024-11-04 05:30:00 UTC")]
    first = write_inputs(tmp_path / "a", polls, [], [("s", "UTC")])
    second = tmp_path / "b"
    second.mkdir()
    (second / "store_status.csv").write_text(
        "timestamp_utc,store_id,status\n2024-11-04 05:30:00 UTC,s,inactive\n"
    )
    for name in ("menu_hours.csv", "timezones.csv"):
        shutil.copy(first / name, second / name)
    db = tmp_path / "storemon.duckdb"
    export(first, db, tmp_path / "a.csv")
    export(second, db, tmp_path / "b.csv")
    export(first, db, tmp_path / "a2.csv")  # its plan, still there
    assert len(list((plan_cache / "plans").glob("*.json"))) == 2
    assert (tmp_path / "a.csv").read_text().splitlines()[1] == "s,60.00,24.00,168.00,0.00,0.00,0.00"
    assert (tmp_path / "b.csv").read_text().splitlines()[1] == "s,0.00,0.00,0.00,60.00,24.00,168.00"
    assert (tmp_path / "a2.csv").read_bytes() == (tmp_path / "a.csv").read_bytes()


@pytest.fixture(scope="module")
def shared_db():
    """One database for every random example, so that they run one recorded plan."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "storemon.duckdb"


@pytest.mark.parametrize("interpolation", ["nearest", "previous"])
@settings(max_examples=examples(4), deadline=None, suppress_health_check=SLOW)
@given(scenario=scenarios(use_as_of=True))
def test_the_plan_equals_dbt_on_random_inputs(interpolation, scenario, shared_db):
    scenario.layout = LAYOUT
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        data = folder / "data"
        data.mkdir()
        for path, stem in zip(
            write_scenario(scenario, folder),
            ("store_status", "menu_hours", "timezones"),
            strict=True,
        ):
            path.rename(data / f"{stem}.csv")
        out = folder / "report.csv"
        options = ["--as-of", scenario.as_of, "--interpolation", interpolation]
        export(data, shared_db, out, *options)
        export(data, shared_db, out, *options)  # the plan, recorded by the first at the latest
        analyst = analyst_build(data, folder / "analyst", scenario.as_of, interpolation)
        assert_same(shared_db, out, analyst)


def test_the_default_zone_from_the_environment_reaches_the_plan(tmp_path, monkeypatch):
    """STOREMON_DEFAULT_TIMEZONE is not in the plan's key: the plan reads it as a variable."""
    polls = [
        ("s", "active", "2024-11-04 05:00:00 UTC"),
        ("s", "inactive", "2024-11-04 05:30:00 UTC"),
    ]
    data = write_inputs(tmp_path / "data", polls, [("s", 0, "00:00", "06:00")], [])
    db = tmp_path / "storemon.duckdb"
    export(data, db, tmp_path / "chicago.csv", "--as-of", AS_OF)  # records the plan
    monkeypatch.setenv("STOREMON_DEFAULT_TIMEZONE", "UTC")
    without_dbt(monkeypatch)
    export(data, db, tmp_path / "utc.csv", "--as-of", AS_OF)
    # Nearest: active until 05:15 UTC, inactive after. In UTC, Monday 00:00-06:00 is open:
    # 15 min up and 45 down in the last hour, 5.25 h and 0.75 h in the day and the week.
    utc = (tmp_path / "utc.csv").read_text().splitlines()[1]
    assert utc == "s,15.00,5.25,5.25,45.00,0.75,0.75"
    # In Chicago it is 06:00-12:00 UTC today (after the report time) and 05:00-11:00 UTC a
    # week ago, of which 06:00-11:00 is in the week: 5 h, all active.
    chicago = (tmp_path / "chicago.csv").read_text().splitlines()[1]
    assert chicago == "s,0.00,0.00,5.00,0.00,0.00,0.00"


# ------------------------------------------------------------------------ the cache folder


def test_a_new_databases_first_export_runs_the_plan_another_database_recorded(tmp_path, plan_cache):
    """One export records the plan in the cache; the first export of another database, in
    another folder and under another name (the catalog of a DuckDB file is its stem), runs it
    in a process where dbt cannot be imported, and builds the same tables and CSV as the dbt
    build of the first."""
    first_db, first_out = tmp_path / "storemon.duckdb", tmp_path / "report.csv"
    export(SEEDS, first_db, first_out, "--as-of", AS_OF)
    (recorded,) = (plan_cache / "plans").glob("*.json")
    # Nothing in the plan names a database, a folder or an input file of this export.
    assert str(tmp_path) not in recorded.read_text()
    assert "storemon.duckdb" not in recorded.read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    second_db, second_out = elsewhere / "north shops.duckdb", elsewhere / "north.csv"
    script = (
        "import sys; sys.modules['dbt'] = None\n"  # any `import dbt...` now fails
        "from storemon.cli import cli\n"
        f"cli(['export', '--data', {str(SEEDS)!r}, '--db', {str(second_db)!r},"
        f" '--out', {str(second_out)!r}, '--as-of', {AS_OF!r}])"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not (elsewhere / "north shops.dbt" / "target").exists()  # dbt never ran there
    assert second_out.read_bytes() == first_out.read_bytes()
    assert contents(second_db) == contents(first_db)


def counting_dbt_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the export's dbt runs (each one a list item)."""
    runs: list[int] = []

    def counted(*args, **kwargs):
        runs.append(1)
        return run_dbt(*args, **kwargs)

    monkeypatch.setattr(export_module, "run_dbt", counted)
    return runs


def test_an_unwritable_cache_still_exports(tmp_path, monkeypatch):
    """A cache folder that cannot be created (its parent is a file): every export runs dbt and
    succeeds, with the same report each time."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("STOREMON_CACHE_DIR", str(blocker / "cache"))
    runs = counting_dbt_runs(monkeypatch)
    db = tmp_path / "storemon.duckdb"
    export(SEEDS, db, tmp_path / "first.csv", "--as-of", AS_OF)
    export(SEEDS, db, tmp_path / "second.csv", "--as-of", AS_OF)
    assert len(runs) == 2
    assert (tmp_path / "first.csv").read_bytes() == (tmp_path / "second.csv").read_bytes()


# A plan file cut short, one that is not a plan this version records, and one not even text.
DAMAGED_PLANS = [
    b'{"format": 1, "sett',
    b'{"format": 1, "settings": {}, "variables": [], "nodes": [{"name": "x", "kind": "test"}]}',
    b"\xff",
]


def test_a_plan_that_cannot_be_read_is_ignored(tmp_path, plan_cache, monkeypatch):
    """A damaged plan: the export runs dbt, which records the plan again, and writes the same
    report."""
    db = tmp_path / "storemon.duckdb"
    export(SEEDS, db, tmp_path / "first.csv")
    (recorded,) = (plan_cache / "plans").glob("*.json")
    key = recorded.stem
    runs = counting_dbt_runs(monkeypatch)
    for number, damage in enumerate(DAMAGED_PLANS, start=1):
        recorded.write_bytes(damage)
        export(SEEDS, db, tmp_path / "again.csv")
        assert len(runs) == number
        assert plan.load(plan_cache / "plans", key) is not None  # recorded again
        assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "first.csv").read_bytes()


def test_the_cache_folder_follows_the_xdg_specification(tmp_path, monkeypatch):
    monkeypatch.setenv("STOREMON_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert plan.plans_dir() == tmp_path / "mine" / "plans"
    monkeypatch.delenv("STOREMON_CACHE_DIR")
    assert plan.plans_dir() == tmp_path / "xdg" / "storemon" / "plans"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert plan.plans_dir() == tmp_path / "home" / ".cache" / "storemon" / "plans"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert plan.plans_dir() == tmp_path / "home" / ".cache" / "storemon" / "plans"


def test_the_cache_keeps_the_most_recently_used_plans(tmp_path):
    """Writes leave no temporary file; past KEEP_PLANS the least recently used plans go, a
    plan read counting as used."""
    folder = tmp_path / "plans"
    small = {"format": plan.PLAN_FORMAT, "settings": {}, "variables": [], "nodes": []}
    keys = [f"{n:032x}" for n in range(plan.KEEP_PLANS + 2)]
    for age, key in enumerate(keys):
        plan.save(folder, key, small)
        # Distinct times, oldest first, whatever the file system's clock resolution.
        os.utime(plan.plan_path(folder, key), (1_000_000 + age, 1_000_000 + age))
    assert plan.load(folder, keys[0]) is None  # pruned when the newest were saved
    assert plan.load(folder, keys[2]) == small  # now the most recently used
    plan.save(folder, "f" * 32, small)
    kept = sorted(path.stem for path in folder.iterdir())
    assert kept == sorted([keys[2], *keys[4:], "f" * 32])
    assert len(kept) == plan.KEEP_PLANS
    assert json.loads(plan.plan_path(folder, keys[2]).read_text()) == small


def test_a_plan_run_on_a_callers_connection_leaves_its_instance_settings_alone(tmp_path):
    """The live status runs a recorded plan on the service's inbox: the export's memory limit
    and the on-run-start hook's thread count, both settings of the whole instance, stay as the
    inbox set them; a plan run on its own database applies both."""
    recorded = {
        "format": plan.PLAN_FORMAT,
        "settings": {"memory_limit": "3GB", "TimeZone": "UTC"},
        "variables": [],
        "nodes": [
            {
                "name": "operation.storemon.threads",
                "kind": "hook",
                "statements": ["set threads = 1"],
            },
            {
                "name": "probe",
                "kind": "model",
                "statements": [
                    "create or replace table probe as select current_setting('threads') as threads,"
                    " current_setting('memory_limit') as memory_limit"
                ],
            },
        ],
    }
    with duckdb.connect(config={"threads": 2, "memory_limit": "200MB"}) as inbox:
        before = inbox.execute(
            "select current_setting('threads'), current_setting('memory_limit')"
        ).fetchone()
        plan.run(recorded, None, {}, connection=inbox)  # type: ignore[arg-type]
        assert inbox.execute("select threads, memory_limit from probe").fetchone() == before
        assert before[0] == 2
    database = tmp_path / "own.duckdb"
    plan.run(recorded, database, {})
    with duckdb.connect(str(database)) as own:
        threads, memory_limit = own.execute("select threads, memory_limit from probe").fetchone()
    with duckdb.connect(config={"memory_limit": "3GB"}) as fresh:
        recorded_limit = fresh.execute("select current_setting('memory_limit')").fetchone()[0]
    assert (threads, memory_limit) == (1, recorded_limit)


def test_every_node_of_a_recorded_plan_waits_for_the_models_it_refs(tmp_path, plan_cache):
    """The plan runs nodes side by side, each after the nodes it reads, found from the
    statements dbt ran: every `ref` of a model's or test's SQL file must be among them. (Without
    --as-of: with it, the report's clock reads no polls, and its SQL does not ref them.)"""
    export(SEEDS, tmp_path / "storemon.duckdb", tmp_path / "report.csv")
    (recorded_file,) = (plan_cache / "plans").glob("*.json")
    nodes = [n for n in json.loads(recorded_file.read_text())["nodes"] if n["kind"] != "hook"]
    names = [node["name"] for node in nodes]
    sources = {
        path.stem: path.read_text()
        for folder in ("models", "tests/singular")
        for path in (REPO / folder).rglob("*.sql")
    }
    checked = 0
    for node, needs in zip(nodes, plan._dependencies(nodes), strict=True):
        if node["name"] not in sources:  # a generic test: it reads the model it is named for
            model = next(n for n in names if f"_{n}_" in node["name"])
            refs = {model}
        else:
            refs = set(re.findall(r"ref\(\s*'(\w+)'\s*\)", sources[node["name"]]))
            checked += 1
        assert refs <= {names[i] for i in needs}, node["name"]
    assert checked >= 15


def slow_and_independent_plan(failing: bool = False) -> dict:
    """A plan of a slow model, a model that reads it, and a model that reads nothing (or, with
    `failing`, one that fails)."""
    independent = "select * from no_such_table" if failing else "select 1 as one"
    return {
        "format": plan.PLAN_FORMAT,
        "settings": {},
        "variables": [],
        "nodes": [
            {
                "name": "slow",
                "kind": "model",
                "statements": [
                    'create table "slow" as select sum(i) total from range(300000000) t(i)'
                ],
            },
            {
                "name": "reader",
                "kind": "model",
                "statements": ['create table "reader" as select total from "slow"'],
            },
            {
                "name": "independent",
                "kind": "model",
                "statements": [f'create table "independent" as {independent}'],
            },
        ],
    }


def test_a_model_that_reads_nothing_runs_beside_a_slow_one(tmp_path):
    finished: list[str] = []
    database = tmp_path / "own.duckdb"
    plan.run(slow_and_independent_plan(), database, {}, on_node=lambda n: finished.append(n.name))
    assert finished == ["independent", "slow", "reader"]  # in the plan's order: slow first
    with duckdb.connect(str(database)) as connection:
        total = connection.execute("select total from reader").fetchone()[0]
    assert total == 3 * 10**8 * (3 * 10**8 - 1) // 2


def test_an_engine_of_one_thread_runs_one_node_at_a_time(tmp_path):
    """STOREMON_ENGINE_THREADS=1 (the on-run-start hook's `set threads = 1`): one core, so
    the nodes run one after the other, in the plan's order."""
    recorded = slow_and_independent_plan()
    hook = {"name": "operation.storemon.threads", "kind": "hook", "statements": ["set threads=1"]}
    recorded["nodes"].insert(0, hook)
    finished: list[str] = []
    plan.run(recorded, tmp_path / "own.duckdb", {}, on_node=lambda n: finished.append(n.name))
    assert finished == ["slow", "reader", "independent"]


def test_a_failing_node_stops_the_plan_before_the_nodes_that_wait(tmp_path):
    """The failure is the failing node's own; the slow model running beside it is
    interrupted and the model that reads it never starts."""
    database = tmp_path / "own.duckdb"
    finished: list[str] = []
    with pytest.raises(plan.PlanFailed, match="no_such_table"):
        plan.run(
            slow_and_independent_plan(failing=True),
            database,
            {},
            on_node=lambda n: finished.append(n.name),
        )
    assert finished == []
    with duckdb.connect(str(database)) as connection:
        tables = connection.execute("select table_name from duckdb_tables()").fetchall()
    assert tables == []
