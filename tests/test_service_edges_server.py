"""The edges of `storemon serve` (docs/service.md, Bad requests) against one real server with
--token and a 1 MB limit, its log captured: a browser signs in through the link, Schemathesis
drives every operation from the app's own OpenAPI schema, and the log holds no traceback at the
end (the tests run in file order; the log test comes last)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_service_server import Server, wait_report

TOKEN = "edge-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STORE = "4242"
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,negative_data_rejection,ignored_auth"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("edges-home") / "home"
    server = Server(home, "--token", TOKEN, "--max-upload-mb", "1").start()
    try:
        yield server
    finally:
        server.kill()  # SIGKILL: Schemathesis may have queued many reports


@pytest.fixture(scope="module")
def report_id(server) -> str:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        registration = {"store_id": STORE, "timezone_str": "UTC", "day": 0,
                        "start_time_local": "09:00", "end_time_local": "17:00"}  # fmt: skip
        assert client.post("/register_store", json=registration).status_code == 200
        polls = [{"store_id": STORE, "status": status, "timestamp_utc": f"2024-11-04 {hour}:00:00"}
                 for hour, status in (("10", "active"), ("14", "inactive"))]  # fmt: skip
        assert client.post("/polls", json=polls).status_code == 200
        report_id = client.post("/trigger_report").json()["report_id"]
        assert wait_report(client, report_id)["status"] == "Complete"
    return report_id


def test_chromium_signs_in_through_the_link_and_sees_the_pages(server, report_id, tmp_path):
    from test_html import run_chromium  # skips where chromium is missing, fails in CI

    pages = {
        f"/reports/{report_id}": "<svg",
        f"/reports/{report_id}/stores/{STORE}": f"Store {STORE}",
    }
    for page, expected in pages.items():
        link = f"{server.url}/login?token={TOKEN}&next={page}"
        run = run_chromium(tmp_path, "--dump-dom", link)
        assert run.returncode == 0, run.stderr
        assert expected in run.stdout, run.stdout[:2000]
    # Without signing in, the same browser gets the sign-in page.
    run = run_chromium(tmp_path, "--dump-dom", f"{server.url}/reports/{report_id}")
    assert "/login?token=" in run.stdout and "<svg" not in run.stdout


def test_the_login_cookie_opens_pages_but_no_post(server, report_id):
    with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as browser:
        answer = browser.get("/login", params={"token": TOKEN, "next": f"/reports/{report_id}"},
                             headers={"Accept": "text/html"})  # fmt: skip
        assert answer.status_code == 200 and "<svg" in answer.text  # followed the redirect
        assert browser.cookies  # the jar keeps the login cookie from here on
        assert browser.post("/trigger_report").status_code == 401
        poll = {"store_id": STORE, "status": "active", "timestamp_utc": "2024-11-04 15:00:00"}
        assert browser.post("/poll", json=poll).status_code == 401
        assert browser.get(f"/get_report/{report_id}").status_code == 401


def test_a_chunked_body_past_the_limit_is_413_on_a_real_server(server):
    def chunks():
        yield b"store_id,status,timestamp_utc\n"
        for _ in range(70):
            yield b"1,active,2024-11-04 14:05:00\n" * 1000

    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        answer = client.post("/polls", content=chunks(), headers={"Content-Type": "text/csv"})
        assert answer.request.headers["transfer-encoding"] == "chunked"
        assert answer.status_code == 413
        assert answer.json() == {"detail": "body over the limit of 1 MB"}
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/openapi.json", headers={"Authorization": ""}).status_code == 401


def test_schemathesis_finds_nothing(server, report_id, tmp_path):
    """Property-based tests from the OpenAPI schema: every phase, the six checks, bounded."""
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{server.url}/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--phases", "examples,coverage,fuzzing,stateful", "--checks", CHECKS,
        "--max-examples", "5", "--generation-deterministic", "--max-time", "100",
        "--report-dir", str(tmp_path),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-8000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):  # each ran, and passed
        assert re.search(rf"\u2705\s+{phase} \(in ", run.stdout), run.stdout[-3000:]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", b""), ("application/json", b'[{"store_id": '),
     ("application/json", b"\xff\xfe"), ("text/csv", b""), ("text/csv", b"\xff\n"),
     ("text/csv", b"a;b\n1;2\n"), ("text/plain", b"x")],
)  # fmt: skip
def test_bad_bodies_on_a_real_server(server, content_type, body):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        # An empty body is a valid /trigger_report: its fields are optional.
        paths = ["/poll", "/polls", "/register_store", "/upload"] + ["/trigger_report"] * bool(body)
        for path in paths:
            answer = client.post(path, content=body, headers={"Content-Type": content_type})
            assert 400 <= answer.status_code < 500, (path, answer.text)
            assert answer.json()["detail"]


def test_the_log_has_no_traceback(server):
    """Last: after every request above, the server logged no error of its own."""
    log = server.log.read_text()
    assert "Traceback" not in log and " failed:" not in log, log[-5000:]
    assert "ready; home" in log
