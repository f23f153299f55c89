"""`storemon serve`'s application in-process (FastAPI's TestClient): every endpoint of the
manual's docs/service.md and every error it answers. One application (token set, a 1 MB upload
limit, two reports kept) serves the whole module: starting one compiles the staging SQL with
dbt."""

from __future__ import annotations

import shutil
import time
from datetime import datetime

import duckdb
import pytest
from support import REPORT_HEADER, TOKEN, finished, parse_report


@pytest.fixture(scope="module")
def client(service_client):
    with service_client(keep_reports=2, max_upload_mb=1) as client:
        yield client


def stored_polls(client, store: str) -> list[tuple]:
    inbox = client.app.state.service.inbox
    return (
        inbox.cursor()
        .execute(
            "select store_id, polled_at::varchar, is_active from polls where store_id = $1"
            " order by all",
            [store],
        )
        .fetchall()
    )


def test_health_needs_no_token(client):
    answer = client.get("/health", headers={"Authorization": ""})
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


@pytest.mark.parametrize("header", ["", "Bearer wrong", f"Basic {TOKEN}", TOKEN])
@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/poll"), ("post", "/polls"), ("post", "/register_store"), ("post", "/upload"),
     ("post", "/trigger_report"), ("get", "/get_report/0"), ("get", "/reports")],
)  # fmt: skip
def test_every_endpoint_but_health_wants_the_token(client, header, method, path):
    answer = client.request(method, path, headers={"Authorization": header}, json={})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_poll_accepts_the_seeds_names_and_stores_a_retry_once(client):
    poll = {"id": 7001, "status": "Active ", "utc_timestamp": "2024-01-22 12:09:39.388884 UTC"}
    for _ in range(3):
        answer = client.post("/poll", json=poll)
        assert answer.status_code == 200 and answer.json() == {"stored": 1}
    assert stored_polls(client, "7001") == [("7001", "2024-01-22 12:09:39.388884", True)]


@pytest.mark.parametrize(
    ("poll", "field", "reason"),
    [
        ({"store_id": " ", "status": "active", "timestamp_utc": "2024-01-01 00:00:00"},
         "store_id", "empty store_id"),
        ({"store_id": "7002", "status": "up", "timestamp_utc": "2024-01-01 00:00:00"},
         "status", "unknown status"),
        ({"store_id": "7002", "status": "active", "timestamp_utc": "2024-02-30 00:00:00"},
         "timestamp_utc", "unparseable timestamp_utc"),
    ],
)  # fmt: skip
def test_poll_with_an_invalid_value_is_422_and_stores_nothing(client, poll, field, reason):
    answer = client.post("/poll", json=poll)
    assert answer.status_code == 422
    assert [(p["row"], p["field"], p["reason"]) for p in answer.json()["detail"]] == [
        (1, field, reason)
    ]
    assert stored_polls(client, "7002") == []


def test_poll_missing_a_field_is_422(client):
    answer = client.post("/poll", json={"store_id": "7002", "status": "active"})
    assert answer.status_code == 422
    assert stored_polls(client, "7002") == []


def test_a_group_of_concurrent_polls_answers_each_and_stores_exactly_the_valid_ones(
    client, monkeypatch
):
    """Requests waiting together are staged and committed as one group: a bad poll (or a bad
    row of a batch) fails its own request, row numbered within it, and no other; a request
    cancelled while it waits is dropped."""
    service = client.app.state.service
    batcher, inbox = service.batcher, service.inbox
    groups = []
    store = batcher._store

    def spy(cursor, batch):
        groups.append(len(batch))
        return store(cursor, batch)

    monkeypatch.setattr(batcher, "_store", spy)

    def poll(status: str, minute: int) -> dict:
        return {"store_id": "7100", "status": status, "timestamp_utc": f"2024-01-01 10:{minute}:00"}

    # The batcher blocks committing the first request, so the next five wait and form a group.
    with inbox.write_lock:
        first = batcher.submit([poll("active", 10)])
        deadline = time.monotonic() + 30
        while batcher.requests.qsize() or not groups:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # A request cancelled while it waits (its task cancelled) is dropped, stores nothing.
        batcher.submit([poll("active", 16)]).cancel()
        waiting = [
            batcher.submit([poll("active", 11)]),
            batcher.submit([poll("asleep", 12)]),
            batcher.submit([poll("inactive", 13)]),
            batcher.submit([poll("active", 14), poll("active", 99)]),
            batcher.submit([poll("inactive", 15)]),
        ]
        time.sleep(0.2)
        assert not any(future.done() for future in [first, *waiting])
    assert first.result(timeout=30) == 1
    assert groups == [1, 5]
    outcomes = [future.exception(timeout=30) or future.result() for future in waiting]
    assert [o if isinstance(o, int) else o.problems for o in outcomes] == [
        1,
        [{"row": 1, "field": "status", "reason": "unknown status",
          "values": '{"store_id":"7100","status":"asleep","timestamp_utc":"2024-01-01 10:12:00"}'}],
        1,
        [{"row": 2, "field": "timestamp_utc", "reason": "unparseable timestamp_utc",
          "values": '{"store_id":"7100","status":"active","timestamp_utc":"2024-01-01 10:99:00"}'}],
        1,
    ]  # fmt: skip
    assert stored_polls(client, "7100") == [
        ("7100", "2024-01-01 10:10:00", True),
        ("7100", "2024-01-01 10:11:00", True),
        ("7100", "2024-01-01 10:13:00", False),
        ("7100", "2024-01-01 10:15:00", False),
    ]


def test_polls_batch_is_all_or_nothing_and_names_the_row(client):
    batch = [
        {"store_id": "7003", "status": "active", "timestamp_utc": "2024-01-01T10:00:00Z"},
        {"store_id": "7003", "status": "inactive", "timestamp_utc": "2024-01-01T10:00:00+0100"},
        {"store_id": "7003", "status": "inactive", "timestamp_utc": "yesterday"},
    ]
    answer = client.post("/polls", json=batch)
    assert answer.status_code == 422
    assert [(p["row"], p["field"]) for p in answer.json()["detail"]] == [(3, "timestamp_utc")]
    assert stored_polls(client, "7003") == []
    answer = client.post("/polls", json=batch[:2])
    assert answer.json() == {"stored": 2}
    assert stored_polls(client, "7003") == [
        ("7003", "2024-01-01 09:00:00", False),
        ("7003", "2024-01-01 10:00:00", True),
    ]


def test_polls_as_csv_body(client):
    body = "\ufeff timestamp_utc ,store_id,status\n2024-01-01 08:00:00,7004,inactive\n"
    answer = client.post("/polls", content=body.encode(), headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200 and answer.json() == {"stored": 1}
    bad = "store_id,status,timestamp_utc\n7005,active,2024-01-01 08:00:00\n,active,2024-01-01\n"
    answer = client.post("/polls", content=bad.encode(), headers={"Content-Type": "text/csv"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["row"] == 2
    assert stored_polls(client, "7005") == []


def test_polls_body_that_is_not_an_array_is_422(client):
    answer = client.post("/polls", content=b'{"store_id": 1}')
    assert answer.status_code == 422


@pytest.mark.parametrize(
    ("hours", "zone", "field", "reason"),
    [
        ([{"day": 7, "start_time_local": "09:00", "end_time_local": "10:00"}], None,
         "day", "day not in 0-6"),
        ([{"dayOfWeek": 1, "start_time_local": "25:00", "end_time_local": "10:00"}], None,
         "start_time_local", "unparseable start_time_local"),
        ([{"day": 1, "start_time_local": "09:00", "end_time_local": "noon"}], None,
         "end_time_local", "unparseable end_time_local"),
        ([], "Mars/Olympus", "timezone_str", "invalid timezone"),
        ([], "PST", "timezone_str", "invalid timezone"),
    ],
)  # fmt: skip
def test_register_store_with_an_invalid_value_is_422_and_stores_nothing(
    client, hours, zone, field, reason
):
    registration = {"store_id": "7006", "business_hours": hours}
    if zone:
        registration["local_timezone"] = zone
    answer = client.post("/register_store", json=registration)
    assert answer.status_code == 422, answer.text
    assert [(p["field"], p["reason"]) for p in answer.json()["detail"]] == [(field, reason)]
    inbox = client.app.state.service.inbox.cursor()
    assert inbox.execute("from business_hours where store_id = '7006'").fetchall() == []
    assert inbox.execute("from timezones where store_id = '7006'").fetchall() == []


def test_register_store_with_an_empty_id_is_422(client):
    answer = client.post("/register_store", json={"id": "", "business_hours": []})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["reason"] == "empty store_id"


def test_register_store_replaces_zone_and_hours(client):
    inbox = client.app.state.service.inbox.cursor()
    first = {
        "id": "7007",
        "local_timezone": "asia/kolkata",
        "business_hours": [
            {"dayOfWeek": 0, "start_time_local": "9:00", "end_time_local": "17:00"},
            {"day": "1", "start_time_local": "22:00", "end_time_local": "02:00"},
        ],
    }
    assert client.post("/register_store", json=first).json() == {"stored": 2}
    second = {"store_id": "7007", "business_hours": [
        {"day": 3, "start_time_local": "10:00", "end_time_local": "11:00"}]}  # fmt: skip
    assert client.post("/register_store", json=second).json() == {"stored": 1}
    hours = inbox.execute(
        "select raw_day, raw_start_time_local from business_hours where store_id = '7007'"
    ).fetchall()
    assert hours == [("3", "10:00")]
    # No zone given: the stored one is dropped, so the store uses the default zone.
    assert inbox.execute("from timezones where store_id = '7007'").fetchall() == []


def test_upload_counts_rejected_rows_with_their_reasons(client):
    status = (
        b"store_id,status,timestamp_utc\n7008,active,2024-01-01 00:00:00 UTC\n"
        b"7008,maybe,2024-01-01 01:00:00 UTC\n,active,2024-01-01 02:00:00 UTC\n"
    )
    hours = b"store_id,dayOfWeek,start_time_local,end_time_local\n7008,8,09:00,10:00\n7008,2,9,10\n"
    zones = b"store_id,timezone_str\n7008,UTC\n7008,Europe/London\n7009,Nowhere\n"
    answer = client.post(
        "/upload",
        files={
            "store_status": ("polls.csv", status),
            "menu_hours": ("hours.csv", hours),
            "timezones": ("zones.csv", zones),
        },
    )
    assert answer.status_code == 200, answer.text
    files = answer.json()
    assert {k: (v["rows_read"], v["stored"], v["rejected"]) for k, v in files.items()} == {
        "store_status": (3, 1, 2),
        "menu_hours": (2, 0, 2),
        "timezones": (3, 1, 2),
    }
    reasons = {k: [(p["row"], p["reason"]) for p in v["first_rejected"]] for k, v in files.items()}
    assert reasons == {
        "store_status": [(2, "unknown status"), (3, "empty store_id")],
        "menu_hours": [(1, "day not in 0-6"), (2, "unparseable start_time_local")],
        "timezones": [(1, "superseded"), (3, "invalid timezone")],
    }
    zone = client.app.state.service.inbox.cursor().execute(
        "select raw_timezone_str from timezones where store_id = '7008'"
    )
    assert zone.fetchall() == [("Europe/London",)]


def test_upload_reads_parquet(client, tmp_path):
    path = tmp_path / "polls.parquet"
    duckdb.sql(
        "copy (select '7010' as store_id, 'inactive' as status,"
        f" '2024-01-01 05:00:00' as timestamp_utc) to '{path}'"
    )
    answer = client.post("/upload", files={"store_status": ("p.parquet", path.read_bytes())})
    assert answer.json()["store_status"]["stored"] == 1
    assert stored_polls(client, "7010") == [("7010", "2024-01-01 05:00:00", False)]


def test_upload_without_a_required_column_names_it(client):
    answer = client.post("/upload", files={"timezones": ("z.csv", b"store_id,zone\n1,UTC\n")})
    assert answer.status_code == 422
    assert "timezone_str" in answer.json()["detail"]


def test_body_over_the_upload_limit_is_413(client):
    big = b"store_id,status,timestamp_utc\n" + b"1,active,2024-01-01 00:00:00\n" * 40_000
    answer = client.post("/upload", files={"store_status": ("big.csv", big)})
    assert answer.status_code == 413
    answer = client.post("/polls", content=big, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 413
    assert stored_polls(client, "1") == []


def test_report_flow_json_csv_and_history(client):
    client.post("/register_store", json={"store_id": "7011", "timezone_str": "UTC"})
    client.post("/poll", json={"store_id": "7011", "status": "active",
                               "timestamp_utc": "2024-01-22 12:00:00"})  # fmt: skip
    answer = client.post("/trigger_report", json={"as_of": "2024-01-22T13:00:00Z"})
    assert answer.status_code == 200
    report_id = answer.json()["report_id"]
    report = finished(client, report_id)
    assert report["status"] == "Complete", report
    assert report["url"] == f"/reports/{report_id}/report.csv"
    assert report["as_of"] == "2024-01-22T13:00:00"
    assert report["stores"] >= 1 and report["rejected_rows"] == 0
    as_csv = client.get(f"/get_report/{report_id}", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = parse_report(as_csv.text)
    # 24/7 in UTC, one active poll: up for the whole of each window.
    assert rows["7011"] == ("60.00", "24.00", "168.00", "0.00", "0.00", "0.00")
    assert as_csv.text.splitlines()[0] == REPORT_HEADER
    assert client.get(report["url"]).text == as_csv.text
    assert client.get("/get_report", params={"report_id": report_id}).json() == report
    assert client.get("/reports").json()[0]["report_id"] == report_id
    # An analyst may open the report's own database while the server runs.
    folder = client.app.state.service.worker.reports_folder(report_id)
    with duckdb.connect(str(folder / "report.duckdb"), read_only=True) as database:
        assert database.execute(
            "select uptime_last_week from store_uptime_report where store_id = '7011'"
        ).fetchall() == [(168.0,)]
        assert database.execute("select count(*) from rejected_rows").fetchall() == [(0,)]
    assert sorted(p.name for p in (folder / "inputs").iterdir()) == [
        "menu_hours.parquet", "store_status.parquet", "timezones.parquet"]  # fmt: skip


def test_trigger_with_previous_and_no_body(client):
    assert finished(client, client.post("/trigger_report").json()["report_id"])["status"] == (
        "Complete"
    )
    answer = client.post("/trigger_report", json={"interpolation": "previous"})
    assert finished(client, answer.json()["report_id"])["interpolation"] == "previous"


@pytest.mark.parametrize("body", [{"as_of": "soon"}, {"interpolation": "linear"}])
def test_trigger_with_a_bad_value_is_422(client, body):
    assert client.post("/trigger_report", json=body).status_code == 422


@pytest.mark.parametrize("report_id", ["0" * 32, "not-an-id", "../../inbox.duckdb"])
def test_unknown_report_is_404(client, report_id):
    assert client.get(f"/get_report/{report_id}").status_code == 404
    assert client.get("/get_report", params={"report_id": report_id}).status_code == 404
    assert client.get(f"/reports/{report_id}/report.csv").status_code == 404


def test_reports_beyond_keep_reports_answer_410_but_stay_in_the_history(client):
    ids = []
    for minute in range(3):
        # A poll between triggers: three reports of different data, none shared.
        poll = {
            "store_id": "k1",
            "status": "active",
            "timestamp_utc": f"2024-05-01 10:0{minute}:00",
        }
        assert client.post("/poll", json=poll).status_code == 200
        ids.append(client.post("/trigger_report").json()["report_id"])
    for report_id in ids:
        finished(client, report_id)
    history = {r["report_id"]: r for r in client.get("/reports").json()}
    assert set(ids) <= set(history)
    # keep_reports = 2: only the two newest keep their files.
    assert client.get(f"/get_report/{ids[0]}").status_code == 410
    assert client.get(f"/reports/{ids[0]}/report.csv").status_code == 410
    assert client.get(f"/get_report/{ids[2]}").status_code == 200


def test_a_report_removed_after_its_history_row_was_read_is_410_not_500(client):
    """--keep-reports removes an old report's folder while requests for it may be under way:
    one that read the history row before the removal finds no file, and says it is gone."""
    report_id = client.post("/trigger_report").json()["report_id"]
    assert finished(client, report_id)["status"] == "Complete"
    service = client.app.state.service
    shutil.rmtree(service.worker.reports_folder(report_id))  # history still says it is there
    for path, headers in [
        (f"/reports/{report_id}/report.csv", {}),
        (f"/get_report/{report_id}", {"Accept": "text/csv"}),
        (f"/reports/{report_id}", {"Accept": "text/html"}),
        (f"/reports/{report_id}/stores/1", {}),
    ]:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 410, (path, answer.text)
        assert answer.json() == {"detail": f"report {report_id} was removed (--keep-reports)"}


def test_a_report_of_nothing_new_is_the_last_one_again_with_an_id_of_its_own(client, monkeypatch):
    """Triggered again with the last complete report's report time and interpolation and
    nothing stored since, a report does not run the plan: it has its own id and history row
    and the same files, which outlive the removal of the first. Another interpolation, or a
    poll stored since, runs the plan again."""
    from storemon.service import worker as worker_module

    def poll(status: str, at: str) -> None:
        body = {"store_id": "again-1", "status": status, "timestamp_utc": at}
        assert client.post("/poll", json=body).status_code == 200

    def report(**body) -> tuple[dict, str]:
        found = finished(client, client.post("/trigger_report", json=body).json()["report_id"])
        assert found["status"] == "Complete", found
        return found, client.get(found["url"]).text

    poll("active", "2024-06-03 10:00:00")
    first, first_csv = report(as_of="2024-06-03 11:00:00")
    # The alerts' own writes are not writes of what a report reads.
    inbox = client.app.state.service.inbox
    generation = inbox.generation
    at = datetime(2024, 6, 3, 10)
    row = {"store_id": "again-1", "state": "up", "is_open": True, "last_poll_at": at,
           "state_since": at}  # fmt: skip
    client.app.state.service.alerts.store.observe([row], at)
    assert inbox.generation == generation
    runs = []
    real_export = worker_module.export
    monkeypatch.setattr(
        worker_module,
        "export",
        lambda *args, **kwargs: runs.append(1) or real_export(*args, **kwargs),
    )
    again, again_csv = report(as_of="2024-06-03T11:00:00Z")  # the same instant
    assert runs == []
    assert again["report_id"] != first["report_id"]
    assert again["requested_at"] > first["requested_at"]
    assert again_csv == first_csv
    same = ("as_of", "stores", "rejected_rows", "interpolation")
    assert [again[name] for name in same] == [first[name] for name in same]
    assert parse_report(again_csv)["again-1"] == (
        "60.00",
        "24.00",
        "168.00",
        "0.00",
        "0.00",
        "0.00",
    )

    report(as_of="2024-06-03 11:00:00", interpolation="previous")
    assert runs == [1]
    # Two reports kept: the first's files are gone, those of the one made of them stay.
    assert client.get(first["url"]).status_code == 410
    assert client.get(again["url"]).text == first_csv

    poll("inactive", "2024-06-03 10:30:00")
    after_a_poll, after_a_poll_csv = report(as_of="2024-06-03 11:00:00", interpolation="previous")
    assert runs == [1, 1]
    assert parse_report(after_a_poll_csv)["again-1"][0] == "30.00"
    poll("inactive", "2024-06-03 10:30:00")  # sent again: stored once, but received
    report(as_of="2024-06-03 11:00:00", interpolation="previous")
    assert runs == [1, 1, 1]


def test_openapi_documents_every_endpoint_with_models(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ["/poll", "/polls", "/register_store", "/upload", "/trigger_report",
                 "/get_report/{report_id}", "/get_report", "/reports/{report_id}/report.csv",
                 "/reports", "/health"]:  # fmt: skip
        assert path in paths, path
    assert {"Poll", "StoreRegistration", "Report", "Stored", "UploadedFile"} <= set(
        spec["components"]["schemas"]
    )
    assert "text/csv" in paths["/polls"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_report_csv_of_a_running_report_is_409(client):
    service = client.app.state.service
    report_id = "f" * 32
    service.history.add_report(report_id, None, "nearest")
    try:
        assert client.get(f"/reports/{report_id}/report.csv").status_code == 409
        assert client.get(f"/get_report/{report_id}").json()["status"] == "Running"
    finally:
        service.history.update_report(report_id, status="Failed", error="test")


def test_a_report_reads_one_week_of_many_and_equals_the_export_of_all(client, tmp_path):
    """Eight weeks of polls stored: the report's snapshot holds the week, the last poll before
    it and one poll of a store seen only after the report time, and its CSV is the export of
    every row."""
    from datetime import datetime, timedelta

    from click.testing import CliRunner
    from support import write_inputs

    from storemon.cli import cli

    start, polls = datetime(2024, 3, 1), []
    for hour in range(8 * 7 * 24):
        for store in ("w1", "w2"):
            status = "active" if (hour // (5 if store == "w1" else 9)) % 2 else "inactive"
            polls.append((store, status, f"{start + timedelta(hours=hour, minutes=13)}"))
    polls += [("only-old", "active", "2024-03-02 00:00:00"),
              ("only-later", "inactive", "2024-05-01 00:00:00")]  # fmt: skip
    hours = [("w1", day, "08:00", "20:00") for day in range(7)] + [("w2", 6, "23:00", "01:00")]
    zones = [("w1", "America/New_York"), ("w2", "Europe/London")]
    rows = [dict(zip(("store_id", "status", "timestamp_utc"), row, strict=True)) for row in polls]
    assert client.post("/polls", json=rows).json() == {"stored": len(polls)}
    for store in ("w1", "w2"):
        client.post("/register_store", json={
            "store_id": store, "timezone_str": dict(zones)[store],
            "business_hours": [{"day": d, "start_time_local": s, "end_time_local": e}
                               for shop, d, s, e in hours if shop == store]})  # fmt: skip
    as_of = "2024-04-10T12:00:00Z"  # in the sixth week; US and UK clocks have changed
    report = finished(client, client.post("/trigger_report", json={"as_of": as_of}).json()[
        "report_id"])  # fmt: skip
    inputs = client.app.state.service.worker.reports_folder(report["report_id"]) / "inputs"
    snapshot = duckdb.sql(
        f"select store_id, count(*) from read_parquet('{inputs / 'store_status.parquet'}')"
        " where store_id in ('w1', 'w2', 'only-old', 'only-later') group by all order by all"
    ).fetchall()
    # 168 hourly polls in the week and the one before it, per store; one each of the others.
    assert snapshot == [("only-later", 1), ("only-old", 1), ("w1", 169), ("w2", 169)]
    # The stored values, in the input's columns: what the plan reads.
    assert duckdb.sql(
        f"select store_id, status, timestamp_utc::varchar from"
        f" read_parquet('{inputs / 'store_status.parquet'}') where store_id = 'only-old'"
    ).fetchall() == [("only-old", "active", "2024-03-02 00:00:00")]

    data = write_inputs(tmp_path / "files", polls, hours, zones)
    exported = CliRunner().invoke(
        cli, ["export", "--data", str(data), "--as-of", as_of, "--out", "-",
              "--db", str(tmp_path / "e.duckdb")],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    served = parse_report(client.get(report["url"]).text)
    expected = parse_report(exported.stdout)
    for store in ("w1", "w2", "only-old", "only-later"):
        assert served[store] == expected[store], store
    assert served["only-later"] == ("",) * 6 and served["only-old"] != ("",) * 6


def test_a_home_from_before_the_poll_bounds_gets_them_from_its_polls(service_client, tmp_path):
    """An inbox written before polls were kept in time order without a key and before
    store_poll_bounds existed opens with every poll kept, the key gone, the bounds taken from
    the polls; a retried poll is still stored once and reports see every poll."""
    polls = [("s", "2024-03-01 10:00:00", True), ("s", "2024-03-01 09:00:00", False),
             ("t", "2024-03-01 08:00:00", True)]  # fmt: skip
    with duckdb.connect(str(tmp_path / "inbox.duckdb")) as inbox:
        inbox.execute(
            "create table polls (store_id varchar not null, polled_at timestamp not null,"
            " is_active boolean not null, raw_store_id varchar, raw_status varchar,"
            " raw_timestamp_utc varchar, received_at timestamp not null,"
            " primary key (store_id, polled_at, is_active))"
        )
        for store, at, active in polls:
            inbox.execute(
                "insert into polls values ($1, $2::timestamp, $3, $1, $4, $2, now()::timestamp)",
                [store, at, active, "active" if active else "inactive"],
            )
    with service_client(home=tmp_path) as client:
        retried = {"store_id": "s", "status": "active", "timestamp_utc": "2024-03-01 10:00:00"}
        assert client.post("/polls", json=[retried, retried]).json() == {"stored": 2}
        with client.app.state.service.inbox.cursor() as cursor:
            assert cursor.execute(
                "select store_id, strftime(polled_at, '%H'), is_active from polls order by all"
            ).fetchall() == [("s", "09", False), ("s", "10", True), ("t", "08", True)]
            assert cursor.execute(
                "select count(*) from duckdb_constraints() where table_name = 'polls'"
                " and constraint_type = 'PRIMARY KEY' and database_name = 'inbox'"
            ).fetchone() == (0,)
            assert cursor.execute(
                "select store_id, strftime(first_polled_at, '%H'), strftime(last_polled_at, '%H')"
                " from store_poll_bounds order by store_id"
            ).fetchall() == [("s", "09", "10"), ("t", "08", "08")]
        report = finished(client, client.post("/trigger_report", json={}).json()["report_id"])
        assert report["status"] == "Complete" and report["stores"] == 2, report
        assert report["as_of"].startswith("2024-03-01T10:00:00"), report


def test_a_snapshot_of_many_row_groups_keeps_each_part_in_the_order_stored(tmp_path):
    """A report's input file lists first the last poll before the week of each store, then the
    week's polls, then a later poll of a store with none before the report time, each in the
    order stored, when the week spans several of DuckDB's row groups (scanned in parallel):
    a poll's position there is its number in the report's stg_store_status. Each row holds
    the stored values, in the input's columns."""
    from datetime import datetime

    from storemon.service.inbox import Inbox
    from storemon.service.worker import ReportJob, ReportWorker

    inbox = Inbox(tmp_path / "inbox.duckdb")
    # 2,000 stores polled every hour for nine days (432,000 polls, four row groups), stored
    # in time order but for a late upload of the day before the week, stored last.
    inbox.connection.execute("""
        insert into polls (store_id, polled_at, is_active, raw_store_id, raw_status,
            raw_timestamp_utc, received_at)
        select 's' || store, polled_at, is_active, 's' || store,
            if(is_active, 'active', 'inactive'), strftime(polled_at, '%Y-%m-%d %H:%M:%S'),
            now()
        from (
            select store, hour, (store + hour) % 3 != 0 as is_active,
                timestamp '2024-03-01' + to_hours(hour) + to_seconds(store) as polled_at
            from range(2000) as stores(store), range(216) as hours(hour)
        )
        order by hour between 23 and 46, polled_at, store;
        insert into polls (store_id, polled_at, is_active, raw_store_id, raw_status,
            raw_timestamp_utc, received_at) values
            ('later', timestamp '2024-03-20', true, 'later', 'active', '2024-03-20 00:00:00',
             now());
        insert into store_poll_bounds
        select store_id, min(polled_at), max(polled_at) from polls group by store_id;
    """)
    snapshot = inbox.cursor()
    snapshot.execute("begin")
    report_at = datetime(2024, 3, 9, 22, 59)  # the week starts at 2024-03-02 22:59
    job = ReportJob("r", snapshot, report_at, str(report_at), "nearest")
    worker = ReportWorker(inbox, history=None, home=tmp_path, keep_reports=1)
    worker.work.mkdir()
    inputs = worker._snapshot(job, tmp_path / "inputs", report_at)
    inbox.close()
    week = 168 * 2000
    files = duckdb.connect()
    files.execute(
        f"create view text as select file_row_number + 1 as n, * from"
        f" read_parquet('{inputs.status}', file_row_number = true)"
    )
    assert files.execute(
        "select count(*), count(*) filter (status != if((store_id[2:]::int"
        " + date_diff('hour', timestamp '2024-03-01', timestamp_utc)) % 3 != 0,"
        " 'active', 'inactive')) from text where store_id != 'later'"
    ).fetchall() == [(2000 + week, 0)]
    assert files.execute(
        "select n, timestamp_utc::varchar from text"
        f" where n in (1, 2000, 2001, 2002, {2000 + week}) or store_id = 'later' order by n"
    ).fetchall() == [
        (1, "2024-03-02 22:00:00"), (2000, "2024-03-02 22:33:19"),
        (2001, "2024-03-02 23:00:00"), (2002, "2024-03-02 23:00:01"),
        (2000 + week, "2024-03-09 22:33:19"), (2000 + week + 1, "2024-03-20 00:00:00"),
    ]  # fmt: skip
    assert files.execute(
        "select count(*) from (select lag(timestamp_utc) over (order by n) as previous,"
        f" timestamp_utc from text where n between 1 and {2000 + week})"
        " where previous >= timestamp_utc"
    ).fetchall() == [(0,)]
