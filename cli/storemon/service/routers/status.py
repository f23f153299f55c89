"""Which stores are down now: `GET /status` (JSON) and `GET /fleet` (a page that keeps itself
current), both from the live status's last evaluation (docs/service.md, "Which stores are
down now"); an explicit `at` is evaluated on the spot."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from storemon.plan import PlanFailed
from storemon.service.core import Service, get_service
from storemon.service.live import Board, rendered_row
from storemon.service.schemas import Refusal, StatusAnswer
from storemon.status import STATES, for_people, format_duration, format_instant

router = APIRouter(tags=["status"])
ServiceDependency = Annotated[Service, Depends(get_service)]
State = Literal["down", "silent", "up", "closed"]
# The fleet page reloads itself this often; it lists at most this many stores per state.
REFRESH_SECONDS = 30
PAGE_STORES = 500


@router.get(
    "/status",
    response_model=StatusAnswer,
    responses={
        422: {
            "model": Refusal,
            "description": "an unknown state, or `at` no timestamp; or `at` before the retention"
            " cut (--keep-polls-days), whose detail names the cut, the earliest `at`",
        }
    },
)
async def get_status(
    service: ServiceDependency,
    state: Annotated[
        list[State] | None, Query(description="only stores in these states (repeatable)")
    ] = None,
    at: Annotated[
        str | None,
        Query(description="an explicit instant (any timestamp form of the inputs); none: now"),
    ] = None,
    store_id: Annotated[
        list[str] | None, Query(description="only these stores (repeatable)")
    ] = None,
) -> Response:
    """Every store's status now (or at `at`): the rows of the dbt model store_status_now, by
    store_id, formatted as `storemon status --format json` formats them."""
    live = service.live
    if at is None:
        board = live.board
        status_at = board.described_at(live.clock())
        silent_after = live.silent_after_minutes
        if not store_id:
            body = board.joined(tuple(state or ()))
        else:
            body = b",".join(board.rendered[s] for s in _chosen(board, state, store_id))
        counts = board.counts
    else:
        instant = await run_in_threadpool(service.parse_instant, at)
        if instant is None:
            raise RequestValidationError([{
                "loc": ("query", "at"), "type": "value_error", "input": at,
                "msg": "not a timestamp: use e.g. 2024-11-04T06:00:00Z or 2024-11-04 06:00:00",
            }])  # fmt: skip
        try:
            rows = await run_in_threadpool(service.status_rows_at, instant, at)
        except PlanFailed as error:  # an instant the engine cannot reach (year 9999, say)
            raise RequestValidationError([{
                "loc": ("query", "at"), "type": "value_error", "input": at,
                "msg": f"cannot evaluate at this instant: {str(error).splitlines()[0]}",
            }]) from None  # fmt: skip
        status_at, silent_after = instant, live.silent_after_minutes
        counts = dict.fromkeys(STATES, 0)
        for row in rows:
            counts[row.state] += 1
        wanted = [
            row
            for row in rows
            if (not state or row.state in state) and (not store_id or row.store_id in store_id)
        ]
        body = b",".join(rendered_row(row) for row in wanted)
    head = (
        '{"status_at":' + _json_text(format_instant(status_at))
        + f',"silent_after_minutes":{silent_after},"counts":{{'
        + ",".join(f'"{name}":{counts.get(name, 0)}' for name in STATES)
        + '},"stores":['
    )  # fmt: skip
    return Response(head.encode() + body + b"]}", media_type="application/json")


def _json_text(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'  # an instant: no character to escape


def _chosen(board: Board, states: list[str] | None, store_ids: list[str] | None) -> list[str]:
    found = sorted(set(store_ids or ()) & board.rows.keys())
    if states:
        found = [s for s in found if board.rows[s].state in states]
    return found


@router.get(
    "/fleet",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "the fleet page"}},
)
def fleet_page(service: ServiceDependency) -> HTMLResponse:
    """The fleet as a page a browser keeps open (it reloads itself every 30 s): stores per
    state, then the down and silent stores, the longest first, with since when and how long,
    each linking to its page in the latest Complete report."""
    live = service.live
    board = live.board
    at = board.described_at(live.clock())
    report_id = service.latest_complete_report()
    rows = for_people([row._asdict() for row in _attention(board)])
    counts = "".join(
        f"<li class='{name}'><span class='count'>{board.counts.get(name, 0):,}</span> {name}</li>"
        for name in STATES
    )
    body = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>storemon: the fleet now</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>The fleet now</h1>",
        f"<p class='at'>at {format_instant(at) or 'no instant yet'} (UTC); "
        f"silent after {live.silent_after_minutes} min without a poll; "
        f"reloads every {REFRESH_SECONDS} s</p>",
        f"<ul class='counts'>{counts}</ul>",
    ]
    if not rows:
        body.append("<p>No store is down or silent.</p>")
    for state in ("down", "silent"):
        listed = [row for row in rows if row["state"] == state]
        if not listed:
            continue
        body.append(f"<h2>{state.capitalize()} ({len(listed):,})</h2>")
        body.append(
            "<table><thead><tr><th>store</th><th>state</th><th>for</th><th>since</th>"
            "<th>last poll</th><th>closes</th></tr></thead><tbody>"
        )
        for row in listed[:PAGE_STORES]:
            body.append(_store_line(row, at, report_id))
        body.append("</tbody></table>")
        if len(listed) > PAGE_STORES:
            more = len(listed) - PAGE_STORES
            body.append(
                f"<p>and {more:,} more: <a href='/status?state={state}'>all as JSON</a></p>"
            )
    body.append("</body></html>")
    return HTMLResponse("".join(body))


def _attention(board: Board):
    return [board.rows[s] for s in board.order if board.rows[s].state in ("down", "silent")]


def _store_line(row: dict, at: datetime | None, report_id: str | None) -> str:
    store = html.escape(row["store_id"])
    if report_id:
        link = f"/reports/{report_id}/stores/{_path_part(row['store_id'])}"
        store = f"<a href='{html.escape(link, quote=True)}'>{store}</a>"
    since = row["state_since"]
    length = format_duration(at - since) if since is not None and at is not None else "never polled"
    last = ""
    if row["last_poll_at"] is not None:
        last = f"{format_instant(row['last_poll_at'])} {row['last_status']}"
    closes = format_instant(row["closes_at"]) or ("open 24/7" if row["is_open"] else "")
    cells = [store, row["state"], length, format_instant(since) or "", last, closes]
    return f"<tr class='{row['state']}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _path_part(text: str) -> str:
    return quote(text, safe="")


CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { margin-bottom: 0.2rem; }
.at { color: #555; margin-top: 0; }
.counts { display: flex; gap: 1rem; list-style: none; padding: 0; }
.counts li { border: 2px solid #ccc; border-radius: 6px; padding: 0.6rem 1rem; min-width: 7rem; }
.counts .count { display: block; font-size: 2rem; font-weight: bold; }
.counts .down { border-color: #c62828; } .counts .down .count { color: #c62828; }
.counts .silent { border-color: #ef8f00; border-style: dashed; }
.counts .silent .count { color: #a86400; }
.counts .up { border-color: #2e7d32; } .counts .up .count { color: #2e7d32; }
.counts .closed { border-color: #999; border-style: dotted; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { text-align: left; padding: 0.25rem 0.8rem; border-bottom: 1px solid #e5e5e5; }
tr.down td:nth-child(2) { color: #c62828; font-weight: bold; }
tr.silent td:nth-child(2) { color: #a86400; font-style: italic; }
"""
