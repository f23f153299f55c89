"""The limits of `storemon serve` that a clumsy or hostile client meets, in-process: rows per
request (--max-rows), the sign-in cookie (Secure over HTTPS, Max-Age, logout, wrong guesses
limited per address), a non-ASCII token in the header, HEAD wherever GET is answered, the
security headers of the pages, and store pages for any store id. Every refusal leaves the
inbox as it was (docs/service.md, Bad requests and Signing in)."""

from __future__ import annotations

import html
import json
import time
from urllib.parse import quote

import duckdb
import pytest
from fastapi.testclient import TestClient
from support import TOKEN, finished
from test_service_edges import inbox_state

from storemon.service.app import create_app
from storemon.service.core import Settings
from storemon.service.edges import COOKIE_MAX_AGE, COOKIE_NAME, cookie_is_valid, login_cookie

MAX_ROWS = 5
# Store ids that a path segment cannot carry as they are.
ODD_IDS = ["a/b", ".", "..", "%2F", "with space", "ünï-çødé", "x?y#z", "a//b/"]


def polls(count: int, store: str = "lim-1") -> list[dict]:
    return [{"store_id": store, "status": "active", "timestamp_utc": f"2024-11-04 10:{m:02}:00"}
            for m in range(count)]  # fmt: skip


@pytest.fixture(scope="module")
def client(service_client):
    with service_client(max_rows=MAX_ROWS) as client:
        assert client.post("/polls", json=polls(2)).status_code == 200
        yield client


@pytest.fixture
def unchanged(client):
    before = inbox_state(client)
    yield
    assert inbox_state(client) == before


# ---------------------------------------------------------------- rows per request
def test_max_rows_json_batch(client, unchanged):
    answer = client.post("/polls", json=polls(MAX_ROWS + 1, "lim-2"))
    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        f"the request has more than {MAX_ROWS} rows, the limit (--max-rows)"
    )


def test_max_rows_csv_body_and_upload_files(client, unchanged, tmp_path):
    rows = "".join(f"lim-3,active,2024-11-04 11:{m:02}:00\n" for m in range(MAX_ROWS + 1))
    body = "store_id,status,timestamp_utc\n" + rows
    answer = client.post("/polls", content=body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 413 and "more than 5 rows" in answer.json()["detail"]
    answer = client.post("/upload", files={"store_status": ("s.csv", body)})
    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        f"store_status (s.csv) has more than {MAX_ROWS} rows, the limit (--max-rows)"
    )
    # Parquet: a few bytes can hold millions of rows; refused from its footer.
    parquet = tmp_path / "many.parquet"
    with duckdb.connect() as connection:
        connection.execute(
            "copy (select 'lim-4' as store_id, 'active' as status,"
            " '2024-11-04 10:00:00' as timestamp_utc from range(1000000))"
            f" to '{parquet}' (compression zstd)"
        )
    assert parquet.stat().st_size < 100_000
    answer = client.post("/upload", files={"store_status": ("m.parquet", parquet.read_bytes())})
    assert answer.status_code == 413 and "m.parquet) has more than 5 rows" in answer.text


def test_max_rows_allows_exactly_the_limit(client):
    assert client.post("/polls", json=polls(MAX_ROWS, "lim-5")).json() == {"stored": MAX_ROWS}


@pytest.fixture(scope="module")
def big_client(service_client):
    with service_client(max_rows=40_000) as client:
        yield client


def large_body(count: int, store: str) -> bytes:
    """A JSON batch over 1 MB (parsed in chunks), with spaces and aliases as a client sends."""
    items = [json.dumps({"id": store, "status": "active",
                         "utc_timestamp": f"2024-11-0{1 + n // 10000} 00:00:{n % 60:02}.{n:06}"})
             for n in range(count)]  # fmt: skip
    return ("[\n " + ",\n ".join(items) + "\n]").encode()


def test_a_large_json_batch_is_stored_in_chunks(big_client):
    body = large_body(30_000, "big-1")
    assert len(body) > 1024 * 1024
    answer = big_client.post("/polls", content=body, headers={"Content-Type": "application/json"})
    assert answer.json() == {"stored": 30_000}


def test_a_large_json_batch_is_refused_whole(big_client):
    before = inbox_state(big_client)
    items = json.loads(large_body(30_000, "big-2"))
    items[25_000]["status"] = "asleep"  # the staging SQL's reason
    answer = big_client.post("/polls", json=items)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["row"] == 25_001
    items[25_000] = {"id": "big-2", "stauts": "active", "utc_timestamp": "2024-11-04 00:00:00"}
    answer = big_client.post("/polls", json=items)
    locs = [problem["loc"] for problem in answer.json()["detail"]]
    assert answer.status_code == 422 and ["body", 25_000, "stauts"] in locs
    body = large_body(30_000, "big-2")
    for broken in (body[:-10], body + b"]", body.replace(b"},", b"}", 1)):
        answer = big_client.post(
            "/polls", content=broken, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "json_invalid"
    answer = big_client.post(
        "/polls", content=large_body(40_001, "big-3"), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and "more than 40000 rows" in answer.text
    assert inbox_state(big_client) == before


# ---------------------------------------------------------------- the token
def test_a_non_ascii_token_works_in_the_header_as_at_login(tmp_path):
    token = "pässwörd-ünïcode-€-token"
    with TestClient(create_app(Settings(tmp_path / "home", token=token))) as client:
        utf8 = {"Authorization": b"Bearer " + token.encode("utf-8")}
        assert client.get("/reports", headers=utf8).status_code == 200
        latin1 = {"Authorization": b"Bearer " + token.encode("utf-8").decode().encode("latin-1",
                  "replace")}  # fmt: skip
        assert client.get("/reports", headers=latin1).status_code == 401
        answer = client.post("/login", data={"token": token}, follow_redirects=False)
        assert answer.status_code == 303 and COOKIE_NAME in answer.headers["set-cookie"]


# ---------------------------------------------------------------- the sign-in cookie
def test_the_cookie_expires_is_secure_over_https_and_logout_clears_it(tmp_path):
    with TestClient(create_app(Settings(tmp_path / "home", token=TOKEN))) as client:
        answer = client.get("/login", params={"token": TOKEN}, follow_redirects=False)
        cookie = answer.headers["set-cookie"]
        assert f"Max-Age={COOKIE_MAX_AGE}" in cookie and "Secure" not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        answer = client.get(
            "https://testserver/login", params={"token": TOKEN}, follow_redirects=False
        )
        assert "; Secure" in answer.headers["set-cookie"]
        secure = "https://testserver"
        assert client.get(f"{secure}/reports").status_code == 200  # the jar's cookie
        assert client.get("/reports").status_code == 401  # a Secure cookie: HTTPS only
        answer = client.post(f"{secure}/logout", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        cleared = answer.headers["set-cookie"]
        assert cleared.startswith(f'{COOKIE_NAME}="";') and "Max-Age=0" in cleared
        assert client.get(f"{secure}/reports").status_code == 401
        assert client.get("/logout", follow_redirects=False).status_code == 303
    # The server ends a sign-in too: a cookie older than its Max-Age opens nothing.
    now = time.time()
    assert cookie_is_valid(TOKEN, login_cookie(TOKEN, int(now) - 10), now)
    assert not cookie_is_valid(TOKEN, login_cookie(TOKEN, int(now) - COOKIE_MAX_AGE - 1), now)
    assert not cookie_is_valid("other", login_cookie(TOKEN, int(now)), now)
    assert not cookie_is_valid(TOKEN, "1." + login_cookie(TOKEN, int(now)).split(".")[1], now)


def test_wrong_logins_are_limited_per_address(tmp_path):
    with TestClient(create_app(Settings(tmp_path / "home", token=TOKEN))) as client:
        for _ in range(10):
            assert client.post("/login", data={"token": "guess"}).status_code == 401
        answer = client.post("/login", data={"token": "guess"})
        assert answer.status_code == 429
        assert 1 <= int(answer.headers["retry-after"]) <= 60
        assert "too many wrong tokens" in answer.json()["detail"]
        # Even the right token waits; another address does not.
        assert client.get("/login", params={"token": TOKEN}).status_code == 429
        guard = client.app.state.login_guard
        assert guard.retry_after("192.0.2.1") == 0
        assert guard.retry_after("testclient", now=time.monotonic() + 61) == 0


# ---------------------------------------------------------------- HEAD, headers, store ids
@pytest.fixture(scope="module")
def odd_report(service_client):
    with service_client() as client:
        for store in ODD_IDS:
            poll = {"store_id": store, "status": "active", "timestamp_utc": "2024-11-04 10:00:00"}
            assert client.post("/poll", json=poll).status_code == 200
        report_id = client.post("/trigger_report", json={}).json()["report_id"]
        assert finished(client, report_id)["status"] == "Complete"
        yield client, report_id


def test_head_is_answered_wherever_get_is(odd_report):
    client, report_id = odd_report
    for path in ("/health", "/reports", f"/reports/{report_id}/report.csv",
                 f"/get_report/{report_id}", "/metrics", "/openapi.json"):  # fmt: skip
        got, head = client.get(path), client.head(path)
        assert got.status_code == head.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/poll").status_code == 405  # POST only


def test_pages_carry_the_security_headers(odd_report):
    client, report_id = odd_report
    page = client.get(f"/reports/{report_id}", headers={"Accept": "text/html"})
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    health = client.get("/health")
    assert health.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in health.headers


def test_every_store_id_reaches_its_page(odd_report):
    client, report_id = odd_report
    page = client.get(f"/reports/{report_id}", headers={"Accept": "text/html"}).text
    for store in ODD_IDS:
        link = f"/reports/{report_id}/stores?store_id={quote(store, safe='')}"
        assert f"href='{link}'" in page.replace("&amp;", "&")
        for url in (link, f"/reports/{report_id}/stores/{quote(store, safe='')}"):
            if store in (".", "..", "%2F") and "?" not in url:
                # A client folds the segments . and ..: the query form reaches them. (And
                # TestClient decodes a path twice: %252F is tested on a real server.)
                continue
            answer = client.get(url)
            assert answer.status_code == 200, (store, url)
            assert f"<h1>Store {html.escape(store)}</h1>" in answer.text, store
    # A raw path with a slash, unencoded, reaches the store too.
    assert "Store a/b" in client.get(f"/reports/{report_id}/stores/a/b").text


def test_pages_are_rendered_once_and_kept(odd_report):
    client, report_id = odd_report
    folder = client.app.state.service.report_file(report_id, "pages")
    first = client.get(f"/reports/{report_id}", headers={"Accept": "text/html"}).text
    kept = folder / "report.html"
    assert kept.read_text(encoding="utf-8") == first
    kept.write_text(first.replace("storemon report", "kept page"), encoding="utf-8")
    again = client.get(f"/reports/{report_id}", headers={"Accept": "text/html"}).text
    assert "kept page" in again  # served from the report's folder, not rendered again
    assert client.get(f"/reports/{report_id}/stores/nope").status_code == 404
    assert not list(folder.glob(".*.partial"))


def test_the_openapi_schema_documents_the_new_refusals(odd_report):
    client, _ = odd_report
    paths = client.get("/openapi.json").json()["paths"]
    assert {"408", "413"} <= set(paths["/polls"]["post"]["responses"])
    assert "413" in paths["/upload"]["post"]["responses"]
    assert "/reports/{report_id}/stores" in paths
