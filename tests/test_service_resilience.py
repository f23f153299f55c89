"""The service under stress, in-process (docs/operating.md): a full disk (ENOSPC injected where
the inbox commits, where a report runs and where its history row is written), a report that
raises anything, a storm of triggers against the queue's bound, a stop with reports waiting,
and damaged homes refused by `storemon serve --check`. The same on a real server and a real
full disk is in test_service_limits_server.py."""

from __future__ import annotations

import errno
import shutil
import threading
import time
from contextlib import contextmanager

import duckdb
import pytest
from click.testing import CliRunner
from support import finished, inbox_state

from storemon.cli import cli
from storemon.service import worker as worker_module
from storemon.service.history import NOT_STARTED

POLL = {"store_id": "lim-1", "status": "active", "timestamp_utc": "2024-11-04 14:05:00"}
ENOSPC_TEXT = 'IO Error: Could not write file "inbox.duckdb.wal": No space left on device'


@contextmanager
def full_disk(service):
    """Every inbox transaction fails at its end as DuckDB fails when its log cannot grow (its
    writes made, then rolled back)."""
    real = service.inbox.transaction

    @contextmanager
    def failing(cursor, ingested=None):
        with real(cursor, ingested):
            yield
            raise duckdb.IOException(ENOSPC_TEXT)

    service.inbox.transaction = failing
    try:
        yield
    finally:
        del service.inbox.transaction


def samples(client) -> dict[tuple, float]:
    found = {}
    for line in client.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            found[name_labels] = float(value)
    return found


@pytest.fixture(scope="module")
def client(service_client):
    with service_client(max_queued_reports=3) as client:
        assert client.post("/poll", json=POLL).status_code == 200
        yield client


def test_health_when_fine_is_exactly_ok(client):
    answer = client.get("/health", headers={"Authorization": ""})
    assert (answer.status_code, answer.content) == (200, b'{"status":"ok"}')


def test_ingestion_on_a_full_disk_answers_507_stores_nothing_and_health_says_why(client):
    service = client.app.state.service
    before = inbox_state(client)
    csv_body = "store_id,status,timestamp_utc\nlim-2,active,2024-11-04 15:00:00\n"
    registration = {"store_id": "lim-2", "timezone_str": "Asia/Tokyo"}
    upload = {"store_status": ("s.csv", csv_body.encode())}
    with full_disk(service):
        answers = [
            client.post("/poll", json={**POLL, "store_id": "lim-2"}),
            client.post("/polls", json=[{**POLL, "store_id": "lim-3"}]),
            client.post("/polls", content=csv_body, headers={"Content-Type": "text/csv"}),
            client.post("/register_store", json=registration),
            client.post("/upload", files=upload),
        ]
        for answer in answers:
            assert answer.status_code == 507, answer.text
            assert answer.json() == {
                "detail": "the disk of the service's home is full: nothing was stored"
            }
        assert inbox_state(client) == before
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert any(reason.startswith("disk: a write") for reason in health.json()["reasons"])
        assert samples(client)['storemon_degraded{kind="disk"}'] == 1
        assert samples(client)['storemon_degraded{kind="inbox"}'] == 0
    # The disk has room again: the next write succeeds and the service is fine.
    assert client.post("/poll", json={**POLL, "store_id": "lim-2"}).json() == {"stored": 1}
    assert client.get("/health").json() == {"status": "ok"}
    assert samples(client)['storemon_degraded{kind="disk"}'] == 0


@contextmanager
def blocked_worker(service):
    """The worker holds each report, once started, until `release` is set."""
    release, real = threading.Event(), service.worker._build

    def held(job, folder):
        release.wait(60)
        return real(job, folder)

    service.worker._build = held
    try:
        yield release
    finally:
        release.set()
        del service.worker._build


def wait_running(service, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while service.worker.running is None or service.worker.queued():
        assert time.monotonic() < deadline, "the worker took no report"
        time.sleep(0.05)


def test_past_the_queue_bound_a_trigger_is_429_with_retry_after_and_queues_nothing(client):
    service = client.app.state.service
    with blocked_worker(service):
        running = client.post("/trigger_report", json={"as_of": "2024-11-04 12:00:00"})
        wait_running(service)
        waiting = [
            client.post("/trigger_report", json={"as_of": f"2024-11-04 1{hour}:00:00"})
            for hour in range(3, 6)
        ]
        assert all(answer.status_code == 200 for answer in [running, *waiting])
        before = inbox_state(client)
        refused = client.post("/trigger_report", json={"as_of": "2024-11-04 18:00:00"})
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["detail"].startswith("3 reports are waiting to run")
        assert inbox_state(client) == before
        assert samples(client)["storemon_report_queue_length"] == 3
        assert samples(client)["storemon_report_queue_limit"] == 3
    for answer in [running, *waiting]:
        assert finished(client, answer.json()["report_id"])["status"] == "Complete"


def test_identical_waiting_triggers_share_one_report_until_something_is_stored(client):
    service = client.app.state.service
    with blocked_worker(service):
        first = client.post("/trigger_report").json()["report_id"]
        wait_running(service)
        waiting = client.post("/trigger_report", json={"interpolation": "previous"}).json()
        again = client.post("/trigger_report", json={"interpolation": "previous"}).json()
        assert again == waiting  # the same report: same request, nothing stored since
        other = client.post("/trigger_report", json={"interpolation": "nearest"}).json()
        assert other != waiting
        assert client.post("/poll", json={**POLL, "store_id": "lim-4"}).status_code == 200
        after_a_poll = client.post("/trigger_report", json={"interpolation": "previous"}).json()
        assert after_a_poll != waiting
        assert first != waiting["report_id"]
    ids = {first, waiting["report_id"], other["report_id"], after_a_poll["report_id"]}
    assert len(ids) == 4
    reports = {report_id: finished(client, report_id) for report_id in ids}
    assert {r["status"] for r in reports.values()} == {"Complete"}
    assert reports[after_a_poll["report_id"]]["stores"] == reports[first]["stores"] + 1


def test_a_storm_of_identical_triggers_shares_reports_and_never_fails(client):
    """50 at once, from 16 threads: each answered 200 (shared) or 429, never anything else."""
    from concurrent.futures import ThreadPoolExecutor

    service = client.app.state.service
    client.post("/poll", json={**POLL, "store_id": "lim-storm"})
    with blocked_worker(service), ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: client.post("/trigger_report"), range(50)))
        assert {answer.status_code for answer in answers} == {200}
        ids = {answer.json()["report_id"] for answer in answers}
        # The first may have been taken by the worker before the next arrived: then two.
        assert len(ids) <= 2
        assert service.worker.queued() <= 1
    for report_id in ids:
        assert finished(client, report_id)["status"] == "Complete"


class Unexpected(BaseException):
    """Not even an Exception: what once ended the report thread for good."""


def test_the_report_worker_outlives_any_exception(client, monkeypatch):
    calls = []

    def export_failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise Unexpected("the unexpected")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(worker_module, "export", export_failing)
    client.post("/poll", json={**POLL, "store_id": "lim-7"})  # not the last report's data
    first = finished(client, client.post("/trigger_report").json()["report_id"])
    assert (first["status"], first["error"]) == ("Failed", "the unexpected")
    client.post("/poll", json={**POLL, "store_id": "lim-5"})  # a new report, not a shared one
    second = finished(client, client.post("/trigger_report").json()["report_id"])
    assert second["status"] == "Failed"
    assert second["error"] == "the disk of the home is full: [Errno 28] No space left on device"
    monkeypatch.undo()
    client.post("/poll", json={**POLL, "store_id": "lim-6"})
    third = finished(client, client.post("/trigger_report").json()["report_id"])
    assert third["status"] == "Complete"
    assert client.get("/health").json() == {"status": "ok"}


def test_a_failure_that_cannot_be_recorded_is_recorded_as_soon_as_it_can(client, monkeypatch):
    """The disk is full: the report fails, and so does writing that it failed. It stays Running
    while the disk is full (and /health says why), then ends Failed; the next report runs."""
    service = client.app.state.service

    def update_report(report_id, **values):
        raise duckdb.IOException(ENOSPC_TEXT)

    def export_on_a_full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(service.history, "update_report", update_report)
    monkeypatch.setattr(worker_module, "export", export_on_a_full_disk)
    client.post("/poll", json={**POLL, "store_id": "lim-7"})
    report_id = client.post("/trigger_report").json()["report_id"]
    deadline = time.monotonic() + 30
    while not service.worker.unrecorded:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.get(f"/get_report/{report_id}").json()["status"] == "Running"
    reasons = client.get("/health").json()["reasons"]
    assert any(reason.startswith("disk: a write") for reason in reasons), reasons
    assert any(reason.startswith("reports: 1 report outcomes") for reason in reasons), reasons
    monkeypatch.undo()  # room on the disk again
    report = finished(client, report_id, timeout=30)
    assert report["status"] == "Failed"
    assert report["error"].startswith("the disk of the home is full")
    client.post("/poll", json={**POLL, "store_id": "lim-8"})
    assert finished(client, client.post("/trigger_report").json()["report_id"])["status"] == (
        "Complete"
    )


def test_openapi_documents_429_507_and_the_degraded_health(client):
    paths = client.get("/openapi.json").json()["paths"]
    trigger = paths["/trigger_report"]["post"]["responses"]
    assert {"429", "507"} <= set(trigger)
    assert "Retry-After" in trigger["429"]["headers"]
    for path in ("/poll", "/polls", "/register_store", "/upload"):
        assert "507" in paths[path]["post"]["responses"], path
    health = paths["/health"]["get"]["responses"]
    assert {"200", "503"} <= set(health)


def test_stopping_with_reports_waiting_is_prompt_and_the_next_start_marks_them(service_client):
    opened = service_client()
    client = opened.__enter__()
    service = client.app.state.service
    with blocked_worker(service) as release:
        running = client.post("/trigger_report").json()["report_id"]
        wait_running(service)
        waiting = [
            client.post("/trigger_report", json={"as_of": f"2024-11-0{day} 12:00:00"})
            for day in range(1, 4)
        ]
        started = time.monotonic()
        opened.__exit__(None, None, None)  # the lifespan's end: the server stopping
        assert time.monotonic() - started < 15
        release.set()
    with service_client(home=service.home) as client:
        assert client.get(f"/get_report/{running}").json()["error"] == "interrupted"
        for answer in waiting:
            report = client.get(f"/get_report/{answer.json()['report_id']}").json()
            assert (report["status"], report["error"]) == ("Failed", NOT_STARTED)


# ---------------------------------------------------------------------- a damaged home


@pytest.fixture(scope="module")
def sound_home(service_client, tmp_path_factory):
    """A home written by the service: enough polls that its inbox spans several blocks."""
    home = tmp_path_factory.mktemp("sound") / "home"
    with service_client(home=home) as client:
        polls = [
            {"store_id": f"h{n % 500}", "status": "active",
             "timestamp_utc": f"2024-01-{1 + n // 12000:02} {n // 500 % 24:02}:00:00"}
            for n in range(60_000)
        ]  # fmt: skip
        assert client.post("/polls", json=polls).json() == {"stored": 60_000}
        assert finished(client, client.post("/trigger_report").json()["report_id"])
    return home


def check(home) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["serve", "--check", "--home", str(home)])
    return result.exit_code, result.output


def test_serve_check_says_a_sound_home_is_sound(sound_home):
    assert check(sound_home) == (0, f"home {sound_home} is sound: 60000 polls, 1 reports\n")


def _zero_bytes(inbox):
    inbox.write_bytes(b"")


def _garbage(inbox):
    inbox.write_bytes(bytes(range(256)) * 64)


def _truncated(inbox):
    with inbox.open("r+b") as handle:
        handle.truncate(inbox.stat().st_size // 2)


def _overwritten_block(inbox):
    """Opens, and its tables count their rows: only reading the values finds the damage."""
    with inbox.open("r+b") as handle:
        handle.seek(3 * 4096 + 262144 + 1000)
        handle.write(b"\xff" * 4096)


def _folder(inbox):
    inbox.unlink()
    inbox.mkdir()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_zero_bytes, "is empty (0 bytes)"),
        (_garbage, "is damaged (IO Error: The file"),
        (_truncated, "is damaged (IO Error: Could not read enough bytes"),
        (_overwritten_block, "is damaged (Corrupt database file"),
        (_folder, "is a folder, not the inbox database"),
    ],
)
def test_a_damaged_inbox_is_refused_in_one_line_naming_the_file(sound_home, tmp_path, damage, says):
    home = tmp_path / "home"
    shutil.copytree(sound_home, home)
    damage(home / "inbox.duckdb")
    code, output = check(home)
    assert code == 1
    assert output.count("\n") == 1 and "Traceback" not in output
    assert output.startswith(f"Error: {home / 'inbox.duckdb'} {says}"), output
    assert output.rstrip().endswith(
        "move it aside to start with an empty inbox (docs/operating.md, A damaged home)"
    )
