"""The limits of `storemon serve` on a real server process (uvicorn and its protocol, as
deployed): slow and idle clients, many idle connections under a low descriptor limit, a huge
header line, a slow body, HTML pages beside /health, the sign-in cookie behind a proxy, wrong
guesses, a non-ASCII token, store ids that a path cannot carry as they are, and the refusals of
an empty or short token. Each bounded in time; the server's log holds no traceback at the end
(the tests run in file order; the log test comes last)."""

from __future__ import annotations

import contextlib
import resource
import socket
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest
from loopback import free_port
from support import storemon_executable
from test_service_server import Server, wait_report

TOKEN = "édge-tøken-ünïcode-0123456789"  # non-ASCII: sent as UTF-8 bytes
AUTH = {"Authorization": b"Bearer " + TOKEN.encode("utf-8")}
HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2
MAX_CONNECTIONS = 40
DESCRIPTORS = 300  # the server's descriptor limit: fewer than the idle connections below
ODD_IDS = ["a/b", ".", "..", "%2F", "with space", "ünï-çødé", "x?y#z"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("limits-home") / "home"
    options = ["--token", TOKEN, "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout",
               str(BODY_TIMEOUT), "--max-connections", str(MAX_CONNECTIONS), "--max-header-kb",
               "16", "--keep-alive-timeout", "2"]  # fmt: skip
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, hard))  # the server inherits it
    try:
        server = Server(home, *options)
        server.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield server
    finally:
        server.kill()


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def health_seconds(server) -> float:
    started = time.monotonic()
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    return time.monotonic() - started


def closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes `sock` (reading what it says), at most `limit`."""
    started = time.monotonic()
    sock.settimeout(limit)
    said = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return time.monotonic() - started, said
        said += chunk


def test_a_connection_that_sends_nothing_is_closed(server):
    with connect(server) as idle:
        seconds, said = closed_after(idle, HEADER_TIMEOUT + 5)
    assert seconds < HEADER_TIMEOUT + 2 and said == b""


def test_slowloris_headers_are_cut_off_while_health_answers(server):
    with connect(server) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        started, cut = time.monotonic(), None
        for byte in b"X-Slow: " + b"a" * 100:
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                cut = time.monotonic() - started
                break
            assert health_seconds(server) < 1
            time.sleep(0.25)
            slow.settimeout(0.01)
            try:
                if slow.recv(65536).startswith(b"HTTP/1.1 408"):
                    cut = time.monotonic() - started
                    break
            except TimeoutError:
                pass
    assert cut is not None and cut < HEADER_TIMEOUT + 1.5


def test_a_slow_body_is_408_and_stores_nothing(server):
    before = polls_stored(server)
    with connect(server) as slow:
        head = (b"POST /polls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                + b"\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\n")  # fmt: skip
        slow.sendall(head + b"store_id,status,timestamp_utc\n")
        started, answer = time.monotonic(), b""
        slow.settimeout(0.5)
        while time.monotonic() - started < BODY_TIMEOUT + 5 and b"\r\n\r\n" not in answer:
            try:
                slow.sendall(b"1")
                answer += slow.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < BODY_TIMEOUT + 2
    assert polls_stored(server) == before


def test_many_idle_connections_do_not_stop_health(server):
    """More idle connections than the server has descriptors: the longest idle are closed."""
    sockets = []
    try:
        for _ in range(DESCRIPTORS + 100):
            sockets.append(connect(server))
        for _ in range(5):
            assert health_seconds(server) < 2
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
            assert client.get("/reports").status_code == 200
    finally:
        for sock in sockets:
            sock.close()


def test_a_huge_header_line_is_refused_quickly(server):
    started, sent, said = time.monotonic(), 0, b""
    with connect(server) as huge:
        huge.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: ")
        chunk = b"a" * 65536
        try:
            while sent < 100 * 1024 * 1024:
                huge.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        with contextlib.suppress(OSError):  # reset: the connection is closed all the same
            said = closed_after(huge, 10)[1]
    assert time.monotonic() - started < 5 and sent < 10 * 1024 * 1024
    assert said == b"" or said.startswith(b"HTTP/1.1 431"), said[:200]
    assert health_seconds(server) < 1


def polls_stored(server) -> float:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        metrics = client.get("/metrics").text
    line = next(line for line in metrics.splitlines() if line.startswith("storemon_polls_stored"))
    return float(line.split()[-1])


@pytest.fixture(scope="module")
def report_id(server) -> str:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        polls = [{"store_id": store, "status": "active", "timestamp_utc": "2024-11-04 10:00:00"}
                 for store in ODD_IDS + [f"s{n}" for n in range(40)]]  # fmt: skip
        assert client.post("/polls", json=polls).status_code == 200
        report_id = client.post("/trigger_report").json()["report_id"]
        assert wait_report(client, report_id)["status"] == "Complete"
    return report_id


def test_pages_do_not_starve_health_or_polls(server, report_id):
    """Forty store pages at once, each rendered (none kept yet): /health and /poll answer
    while they render, in about their usual time."""
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as client:

        def page(n: int) -> int:
            return client.get(f"/reports/{report_id}/stores/s{n}").status_code

        with ThreadPoolExecutor(40) as pool:
            pages = [pool.submit(page, n) for n in range(40)]
            seconds = []
            # Measured for as long as pages render, however fast the machine renders them.
            for minute in range(60):
                if all(future.done() for future in pages):
                    break
                started = time.monotonic()
                poll = {"store_id": "s0", "status": "active",
                        "timestamp_utc": f"2024-11-04 11:{minute:02}:00"}  # fmt: skip
                assert client.post("/poll", json=poll).status_code == 200
                seconds += [time.monotonic() - started, health_seconds(server)]
            assert [future.result() for future in pages] == [200] * 40
    assert seconds, "the pages were done before the first poll: no contention measured"
    # Typically a few tenths of a second each; pages once held them up to 15 s. The bound on
    # the slowest is loose: a test machine shared with other work stalls now and then.
    assert statistics.median(seconds) < 1 and max(seconds) < 8, seconds


def test_every_store_id_reaches_its_page_on_a_real_server(server, report_id):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        for store in ODD_IDS:
            query = client.get(f"/reports/{report_id}/stores", params={"store_id": store})
            assert query.status_code == 200 and "<h1>Store " in query.text, store
            if store not in (".", ".."):
                path = client.get(f"/reports/{report_id}/stores/{quote(store, safe='')}")
                assert path.status_code == 200 and query.text == path.text, store
    # `..` as a raw segment (a client that does not fold it, such as curl --path-as-is).
    with connect(server) as raw:
        request = f"GET /reports/{report_id}/stores/.. HTTP/1.1\r\nHost: x\r\n".encode()
        raw.sendall(request + b"Authorization: Bearer " + TOKEN.encode()
                    + b"\r\nConnection: close\r\n\r\n")  # fmt: skip
        said = closed_after(raw, 30)[1]
    assert said.startswith(b"HTTP/1.1 200") and b"<h1>Store ..</h1>" in said


def test_the_cookie_is_secure_behind_a_proxy_and_wrong_guesses_are_limited(server):
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        plain = browser.get("/login", params={"token": TOKEN}, follow_redirects=False)
        assert plain.status_code == 303 and "Secure" not in plain.headers["set-cookie"]
        proxied = browser.get("/login", params={"token": TOKEN}, follow_redirects=False,
                              headers={"X-Forwarded-Proto": "https"})  # fmt: skip
        cookie = proxied.headers["set-cookie"]
        assert "; Secure" in cookie and "Max-Age=" in cookie and "HttpOnly" in cookie
        assert browser.head("/health").status_code == 200
        statuses = [browser.post("/login", data={"token": "guess"}).status_code
                    for _ in range(11)]  # fmt: skip
        assert statuses == [401] * 10 + [429]
        refused = browser.get("/login", params={"token": TOKEN})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


@pytest.mark.parametrize(
    ("options", "environment", "message"),
    [(["--token", ""], {}, "Error: the token is empty"),
     (["--token", "  "], {}, "Error: the token is empty"),
     ([], {"STOREMON_TOKEN": ""}, "Error: the token is empty")],
)  # fmt: skip
def test_an_empty_token_is_refused(tmp_path, options, environment, message):
    command = [storemon_executable(), "serve", "--home", str(tmp_path / "home"), "--port",
               str(free_port()), *options]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", **environment})  # fmt: skip
    assert run.returncode == 1 and message in run.stderr, run.stderr


def test_a_short_token_is_served_with_a_warning(tmp_path):
    server = Server(tmp_path / "home", "--token", "short").start()
    try:
        assert "warning: the token is short (5 characters)" in server.log.read_text()
        answer = httpx.get(f"{server.url}/reports", headers={"Authorization": "Bearer short"})
        assert answer.status_code == 200
    finally:
        server.kill()


def test_the_log_has_no_traceback(server):
    log = server.log.read_text()
    assert "Traceback" not in log and " failed:" not in log, log[-5000:]
