"""`GET /metrics` (Prometheus' text format, behind the token): request latencies by route,
polls stored, rows rejected by reason, report durations and the report queue."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture(scope="module")
def client(service_client):
    with service_client(keep_reports=2) as client:
        yield client


def samples(client) -> dict[tuple, float]:
    """Every sample as {(name, sorted labels): value}."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_metrics_want_the_token(client):
    answer = client.get("/metrics", headers={"Authorization": ""})
    assert answer.status_code == 401


def test_metrics_count_polls_rejections_requests_and_reports(client):
    polls = [
        {"store_id": "m1", "status": "active", "timestamp_utc": "2024-11-04 05:00:00 UTC"},
        {"store_id": "m1", "status": "inactive", "timestamp_utc": "2024-11-04 05:30:00 UTC"},
    ]
    assert client.post("/polls", json=polls).status_code == 200
    assert client.post("/poll", json=polls[0]).status_code == 200  # a retry: stored once
    bad = [
        {"store_id": "m2", "status": "maybe", "timestamp_utc": "2024-11-04 05:00:00 UTC"},
        {"store_id": "m2", "status": "active", "timestamp_utc": "yesterday"},
        {"store_id": "m2", "status": "closed", "timestamp_utc": "2024-11-04 05:10:00 UTC"},
    ]
    assert client.post("/polls", json=bad).status_code == 422
    # An unparseable as_of is refused too, but it is not an input row.
    assert client.post("/trigger_report", json={"as_of": "soon"}).status_code == 422
    report_id = client.post("/trigger_report", json={}).json()["report_id"]
    deadline = time.monotonic() + 120
    while client.get(f"/get_report/{report_id}").json()["status"] == "Running":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    found = samples(client)
    assert found[("storemon_polls_stored", ())] == 2
    rejected = {
        dict(labels)["reason"]: value
        for (name, labels), value in found.items()
        if name == "storemon_rows_rejected_total"
    }
    assert rejected == {"unknown status": 2, "unparseable timestamp_utc": 1}
    assert found[("storemon_report_queue_length", ())] == 0
    assert found[("storemon_report_duration_seconds_count", ())] == 1
    assert found[("storemon_report_duration_seconds_bucket", (("le", "+Inf"),))] == 1
    assert found[("storemon_report_duration_seconds_sum", ())] > 0
    poll = (("method", "POST"), ("route", "/poll"), ("status", "200"))
    assert found[("storemon_http_request_duration_seconds_count", poll)] == 1
    report = (("method", "GET"), ("route", "/get_report/{report_id}"), ("status", "200"))
    assert found[("storemon_http_request_duration_seconds_count", report)] >= 1
    refused = (("method", "POST"), ("route", "/polls"), ("status", "422"))
    assert found[("storemon_http_request_duration_seconds_count", refused)] == 1
