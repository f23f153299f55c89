"""The report as one self-contained HTML page: fleet summary, stores ranked by last week's
downtime, and a week timeline for the worst stores. Every number and every drawn interval is
read from the report's own tables (store_uptime_report, store_timeline, rejected_rows,
int_report_clock); this module only lays them out. Charts are Vega-Lite specs (Altair) rendered
to static SVG by vl-convert, so the page needs no script and no network to open."""

from __future__ import annotations

import copy
import functools
import html
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import duckdb

# Okabe-Ito colours (distinguishable with colour-blindness); each status also has its own shape.
ACTIVE_COLOUR = "#0072B2"
INACTIVE_COLOUR = "#D55E00"
HOURS_COLOUR = "#e4e4e4"
MEASURES = [
    ("uptime_last_hour", "up, last hour (min)"),
    ("uptime_last_day", "up, last day (h)"),
    ("uptime_last_week", "up, last week (h)"),
    ("downtime_last_hour", "down, last hour (min)"),
    ("downtime_last_day", "down, last day (h)"),
    ("downtime_last_week", "down, last week (h)"),
]
WINDOW_LABELS = {"last_week": "week", "last_day": "last day", "last_hour": "last hour"}
CHART_WIDTH = 900


def ranked_report_query(report_query: str) -> str:
    """The report's rows (rounded as in the CSV), worst last-week downtime first; stores with
    unknown measures last; store_id breaks ties."""
    return f"select * from ({report_query}) order by downtime_last_week desc nulls last, store_id"


def write_html_report(
    connection: duckdb.DuckDBPyConnection, report_query: str, path: Path, timeline_stores: int
) -> None:
    """Write the page for the database behind `connection` to `path`."""
    path.write_text(report_page(connection, report_query, timeline_stores), encoding="utf-8")


def report_page(
    connection: duckdb.DuckDBPyConnection,
    report_query: str,
    timeline_stores: int,
    store_url: str | None = None,
) -> str:
    """The whole report as a page; `store_url` (with `{store_id}`) links each timeline to its
    store's page."""
    rows = connection.execute(ranked_report_query(report_query)).fetchall()
    worst = rows[:timeline_stores]
    timeline_rows = _timeline_rows(connection, [row[0] for row in worst])
    timelines = [_store_section(row, timeline_rows[row[0]], store_url) for row in worst]
    return _PAGE.format(
        title="storemon report",
        style=_CSS,
        body=_REPORT_BODY.format(
            summary=_summary(connection, len(rows)),
            legend=_LEGEND,
            ranking=_ranking_table(rows),
            timeline_count=len(worst),
            timelines="\n".join(timelines),
        ),
    )


def store_page(
    connection: duckdb.DuckDBPyConnection,
    report_query: str,
    store_id: str,
) -> str | None:
    """One store's page: its six measures and its week timeline; None for an unknown store."""
    row = connection.execute(
        f"select * from ({report_query}) where store_id = ?", [store_id]
    ).fetchone()
    if row is None:
        return None
    return _PAGE.format(
        title=f"storemon: store {_e(store_id)}",
        style=_CSS,
        body=f"<h1>Store {_e(store_id)}</h1>"
        + _ranking_table([row], ranked=False)
        + _LEGEND
        + _store_section(row, _timeline_rows(connection, [store_id])[store_id], None),
    )


def with_incidents(page: str, incidents: list[dict]) -> str:
    """A store's page with its incidents (docs/alerts.md), newest first, at the end: the page
    is kept once rendered, the incidents change."""
    head, tail = page.rsplit("</body>", 1)
    return f"{head}{_incidents_table(incidents)}\n</body>{tail}"


def _incidents_table(incidents: list[dict]) -> str:
    """A store's incidents (docs/alerts.md) and how their deliveries went."""
    if not incidents:
        return "<h2>Incidents</h2><p id=incidents>No incident.</p>"
    rows = "".join(
        f"<tr><td>{_e(i['state'])}<td>{_utc(i['started_at'])}"
        f"<td>{'open' if i['resolved_at'] is None else _utc(i['resolved_at'])}"
        f"<td>{_e(i['resolution'] or i['reason'])}<td>"
        + ", ".join(
            f"{_e(d['receiver'])} {_e(d['change'])}: {_e(d['status'])}"
            f" ({d['attempts']} {'try' if d['attempts'] == 1 else 'tries'})"
            for d in i["deliveries"]
        )
        for i in incidents
    )
    return (
        "<h2>Incidents</h2><table id=incidents><tr><th>state<th>started (UTC)"
        f"<th>resolved (UTC)<th>reason<th>deliveries</tr>{rows}</table>"
    )


def _summary(connection: duckdb.DuckDBPyConnection, stores: int) -> str:
    clock = connection.execute(
        "select report_at, last_hour_start_at, last_day_start_at, last_week_start_at "
        "from int_report_clock"
    ).fetchone()
    polls = connection.execute("select count(*) from int_polls_deduplicated").fetchone()[0]
    reasons = connection.execute(
        "select input_name, rejection_reason, count(*) from rejected_rows "
        "group by all order by 3 desc, 1, 2"
    ).fetchall()
    rejected = "".join(
        f"<tr><td>{_e(name)}<td>{_e(reason)}<td class=n>{count}</tr>"
        for name, reason, count in reasons
    )
    report_at, hour_start, day_start, week_start = clock
    return (
        f"<dl id=summary><dt>stores<dd id=stores>{stores}"
        f"<dt>polls that count<dd id=polls>{polls}"
        f"<dt>rejected rows<dd id=rejected>{sum(c for _, _, c in reasons)}"
        f"<dt>report time (UTC)<dd id=report-at>{_utc(report_at)}"
        f"<dt>windows (UTC, half-open)<dd>last hour [{_utc(hour_start)}, {_utc(report_at)}); "
        f"last day [{_utc(day_start)}, {_utc(report_at)}); "
        f"last week [{_utc(week_start)}, {_utc(report_at)})</dl>"
        + (
            f"<table id=rejected-reasons><tr><th>input<th>reason<th>rows</tr>{rejected}</table>"
            if reasons
            else ""
        )
    )


def _ranking_table(rows: Sequence[tuple], ranked: bool = True) -> str:
    header = "".join(f"<th>{_e(label)}" for _, label in MEASURES)
    body = "".join(
        f"<tr><td>{rank if ranked else ''}<td class=id>{_e(row[0])}"
        + "".join(_measure_cell(value) for value in row[1:])
        for rank, row in enumerate(rows, start=1)
    )
    return f"<table id=ranking><tr><th>#<th>store{header}</tr>{body}</table>"


def _measure_cell(value: object) -> str:
    return "<td class=null>unknown" if value is None else f"<td>{value}"


def _timeline_rows(
    connection: duckdb.DuckDBPyConnection, store_ids: list[str]
) -> dict[str, list[dict]]:
    """The store_timeline rows of the given stores, per store, in time order."""
    cursor = connection.execute(
        "select store_id, element, from_at, to_at, utc_offset_minutes, timezone_name "
        "from store_timeline where list_contains(?, store_id) "
        "order by store_id, from_at, element, to_at",
        [store_ids],
    )
    names = [column[0] for column in cursor.description]
    by_store: dict[str, list[dict]] = {store_id: [] for store_id in store_ids}
    for row in cursor.fetchall():
        by_store[row[0]].append(dict(zip(names, row, strict=True)))
    return by_store


def _store_section(report_row: tuple, rows: list[dict], store_url: str | None) -> str:
    """One store's heading, note and timeline. `report_row` is the store's row of the report
    (store_id and the six measures): whether the measures are known is read there, never
    guessed from the picture, which shows only the polls inside the week."""
    store_id = report_row[0]
    zone = rows[0]["timezone_name"] if rows else ""
    note = _store_note(report_row, rows)
    name = _e(store_id)
    if store_url:
        name = f"<a href='{_e(store_url.format(store_id=quote(store_id, safe='')))}'>{name}</a>"
    return (
        f"<section class=store id='store-{_e(store_id)}'><h3>{name} "
        f"<small>{_e(zone)}</small></h3>{note}{timeline_svg(rows)}</section>"
    )


def _store_note(report_row: tuple, rows: list[dict]) -> str:
    """What the page says above a timeline: unknown measures exactly where the report's are
    NULL; a store whose measures are known without a poll inside the week is told apart, since
    its bars come from the last poll before the week."""
    if all(value is None for value in report_row[1:]):
        return "<p class=note>No poll that counts: measures unknown.</p>"
    if not any(row["element"].startswith("poll") for row in rows):
        return (
            "<p class=note>No poll inside the week: its status is that of the last poll "
            "before it.</p>"
        )
    return ""


def timeline_svg(rows: list[dict]) -> str:
    """One store's week as a static SVG: x is real time, labelled in the store's local time."""
    import vl_convert

    return vl_convert.vegalite_to_svg(timeline_spec(rows))


def timeline_spec(rows: list[dict]) -> dict:
    """The Vega-Lite spec of one store's timeline: the shared chart with the store's
    store_timeline rows as its data, its week as the x domain and its local time on the axis."""
    week = next(row for row in rows if row["element"] == "last_week")
    spec = copy.deepcopy(_timeline_template())
    spec["datasets"] = {
        "timeline": [
            {
                "element": row["element"],
                "from": _iso(row["from_at"]),
                "to": _iso(row["to_at"]),
                "offset": _offset_label(row["utc_offset_minutes"]),
                "window": WINDOW_LABELS.get(row["element"], ""),
            }
            for row in rows
        ]
    }
    x = spec["encoding"]["x"]
    x["scale"]["domain"] = [_iso(week["from_at"]), _iso(week["to_at"])]
    x["axis"]["title"] = f"local time ({week['timezone_name']})"
    x["axis"]["labelExpr"] = _local_label_expression(rows)
    return spec


@functools.cache
def _timeline_template() -> dict:
    """The chart every timeline shares, built once with Altair (building it per store costs
    far more than drawing it); timeline_spec fills in each store's data and axis."""
    import altair as alt

    base = alt.Chart(alt.Data(name="timeline"))  # timeline_spec supplies the rows

    def only(*elements: str):
        return base.transform_filter(alt.FieldOneOfPredicate(field="element", oneOf=list(elements)))

    status_colour = alt.Color(
        "element:N",
        scale=alt.Scale(
            domain=["active", "inactive", "poll_active", "poll_inactive"],
            range=[ACTIVE_COLOUR, INACTIVE_COLOUR, ACTIVE_COLOUR, INACTIVE_COLOUR],
        ),
        legend=None,
    )
    hours = (
        only("business_hours")
        .mark_rect(color=HOURS_COLOUR)
        .encode(x2="to:T", y=alt.value(20), y2=alt.value(76))
    )
    # Inactive: tall, dashed outline; active: a thin solid bar. Shape tells them apart too.
    inactive = (
        only("inactive")
        .mark_rect(stroke="#333", strokeDash=[3, 2], strokeWidth=0.7)
        .encode(x2="to:T", y=alt.value(24), y2=alt.value(72), color=status_colour)
    )
    active = (
        only("active")
        .mark_rect()
        .encode(x2="to:T", y=alt.value(38), y2=alt.value(58), color=status_colour)
    )
    polls = (
        only("poll_active", "poll_inactive")
        .mark_point(filled=True, size=14)
        .encode(
            y=alt.value(10),
            color=status_colour,
            shape=alt.Shape(
                "element:N",
                scale=alt.Scale(
                    domain=["poll_active", "poll_inactive"], range=["triangle-up", "cross"]
                ),
                legend=None,
            ),
        )
    )
    windows = (
        only("last_day", "last_hour")
        .mark_rule(color="#000", strokeDash=[6, 3])
        .encode(y=alt.value(16), y2=alt.value(92))
    )
    window_labels = (
        only("last_day", "last_hour")
        .mark_text(align="left", dx=2, fontSize=9)
        .encode(y=alt.value(86), text="window:N")
    )
    dst = (
        only("utc_offset_change")
        .mark_rule(color="#7a0177", strokeWidth=2)
        .encode(y=alt.value(0), y2=alt.value(92))
    )
    dst_labels = (
        only("utc_offset_change")
        .mark_text(align="left", dx=3, fontSize=9, color="#7a0177")
        .encode(y=alt.value(-4), text=alt.Text("offset:N"))
    )
    axis = alt.Axis(
        title="local time",
        tickCount=14,  # about every 12 hours
        grid=True,
        labelAngle=0,
        labelFontSize=9,
    )
    chart = (
        alt.layer(hours, inactive, active, polls, windows, window_labels, dst, dst_labels)
        .encode(x=alt.X("from:T", scale=alt.Scale(type="utc"), axis=axis))
        .properties(width=CHART_WIDTH, height=92)
        # Per-mark ARIA labels would double the page's size; each chart has a heading.
        .configure_mark(aria=False)
        .configure_axis(aria=False)
    )
    return chart.to_dict()


def _local_label_expression(rows: list[dict]) -> str:
    """A Vega expression that labels a UTC tick with the store's local wall time, using the
    offset in force at that instant (store_timeline's offsets: the week's start and each
    change), so the labels jump where DST changes the clock."""
    week = next(row for row in rows if row["element"] == "last_week")
    offset = f"{week['utc_offset_minutes']}"
    for change in (row for row in rows if row["element"] == "utc_offset_change"):
        at = _epoch_ms(change["from_at"])
        offset = f"(time(datum.value) >= {at} ? {change['utc_offset_minutes']} : {offset})"
    return f"utcFormat(time(datum.value) + 60000 * {offset}, '%a %H:%M')"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds") + "Z"


def _epoch_ms(at: datetime) -> int:
    return round((at - datetime(1970, 1, 1)).total_seconds() * 1000)


def _offset_label(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "\u2212"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _utc(at: datetime | None) -> str:
    return "none (no valid poll)" if at is None else at.isoformat(sep=" ")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_LEGEND = (
    "<p id=legend>Each timeline is the store's last week (168 h), labelled in its local time; "
    f"<span class=sw style='background:{HOURS_COLOUR}'></span> grey bands: business hours; "
    f"<span class=sw style='background:{ACTIVE_COLOUR};height:.5em'></span> thin solid bar: "
    f"open and active; <span class=sw style='background:{INACTIVE_COLOUR};outline:1px dashed "
    "#333'></span> tall bar with dashed outline: open and inactive; "
    "▲ poll active, ✕ poll inactive; dashed lines: start of the last day and of the last hour; "
    "purple line: the store's UTC offset changes (DST), the new offset written beside it.</p>"
)
_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 6px;border-bottom:1px solid #ddd}
th{text-align:left}.null{color:#888}
.n,#ranking td:nth-child(n+3){text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}dd{margin:0}
.sw{display:inline-block;width:1.6em;height:1em;vertical-align:middle}
#ranking-box{max-height:30em;overflow:auto;display:inline-block}
section.store h3{margin:1.2em 0 .2em;font-size:14px}small{color:#666;font-weight:normal}
.note{color:#a00;margin:0}
"""
_PAGE = """<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{title}</title>
<style>{style}</style></head><body>
{body}
</body></html>
"""
_REPORT_BODY = """<h1>storemon: store uptime during business hours</h1>
<h2>Fleet</h2>
{summary}
<h2>Stores by downtime in the last week</h2>
<p>Rounded to 2 decimals exactly as in the CSV; "unknown": no poll at or before the report
time.</p>
<div id=ranking-box>{ranking}</div>
<h2>Timelines of the {timeline_count} stores with most downtime last week</h2>
{legend}
{timelines}
"""
