"""The service's pages: `GET /reports/{report_id}` as HTML for a browser and
`GET /reports/{report_id}/stores/{store_id}`, in-process with TestClient, and the served page
opened in headless Chromium."""

from __future__ import annotations

import pytest
from support import finished
from test_html import parse_page, run_chromium

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def report(service_client):
    """A Complete report: store 7011 is open 24/7 in UTC with one active poll; store 7012 is
    registered in Chicago but never polled (its measures are unknown)."""
    with service_client(keep_reports=2, max_upload_mb=1) as client:
        client.post("/register_store", json={"store_id": "7011", "timezone_str": "UTC"})
        client.post("/register_store", json={"store_id": "7012", "timezone_str": "America/Chicago"})
        client.post("/poll", json={"store_id": "7011", "status": "active",
                                   "timestamp_utc": "2024-11-03 12:00:00"})  # fmt: skip
        answer = client.post("/trigger_report", json={"as_of": "2024-11-04T06:00:00Z"})
        report_id = answer.json()["report_id"]
        assert finished(client, report_id)["status"] == "Complete"
        yield client, report_id


def test_report_page_for_a_browser_and_json_otherwise(report, tmp_path):
    client, report_id = report
    answer = client.get(f"/reports/{report_id}", headers=HTML)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    (tmp_path / "page.html").write_text(answer.text, encoding="utf-8")
    page = parse_page(tmp_path / "page.html")
    # 24/7, active for the whole week: up 60 min, 24 h, 168 h; never polled: unknown.
    assert page.ranking[1][1:] == ["7011", "60.00", "24.00", "168.00", "0.00", "0.00", "0.00"]
    assert page.ranking[2][1:] == ["7012"] + ["unknown"] * 6
    assert f"href='/reports/{report_id}/stores?store_id=7011'" in answer.text
    as_json = client.get(f"/reports/{report_id}")
    assert as_json.json() == client.get(f"/get_report/{report_id}").json()

    run = run_chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom",
                       (tmp_path / "page.html").as_uri())  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stderr.splitlines() if "CONSOLE" in line] == []
    assert run.stdout.count("<svg") == 2 and "mark-rect" in run.stdout


def test_store_page(report):
    client, report_id = report
    answer = client.get(f"/reports/{report_id}/stores/7011")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "<td>168.00" in answer.text and answer.text.count("<svg") == 1
    assert client.get(f"/reports/{report_id}/stores/nope").status_code == 404
    assert client.get("/reports/nope/stores/7011").status_code == 404
    openapi = client.get("/openapi.json").json()["paths"]
    assert "/reports/{report_id}/stores/{store_id}" in openapi


def test_store_page_shows_the_stores_incidents(report):
    from datetime import datetime

    client, report_id = report
    alerts = client.app.state.service.alerts
    for hour in (9, 10, 11):
        at = datetime(2024, 11, 4, hour)
        row = {"store_id": "7011", "state": "down", "is_open": True, "last_poll_at": at,
               "state_since": datetime(2024, 11, 4, 9)}  # fmt: skip
        alerts.observe([row], at)
    page = client.get(f"/reports/{report_id}/stores/7011").text
    assert "<table id=incidents>" in page
    assert "<td>down<td>2024-11-04 10:00:00<td>open<td>2 inactive polls in a row while open" in page
    assert "No incident." in client.get(f"/reports/{report_id}/stores/7012").text
