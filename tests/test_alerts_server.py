"""Alerts against real parts: a real Prometheus Alertmanager (the Debian package's binary,
started here on a free port with its own configuration and storage), a real webhook receiver
that fails on purpose while the storemon server is killed with SIGKILL between committing an
incident and delivering it, and a real Prometheus scraping the server's /metrics with the
token. Each part is started once per module where it can be shared, bounded in time, and
stopped by the test or fixture that started it. Skipped when the binaries are missing."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alert_receiver import Receiver
from loopback import free_port
from standardwebhooks.webhooks import Webhook
from support import TOKEN, storemon_executable

from storemon.service.alerts.store import utc_now

SECRET = "whsec_" + base64.b64encode(b"a storemon alerts server test key").decode()
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMETHEUS = shutil.which("prometheus")
NOW = datetime(2026, 3, 2, 10, 0)


def status(store: str, state: str, last: datetime, since: datetime | None) -> dict:
    return {"store_id": store, "state": state, "is_open": state != "closed",
            "last_poll_at": last, "state_since": since}  # fmt: skip


@contextmanager
def process(command: list[str], log: Path, ready_url: str, headers=None) -> Iterator[int]:
    """Run `command` until the block ends (SIGTERM, then SIGKILL), once `ready_url` answers."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
    with log.open("w") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert child.poll() is None, log.read_text()
            try:
                if httpx.get(ready_url, headers=headers, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
            time.sleep(0.2)
        yield child.pid
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=20)


def wait_for(check, timeout: float = 60, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out: {message}")


# ---------------------------------------------------------------------- Alertmanager
@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory) -> Iterator[str]:
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed (apt-get install it)")
    folder = tmp_path_factory.mktemp("alertmanager")
    config = folder / "alertmanager.yml"
    config.write_text(
        textwrap.dedent("""\
        route:
          receiver: nowhere
          group_wait: 1s
          group_interval: 1s
        receivers:
          - name: nowhere
    """)
    )
    url = f"http://127.0.0.1:{free_port()}"
    address = url.removeprefix("http://")
    command = [ALERTMANAGER, f"--config.file={config}", f"--storage.path={folder / 'data'}",
               f"--web.listen-address={address}", "--cluster.listen-address="]  # fmt: skip
    with process(command, folder / "alertmanager.log", f"{url}/-/ready"):
        yield url


def store_alerts(alertmanager: str, store: str) -> list[dict]:
    answer = httpx.get(
        f"{alertmanager}/api/v2/alerts", params={"filter": f'store_id="{store}"'}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def test_an_incident_is_an_active_alertmanager_alert_until_it_resolves(
    service_client, alertmanager
):
    with service_client(alertmanager_url=alertmanager, alert_after_polls=2) as client:
        alerts = client.app.state.service.alerts
        store = "alert-store-1"
        alerts.observe([status(store, "down", NOW, NOW)], NOW)
        alerts.observe([status(store, "down", NOW + timedelta(hours=1), NOW)], NOW)
        (alert,) = wait_for(lambda: store_alerts(alertmanager, store), message="no alert")
        assert alert["labels"] == {"alertname": "StoreIncident", "store_id": store,
                                   "state": "down"}  # fmt: skip
        assert alert["status"]["state"] == "active"
        (incident,) = client.get("/incidents", params={"store_id": store}).json()
        assert alert["annotations"]["incident_id"] == incident["incident_id"]

        alerts.observe([status(store, "up", NOW + timedelta(hours=2), NOW)], utc_now())
        wait_for(lambda: not store_alerts(alertmanager, store), message="still active")
        (incident,) = client.get("/incidents", params={"store_id": store}).json()
        assert incident["resolution"] == "up"
        assert [d["status"] for d in incident["deliveries"]] == ["delivered", "delivered"]


def test_firing_alerts_are_sent_again(service_client, alertmanager):
    with service_client(alertmanager_url=alertmanager, alert_after_polls=1,
                        alertmanager_resend_seconds=1) as client:  # fmt: skip
        store = "alert-store-2"
        client.app.state.service.alerts.observe([status(store, "down", NOW, NOW)], NOW)
        (first,) = wait_for(lambda: store_alerts(alertmanager, store), message="no alert")
        # Alertmanager keeps the latest time it heard of a firing alert.
        wait_for(
            lambda: store_alerts(alertmanager, store)[0]["updatedAt"] != first["updatedAt"],
            timeout=20,
            message="not re-sent",
        )


# ---------------------------------------------------------------------- webhook, kill -9
def storemon_serve(home: Path, port: int, receiver: Receiver) -> list[str]:
    return [storemon_executable(), "serve", "--home", str(home), "--port", str(port),
            "--token", TOKEN, "--webhook-url", receiver.url,
            "--webhook-secret", SECRET]  # fmt: skip


def test_a_webhook_committed_before_kill_9_arrives_once_verified(tmp_path):
    """Two inactive polls of a store open 24/7 open an incident; the server is killed while
    the webhook's first try hangs; after the restart the delivery arrives with the same
    webhook-id, and the incident is neither lost nor opened twice."""
    home = tmp_path / "home"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    now = datetime.now(UTC).replace(tzinfo=None)
    script = [("hang", 20), ("status", 503, 1), ("status", 503, None)]
    with Receiver(script) as receiver:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with process(storemon_serve(home, port, receiver), tmp_path / "first.log",
                     f"{url}/health") as pid:  # fmt: skip
            for minutes in (50, 10):
                poll = {"store_id": "killed-1", "status": "inactive",
                        "timestamp_utc": f"{now - timedelta(minutes=minutes)} UTC"}  # fmt: skip
                answer = httpx.post(f"{url}/poll", json=poll, headers=auth, timeout=30)
                assert answer.status_code == 200
            wait_for(lambda: receiver.requests, timeout=60, message="no first try")
            os.kill(pid, signal.SIGKILL)
        assert receiver.accepted() == []

        with process(storemon_serve(home, port, receiver), tmp_path / "server.log",
                     f"{url}/health"):  # fmt: skip
            (accepted,) = receiver.wait_accepted(1, timeout=60)
            (change,) = Webhook(SECRET).verify(accepted["body"], accepted["headers"])
            assert (change["store_id"], change["change"]) == ("killed-1", "opened")
            assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
            assert len(receiver.requests) == 4
            (incident,) = httpx.get(f"{url}/incidents", headers=auth, timeout=30).json()
            (delivery,) = incident["deliveries"]
            assert delivery["delivery_id"] == accepted["headers"]["webhook-id"]
            assert delivery["status"] == "delivered"
            # The try cut short by the kill was never recorded: three recorded tries.
            assert delivery["attempts"] == 3
            if PROMETHEUS is not None:
                scrape_gauges(tmp_path, port)
        assert "Traceback" not in (tmp_path / "server.log").read_text()


def scrape_gauges(tmp_path: Path, port: int) -> None:
    """A real Prometheus scrapes the server's /metrics with the token: the open incidents and
    the stores per state reach its query API."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    config = folder / "prometheus.yml"
    config.write_text(
        textwrap.dedent(f"""\
        global:
          scrape_interval: 1s
        scrape_configs:
          - job_name: storemon
            authorization:
              credentials: {TOKEN}
            static_configs:
              - targets: ["127.0.0.1:{port}"]
    """)
    )
    url = f"http://127.0.0.1:{free_port()}"
    command = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
               f"--web.listen-address={url.removeprefix('http://')}"]  # fmt: skip

    def query(expression: str) -> list:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": expression}, timeout=10)
        return answer.json()["data"]["result"]

    with process(command, folder / "prometheus.log", f"{url}/-/ready"):
        (series,) = wait_for(lambda: query("storemon_incidents_open"), timeout=60,
                             message="storemon_incidents_open not scraped")  # fmt: skip
        assert series["metric"]["job"] == "storemon"
        assert series["value"][1] == "1"
        states = {s["metric"]["state"]: s["value"][1] for s in query("storemon_stores")}
        assert states == {"closed": "0", "silent": "0", "down": "1", "up": "0"}


# ---------------------------------------------------------------------- the manual's examples
DOCS = Path(__file__).parent.parent / "docs" / "examples"


def test_the_manuals_webhook_receiver_verifies_and_prints_each_change_once(
    service_client, tmp_path
):
    port = free_port()
    environment = {**os.environ, "STOREMON_WEBHOOK_SECRET": SECRET}
    receiver = subprocess.Popen(
        [sys.executable, str(DOCS / "webhook_receiver.py"), str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
    )  # fmt: skip
    guard = threading.Timer(120, receiver.kill)  # bounds the blocking readline below
    guard.start()
    try:
        with service_client(webhook_url=f"http://127.0.0.1:{port}/", webhook_secret=SECRET) as c:
            alerts = c.app.state.service.alerts
            alerts.observe([status("doc-1", "down", NOW, NOW)], NOW)
            alerts.observe([status("doc-1", "down", NOW + timedelta(hours=1), NOW)], NOW)
            line = receiver.stdout.readline().strip()
            assert line == "opened doc-1 down 2 inactive polls in a row while open"
            wait_for(
                lambda: c.get("/incidents").json()[0]["deliveries"][0]["status"] == "delivered",
                message="not delivered",
            )
    finally:
        guard.cancel()
        receiver.kill()
        receiver.wait(timeout=30)
        receiver.stdout.close()


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool (prometheus-alertmanager)")
def test_the_manuals_alertmanager_configuration_is_valid():
    done = subprocess.run(
        ["amtool", "check-config", str(DOCS / "alertmanager.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
