"""The service's reports from parsed rows equal `storemon export` of the same rows as files.

After a home's first report (dbt, which records the export's plan) the report worker runs the
plan with `stg_store_status` created from the polls' stored parsed values (see
storemon/service/worker.py). Hypothesis interleaves polls, registrations, uploads and reports
on one in-process server; after each report the test exports the rows it sent, kept as files,
and compares each store's CSV row and `store_uptime_report` row. Each example uses its own
stores and every report has an explicit as_of, so examples do not see each other's rows.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from contextlib import closing
from datetime import datetime, timedelta

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from support import finished, parse_report, write_inputs

from storemon import export, plan
from storemon.cli import cli

START = datetime(2024, 3, 1)
# Report times: one inside the first week, one a week later, one at the end of the polls.
AS_OF = ["2024-03-06T06:30:00Z", "2024-03-13T00:00:00Z", "2024-03-20T18:00:00Z"]
ZONES = [None, "America/New_York", "Europe/London", "Asia/Kolkata"]
TIMES = ["00:00", "08:00", "17:30", "23:00"]
STORES = ["a", "b", "c"]
EXAMPLE = itertools.count()
# The report time of the last report, while nothing has been stored since: a report of the same
# time is then that report again, without running the plan.
LAST_REPORT: dict[str, str] = {}

polls = st.lists(
    st.tuples(
        st.sampled_from(STORES),
        st.sampled_from(["active", "inactive"]),
        # Every 20 minutes over 20 days: polls in, before and after each report's week.
        st.integers(0, 20 * 72 - 1).map(lambda n: f"{START + timedelta(minutes=20 * n)}"),
    ),
    min_size=1,
    max_size=40,
)
hours = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(TIMES), st.sampled_from(TIMES)), max_size=4
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("polls"), polls),
        st.tuples(st.just("register"), st.sampled_from(STORES), st.sampled_from(ZONES), hours),
        st.tuples(
            st.just("upload"),
            st.lists(st.tuples(st.sampled_from(STORES), hours), max_size=2),
            st.lists(st.tuples(st.sampled_from(STORES), st.sampled_from(ZONES[1:])), max_size=2),
        ),
        st.tuples(st.just("report"), st.sampled_from(AS_OF)),
    ),
    min_size=1,
    max_size=6,
)


@pytest.fixture(scope="module")
def service(service_client):
    # Every report counted: all must be kept until compared.
    with service_client(keep_reports=100) as c:
        yield c


@pytest.fixture(scope="module")
def plan_runs():
    """Each run of the export's plan: whether it was given the parsed polls, and whether it
    finished (a plan that fails falls back to dbt, which would hide a broken staged path);
    and each run of dbt instead, as ("dbt", whether the database is built to be built on,
    whether it was made from the last one's): each pair its own plan. Only the service's
    reports (built in its `report.dbt`) count: not the live status's runs of its own plan (on a
    connection it holds), nor the exports the tests compare with."""
    runs, original, original_dbt = [], plan.run, export.run_dbt

    def recording(*args, **kwargs):
        if kwargs.get("connection") is not None:
            return original(*args, **kwargs)
        try:
            outcome = original(*args, **kwargs)
        except plan.PlanFailed:
            runs.append((bool(kwargs.get("staged")), False))
            raise
        runs.append((bool(kwargs.get("staged")), True))
        return outcome

    def recording_dbt(command, database, state, settings, **kwargs):
        if state.name == "report.dbt":
            runs.append(
                ("dbt", bool(settings.get("append_polls")), bool(settings.get("changed_from")))
            )
        return original_dbt(command, database, state, settings, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan, "run", recording)
        patch.setattr(export, "run_dbt", recording_dbt)
        yield runs


@pytest.fixture(scope="module")
def export_database(tmp_path_factory):
    """One database path for every export: its state folder keeps the plan dbt records once."""
    return tmp_path_factory.mktemp("export") / "export.duckdb"


def csv_file(header: list[str], rows: list[tuple]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=operations, final_as_of=st.sampled_from(AS_OF))
@example(  # zones and hours changed between two reports of one week, and late polls for it
    operations=[
        ("polls", [("a", "active", "2024-03-05 10:00:00"), ("b", "active", "2024-03-04 09:00:00"),
                   ("a", "inactive", "2024-03-05 12:00:00")]),
        ("register", "a", "America/New_York", [(1, "08:00", "17:30")]),
        ("report", AS_OF[0]),
        ("register", "a", "Asia/Kolkata", [(1, "00:00", "23:00"), (2, "23:00", "08:00")]),
        ("upload", [("b", [(0, "08:00", "17:30")])], [("b", "Europe/London")]),
        ("polls", [("a", "active", "2024-03-05 11:00:00"),
                   ("b", "inactive", "2024-03-05 01:00:00")]),
    ],
    final_as_of=AS_OF[0],
)  # fmt: skip
@example(  # the same report twice, nothing stored between: the second is the first again
    operations=[("polls", [("a", "active", "2024-03-12 10:00:00")]), ("report", AS_OF[1])],
    final_as_of=AS_OF[1],
)  # fmt: skip
def test_service_reports_equal_the_export_over_interleavings(
    service, plan_runs, export_database, tmp_path_factory, operations, final_as_of
):
    prefix = f"x{next(EXAMPLE)}-"
    sent: set[tuple] = set()  # polls: the inbox stores each once
    store_hours: dict[str, list[tuple]] = {}
    store_zones: dict[str, str] = {}
    files = tmp_path_factory.mktemp("files")
    for operation in [*operations, ("report", final_as_of)]:
        note(operation)
        kind = operation[0]
        if kind != "report":
            LAST_REPORT.clear()
        if kind == "polls":
            rows = [(prefix + store, status, at) for store, status, at in operation[1]]
            body = [
                dict(zip(("store_id", "status", "timestamp_utc"), r, strict=True)) for r in rows
            ]
            assert service.post("/polls", json=body).status_code == 200
            sent.update(rows)
        elif kind == "register":
            _, store, zone, days = operation
            registration = {
                "store_id": prefix + store,
                "business_hours": [
                    {"day": d, "start_time_local": s, "end_time_local": e} for d, s, e in days
                ],
            }
            if zone:
                registration["timezone_str"] = zone
            assert service.post("/register_store", json=registration).status_code == 200
            store_hours[prefix + store] = [(prefix + store, *day) for day in days]
            store_zones.pop(prefix + store, None)
            if zone:
                store_zones[prefix + store] = zone
        elif kind == "upload":
            _, hours_of, zones_of = operation
            hour_rows = [(prefix + s, *day) for s, days in hours_of for day in days]
            zone_rows = [(prefix + s, zone) for s, zone in zones_of]
            uploaded = {
                "menu_hours": ("h.csv", csv_file(
                    ["store_id", "day", "start_time_local", "end_time_local"], hour_rows)),
                "timezones": ("z.csv", csv_file(["store_id", "timezone_str"], zone_rows)),
            }  # fmt: skip
            assert service.post("/upload", files=uploaded).status_code == 200
            # A store named in the file gets exactly its rows there; the last zone row wins.
            for store in {row[0] for row in hour_rows}:
                store_hours[store] = [row for row in hour_rows if row[0] == store]
            store_zones.update(dict(zone_rows))
        else:
            data = write_inputs(
                files,
                sorted(sent),
                [row for rows in store_hours.values() for row in rows],
                sorted(store_zones.items()),
            )
            check_report(service, plan_runs, export_database, data, prefix, operation[1])


def check_report(service, plan_runs, database, data, prefix, as_of):
    """The report of the rows sent so far equals their export as files, store by store."""
    runs_before = len(plan_runs)
    answer = service.post("/trigger_report", json={"as_of": as_of})
    report = finished(service, answer.json()["report_id"])
    assert report["status"] == "Complete", report
    # The home's first report runs dbt, and so does its first of each other plan (one of the
    # latest poll, one made from the last one's database); every later one the plan, with the
    # parsed polls, but for a report of the same time as the last with nothing stored since.
    new_runs = plan_runs[runs_before:]
    if LAST_REPORT.get("as_of") == as_of:
        assert new_runs == []
    else:
        first_of_its_kind = new_runs[:1] == new_runs and new_runs[0] not in plan_runs[:runs_before]
        assert new_runs == [(True, True)] or (first_of_its_kind and new_runs[0][0] == "dbt")
    LAST_REPORT["as_of"] = as_of
    exported = CliRunner().invoke(
        cli, ["export", "--data", str(data), "--as-of", as_of, "--out", "-", "--db", str(database)]
    )
    assert exported.exit_code == 0, exported.output
    served = parse_report(service.get(report["url"]).text)
    expected = parse_report(exported.stdout)
    ours = {store: row for store, row in served.items() if store.startswith(prefix)}
    assert ours == expected
    # The bounds kept as polls arrive are those of all the stored polls.
    with closing(service.app.state.service.inbox.cursor()) as cursor:
        bounds = "select * from ({}) where starts_with(store_id, $1) order by store_id"
        assert (
            cursor.execute(bounds.format("from store_poll_bounds"), [prefix]).fetchall()
            == cursor.execute(
                bounds.format(
                    "select store_id, min(polled_at), max(polled_at) from polls group by all"
                ),
                [prefix],
            ).fetchall()
        )
    folder = service.app.state.service.worker.reports_folder(report["report_id"])
    table = "select * from {}.store_uptime_report where starts_with(store_id, $1) order by store_id"
    with duckdb.connect() as connection:
        connection.execute(f"attach '{folder / 'report.duckdb'}' as served (read_only)")
        connection.execute(f"attach '{database}' as exported (read_only)")
        assert (
            connection.execute(table.format("served"), [prefix]).fetchall()
            == connection.execute(table.format("exported"), [prefix]).fetchall()
        )


def test_a_report_from_parsed_polls_builds_the_tables_dbt_builds(service, plan_runs):
    """The same snapshot reported by dbt (no plan recorded: it parses the text) and by the plan
    from the parsed polls: every table with the same rows, types and comments (`source_file`
    names each report's own folder)."""
    polls = [
        {"store_id": f"t-{n % 3}", "status": ("active", "inactive")[n % 2],
         "timestamp_utc": f"2024-03-0{1 + n % 7} {n % 24:02}:17:00"}
        for n in range(60)
    ]  # fmt: skip
    assert service.post("/polls", json=polls).status_code == 200
    plans = service.app.state.service.worker.work / "report.dbt" / "plans"
    folders = []
    for forget_plans in (True, False):
        if forget_plans:
            for recorded in plans.glob("*.json"):
                recorded.unlink()
        else:  # the same report again: it must run the plan, not be the first one again
            service.app.state.service.worker.last_complete = None
        runs_before = len(plan_runs)
        answer = service.post("/trigger_report", json={"as_of": "2024-03-07T12:00:00Z"})
        report = finished(service, answer.json()["report_id"])
        assert report["status"] == "Complete", report
        assert plan_runs[runs_before:] == (
            [("dbt", False, False)] if forget_plans else [(True, True)]
        )
        folders.append(service.app.state.service.worker.reports_folder(report["report_id"]))
    with duckdb.connect() as connection:
        for name, folder in zip(("by_dbt", "by_plan"), folders, strict=True):
            connection.execute(f"attach '{folder / 'report.duckdb'}' as {name} (read_only)")

        def shape(database: str) -> list[tuple]:
            return (
                connection.execute(
                    "select table_name, column_name, data_type, comment from duckdb_columns()"
                    " where database_name = $1 order by all",
                    [database],
                ).fetchall()
                + connection.execute(
                    "select table_name, comment from duckdb_tables() where database_name = $1"
                    " order by all",
                    [database],
                ).fetchall()
            )

        assert shape("by_dbt") == shape("by_plan")
        tables = {table for table, *_ in shape("by_dbt")}
        assert {"stg_store_status", "store_uptime_report", "rejected_rows"} <= tables
        for table, *_ in connection.execute(
            "select table_name from duckdb_tables() where database_name = 'by_dbt'"
        ).fetchall():
            rows = [
                connection.execute(
                    f"select * exclude (source_file) from {name}.{table} order by all"
                    if table.startswith("stg_")
                    else f"select * from {name}.{table} order by all"
                ).fetchall()
                for name in ("by_dbt", "by_plan")
            ]
            assert rows[0] == rows[1], table
        # The week before the as_of: all but the 3 polls of March 7 after 12:00 (n = 13, 20, 41).
        assert connection.execute(
            "select count(*) from by_plan.stg_store_status where store_id like 't-%'"
        ).fetchall() == [(57,)]


def test_a_home_whose_plans_another_version_recorded_starts(service_client, tmp_path):
    """A new version of storemon (any change of the project) finds no status plan of its own
    in a home and records one, beside the other version's; its status and reports work."""
    home = tmp_path / "home"
    with service_client(home=home) as client:
        assert client.get("/status").status_code == 200
    (recorded,) = (home / "work" / "status.dbt").glob("*.json")
    recorded.rename(recorded.with_name("0" * 32 + ".json"))  # as if another version's
    with service_client(home=home) as client:
        poll = {"store_id": "s", "status": "active", "timestamp_utc": "2024-01-01 00:00:00"}
        assert client.post("/poll", json=poll).json() == {"stored": 1}
        assert client.get("/status").status_code == 200
        report = finished(client, client.post("/trigger_report").json()["report_id"])
        assert report["status"] == "Complete", report
    assert len(list((home / "work" / "status.dbt").glob("*.json"))) == 2


def test_a_restart_validates_with_the_recorded_staging_sql_without_dbt(
    service_client, tmp_path, monkeypatch
):
    """The first start records the staging SQL with the live status's plan (one dbt run); a
    restart validates with it and starts no dbt, even in a home moved to another folder, whose
    placeholders it then reads. A plan recorded by an earlier version, without it, is
    recorded again."""
    from storemon.service import worker as worker_module

    home, moved = tmp_path / "home", tmp_path / "moved"
    # Stamped more than 24 hours after the service's clock (which is now): refused as well.
    polls = {
        "bad": {"store_id": "7002", "status": "up", "timestamp_utc": "2024-01-01 00:00:00"},
        "future": {"store_id": "7002", "status": "active", "timestamp_utc": "2999-01-01 00:00:00"},
    }

    def check(client, good_at: str) -> None:
        good = {"store_id": "7002", "status": "active", "timestamp_utc": good_at}
        assert client.post("/poll", json=good).json() == {"stored": 1}
        for name, reason in (("bad", "unknown status"), ("future", "timestamp in the future")):
            answer = client.post("/poll", json=polls[name])
            assert answer.status_code == 422
            assert [p["reason"] for p in answer.json()["detail"]] == [reason]

    with service_client(home=home) as client:
        check(client, "2024-01-01 00:00:00")
    (recorded,) = (home / "work" / "status.dbt").glob("*.json")
    assert set(json.loads(recorded.read_text())["staging"]) == {
        "store_status", "menu_hours", "timezones"
    }  # fmt: skip
    home.rename(moved)

    def refuse(*args, **kwargs):
        raise AssertionError("the restart ran dbt")

    with monkeypatch.context() as patch:
        patch.setattr(worker_module, "run_dbt", refuse)
        with service_client(home=moved) as client:
            check(client, "2024-01-01 01:00:00")
            scans = client.app.state.service.inbox.validator.scans
            assert all(str(moved / "work" / "inputs") in scan for scan in scans.values())

    (recorded,) = (moved / "work" / "status.dbt").glob("*.json")
    earlier = json.loads(recorded.read_text())
    del earlier["staging"]
    recorded.write_text(json.dumps(earlier))
    with service_client(home=moved) as client:
        check(client, "2024-01-01 02:00:00")
    assert "staging" in json.loads(recorded.read_text())
