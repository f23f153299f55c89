"""`storemon export --html`, the store_timeline mart and the marts' DuckDB comments, on the
bundled sample data. Its report week (2024-10-28 05:59 to 2024-11-04 05:59 UTC) holds the US
fall-back change; store ...005 has no hours (24/7), store ...0c has no poll.

The page is opened in headless Chromium; set STOREMON_ARTEFACTS=DIR to keep its screenshot
(the README's docs/html-report.png is made so)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
import yaml
from hypothesis import given, note, settings
from hypothesis import strategies as st
from support import query, read_report, run_export
from test_differential import SLOW, examples, scenarios, timestamp_text, write_inputs

ROOT = Path(__file__).resolve().parent.parent
NULL_STORE = "c0a80101-0000-4000-8000-00000000000c"
ALL_DAY_STORE = "1000000000000000005"
CHICAGO_STORE = "1000000000000000008"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """One export of the sample data with the CSV, the page and the database in one folder."""
    folder = tmp_path_factory.mktemp("html")
    code, _, stderr = run_export("--out", "report.csv", "--html", "report.html", cwd=folder)
    assert code == 0, stderr
    assert "drawing report.html" in stderr
    return folder


class _Page(HTMLParser):
    """The ranking table's rows, the summary's values by id, and the timelines' sections."""

    def __init__(self) -> None:
        super().__init__()
        self.ranking: list[list[str]] = []
        self.by_id: dict[str, str] = {}
        self.sections: dict[str, str] = {}
        self._in_ranking = False
        self._cell: list[str] | None = None
        self._id: str | None = None
        self._section: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table":
            self._in_ranking = attributes.get("id") == "ranking"
        elif self._in_ranking and tag == "tr":
            self.ranking.append([])
        elif self._in_ranking and tag in ("td", "th"):
            self._cell = []
            self.ranking[-1].append("")
        if tag == "dd" and "id" in attributes:
            self._id = attributes["id"]
            self.by_id[self._id] = ""
        if tag == "section":
            self._section = attributes["id"].removeprefix("store-")
            self.sections[self._section] = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_ranking = False
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._in_ranking and self.ranking and self.ranking[-1]:
            self.ranking[-1][-1] += data
        if self._id is not None:
            self.by_id[self._id] += data
            self._id = None
        if self._section is not None:
            self.sections[self._section] += data


def parse_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_ranking_shows_the_reports_numbers_worst_week_first(exported):
    page = parse_page(exported / "report.html")
    report = read_report(exported / "report.csv")
    header, *rows = page.ranking
    assert header[:2] == ["#", "store"]
    assert [row[0] for row in rows] == [str(rank) for rank in range(1, len(report) + 1)]
    shown = {row[1]: tuple("" if cell == "unknown" else cell for cell in row[2:]) for row in rows}
    assert shown == report
    weeks = [float(row[-1]) for row in rows if row[-1] != "unknown"]
    assert weeks == sorted(weeks, reverse=True)
    # The store without a poll is listed last, unknown rather than zero.
    assert rows[-1][1:] == [NULL_STORE] + ["unknown"] * 6


def test_summary_counts_stores_polls_and_rejected_rows(exported):
    page = parse_page(exported / "report.html")
    db = exported / "storemon.duckdb"
    assert page.by_id["stores"] == "19"
    assert page.by_id["rejected"] == "7"  # one per bad row in the seeds
    polls = query(db, "select count(*) from int_polls_deduplicated")[0][0]
    assert page.by_id["polls"] == str(polls)
    assert page.by_id["report-at"] == "2024-11-04 05:59:00"


def test_every_store_gets_a_timeline_up_to_html_stores(exported):
    page = parse_page(exported / "report.html")
    assert len(page.sections) == 19
    assert "No poll that counts" in page.sections[NULL_STORE]
    text = (exported / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org", "")
    assert "https://" not in text


def test_dst_change_is_marked_and_the_axis_follows_local_time(exported):
    """Chicago falls back at 2024-11-03 07:00 UTC (02:00 CDT becomes 01:00 CST): a UTC tick at
    00:00 on Nov 3 reads Sat 19:00 (UTC−5), the one at 00:00 on Nov 4 reads Sun 18:00 (UTC−6)."""
    changes = query(
        exported / "storemon.duckdb",
        "select from_at, utc_offset_minutes from store_timeline "
        f"where store_id = '{CHICAGO_STORE}' and element = 'utc_offset_change'",
    )
    assert changes == [(datetime(2024, 11, 3, 7), -360)]
    svg = _section_svg(exported / "report.html", CHICAGO_STORE)
    for label in ("UTC\u221206:00", "Sat 19:00", "Sun 06:00", "Sun 18:00"):
        assert f">{label}<" in svg, label


def test_all_day_store_is_one_band_over_the_week(exported):
    rows = query(
        exported / "storemon.duckdb",
        "select timeline.from_at, timeline.to_at, clock.last_week_start_at, clock.report_at "
        "from store_timeline as timeline cross join int_report_clock as clock "
        f"where store_id = '{ALL_DAY_STORE}' and element = 'business_hours'",
    )
    assert len(rows) == 1
    from_at, to_at, week_start, report_at = rows[0]
    assert (from_at, to_at) == (week_start, report_at)


def test_timeline_status_time_is_the_reports_time(exported):
    """The mart's active and inactive intervals sum to the report's week measures."""
    mismatches = query(
        exported / "storemon.duckdb",
        """
        with sums as (
            select store_id,
                sum(epoch(to_at) - epoch(from_at)) filter (where element = 'active') / 3600 as up,
                sum(epoch(to_at) - epoch(from_at)) filter (where element = 'inactive') / 3600
                    as down
            from store_timeline group by store_id
        )
        select report.store_id from store_uptime_report as report
        left join sums on report.store_id = sums.store_id
        where abs(coalesce(sums.up, 0) - report.uptime_last_week) > 1e-6
            or abs(coalesce(sums.down, 0) - report.downtime_last_week) > 1e-6
        """,
    )
    assert mismatches == []


def test_null_store_has_no_status_or_polls_on_its_timeline(exported):
    elements = query(
        exported / "storemon.duckdb",
        f"select distinct element from store_timeline where store_id = '{NULL_STORE}' order by 1",
    )
    assert {e for (e,) in elements} == {
        "business_hours",
        "last_day",
        "last_hour",
        "last_week",
        "utc_offset_change",
    }  # America/Boise falls back in the week too


def test_a_store_whose_last_poll_is_before_the_week_has_known_measures(tmp_path):
    """A week after the sample's, stores ...001 and ...019 have no poll inside the week but
    polls before it: their measures are known (the table and the CSV give them), and the page
    must not call them unknown. Only the store without any poll is unknown."""
    code, _, stderr = run_export(
        "--as-of", "2024-11-11T05:00:00Z", "--html", "page.html", cwd=tmp_path
    )
    assert code == 0, stderr
    report = read_report(tmp_path / "report.csv")
    sections = parse_page(tmp_path / "page.html").sections
    for store in ("1000000000000000001", "1000000000000000019"):
        assert report[store][2] != "", store  # uptime_last_week is known
        assert "measures unknown" not in sections[store], store
        assert "No poll inside the week" in sections[store], store
    unknown = {store for store, text in sections.items() if "measures unknown" in text}
    assert unknown == {store for store, row in report.items() if row == ("",) * 6}
    assert unknown == {NULL_STORE}


@st.composite
def page_scenarios(draw):
    """The differential tests' scenarios with a report time, and often a store whose polls all
    lie before the week (its measures are known, its timeline shows no poll)."""
    scenario = draw(scenarios(use_as_of=True))
    if draw(st.booleans()):
        from reference import parse_timestamp

        week_start = parse_timestamp(scenario.as_of) - timedelta(hours=168)
        for _ in range(draw(st.integers(1, 3))):
            before = timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))
            status = draw(st.sampled_from(["active", "inactive"]))
            scenario.status.append(("old-store", status, timestamp_text(draw, week_start - before)))
    return scenario


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> timedelta:
    return max(timedelta(0), min(a[1], b[1]) - max(a[0], b[0]))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z"))


@settings(max_examples=examples(4), deadline=None, suppress_health_check=SLOW)
@given(page_scenarios())
def test_every_statement_of_the_page_agrees_with_the_report(scenario):
    """Over random inputs: a timeline says "measures unknown" exactly where the report's
    measures are NULL, and in each window the drawn active (inactive) time inside the drawn
    business hours is the report's uptime (downtime), unrounded."""
    from storemon.html_report import _timeline_rows, timeline_spec

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        status, hours, zones = write_inputs(scenario, folder)
        code, _, stderr = run_export(
            *("--status", str(status), "--hours", str(hours), "--timezones", str(zones)),
            *("--as-of", scenario.as_of, "--html", "page.html", "--html-stores", "1000"),
            cwd=folder,
        )
        assert code == 0, stderr
        sections = parse_page(folder / "page.html").sections
        with duckdb.connect(str(folder / "storemon.duckdb"), read_only=True) as connection:
            report = {
                row[0]: row[1:]
                for row in connection.execute("select * from store_uptime_report").fetchall()
            }
            drawn = _timeline_rows(connection, list(report))
    assert sections.keys() == report.keys()
    for store, measures in report.items():
        note(f"store {store!r}: {measures}")
        unknown = all(value is None for value in measures)
        assert ("measures unknown" in sections[store]) == unknown, store
        data = timeline_spec(drawn[store])["datasets"]["timeline"]
        spans = {}
        for row in data:
            spans.setdefault(row["element"], []).append(
                (_instant(row["from"]), _instant(row["to"]))
            )
        if unknown:
            assert not spans.get("active") and not spans.get("inactive"), store
            continue
        for index, (window, unit) in enumerate(
            [("last_hour", 60), ("last_day", 3600), ("last_week", 3600)]
        ):
            (window_span,) = spans[window]
            for element, expected in (
                ("active", measures[index]),
                ("inactive", measures[index + 3]),
            ):
                inside = sum(
                    (
                        _overlap(_clip(status_span, hours_span), window_span)
                        for status_span in spans.get(element, [])
                        for hours_span in spans.get("business_hours", [])
                    ),
                    timedelta(0),
                )
                assert inside.total_seconds() / unit == pytest.approx(expected, abs=1e-6), (
                    store,
                    window,
                    element,
                )


def _clip(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    """The intersection of two intervals (empty when from >= to)."""
    return (max(a[0], b[0]), min(a[1], b[1]))


def test_marts_carry_their_yaml_descriptions_as_duckdb_comments(exported):
    documented = yaml.safe_load((ROOT / "models/marts/_marts__models.yml").read_text())["models"]
    with duckdb.connect(str(exported / "storemon.duckdb"), read_only=True) as connection:
        for model in documented:
            # store_timeline is a view; the other marts are tables.
            comment = connection.execute(
                "select comment from duckdb_tables() where table_name = $name "
                "union all select comment from duckdb_views() where view_name = $name",
                {"name": model["name"]},
            ).fetchone()
            assert comment is not None, model["name"]
            assert comment[0].strip() == model["description"].strip()
            columns = dict(
                connection.execute(
                    "select column_name, comment from duckdb_columns() where table_name = ?",
                    [model["name"]],
                ).fetchall()
            )
            for column in model["columns"]:
                assert columns[column["name"]].strip() == column["description"].strip()


def test_html_stores_limits_the_timelines(tmp_path):
    code, _, stderr = run_export(
        "--out", "report.csv", "--html", "page.html", "--html-stores", "2", cwd=tmp_path
    )
    assert code == 0, stderr
    assert len(parse_page(tmp_path / "page.html").sections) == 2


def _section_svg(page: Path, store_id: str) -> str:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"<section class=store id='store-{store_id}'>")
    return text[start : text.index("</section>", start)]


# --- in a real browser -----------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_chromium_renders_the_page_without_errors(exported, tmp_path):
    url = (exported / "report.html").as_uri()
    run = run_chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    assert run.returncode == 0, run.stderr
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    dom = run.stdout
    assert dom.count("<svg") >= 19
    # Vega's SVG: business-hours bands and status bars (rects), polls (symbols), rules, text.
    for mark in ("mark-rect", "mark-symbol", "mark-rule", "mark-text"):
        assert mark in dom, mark
    assert "UTC\u221206:00" in dom

    screenshot = tmp_path / "html-report.png"
    run = run_chromium(tmp_path, "--window-size=1000,2200", f"--screenshot={screenshot}", url)
    assert run.returncode == 0, run.stderr
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000  # a page with pictures, not a blank one
    artefacts = os.environ.get("STOREMON_ARTEFACTS")
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artefacts) / "html-report.png")


def test_page_size_is_small(exported):
    assert (exported / "report.html").stat().st_size < 3_000_000
    assert re.search(r"<h2>Timelines of the 19 stores", (exported / "report.html").read_text())


def test_every_timeline_is_a_valid_vega_lite_spec(exported):
    """The export fills each store into a validated template; here each result is validated."""
    import altair as alt

    from storemon.html_report import _timeline_rows, timeline_spec

    with duckdb.connect(str(exported / "storemon.duckdb"), read_only=True) as connection:
        stores = [
            row[0] for row in connection.execute("select store_id from int_stores").fetchall()
        ]
        rows = _timeline_rows(connection, stores)
    for store_id in stores:
        alt.LayerChart.from_dict(timeline_spec(rows[store_id]), validate=True)
