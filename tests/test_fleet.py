"""`GET /status`'s refusals and documentation, the fleet page (`GET /fleet`, signed-in browsers
too, in headless Chromium: its screenshot is docs/fleet.png with STOREMON_ARTEFACTS=docs) and
the per-state gauges of /metrics, on a small fleet whose states are worked out by hand."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from support import STATUS_HEADER, TOKEN, finished, storemon_executable, write_inputs

from storemon.service.edges import COOKIE_NAME, login_cookie

NOW = datetime(2024, 11, 4, 12, 0)  # a Monday; every zone below is UTC
HOURS = [{"day": 0, "start_time_local": "13:00", "end_time_local": "17:00"}]


POLLS = [
    ("d1", "active", "2024-11-04 10:10:00"), ("d1", "inactive", "2024-11-04 11:10:00"),
    ("d1", "inactive", "2024-11-04 11:40:00"), ("d2", "inactive", "2024-11-04 11:50:00"),
    ("s1", "active", "2024-11-04 09:30:00"), ("u1", "active", "2024-11-04 10:00:00"),
    ("u1", "active", "2024-11-04 11:00:00"), ("c1", "inactive", "2024-11-03 12:00:00"),
]  # fmt: skip


@pytest.fixture(scope="module")
def fleet(service_client):
    """Stores, at 12:00 UTC on a Monday: d1 down since 11:10 (two inactive polls, after an
    active one), d2 down since 11:50; s1 silent (last poll 09:30: silent from 11:30), s2 never
    polled (silent); u1 up since 10:00; c1 closed (open 13:00-17:00 on Mondays only, polled
    inactive on Sunday: closed wins)."""
    with service_client(clock=lambda: NOW) as client:
        client.post("/polls", json=[dict(zip(STATUS_HEADER, row, strict=True)) for row in POLLS])
        for store in ("d1", "d2", "s1", "u1"):
            client.post("/register_store", json={"store_id": store, "timezone_str": "UTC"})
        client.post("/register_store", json={"store_id": "s2", "timezone_str": "UTC"})
        client.post("/register_store", json={"store_id": "c1", "timezone_str": "UTC",
                                             "business_hours": HOURS})  # fmt: skip
        client.app.state.service.live.settle()
        yield client


def test_states_by_hand(fleet):
    answer = fleet.get("/status").json()
    assert answer["status_at"] == "2024-11-04T12:00:00Z"
    assert answer["counts"] == {"down": 2, "silent": 2, "up": 1, "closed": 1}
    by_store = {row["store_id"]: row for row in answer["stores"]}
    assert list(by_store) == ["c1", "d1", "d2", "s1", "s2", "u1"]
    assert by_store["d1"] == {
        "store_id": "d1", "state": "down", "is_open": True,
        "last_poll_at": "2024-11-04T11:40:00Z", "last_status": "inactive",
        "state_since": "2024-11-04T11:10:00Z", "closes_at": None, "opens_at": None,
    }  # fmt: skip
    assert by_store["s1"]["state_since"] == "2024-11-04T11:30:00Z"
    assert by_store["s2"]["state"] == "silent" and by_store["s2"]["state_since"] is None
    assert by_store["u1"]["state_since"] == "2024-11-04T10:00:00Z"
    assert by_store["c1"]["state"] == "closed"
    assert by_store["c1"]["opens_at"] == "2024-11-04T13:00:00Z"


def test_the_answer_is_storemon_status_of_the_same_rows(fleet, tmp_path):
    """`storemon status --format json` of the same rows as files, at instants around the
    fleet's changes: the `stores` of `GET /status?at=` are its bytes."""
    stores = ["c1", "d1", "d2", "s1", "s2", "u1"]
    hours = [("c1", "0", "13:00", "17:00")]
    write_inputs(tmp_path, POLLS, hours, [(store, "UTC") for store in stores])
    for at in ("2024-11-04T12:00:00Z", "2024-11-04T13:00:00Z", "2024-11-04T13:40:00.000001Z"):
        done = subprocess.run(
            [storemon_executable(), "status", "--data", str(tmp_path), "--as-of", at,
             "--format", "json", "--db", str(tmp_path / "status.duckdb")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        answer = fleet.get("/status", params={"at": at})
        assert answer.text.endswith(',"stores":' + done.stdout.rstrip("\n") + "}")


def test_the_hook_counts_the_run(fleet):
    """The alerts' hook: each change carries the polls of its trailing run."""
    live = fleet.app.state.service.live
    heard = []
    live.subscribe(heard.append)
    try:
        fleet.post("/poll", json={"store_id": "d2", "status": "inactive",
                                  "timestamp_utc": "2024-11-04 11:55:00"})  # fmt: skip
        live.settle()
    finally:
        live.listeners.remove(heard.append)
    changes = [change for evaluation in heard for change in evaluation.changes]
    assert [(c.store_id, c.old.last_poll_at, c.new.last_poll_at, c.run_polls) for c in changes] == [
        ("d2", datetime(2024, 11, 4, 11, 50), datetime(2024, 11, 4, 11, 55), 2)
    ]
    assert heard[-1].at == NOW


@pytest.mark.parametrize("query", ["state=broken", "at=yesterday", "at=2024-11-04 25:00:00"])
def test_bad_queries_answer_422_and_store_nothing(fleet, query):
    polls = fleet.app.state.service.inbox.count_polls()
    answer = fleet.get(f"/status?{query}")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][:2] == ["query", query.split("=")[0]]
    assert fleet.app.state.service.inbox.count_polls() == polls


@pytest.mark.parametrize(
    "at", ["9999-12-31 23:59:59", "0001-01-01 00:00:00", "1970-01-01T00:00:00Z"]
)
def test_far_instants_answer_or_refuse_never_fail(fleet, at):
    answer = fleet.get("/status", params={"at": at})
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["detail"][0]["loc"] == ["query", "at"]


def test_openapi_documents_the_answers(fleet):
    paths = fleet.get("/openapi.json").json()["paths"]
    status = paths["/status"]["get"]
    assert {"200", "401", "422"} <= set(status["responses"])
    schema = status["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/StatusAnswer"}
    assert "text/html" in paths["/fleet"]["get"]["responses"]["200"]["content"]
    assert "401" in paths["/fleet"]["get"]["responses"]


def test_metrics_has_the_counts_per_state(fleet):
    text = fleet.get("/metrics").text
    for state, count in (("down", 2), ("silent", 2), ("up", 1), ("closed", 1)):
        assert f'storemon_stores{{state="{state}"}} {count}.0' in text


def test_fleet_page(fleet):
    page = fleet.get("/fleet")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "<meta http-equiv='refresh' content='30'>" in text
    assert "at 2024-11-04T12:00:00Z" in text
    # Down first, the longest first; then silent (never polled first).
    order = [text.index(f"<td>{store}</td>") for store in ("d1", "d2", "s2", "s1")]
    assert order == sorted(order)
    assert "<td>50 min</td>" in text and "<td>30 min</td>" in text  # d1, s1
    assert "<td>u1</td>" not in text and "<td>c1</td>" not in text
    # Before any report there is no store page to link to; then the latest report's.
    assert "href='/reports/" not in text
    report_id = fleet.post("/trigger_report", json={}).json()["report_id"]
    assert finished(fleet, report_id)["status"] == "Complete"
    assert f"href='/reports/{report_id}/stores/d1'" in fleet.get("/fleet").text


def test_a_signed_in_browser_opens_the_page_and_nothing_else(fleet):
    cookie = {COOKIE_NAME: login_cookie(TOKEN)}
    browser = fleet.__class__(fleet.app, cookies=cookie)
    assert browser.get("/fleet").status_code == 200
    assert browser.get("/status").status_code == 401
    assert browser.get("/fleet", cookies={}).status_code == 200  # the client's jar
    stranger = fleet.__class__(fleet.app)
    assert stranger.get("/fleet", headers={"accept": "text/html"}).status_code == 401


def test_chromium_shows_the_page(fleet, tmp_path):
    from test_html import run_chromium  # skips where chromium is missing, fails in CI

    page = tmp_path / "fleet.html"
    page.write_text(fleet.get("/fleet").text, encoding="utf-8")
    run = run_chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stderr.splitlines() if "CONSOLE" in line] == []
    assert "The fleet now" in run.stdout
    screenshot = tmp_path / "fleet.png"
    run = run_chromium(tmp_path, "--window-size=1000,640", f"--screenshot={screenshot}",
                       page.as_uri())  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    artefacts = os.environ.get("STOREMON_ARTEFACTS")
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artefacts) / "fleet.png")
