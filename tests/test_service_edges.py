"""The edges of `storemon serve` (docs/service.md, Bad requests), in-process: for each rule a
request that breaks it, its status and `detail`, and the inbox byte for byte as it was (every
table's row count and a checksum of its rows). One application (token set, a 1 MB limit) serves
the module."""

from __future__ import annotations

import json
import time

import duckdb
import pytest
from support import TOKEN, inbox_state, parse_report

from storemon.service.edges import COOKIE_NAME, login_cookie

POLL = {"store_id": "edge-1", "status": "active", "timestamp_utc": "2024-11-04 14:05:00"}
MB = 1024 * 1024


@pytest.fixture(scope="module")
def client(service_client):
    with service_client(max_upload_mb=1) as client:
        # Something in every table, so that "unchanged" means something.
        assert client.post("/poll", json=POLL).status_code == 200
        registration = {"store_id": "edge-1", "timezone_str": "Asia/Kolkata",
                        "business_hours": [{"day": 1, "start_time_local": "09:00",
                                            "end_time_local": "17:00"}]}  # fmt: skip
        assert client.post("/register_store", json=registration).status_code == 200
        yield client


@pytest.fixture
def unchanged(client):
    """Asserts, after the test, that the inbox is exactly as before it."""
    before = inbox_state(client)
    yield
    assert inbox_state(client) == before


def detail(answer) -> object:
    assert answer.headers["content-type"] == "application/json", answer.text
    return answer.json()["detail"]


# ---------------------------------------------------------------- auth first
@pytest.mark.parametrize(
    ("headers", "body"),
    [({"Content-Type": "application/json"}, b"x" * (2 * MB)),  # oversized
     ({"Content-Type": "application/json"}, b"{not json"),  # malformed
     ({"Content-Type": "text/plain"}, b"hello"),  # unsupported type
     ({"Content-Encoding": "gzip"}, b"\x1f\x8b")],  # unsupported encoding
)  # fmt: skip
def test_a_stranger_gets_401_whatever_the_body(client, unchanged, headers, body):
    answer = client.post("/polls", content=body, headers={**headers, "Authorization": ""})
    assert answer.status_code == 401
    assert detail(answer) == "missing or wrong bearer token"


def test_a_strangers_chunked_oversized_body_is_401_and_not_read(client, unchanged):
    read = []

    def chunks():
        for _ in range(3):
            read.append(1)
            yield b"x" * MB

    answer = client.post("/polls", content=chunks(), headers={"Authorization": "Bearer no"})
    assert answer.status_code == 401
    assert len(read) <= 1  # the client's first chunk at most; the server read none


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_the_docs_need_the_token(client, path):
    assert client.get(path, headers={"Authorization": ""}).status_code == 401
    assert client.get(path).status_code == 200


def test_a_browser_without_the_token_gets_a_page_that_says_how_to_sign_in(client):
    answer = client.get("/reports", headers={"Authorization": "", "Accept": "text/html"})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert "/login?token=" in answer.text and "<form method='post' action='/login'>" in answer.text
    assert "<input type='hidden' name='next' value='/reports'>" in answer.text  # back here


def test_the_login_link_sets_a_strict_httponly_cookie_for_get_pages_only(client, unchanged):
    anonymous = {"Authorization": ""}
    answer = client.get(
        "/login",
        params={"token": TOKEN, "next": "/reports"},
        headers=anonymous,
        follow_redirects=False,
    )
    client.cookies.clear()  # sent by hand below
    assert answer.status_code == 303 and answer.headers["location"] == "/reports"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}={login_cookie(TOKEN)};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    with_cookie = {**anonymous, "Cookie": f"{COOKIE_NAME}={login_cookie(TOKEN)}"}
    assert client.get("/reports", headers=with_cookie).status_code == 200
    # Every POST and the seeds' API need the header; the cookie is no Bearer token either.
    assert client.post("/trigger_report", headers=with_cookie).status_code == 401
    assert client.post("/poll", json=POLL, headers=with_cookie).status_code == 401
    assert client.get("/get_report/0", headers=with_cookie).status_code == 401
    bearer_cookie = {"Authorization": f"Bearer {login_cookie(TOKEN)}"}
    assert client.get("/reports", headers=bearer_cookie).status_code == 401


@pytest.mark.parametrize("token", ["wrong", ""])
def test_a_wrong_login_is_401_and_sets_nothing(client, token):
    answer = client.get("/login", params={"token": token}, headers={"Authorization": ""})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers


def test_the_login_form_and_a_next_page_elsewhere(client):
    form = {"token": TOKEN, "next": "//evil.example/x"}
    answer = client.post("/login", data=form, headers={"Authorization": ""}, follow_redirects=False)
    client.cookies.clear()
    assert answer.status_code == 303 and answer.headers["location"] == "/reports"
    assert "set-cookie" in answer.headers
    page = client.get("/login", params={"next": "/reports/x'><script>"})
    assert page.status_code == 200 and "<script>" not in page.text


# ---------------------------------------------------------------- shapes
def test_an_unknown_field_is_named(client, unchanged):
    answer = client.post("/poll", json={**POLL, "stauts": "active"})
    assert answer.status_code == 422
    assert [(p["loc"], p["type"]) for p in detail(answer)] == [
        (["body", "stauts"], "extra_forbidden")
    ]


@pytest.mark.parametrize("store_id", [{"a": 1}, [1, 2], True, 1.5, None])
def test_a_store_id_is_a_string_or_an_integer(client, unchanged, store_id):
    answer = client.post("/poll", json={**POLL, "store_id": store_id})
    assert answer.status_code == 422
    assert {tuple(p["loc"][:2]) for p in detail(answer)} == {("body", "store_id")}


@pytest.mark.parametrize("path", ["/poll", "/polls"])
def test_a_refused_value_that_json_cannot_say_is_echoed_as_text(client, unchanged, path):
    body = '{"store_id": NaN, "status": "active", "timestamp_utc": "2024-11-04 14:05:00"}'
    answer = client.post(path, content=body if path == "/poll" else f"[{body}]",
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 422
    assert {p["input"] for p in detail(answer)} == {"nan"}


@pytest.mark.parametrize(
    ("field", "value"), [("status", 1), ("timestamp_utc", 1730729100), ("status", None)]
)
def test_other_fields_are_strings(client, unchanged, field, value):
    answer = client.post("/poll", json={**POLL, field: value})
    assert answer.status_code == 422
    assert [p["loc"] for p in detail(answer)] == [["body", field]]


@pytest.mark.parametrize("field", ["store_id", "status", "timestamp_utc"])
def test_a_lone_surrogate_is_no_text(client, unchanged, field):
    body = json.dumps({**POLL, field: "\ud800"})  # JSON may say it; UTF-8 cannot
    answer = client.post("/poll", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert "Value error, not Unicode text (a lone surrogate)" in [p["msg"] for p in detail(answer)]


def test_a_lone_surrogate_in_a_field_name_is_named_as_it_can_be(client, unchanged):
    body = json.dumps({**POLL, "\udc00x": {"\ud800": 1}})
    answer = client.post("/poll", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert [problem["type"] for problem in detail(answer)] == ["string_unicode"]
    assert "?x" in answer.text  # the name, as far as UTF-8 can say it


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"business_hours": [], "day": 0, "start_time_local": "09:00", "end_time_local": "17:00"},
      "business_hours and day, start_time_local, end_time_local: send one form, not both"),
     ({"dayOfWeek": 0, "start_time_local": "09:00"}, "the flat form needs end_time_local too"),
     ({"day": 0.5, "start_time_local": "09:00", "end_time_local": "17:00"}, None)],
)  # fmt: skip
def test_a_registration_is_one_form_or_the_other(client, unchanged, extra, message):
    answer = client.post("/register_store", json={"store_id": "edge-1", **extra})
    assert answer.status_code == 422
    if message:
        assert [p["msg"] for p in detail(answer)] == [f"Value error, {message}"]


# ---------------------------------------------------------------- bodies
@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [("application/json", b"", 422, "json_invalid"),
     ("application/json", b'[{"store_id": "1", "sta', 422, "json_invalid"),
     ("application/json", b'[{"store_id": "\xff"}]', 422, "json_invalid"),
     ("application/json", b'{"store_id": "1"}', 422, "list_type"),
     ("text/csv", b"", 422, "the CSV body is empty: it needs a header row"),
     ("text/csv", b"1,active,2024-11-04 14:05:00\n", 422, "the CSV body has no column store_id"),
     ("text/csv", b"store_id;status;timestamp_utc\n1;active;2024-11-04 14:05:00\n", 422,
      "the CSV body has no column store_id"),
     ("text/csv", b"\xff\xfe,x\n", 422, "the CSV body is not UTF-8 text"),
     ("text/csv", b"store_id,status,timestamp_utc\n1,active,\xff\xfe\n", 422,
      "cannot read the CSV body")],
)  # fmt: skip
def test_a_polls_body_that_is_not_what_it_says(
    client, unchanged, content_type, body, status, reason
):
    answer = client.post("/polls", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == status
    found = detail(answer)
    if isinstance(found, str):
        assert found.startswith(reason), found
    else:
        assert reason in [problem["type"] for problem in found], found


@pytest.mark.parametrize("path", ["/poll", "/register_store", "/trigger_report"])
def test_invalid_utf8_json_is_a_clear_refusal(client, unchanged, path):
    answer = client.post(path, content=b'{"store_id": "\xff\xfe"}',
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code in (400, 422)
    assert detail(answer)


@pytest.mark.parametrize(
    ("path", "headers", "reason"),
    [("/poll", {"Content-Type": "text/plain"},
      "unsupported Content-Type text/plain: send application/json"),
     ("/polls", {"Content-Type": "application/xml"},
      "unsupported Content-Type application/xml: send application/json or text/csv"),
     ("/upload", {"Content-Type": "application/json"},
      "unsupported Content-Type application/json: send multipart/form-data"),
     ("/poll", {"Content-Type": "application/json", "Content-Encoding": "gzip"},
      "unsupported Content-Encoding gzip")],
)  # fmt: skip
def test_an_unsupported_type_or_encoding_is_415(client, unchanged, path, headers, reason):
    answer = client.post(path, content=b'{"a": 1}', headers=headers)
    assert answer.status_code == 415
    assert detail(answer) == reason


def test_a_post_to_a_get_route_is_405_whatever_its_type(client, unchanged):
    answer = client.post("/reports", content=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status_code == 405


def test_a_body_over_the_limit_is_413(client, unchanged):
    body = b"store_id,status,timestamp_utc\n" + b"1,active,2024-11-04 14:05:00\n" * 40_000
    answer = client.post("/polls", content=body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 413
    assert detail(answer) == "body over the limit of 1 MB"


@pytest.mark.parametrize("path", ["/polls", "/upload"])
def test_a_chunked_body_over_the_limit_is_413(client, unchanged, path):
    def chunks():
        yield b"store_id,status,timestamp_utc\n"
        for _ in range(40):
            yield b"1,active,2024-11-04 14:05:00\n" * 1000

    content_type = "text/csv" if path == "/polls" else "multipart/form-data; boundary=b"
    answer = client.post(path, content=chunks(), headers={"Content-Type": content_type})
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert detail(answer) == "body over the limit of 1 MB"


# ---------------------------------------------------------------- uploads: one transaction
GOOD_STATUS = b"store_id,status,timestamp_utc\nedge-2,active,2024-11-04 14:05:00\n"


@pytest.mark.parametrize(
    ("second", "reason"),
    [(b"\x00\x01binary\xff\xfe", "menu_hours (menu_hours.csv) is not UTF-8 text"),
     (b"PAR1 not parquet at all", "menu_hours (menu_hours.csv) is not a readable Parquet file"),
     (b"store_id,weekday\n1,0\n", "menu_hours (menu_hours.csv) has no column day or dayOfWeek"),
     (b"store_id,day,start_time_local,end_time_local\n1,0,09:00,\xff\n",
      "cannot read menu_hours (menu_hours.csv)")],
)  # fmt: skip
def test_a_bad_second_file_leaves_the_first_unstored(client, unchanged, second, reason):
    files = {"store_status": ("store_status.csv", GOOD_STATUS),
             "menu_hours": ("menu_hours.csv", second)}  # fmt: skip
    answer = client.post("/upload", files=files)
    assert answer.status_code == 422
    assert detail(answer).startswith(reason), detail(answer)


def test_the_same_field_twice_is_422(client, unchanged):
    files = [("store_status", ("a.csv", GOOD_STATUS)), ("store_status", ("b.csv", GOOD_STATUS))]
    answer = client.post("/upload", files=files)
    assert answer.status_code == 422
    assert detail(answer) == (
        "field store_status sent more than once (send store_status, menu_hours, timezones)"
    )


def test_an_unknown_upload_field_is_named(client, unchanged):
    files = {"store_status": ("a.csv", GOOD_STATUS), "menu_hour": ("b.csv", GOOD_STATUS)}
    answer = client.post("/upload", files=files)
    assert answer.status_code == 422
    assert detail(answer) == "unknown field menu_hour (send store_status, menu_hours, timezones)"


def test_a_parquet_upload_of_every_file_is_stored_together(client, tmp_path):
    """The good path of the same transaction: three files, all stored."""
    with duckdb.connect() as connection:
        path = tmp_path / "status.parquet"
        connection.execute(
            "copy (select 'edge-3' as store_id, 'inactive' as status,"
            f" '2024-11-04 15:00:00' as timestamp_utc) to '{path}'"
        )
    files = {
        "store_status": ("status.parquet", path.read_bytes()),
        "menu_hours": ("h.csv", b"store_id,dayOfWeek,start_time_local,end_time_local\n"
                                b"edge-3,0,09:00,17:00\n"),
        "timezones": ("z.csv", b"store_id,timezone_str\nedge-3,Europe/Paris\n"),
    }  # fmt: skip
    answer = client.post("/upload", files=files)
    assert answer.status_code == 200, answer.text
    assert {name: f["stored"] for name, f in answer.json().items()} == {
        "store_status": 1, "menu_hours": 1, "timezones": 1
    }  # fmt: skip


# ---------------------------------------------------------------- values
@pytest.mark.parametrize(
    "stamp", ["2024-11-04 14:05:00+99:99", "2024-11-04 14:05:00+24:00", "2024-11-04T14:05:00-00:60"]
)
def test_an_impossible_offset_is_an_unparseable_timestamp(client, unchanged, stamp):
    answer = client.post("/poll", json={**POLL, "timestamp_utc": stamp})
    assert answer.status_code == 422
    assert detail(answer) == [{"row": 1, "field": "timestamp_utc",
                               "reason": "unparseable timestamp_utc",
                               "values": f'{{"store_id":"edge-1","status":"active",'
                                         f'"timestamp_utc":"{stamp}"}}'}]  # fmt: skip


@pytest.mark.parametrize("zone", ["", "   "])
def test_an_empty_zone_is_an_invalid_timezone(client, unchanged, zone):
    for registration in (
        {"store_id": "edge-1", "timezone_str": zone},
        {"id": "edge-1", "local_timezone": zone, "dayOfWeek": 0,
         "start_time_local": "09:00", "end_time_local": "17:00"},
    ):  # fmt: skip
        answer = client.post("/register_store", json=registration)
        assert answer.status_code == 422
        assert [(p["field"], p["reason"]) for p in detail(answer)] == [
            ("timezone_str", "invalid timezone")
        ]


INVALID_STORE_IDS = ["x" * 256, "=1+1", "+1", "-1", "@sum", " \u00a0-1", "a\x01b", "a\x85",
                     "\ta", -5]  # fmt: skip


@pytest.mark.parametrize("store_id", INVALID_STORE_IDS)
def test_an_invalid_store_id_is_refused_on_every_path(client, unchanged, store_id):
    """The store_id rule of the files holds for every request: 422, nothing stored (a JSON
    integer is read as its text, so -5 starts with a minus)."""
    hours = {"day": 1, "start_time_local": "09:00", "end_time_local": "17:00"}
    requests = [
        ("/poll", {**POLL, "store_id": store_id}, 1),
        ("/polls", [POLL, {**POLL, "store_id": store_id}], 2),
        ("/register_store", {"store_id": store_id, "timezone_str": "UTC"}, 1),
        ("/register_store", {"store_id": store_id, "business_hours": [hours]}, 1),
        ("/register_store", {"id": store_id, **hours}, 1),
    ]
    for path, body, row in requests:
        answer = client.post(path, json=body)
        assert answer.status_code == 422, (path, answer.text)
        problems = detail(answer)
        assert [(p["row"], p["field"], p["reason"]) for p in problems] == [
            (row, "store_id", "invalid store_id")
        ], path
    if isinstance(store_id, str) and "\n" not in store_id:
        text = f"store_id,status,timestamp_utc\nedge-1,active,2024-11-04 14:05:00\n" \
               f"\"{store_id}\",active,2024-11-04 14:05:00\n"  # fmt: skip
        answer = client.post("/polls", content=text.encode(), headers={"Content-Type": "text/csv"})
        assert answer.status_code == 422, answer.text
        assert [(p["row"], p["reason"]) for p in detail(answer)] == [(2, "invalid store_id")]


def test_a_store_id_at_the_edges_of_the_rule_is_taken(client):
    for store_id in ("e" * 255, "\u00a0edge-blanks\u3000", "edge=-+@", "e\u0301dge"):
        answer = client.post("/poll", json={**POLL, "store_id": store_id})
        assert answer.status_code == 200, (store_id, answer.text)
    cursor = client.app.state.service.inbox.cursor()
    stored = {row[0] for row in cursor.execute("select store_id from polls").fetchall()}
    assert {"e" * 255, "edge-blanks", "edge=-+@", "e\u0301dge"} <= stored
    assert "\u00e9dge" not in stored  # not normalised


def test_an_upload_rejects_invalid_store_ids_row_by_row(client):
    body = "store_id,status,timestamp_utc\nedge-5,active,2024-11-04 14:05:00\n" \
           "=edge-5,active,2024-11-04 14:05:00\n\"-5\",active,2024-11-04 14:05:00\n"  # fmt: skip
    answer = client.post("/upload", files={"store_status": ("s.csv", body.encode())})
    assert answer.status_code == 200
    uploaded = answer.json()["store_status"]
    assert (uploaded["rows_read"], uploaded["stored"], uploaded["rejected"]) == (3, 1, 2)
    assert [(r["row"], r["field"], r["reason"]) for r in uploaded["first_rejected"]] == [
        (2, "store_id", "invalid store_id"),
        (3, "store_id", "invalid store_id"),
    ]


@pytest.mark.parametrize(
    "stamp",
    ["2024-11-04 14:05:00.5  UTC", "2024-11-04 14:05:00  UTC", "2024-11-04 14:05:00.5\tUTC"],
)
def test_one_space_before_utc_in_requests_too(client, unchanged, stamp):
    answer = client.post("/poll", json={**POLL, "timestamp_utc": stamp})
    assert answer.status_code == 422
    assert [(p["field"], p["reason"]) for p in detail(answer)] == [
        ("timestamp_utc", "unparseable timestamp_utc")
    ]
    answer = client.post("/trigger_report", json={"as_of": stamp})
    assert answer.status_code == 422
    assert [(p["field"], p["reason"]) for p in detail(answer)] == [("as_of", "unparseable as_of")]


def test_a_poll_from_the_future_is_refused(client, unchanged):
    for stamp in ("9999-12-31 00:00:00", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(
        time.time() + 25 * 3600
    ))):  # fmt: skip
        answer = client.post("/poll", json={**POLL, "timestamp_utc": stamp})
        assert answer.status_code == 422
        assert [(p["field"], p["reason"]) for p in detail(answer)] == [
            ("timestamp_utc", "timestamp in the future")
        ]


@pytest.mark.parametrize(
    ("as_of", "reason"),
    [("9999-12-31 00:00:00", "timestamp in the future"),
     ("2024-11-04 14:05:00+24:00", "unparseable as_of")],
)  # fmt: skip
def test_a_report_time_is_checked_as_a_poll_time(client, unchanged, as_of, reason):
    answer = client.post("/trigger_report", json={"as_of": as_of})
    assert answer.status_code == 422
    assert detail(answer) == [{"row": 1, "field": "as_of", "reason": reason, "values": as_of}]


def test_a_poll_within_a_day_of_the_clock_is_taken(client):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 23 * 3600))
    answer = client.post("/poll", json={**POLL, "store_id": "edge-soon", "timestamp_utc": stamp})
    assert answer.status_code == 200 and answer.json() == {"stored": 1}


def test_an_upload_rejects_the_poll_from_the_future_row_by_row(client):
    body = b"store_id,status,timestamp_utc\nedge-4,active,2024-11-04 14:05:00\n" \
           b"edge-4,active,9999-12-31 00:00:00\n"  # fmt: skip
    answer = client.post("/upload", files={"store_status": ("s.csv", body)})
    assert answer.status_code == 200
    assert answer.json()["store_status"] == {
        "rows_read": 2, "stored": 1, "rejected": 1,
        "first_rejected": [{"row": 2, "field": "timestamp_utc",
                            "reason": "timestamp in the future",
                            "values": '{"store_id":"edge-4","status":"active",'
                                      '"timestamp_utc":"9999-12-31 00:00:00"}'}],
    }  # fmt: skip


# ---------------------------------------------------------------- the unexpected
def test_an_unexpected_error_is_a_500_with_a_request_id_in_the_log(
    client, unchanged, monkeypatch, capsys
):
    def broken(rows):
        raise RuntimeError("boom")

    monkeypatch.setattr(client.app.state.service, "store_polls", broken)
    answer = client.post("/poll", json=POLL)
    assert answer.status_code == 500
    request_id = answer.json()["request_id"]
    assert answer.json() == {"detail": "unexpected error (a bug)", "request_id": request_id}
    assert answer.headers["x-request-id"] == request_id
    log = capsys.readouterr().err
    assert f"request {request_id} (POST /poll) failed" in log and "RuntimeError: boom" in log


# ---------------------------------------------------------------- the seeds' flat registration
def test_the_seeds_flat_registration_sets_one_day_at_a_time(client):
    """Three calls in the seeds' form: Monday 08-09 (New York), Wednesday 10-12 (no zone: kept),
    Monday again 09-17 (the issue's request: replaces Monday). One poll, active, so the store
    is active all week: last week's uptime is its open time, 8 h + 2 h, in New York time."""
    calls = [
        {"store_id": "77", "local_timezone": "America/New_York", "dayOfWeek": 0,
         "start_time_local": "08:00:00", "end_time_local": "09:00:00"},
        {"id": 77, "day": "2", "start_time_local": "10:00", "end_time_local": "12:00"},
        {"store_id": "77", "local_timezone": "America/New_York", "dayOfWeek": 0,
         "start_time_local": "09:00:00", "end_time_local": "17:00:00"},
    ]  # fmt: skip
    for call in calls:
        answer = client.post("/register_store", json=call)
        assert answer.status_code == 200 and answer.json() == {"stored": 1}, answer.text
    poll = {"store_id": "77", "status": "active", "timestamp_utc": "2024-11-06 12:00:00"}
    assert client.post("/poll", json=poll).status_code == 200
    cursor = client.app.state.service.inbox.cursor()
    assert cursor.execute(
        "select raw_day, raw_start_time_local from business_hours where store_id = '77'"
        " order by all"
    ).fetchall() == [("0", "09:00:00"), ("2", "10:00")]
    # Monday 2024-11-11 00:00 in New York (EST, UTC-5): the week is Mon 4 - Sun 10 November.
    as_of = "2024-11-11T00:00:00-05:00"
    report_id = client.post("/trigger_report", json={"as_of": as_of}).json()["report_id"]
    deadline = time.monotonic() + 120
    while (report := client.get(f"/get_report/{report_id}").json())["status"] == "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert report["status"] == "Complete", report
    measures = parse_report(client.get(report["url"]).text)["77"]
    assert [float(value) for value in measures] == [0, 0, 10, 0, 0, 0]
