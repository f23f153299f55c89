"""The API docs work without internet access: /docs and /redoc name only this service's own
assets, each of which it serves (behind the token, like the pages), and Swagger UI renders
in headless Chromium with every other address unreachable."""

from __future__ import annotations

import re
import signal
from html.parser import HTMLParser

import pytest
from support import TOKEN
from test_html import run_chromium
from test_service_server import Server


class Assets(HTMLParser):
    """Every address a page loads: script src, link href, ReDoc's spec-url, and the URLs in
    its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        self.in_script = tag == "script"
        for key in ("src", "href", "spec-url"):
            if named.get(key):
                self.urls.append(named[key])

    def handle_data(self, data):
        if self.in_script:
            self.urls += re.findall(r"""(?:url|src|href)\s*[:=]\s*['"]([^'"]+)['"]""", data)
            self.urls += re.findall(r"https?://[^\s'\"<>]+", data)


def assets_of(page: str) -> list[str]:
    parser = Assets()
    parser.feed(page)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_name_only_assets_this_service_serves(service_client, page):
    with service_client() as client:
        answer = client.get(page)
        assert answer.status_code == 200
        assert "http://" not in answer.text and "https://" not in answer.text
        urls = assets_of(answer.text)
        assert "/openapi.json" in urls
        scripts = [url for url in urls if url.endswith(".js")]
        assert scripts and all(url.startswith("/docs/assets/") for url in scripts)
        for url in urls:
            assert url.startswith("/"), url
            fetched = client.get(url)
            assert fetched.status_code == 200, url
            if url.endswith(".js"):
                assert len(fetched.content) > 100_000, url  # the real bundle, not a stub
            # Like the pages: nothing without the token or the login cookie.
            assert client.get(url, headers={"Authorization": ""}).status_code == 401, url


def test_the_docs_assets_open_with_the_login_cookie(service_client):
    with service_client() as client:
        client.get("/login", params={"token": TOKEN}, headers={"Authorization": ""})
        signed_in = {"Authorization": ""}
        assert client.get("/docs/assets/swagger-ui.css", headers=signed_in).status_code == 200
        assert client.get("/docs/assets/..%2F__init__.py", headers=signed_in).status_code == 404


def test_swagger_ui_renders_with_the_network_off(tmp_path):
    """A real server behind its token; Chromium signs in with the login link, which redirects
    to /docs, and may reach nothing but 127.0.0.1 (every other address goes to a closed
    proxy port)."""
    server = Server(tmp_path / "home", "--token", TOKEN).start()
    try:
        login = f"{server.url}/login?token={TOKEN}&next=/docs"
        offline = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]
        run = run_chromium(tmp_path, *offline, "--virtual-time-budget=15000", "--dump-dom", login)
        assert run.returncode == 0, run.stderr
        dom = run.stdout
        assert 'class="swagger-ui' in dom
        for operation in ("/poll", "/trigger_report", "/get_report/{report_id}"):
            assert f'data-path="{operation}"' in dom, operation
        screenshot = tmp_path / "docs.png"
        run = run_chromium(
            tmp_path, *offline, "--virtual-time-budget=15000", "--window-size=1000,1400",
            f"--screenshot={screenshot}", login,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert screenshot.stat().st_size > 30_000  # the operations drawn, not a blank page
    finally:
        server.kill(signal.SIGTERM)
