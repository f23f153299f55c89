"""The deployment of docs/deploy.md works as written: Debian's nginx with the repository's site
file (deploy/nginx-storemon.conf) and a self-signed certificate, in front of a real
`storemon serve` started with the unit's own command line (deploy/storemon.service) and the
token of deploy/storemon.env.example; the API, the sign-in and the body limit through it; and
`systemd-analyze verify` of the unit.

The site file is rendered only where a test machine differs from a server: the listening
ports (free ports of 127.0.0.1), the certificate's paths, storemon's port, and the body limit,
which is lowered in both nginx and storemon alike (after checking that the two files agree)
so that "near the limit" is a few megabytes, not 512."""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from loopback import free_port
from support import storemon_executable

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "storemon.service"
SITE = DEPLOY / "nginx-storemon.conf"
ENVIRONMENT_FILE = DEPLOY / "storemon.env.example"
LIMIT_MB = 2  # the body limit of the test's nginx and storemon
TIMEOUT = 120


def executable(name: str, package: str | None = None) -> str:
    """A program that .ci/run installs (under CI its absence fails the test), or with
    `package` one that is skipped where it is missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        if os.environ.get("CI") and package is None:
            pytest.fail(f"{name} is missing; .ci/run installs it")
        pytest.skip(f"{name} is not installed (apt-get install {package or name})")
    return found


def unit_setting(name: str) -> str:
    (value,) = re.findall(rf"^{name}=(.*)$", UNIT.read_text(), re.MULTILINE)
    return value


def exec_start() -> list[str]:
    return shlex.split(unit_setting("ExecStart"))


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def with_option(command: list[str], name: str, value: str) -> list[str]:
    index = command.index(name) + 1
    return [*command[:index], value, *command[index + 1 :]]


def environment_file() -> dict[str, str]:
    lines = ENVIRONMENT_FILE.read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return dict(pairs)


def site_limit_mb() -> int:
    (size,) = re.findall(r"^\s*client_max_body_size (\d+)m;$", SITE.read_text(), re.MULTILINE)
    return int(size)


def test_nginx_and_storemon_agree_on_the_body_limit():
    limit = site_limit_mb()
    assert int(option(exec_start(), "--max-upload-mb")) == limit
    # nginx's own refusal says what storemon's would.
    assert f'{{"detail":"body over the limit of {limit} MB"}}' in SITE.read_text()


def test_the_unit_keeps_the_service_on_loopback_with_its_token_from_the_environment_file():
    command = exec_start()
    assert command[1] == "serve"
    assert option(command, "--host") == "127.0.0.1"
    assert option(command, "--home").startswith("/var/lib/storemon")
    assert "--token" not in command  # never on a command line that ps shows
    assert unit_setting("EnvironmentFile") == "/etc/storemon/storemon.env"
    assert set(environment_file()) == {"STOREMON_TOKEN"}
    upstream = re.search(r"server 127\.0\.0\.1:(\d+);", SITE.read_text())
    assert upstream and upstream[1] == option(command, "--port")


def test_systemd_analyze_verifies_the_unit(tmp_path):
    """verify needs the ExecStart program to exist: a copy of the unit runs storemon's."""
    analyze = executable("systemd-analyze", package="systemd")
    unit = tmp_path / "storemon.service"
    program = exec_start()[0]
    unit.write_text(
        UNIT.read_text().replace(f"ExecStart={program} ", f"ExecStart={storemon_executable()} ")
    )
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=TIMEOUT
    )
    # An unknown key, a key in the wrong section, a bad value: each is a line naming the file.
    problems = [line for line in done.stderr.splitlines() if str(unit) in line]
    assert done.returncode == 0 and problems == [], done.stderr


def render_site(cert: Path, key: Path, http_port: int, https_port: int, storemon_port: int) -> str:
    """deploy/nginx-storemon.conf on this machine's loopback ports with the test certificate,
    and the test's body limit."""
    site = SITE.read_text()
    limit = site_limit_mb()
    replacements = [
        (r"^\s*listen \[::\].*\n", ""),  # loopback IPv4 only
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
        (r"ssl_certificate \S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};"),
        (r"server 127\.0\.0\.1:\d+;", f"server 127.0.0.1:{storemon_port};"),
        (rf"client_max_body_size {limit}m;", f"client_max_body_size {LIMIT_MB}m;"),
        (rf"limit of {limit} MB", f"limit of {LIMIT_MB} MB"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site, flags=re.MULTILINE)
        assert count, f"{pattern!r} is no longer in {SITE.name}: update the test's rendering"
    return site


def nginx_conf(folder: Path, site: Path) -> str:
    """The main configuration around the site, as /etc/nginx/nginx.conf would be; its files
    and temporary bodies in `folder`."""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                          "uwsgi", "scgi")
    )  # fmt: skip
    # Run as root (CI), the workers would otherwise be `nobody`, who cannot write here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log {folder / 'access.log'};\n{temp}\n    include {site};\n}}\n"
    )


@dataclass
class Stack:
    url: str
    http_url: str
    token: str
    context: ssl.SSLContext
    storemon_log: Path
    nginx_log: Path

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, verify=self.context, timeout=TIMEOUT, headers=headers
        )

    def api(self) -> httpx.Client:
        return self.client(Authorization=f"Bearer {self.token}")


def wait_until_up(url: str, process: subprocess.Popen, log: Path, **options) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=2, **options).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    nginx = executable("nginx")
    openssl = executable("openssl")
    folder = tmp_path_factory.mktemp("deploy")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=TIMEOUT,
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(cert))

    # storemon serve as the unit starts it, on a free port, a home and limit of the test's.
    storemon_port = free_port()
    command = [storemon_executable(), *exec_start()[1:]]
    command = with_option(command, "--home", str(folder / "home"))
    command = with_option(command, "--port", str(storemon_port))
    command = with_option(command, "--max-upload-mb", str(LIMIT_MB))
    token = environment_file()["STOREMON_TOKEN"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STOREMON_")}
    storemon_log = folder / "storemon.log"
    with storemon_log.open("w") as log:
        storemon = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**environment, **environment_file()},
        )
    processes = [storemon]
    try:
        wait_until_up(f"http://127.0.0.1:{storemon_port}/health", storemon, storemon_log)

        http_port, https_port = free_port(), free_port()
        site = folder / "site.conf"
        site.write_text(render_site(cert, key, http_port, https_port, storemon_port))
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / kind).mkdir()
        conf = folder / "nginx.conf"
        conf.write_text(nginx_conf(folder, site))
        nginx_log = folder / "error.log"
        arguments = [
            nginx, "-c", str(conf), "-p", str(folder), "-e", str(nginx_log),
            "-g", f"daemon off; pid {folder / 'nginx.pid'};",
        ]  # fmt: skip
        checked = subprocess.run(
            [*arguments, "-t"], capture_output=True, text=True, timeout=TIMEOUT
        )
        assert checked.returncode == 0, checked.stderr
        nginx_process = subprocess.Popen(
            arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        processes.append(nginx_process)
        url = f"https://127.0.0.1:{https_port}"
        wait_until_up(f"{url}/health", nginx_process, nginx_log, verify=context)
        yield Stack(url, f"http://127.0.0.1:{http_port}", token, context, storemon_log, nginx_log)
    finally:
        for process in reversed(processes):
            stop(process)
    assert "Traceback" not in storemon_log.read_text()


def polls_stored(stack: Stack) -> int:
    with stack.api() as client:
        metrics = client.get("/metrics")
    assert metrics.status_code == 200, metrics.text
    return int(float(re.search(r"^storemon_polls_stored (\S+)$", metrics.text, re.M)[1]))


def test_plain_http_redirects_to_https(stack):
    answer = httpx.get(f"{stack.http_url}/reports?x=1", follow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 301
    assert answer.headers["location"] == "https://127.0.0.1/reports?x=1"


def test_the_api_through_nginx(stack):
    with stack.client() as anonymous:
        assert anonymous.get("/health").json() == {"status": "ok"}
        refused = anonymous.get("/reports")
        assert refused.status_code == 401
        assert refused.json() == {"detail": "missing or wrong bearer token"}
    with stack.api() as client:
        poll = {"store_id": "42", "status": "active", "timestamp_utc": "2024-11-04 14:05:00 UTC"}
        assert client.post("/poll", json=poll).json() == {"stored": 1}
        report_id = client.post("/trigger_report", json={"as_of": "2024-11-04T16:00:00Z"}).json()[
            "report_id"
        ]
        deadline = time.monotonic() + TIMEOUT
        while (report := client.get(f"/get_report/{report_id}").json())["status"] == "Running":
            assert time.monotonic() < deadline, "the report did not finish"
            time.sleep(0.3)
        assert report["status"] == "Complete", report
        csv_answer = client.get("/get_report", params={"report_id": report_id},
                                headers={"Accept": "text/csv"})  # fmt: skip
        assert csv_answer.status_code == 200
        rows = list(csv.reader(io.StringIO(csv_answer.text)))
        # No hours registered: open all the time; up since the poll's hour, 60 of 60 minutes.
        assert rows[1][:2] == ["42", "60.00"]


def test_the_sign_in_link_through_nginx(stack):
    with stack.client() as browser:
        answer = browser.get(
            "/login", params={"token": stack.token, "next": "/reports"}, follow_redirects=False
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/reports"
        assert answer.headers["set-cookie"].startswith("storemon_login=")
        assert browser.get("/reports", headers={"Accept": "text/html"}).status_code == 200
        docs = browser.get("/docs")
        assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text


def test_the_login_cookie_is_secure_over_https(stack):
    """storemon trusts nginx's X-Forwarded-Proto (it is on 127.0.0.1): the request was HTTPS."""
    with stack.client() as browser:
        answer = browser.get("/login", params={"token": stack.token}, follow_redirects=False)
    attributes = [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
    assert "secure" in attributes


def polls_csv(size: int) -> tuple[bytes, int]:
    """A store_status.csv of about `size` bytes: the number of its rows."""
    lines = ["store_id,status,timestamp_utc"]
    total, rows = len(lines[0]) + 1, 0
    while total < size:
        minute = rows % (60 * 24 * 7)
        line = f"{7000 + rows // (60 * 24 * 7)},active,2024-11-0{1 + minute // 1440} " \
               f"{minute // 60 % 24:02}:{minute % 60:02}:00 UTC"  # fmt: skip
        lines.append(line)
        total += len(line) + 1
        rows += 1
    return ("\n".join(lines) + "\n").encode(), rows


def test_an_upload_near_the_limit_is_stored_one_over_it_is_refused_by_nginx(stack):
    limit = LIMIT_MB * 1024 * 1024
    before = polls_stored(stack)
    near, rows = polls_csv(limit - 8 * 1024)  # room for the multipart framing
    with stack.api() as client:
        answer = client.post("/upload", files={"store_status": ("store_status.csv", near)})
        assert answer.status_code == 200, answer.text
        assert answer.json()["store_status"]["stored"] == rows
        assert polls_stored(stack) == before + rows

        over, _ = polls_csv(limit + 64 * 1024)
        refused = client.post("/upload", files={"store_status": ("store_status.csv", over)})
        assert refused.status_code == 413
        assert refused.json() == {"detail": f"body over the limit of {LIMIT_MB} MB"}

        def chunks():  # no Content-Length: nginx counts as it reads
            for start in range(0, len(over), 256 * 1024):
                yield over[start : start + 256 * 1024]

        chunked = client.post("/polls", content=chunks(), headers={"Content-Type": "text/csv"})
        assert chunked.status_code == 413
        assert chunked.json() == {"detail": f"body over the limit of {LIMIT_MB} MB"}
    assert polls_stored(stack) == before + rows
    # Refused by nginx before storemon saw them.
    log = stack.nginx_log.read_text()
    assert "client intended to send too large body" in log
    assert "client intended to send too large chunked body" in log
