"""Incidents and alerts in-process: the state machine on hand-written status rows (the flap
control, closing and reopening, silence), the outbox written with the changes, the webhook
deliverer against a real HTTP receiver that fails on purpose (signatures checked with the
Standard Webhooks library), GET /incidents, and a home written before alerts existed."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta

import duckdb
import pytest
from alert_receiver import Receiver
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from storemon.service.alerts.deliver import (
    alertmanager_alerts,
    backoff_seconds,
    retry_after_seconds,
    sign_webhook,
    webhook_key,
)
from storemon.service.alerts.incidents import OpenIncident, Rules, StatusRow, Track, step
from storemon.service.history import SCHEMA as HISTORY_SCHEMA
from storemon.service.inbox import SCHEMA as INBOX_SCHEMA

SECRET = "whsec_" + base64.b64encode(b"storemon test signing key 32 byt").decode()
DAY = datetime(2026, 3, 2)  # a Monday


def at(hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return DAY + timedelta(hours=hours, minutes=minutes)


def row(state: str, is_open: bool, last: str | None, since: str | None, store="s1") -> dict:
    return {
        "store_id": store,
        "state": state,
        "is_open": is_open,
        "last_poll_at": at(last) if last else None,
        "state_since": at(since) if since else None,
    }


def run(rows: list[dict], rules: Rules = Rules()) -> list[tuple[str, str, str] | None]:  # noqa: B008
    """The changes of a sequence of evaluations of one store, as (kind, state, reason)."""
    track, incident, changes = Track(), None, []
    for number, status in enumerate(rows):
        track, change = step(track, incident, StatusRow.of(status), rules)
        if change is None:
            changes.append(None)
            continue
        changes.append((change.kind, change.state, change.reason))
        if change.kind == "opened":
            incident = OpenIncident(f"i{number}", change.state, at("00:00"))
        else:
            incident = None
    return changes


# ---------------------------------------------------------------------- the state machine
def test_an_incident_opens_at_the_second_inactive_poll_while_open_and_resolves_when_up():
    assert run([
        row("up", True, "09:05", "09:05"),
        row("down", True, "10:05", "10:05"),  # 1 inactive poll: not yet
        row("down", True, "10:05", "10:05"),  # the timer: the same poll, not counted twice
        row("down", True, "11:05", "10:05"),  # 2
        row("down", True, "12:05", "10:05"),  # still in incident
        row("up", True, "13:05", "13:05"),
    ]) == [
        None, None, None,
        ("opened", "down", "2 inactive polls in a row while open"),
        None,
        ("resolved", "down", "up"),
    ]  # fmt: skip


def test_flapping_never_opens_an_incident():
    rows = []
    for hour in range(9, 19):
        state = "down" if hour % 2 else "up"
        rows.append(row(state, True, f"{hour}:00", f"{hour}:00"))
    assert run(rows) == [None] * len(rows)


def test_polls_seen_first_while_closed_do_not_count():
    assert run(
        [
            row("closed", False, "08:50", None),  # inactive, before opening
            row("down", True, "08:50", "08:50"),  # the timer at 09:00: open, but not a new poll
            row("down", True, "09:50", "08:50"),  # 1 counted
            row("down", True, "10:50", "08:50"),  # 2 counted: opens
        ]
    ) == [None, None, None, ("opened", "down", "2 inactive polls in a row while open")]


def test_closing_resolves_and_nothing_opens_while_closed():
    assert run([
        row("down", True, "20:00", "20:00"),
        row("down", True, "21:00", "20:00"),  # opens
        row("closed", False, "21:00", None),  # closes at 21:30: resolved, reason closed
        row("closed", False, "22:00", None),  # still inactive while closed: nothing
        row("closed", False, "23:00", None),
    ])[1:] == [
        ("opened", "down", "2 inactive polls in a row while open"),
        ("resolved", "down", "closed"),
        None,
        None,
    ]  # fmt: skip


def test_reopening_in_the_same_inactive_run_opens_at_once():
    # The run that began while open is still the trailing run: its two polls seen while open
    # count, so the first evaluation after reopening opens again (the store never came up).
    assert run([
        row("down", True, "20:00", "20:00"),
        row("down", True, "21:00", "20:00"),
        row("closed", False, "22:00", None),
        row("silent", True, "22:00", "24:00"),  # reopened next day, no recent poll
        row("down", True, "33:10", "20:00"),  # 09:10: the same run, 3 counted
    ])[2:] == [
        ("resolved", "down", "closed"),
        None,
        ("opened", "down", "3 inactive polls in a row while open"),
    ]  # fmt: skip


def test_an_active_poll_restarts_the_count():
    assert run(
        [
            row("down", True, "09:00", "09:00"),
            row("up", True, "10:00", "10:00"),
            row("down", True, "11:00", "11:00"),
            row("down", True, "12:00", "11:00"),
        ]
    ) == [None, None, None, ("opened", "down", "2 inactive polls in a row while open")]


def test_silent_alerts_only_when_enabled_and_a_down_incident_stays_open_through_silence():
    rows = [row("up", True, "09:00", "09:00"), row("silent", True, "09:00", "11:00")]
    assert run(rows) == [None, None]
    assert run(rows, Rules(alert_on_silent=True)) == [
        None, ("opened", "silent", "silent while open"),
    ]  # fmt: skip
    assert run([
        row("down", True, "09:00", "09:00"),
        row("down", True, "10:00", "09:00"),
        row("silent", True, "10:00", "12:00"),
        row("up", True, "13:00", "13:00"),
    ])[1:] == [
        ("opened", "down", "2 inactive polls in a row while open"),
        None,
        ("resolved", "down", "up"),
    ]  # fmt: skip


def test_alert_after_one_poll():
    assert run([row("down", True, "09:00", "09:00")], Rules(alert_after_polls=1)) == [
        ("opened", "down", "1 inactive polls in a row while open")
    ]


# ---------------------------------------------------------------------- receivers' formats
def test_the_signature_is_the_standard_webhooks_one():
    body = b'[{"incident_id":"x"}]'
    timestamp = int(time.time())
    signature = sign_webhook(webhook_key(SECRET), "msg_1", timestamp, body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp),
               "webhook-signature": signature}  # fmt: skip
    assert Webhook(SECRET).verify(body, headers) == [{"incident_id": "x"}]
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)


def test_alertmanager_alerts_fire_without_end_and_resolve_with_one():
    opened = {
        "incident_id": "i",
        "store_id": "s1",
        "state": "down",
        "started_at": "2026-03-02T10:00:00.000000Z",
        "resolved_at": None,
        "reason": "r",
    }
    resolved = {**opened, "resolved_at": "2026-03-02T11:00:00.000000Z", "reason": "up"}
    firing, ended = alertmanager_alerts([opened, resolved])
    assert firing["labels"] == {"alertname": "StoreIncident", "store_id": "s1", "state": "down"}
    assert firing["startsAt"] == "2026-03-02T10:00:00.000000Z" and "endsAt" not in firing
    assert ended["endsAt"] == "2026-03-02T11:00:00.000000Z"


def test_backoff_and_retry_after():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 9, 10, 50)] == [1, 2, 4, 8, 256, 300, 300]
    now = datetime(2026, 3, 2, 10, 0, 0)
    assert retry_after_seconds("7", now) == 7
    assert retry_after_seconds("Mon, 02 Mar 2026 10:00:30 GMT", now) == 30
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("999999", now) == 3600


# ---------------------------------------------------------------------- the service
def observe(client, rows: list[dict], when: str) -> list[dict]:
    return client.app.state.service.alerts.observe(rows, at(when))


def incident_rows(client) -> list[tuple]:
    inbox = client.app.state.service.inbox
    return (
        inbox.cursor()
        .execute(
            "select store_id, state, reason, resolved_at is null, resolution from incidents"
            " order by started_at, store_id"
        )
        .fetchall()
    )


def test_changes_and_their_deliveries_are_written_together(service_client):
    with service_client(
        webhook_url="http://127.0.0.1:9/unreachable", webhook_secret=SECRET,
        alertmanager_url="http://127.0.0.1:9", alertmanager_resend_seconds=3600,
    ) as client:  # fmt: skip
        stores = [f"s{n:04}" for n in range(1200)]
        observe(client, [row("down", True, "09:00", "09:00", s) for s in stores], "09:01")
        assert incident_rows(client) == []
        changes = observe(client, [row("down", True, "10:00", "09:00", s) for s in stores], "10:01")
        assert len(changes) == 1200
        cursor = client.app.state.service.inbox.cursor()
        # 1,200 changes: three deliveries per receiver (500, 500, 200), each change in one.
        assert cursor.execute(
            "select receiver, count(*), list(n order by seq) from (select d.receiver, d.seq,"
            " count(*) as n from deliveries d join delivery_changes c using (delivery_id)"
            " group by all) group by 1 order by 1"
        ).fetchall() == [("alertmanager", 3, [500, 500, 200]), ("webhook", 3, [500, 500, 200])]
        answer = client.get("/incidents", params={"store_id": "s0007"})
        assert answer.status_code == 200
        (incident,) = answer.json()
        assert incident["state"] == "down" and incident["resolved_at"] is None
        assert {d["receiver"] for d in incident["deliveries"]} == {"webhook", "alertmanager"}
        assert all(d["change"] == "opened" for d in incident["deliveries"])
        everything = client.get("/incidents", params={"status": "open", "limit": 5000})
        assert len(everything.json()) == 1200
        assert client.get("/incidents", params={"status": "resolved"}).json() == []


def test_a_refused_filter_is_a_422_that_changes_nothing(service_client):
    with service_client() as client:
        for params in ({"status": "firing"}, {"limit": 0}, {"limit": "many"}):
            answer = client.get("/incidents", params=params)
            assert answer.status_code == 422, params
            assert "detail" in answer.json()
        assert incident_rows(client) == []


def test_a_webhook_arrives_signed_after_503s_and_a_timeout_with_one_id(service_client):
    script = [("status", 503, 1), ("hang", 3), ("status", 500, None)]
    with Receiver(script) as receiver, service_client(
        webhook_url=receiver.url, webhook_secret=SECRET, alert_timeout=1
    ) as client:  # fmt: skip
        observe(client, [row("down", True, "09:00", "09:00")], "09:01")
        observe(client, [row("down", True, "10:00", "09:00")], "10:01")
        (accepted,) = receiver.wait_accepted(1, timeout=60)
        tries = receiver.requests[:4]
        assert [r["answer"][0:2] for r in tries] == [
            ("status", 503), ("hang", 3), ("status", 500), ("status", 200),
        ]  # fmt: skip
        assert len({r["headers"]["webhook-id"] for r in tries}) == 1
        # Retry-After: 1 honoured; then the back-off of the 2nd and 3rd failed tries.
        assert tries[1]["at"] - tries[0]["at"] >= 0.9
        (change,) = Webhook(SECRET).verify(accepted["body"], accepted["headers"])
        assert change["store_id"] == "s1" and change["state"] == "down"
        assert change["change"] == "opened" and change["resolved_at"] is None
        assert change["started_at"] == "2026-03-02T10:01:00.000000Z"

        observe(client, [row("up", True, "11:00", "11:00")], "11:01")
        _, resolved = receiver.wait_accepted(2, timeout=30)
        (change,) = Webhook(SECRET).verify(resolved["body"], resolved["headers"])
        assert (change["change"], change["reason"]) == ("resolved", "up")
        assert change["resolved_at"] == "2026-03-02T11:01:00.000000Z"

        (incident,) = client.get("/incidents").json()
        assert incident["resolution"] == "up"
        first, second = incident["deliveries"]
        assert (first["change"], first["status"], first["attempts"]) == ("opened", "delivered", 4)
        assert first["delivery_id"] == accepted["headers"]["webhook-id"]
        assert [a["status_code"] for a in first["last_attempts"]] == [503, None, 500, 200]
        assert first["last_attempts"][1]["error"]  # the timeout, named
        assert (second["change"], second["status"]) == ("resolved", "delivered")
        assert second["attempts"] == 1


def test_one_dead_receiver_does_not_delay_another(service_client):
    with Receiver([("hang", 30)] * 3) as dead, Receiver() as alive, service_client(
        webhook_url=alive.url, webhook_secret=SECRET,
        alertmanager_url=dead.url.removesuffix("/hook"), alert_timeout=20,
    ) as client:  # fmt: skip
        observe(client, [row("down", True, "09:00", "09:00")], "09:01")
        observe(client, [row("down", True, "10:00", "09:00")], "10:01")
        alive.wait_accepted(1, timeout=5)
        # Ingestion does not wait either.
        poll = {"store_id": "s2", "status": "active", "timestamp_utc": "2026-03-02 10:00:00 UTC"}
        answer = client.post("/poll", json=poll)
        assert answer.status_code == 200


def test_a_home_written_before_alerts_opens_with_every_row(service_client, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with duckdb.connect(str(home / "inbox.duckdb")) as connection:
        connection.execute(INBOX_SCHEMA)
        connection.execute(HISTORY_SCHEMA)
        connection.execute(
            "insert into polls (store_id, polled_at, is_active, raw_store_id, raw_status,"
            " raw_timestamp_utc, received_at) values ('7', '2026-03-02 10:00', false, '7',"
            " 'inactive', '2026-03-02 10:00:00 UTC', '2026-03-02 10:00:01')"
        )
        connection.execute(
            "insert into reports (report_id, requested_at, interpolation, status) values"
            " ('0123456789abcdef0123456789abcdef', '2026-03-02 10:00', 'linear', 'Failed')"
        )
    with service_client(home=home) as client:
        assert client.get("/incidents").json() == []
        assert [r["report_id"] for r in client.get("/reports").json()] == [
            "0123456789abcdef0123456789abcdef"
        ]
        assert client.app.state.service.inbox.count_polls() == 1


def test_incidents_are_in_the_openapi_schema_with_their_refusals(service_client):
    with service_client() as client:
        operation = client.get("/openapi.json").json()["paths"]["/incidents"]["get"]
        assert {"200", "401", "422"} <= set(operation["responses"])
        assert [p["name"] for p in operation["parameters"]] == ["status", "store_id", "limit"]


@pytest.mark.parametrize("secret", ["whsec_!!!", "whsec_"])
def test_a_bad_webhook_secret_is_refused(secret):
    with pytest.raises(ValueError):
        webhook_key(secret)


def test_serve_refuses_a_webhook_without_secret(tmp_path):
    from click.testing import CliRunner

    from storemon.cli import cli

    result = CliRunner().invoke(
        cli, ["serve", "--home", str(tmp_path / "h"), "--webhook-url", "http://127.0.0.1:1/"]
    )
    assert result.exit_code == 2 and "needs a secret" in result.output
    result = CliRunner().invoke(
        cli, ["serve", "--home", str(tmp_path / "h"), "--alertmanager-url", "ftp://x"]
    )
    assert result.exit_code == 2 and "not an http(s) URL" in result.output


def test_the_live_status_listener_feeds_the_new_rows(service_client):
    from storemon.service.live_hook import Evaluation, StatusChange, StatusRow

    def change(last: str) -> StatusChange:
        new = StatusRow("s9", "down", True, at(last), "inactive", at("09:00"), at("22:00"), None)
        return StatusChange("s9", None, new, run_polls=1)

    with service_client() as client:
        alerts = client.app.state.service.alerts
        alerts.listen(Evaluation(at("09:01"), (change("09:00"),)))
        alerts.listen(
            Evaluation(at("10:01"), (change("10:00"), StatusChange("gone", None, None, 0)))
        )
        assert incident_rows(client) == [
            ("s9", "down", "2 inactive polls in a row while open", True, None)
        ]


def test_polls_open_and_resolve_an_incident_through_the_live_status(service_client):
    """End to end in-process: polls stored -> the live status's evaluation -> an incident ->
    its webhook, verified. Store 'e2e' has no hours (open 24/7); the clock stands at 12:00."""
    clock = at("12:00")

    def poll(status: str, hhmm: str) -> None:
        body = {"store_id": "e2e", "status": status, "timestamp_utc": f"{at(hhmm)} UTC"}
        assert client.post("/poll", json=body).status_code == 200
        client.app.state.service.live.settle()

    with Receiver() as receiver, service_client(
        webhook_url=receiver.url, webhook_secret=SECRET, clock=lambda: clock
    ) as client:  # fmt: skip
        poll("inactive", "10:00")
        assert incident_rows(client) == []
        poll("inactive", "11:00")
        (opened,) = receiver.wait_accepted(1, timeout=30)
        (change,) = Webhook(SECRET).verify(opened["body"], opened["headers"])
        assert (change["store_id"], change["change"], change["state"]) == ("e2e", "opened", "down")
        assert change["started_at"] == "2026-03-02T12:00:00.000000Z"
        poll("active", "11:30")
        _, resolved = receiver.wait_accepted(2, timeout=30)
        (change,) = Webhook(SECRET).verify(resolved["body"], resolved["headers"])
        assert (change["change"], change["reason"]) == ("resolved", "up")
