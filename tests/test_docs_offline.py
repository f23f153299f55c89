"""The manual's site works without internet access: the lineage diagram of docs/analysts.md
renders from the mermaid.js that the site carries (tests/mkdocs_hooks.py), in headless
Chromium that can reach nothing but 127.0.0.1."""

from __future__ import annotations

import functools
import html
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_docs import run_tool
from test_html import run_chromium

# Material for MkDocs draws each diagram into a closed shadow root, which --dump-dom cannot
# see: this script, run first, opens them, and once the page has settled copies what they
# hold into the page.
SHOW_DIAGRAMS = """<script>
const attachShadow = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attachShadow.call(this, {...init, mode: "open"});
};
window.addEventListener("load", () => setTimeout(() => {
  const shown = document.createElement("pre");
  shown.id = "diagrams";
  shown.textContent = [...document.querySelectorAll("div.mermaid")]
    .map((diagram) => diagram.shadowRoot ? diagram.shadowRoot.innerHTML : "").join("\\n");
  document.body.append(shown);
}, 4000));
</script>"""
OFFLINE = ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    done = run_tool("mkdocs", "build", "--strict", "--site-dir", str(site))
    assert done.returncode == 0, done.stderr
    page = site / "analysts" / "index.html"
    page.write_text(page.read_text().replace("<head>", f"<head>{SHOW_DIAGRAMS}", 1))
    return site


def diagrams_shown(site: Path, tmp_path: Path) -> str:
    """What the diagrams of the analysts' page hold once drawn, the site served on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/analysts/"
        run = run_chromium(tmp_path, *OFFLINE, "--virtual-time-budget=20000", "--dump-dom", url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert run.returncode == 0, run.stderr
    found = re.search(r'<pre id="diagrams">(.*?)</pre>', run.stdout, re.DOTALL)
    assert found, "the page did not finish loading"
    return html.unescape(found[1])


def test_the_site_carries_mermaid_and_names_no_cdn(site):
    page = (site / "analysts" / "index.html").read_text()
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert "../assets/javascripts/mermaid.min.js" in scripts
    assert all(not script.startswith(("http:", "https:", "//")) for script in scripts)
    assert (site / "assets" / "javascripts" / "mermaid.min.js").stat().st_size > 1_000_000


def test_the_lineage_renders_with_the_network_off(site, tmp_path):
    drawn = diagrams_shown(site, tmp_path)
    assert "<svg" in drawn
    for model in ("stg_store_status", "int_open_status_intervals", "store_uptime_report"):
        assert model in drawn, model


def test_without_the_bundled_mermaid_nothing_renders_offline(site, tmp_path):
    """The check above is not vacuous: Material would fetch mermaid from a CDN instead."""
    bundled = site / "assets" / "javascripts" / "mermaid.min.js"
    kept = tmp_path / "mermaid.min.js"
    bundled.rename(kept)
    try:
        assert "<svg" not in diagrams_shown(site, tmp_path)
    finally:
        kept.rename(bundled)
