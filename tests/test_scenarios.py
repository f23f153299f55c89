"""Hand-computed scenarios, each run through the installed `storemon export` in a subprocess.

Every expected number below was worked out by hand from docs/numbers.md; the arithmetic is in the
comment beside it. Measure tuples are, in report order,
(uptime_last_hour [min], uptime_last_day [h], uptime_last_week [h],
 downtime_last_hour [min], downtime_last_day [h], downtime_last_week [h]).

Stores are independent given an explicit --as-of, so most scenarios share one dataset (MAIN)
that is exported once per interpolation mode.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPORT_HEADER, query, read_report, run_export, write_csv, write_inputs

NULLS = (None,) * 6
ALL_ACTIVE = (60, 24, 168, 0, 0, 0)  # 24/7, active all week: 60 min, 24 h, 168 h
UNROUNDED = 1e-6


@dataclass
class Run:
    directory: Path
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, tuple[str, ...]]  # the CSV, as written
    table: dict[str, tuple]  # store_uptime_report, unrounded
    rejected: list[tuple]  # rejected_rows: input_name, source_file, row, raw_values, reason


def export(directory: Path, *args: str) -> Run:
    code, out, err = run_export("--data", str(directory), *args, cwd=directory)
    assert code == 0, err
    db = directory / "storemon.duckdb"
    table = {
        row[0]: tuple(row[1:])
        for row in query(
            db,
            "select store_id, uptime_last_hour, uptime_last_day, uptime_last_week,"
            " downtime_last_hour, downtime_last_day, downtime_last_week from store_uptime_report",
        )
    }
    rejected = query(
        db,
        "select input_name, source_file, source_row_number, raw_values, rejection_reason"
        " from rejected_rows order by input_name, source_row_number",
    )
    return Run(directory, code, out, err, read_report(directory / "report.csv"), table, rejected)


def assert_store(run: Run, store: str, expected: tuple) -> None:
    """The CSV row is `expected` rounded to 2 decimals (NULL: empty field), and the DuckDB row
    is `expected` unrounded."""
    written = tuple("" if value is None else f"{value:.2f}" for value in expected)
    assert run.report[store] == written, f"{store}: CSV {run.report[store]} != {written}"
    got = run.table[store]
    if None in expected:
        assert got == expected, f"{store}: table {got} != {expected}"
    else:
        assert got == pytest.approx(expected, abs=UNROUNDED), f"{store}: table {got} != {expected}"


# --------------------------------------------------------------------------------------------
# MAIN: now = --as-of 2024-01-15T12:00:00+09:00 = Mon 2024-01-15 03:00 UTC.
# Windows (UTC): hour [Mon 01-15 02:00, 03:00), day [Sun 01-14 03:00, Mon 01-15 03:00),
# week [Mon 01-08 03:00, Mon 01-15 03:00). 2024-01-01 was a Monday, so 01-08 and 01-15 are
# Mondays (day 0) and 01-07, 01-14 Sundays (day 6). No zone used here has DST in January
# except New York (EST, UTC-5, all the same) and Chicago (CST, UTC-6).
# --------------------------------------------------------------------------------------------
AS_OF_MAIN = "2024-01-15T12:00:00+09:00"

MAIN_POLLS = [
    # spec: 10:14 and 11:15 JST on Monday 01-15
    ("spec", "active", "2024-01-15 01:14:00 UTC"),
    ("spec", "inactive", "2024-01-15 02:15:00 UTC"),
    ("overnight", "inactive", "2024-01-08 12:00:00 UTC"),
    ("overnight", "active", "2024-01-14 23:00:00 UTC"),
    ("overnight", "inactive", "2024-01-15 01:30:00 UTC"),
    ("pair", "active", "2024-01-14 19:00:00 UTC"),
    ("pair", "inactive", "2024-01-15T00:30:00Z"),
    ("eod", "active", "2024-01-14 12:00:00 UTC"),
    ("eod_frac", "active", "2024-01-14 12:00:00 UTC"),
    ("h24", "inactive", "2024-01-15 02:30:00 UTC"),
    ("overlap", "inactive", "2024-01-14 10:00:00 UTC"),
    ("overlap", "active", "2024-01-14 16:00:00 UTC"),
    ("kolkata", "active", "2024-01-15 02:00:00 UTC"),
    ("kolkata", "inactive", "2024-01-15 02:50:00 UTC"),
    ("kolkata_lc", "active", "2024-01-15 02:00:00 UTC"),
    ("kolkata_lc", "inactive", "2024-01-15 02:50:00 UTC"),
    ("superseded", "active", "2024-01-15 02:00:00 UTC"),
    ("superseded", "inactive", "2024-01-15 02:50:00 UTC"),
    ("nozone", "active", "2024-01-14 12:00:00 UTC"),
    ("badzone", "active", "2024-01-14 12:00:00 UTC"),
    ("allrej", "active", "2024-01-10 00:00:00 UTC"),
    ("single", "inactive", "2024-01-11 12:00:00.123456 UTC"),
    ("conflict", "active", "2024-01-10 12:00:00 UTC"),
    ("conflict", "active", "2024-01-14 12:00:00 UTC"),
    ("conflict", "inactive", "2024-01-14T13:00:00+01:00"),  # the same instant, 12:00 UTC
    ("at_now", "active", "2024-01-14 20:00:00 UTC"),
    ("at_now", "inactive", "2024-01-15 03:00:00 UTC"),  # exactly now: counts
    ("late", "active", "2024-01-14 20:00:00 UTC"),
    ("late", "inactive", "2024-01-15 03:00:00.000001 UTC"),  # 1 us after now: ignored
    ("late_ref", "active", "2024-01-14 20:00:00 UTC"),  # `late` without its late poll
    ("late_only", "active", "2024-01-15 04:00:00 UTC"),  # only a poll after now
    (" forms ", "Inactive", "2024-01-14T17:30:00+0530"),  # 01-14 12:00 UTC
    ("forms", "ACTIVE", "2024-01-15T07:00:00+05"),  # 01-15 02:00 UTC
]
MAIN_HOURS = [
    ("spec", 0, "09:00", "12:00"),
    ("overnight", 6, "22:00", "02:00"),
    ("overnight", 0, "22:00", "02:00"),
    ("pair", 6, "18:00:00", "23:59:59"),
    ("pair", 0, "00:00:00", "02:00:00"),
    ("eod", 6, "23:00", "23:59:59"),
    ("eod_frac", 6, "23:00:00.000", "23:59:59.5"),
    ("h24", 6, "10:00", "10:00"),
    ("overlap", 6, "09:00", "17:00"),
    ("overlap", 6, "12:00", "20:00"),
    ("overlap", 6, "09:00", "17:00"),
    ("overlap", 6, "19:00", "19:30"),
    ("kolkata", 0, "08:00", "09:00"),
    ("kolkata_lc", 0, "08:00", "09:00"),
    ("superseded", 0, "08:00", "09:00"),
    ("nozone", 6, "20:00", "22:00"),
    ("badzone", 6, "20:00", "22:00"),
    ("allrej", 7, "09:00", "17:00"),  # day not in 0-6
    ("allrej", 1, "9am", "17:00"),  # unparseable start_time_local
    ("allrej", 2, "09:00", "24:30"),  # unparseable end_time_local (past 24:00)
    ("nopolls", 0, "09:00", "17:00"),
    ("forms", 6, "0:00", "24:00"),
    (" forms", 0, "2:00", "24:00:00"),
]
MAIN_ZONES = [
    ("spec", "Asia/Tokyo"),
    *[
        (store, "UTC")
        for store in (
            "overnight",
            "pair",
            "h24",
            "overlap",
            "single",
            "conflict",
            "at_now",
            "late",
            "late_ref",
            "late_only",
            "nopolls",
        )
    ],  # fmt: skip
    ("eod", "America/Sao_Paulo"),  # UTC-3, no DST since 2019
    ("eod_frac", "America/Sao_Paulo"),
    ("kolkata", "Asia/Kolkata"),
    ("kolkata_lc", "asia/kolkata"),
    ("badzone", "Mars/Olympus"),
    ("superseded", "UTC"),
    ("superseded", "America/New_York"),
    ("superseded", "Asia/Kolkata"),
    ("superseded", "Not/AZone"),
    ("zoneonly", "Europe/Paris"),
    ("forms ", "UTC"),
]
# kolkata, kolkata_lc and superseded (Asia/Kolkata, +05:30): Monday 08:00-09:00 IST is
# 02:30-03:30 UTC. On 01-15 it is cut at now: [02:30, 03:00) = 30 min, in hour, day and week.
# On 01-08 it meets the week [03:00, ...) in [03:00, 03:30) = 0.5 h. Open: hour 30 min,
# day 0.5 h, week 1 h. Polls 02:00 active, 02:50 inactive (UTC, 01-15).
KOLKATA = {
    # nearest: midpoint (02:00 + 02:50) / 2 = 02:25. 01-08's half hour is before the first
    # poll: active, 0.5 h. [02:30, 03:00) on 01-15 is after 02:25: inactive, 30 min.
    "nearest": (0, 0, 0.5, 30, 0.5, 0.5),
    # previous: active until 02:50. 01-15: [02:30, 02:50) active 20 min = 1/3 h,
    # [02:50, 03:00) inactive 10 min = 1/6 h. Week up = 0.5 + 1/3 = 5/6 h.
    "previous": (20, 1 / 3, 5 / 6, 10, 1 / 6, 1 / 6),
}
# America/Chicago (CST, UTC-6), Sunday 20:00-22:00: 01-14 -> [01-15 02:00, 04:00) UTC, cut at
# now to [02:00, 03:00) = 1 h (the whole last hour); 01-07 -> [01-08 02:00, 04:00) UTC meets
# the week in [03:00, 04:00) = 1 h. One active poll: up 60 min, day 1 h, week 1 + 1 = 2 h.
# (Read in UTC instead, Sunday 20:00-22:00 would give hour 0, day 2, week 2.)
CHICAGO_SUNDAY_EVENING = (60, 1, 2, 0, 0, 0)

MAIN_EXPECTED = {
    "spec": {
        # Asia/Tokyo (UTC+9). Open Mon 01-15 09:00-12:00 JST = 3 h (Mon 01-08 09:00-12:00 JST
        # is 00:00-03:00 UTC, ending exactly where the week starts: 0 h). Last hour = 11:00-12:00.
        # nearest: midpoint of 10:14 and 11:15 is 10:44:30. Up 09:00-10:44:30 = 1:44:30
        # = 1.741667 h; down 10:44:30-12:00 = 1:15:30 = 1.258333 h (sum 3 h). Last hour
        # 11:00-12:00 is after 10:44:30: down 60 min.
        "nearest": (0, 1 + 44.5 / 60, 1 + 44.5 / 60, 60, 1 + 15.5 / 60, 1 + 15.5 / 60),
        # previous: the first poll (active) also covers 09:00-10:14, active until 11:15:
        # up 09:00-11:15 = 2.25 h, down 11:15-12:00 = 0.75 h. Last hour: up 11:00-11:15 =
        # 15 min, down 11:15-12:00 = 45 min.
        "previous": (15, 2.25, 2.25, 45, 0.75, 0.75),
    },
    "overnight": {
        # UTC. Rows Sun 22:00-02:00 and Mon 22:00-02:00. Open in the week: [Mon 01-08 22:00,
        # Tue 02:00) = 4 h and [Sun 01-14 22:00, Mon 01-15 02:00) = 4 h ([Sun 01-07 22:00,
        # Mon 01-08 02:00) ends before the week starts at 03:00; Mon 01-15 22:00 is after now).
        # Day: only the Sunday night, 4 h. Hour [02:00, 03:00): closed.
        # nearest: polls 01-08 12:00 inactive, 01-14 23:00 active, 01-15 01:30 inactive.
        # Midpoints 01-11 17:30 (155 h / 2 after 01-08 12:00) and 01-15 00:15.
        # Mon-Tue night: inactive 4 h. Sun night: up 22:00-00:15 = 2.25 h, down
        # 00:15-02:00 = 1.75 h. Week down = 4 + 1.75 = 5.75 h.
        "nearest": (0, 2.25, 2.25, 0, 1.75, 5.75),
        # previous: inactive until 23:00, active 23:00-01:30, then inactive. Sun night: down
        # 22-23 = 1 h, up 23:00-01:30 = 2.5 h, down 01:30-02:00 = 0.5 h; day down 1.5 h.
        # Week down = 4 + 1.5 = 5.5 h.
        "previous": (0, 2.5, 2.5, 0, 1.5, 5.5),
    },
    "pair": {
        # UTC. Sun 18:00:00-23:59:59 (= 24:00) + Mon 00:00-02:00 = one stretch [Sun 18:00,
        # Mon 02:00) = 8 h, no gap and no double count (the pair of 01-07/01-08 ends at 02:00
        # before the week starts). Polls Sun 19:00 active, Mon 00:30 inactive. Hour: closed.
        # nearest: midpoint 21:45: up 18:00-21:45 = 3.75 h, down 21:45-02:00 = 4.25 h.
        "nearest": (0, 3.75, 3.75, 0, 4.25, 4.25),
        # previous: up 18:00-00:30 = 6.5 h, down 00:30-02:00 = 1.5 h.
        "previous": (0, 6.5, 6.5, 0, 1.5, 1.5),
    },
    # America/Sao_Paulo (UTC-3): now is Mon 00:00 local. Sun 23:00-23:59:59 (= 24:00) is
    # [01-15 02:00, 03:00) UTC = exactly the last hour: 60 min (59.98 if 23:59:59 were taken
    # literally); day 1 h, week 1 h (Sun 01-07's hour is [01-08 02:00, 03:00), before the week).
    "eod": {"nearest": (60, 1, 1, 0, 0, 0), "previous": (60, 1, 1, 0, 0, 0)},
    # Same with 23:59:59.5 (any fraction means 24:00).
    "eod_frac": {"nearest": (60, 1, 1, 0, 0, 0), "previous": (60, 1, 1, 0, 0, 0)},
    "h24": {
        # UTC, Sun 10:00-10:00 = 24 h: [Sun 01-14 10:00, Mon 01-15 10:00) cut at now = 17 h
        # (all in the day, and the last hour is open: 60 min); [Sun 01-07 10:00, Mon 01-08
        # 10:00) meets the week in [03:00, 10:00) = 7 h. Week open 17 + 7 = 24 h.
        # One inactive poll (01-15 02:30): all of it down, either mode.
        "nearest": (0, 0, 0, 60, 17, 24),
        "previous": (0, 0, 0, 60, 17, 24),
    },
    "overlap": {
        # UTC, Sunday rows 09-17, 12-20, 09-17 (duplicate), 19:00-19:30: merged [09:00, 20:00)
        # = 11 h (not 8 + 8 + 8 + 0.5). Polls 10:00 inactive, 16:00 active.
        # nearest: midpoint 13:00: down 09-13 = 4 h, up 13-20 = 7 h.
        "nearest": (0, 7, 7, 0, 4, 4),
        # previous: down 09-16 = 7 h, up 16-20 = 4 h.
        "previous": (0, 4, 4, 0, 7, 7),
    },
    "kolkata": KOLKATA,
    "kolkata_lc": KOLKATA,  # `asia/kolkata` is Asia/Kolkata
    "superseded": KOLKATA,  # UTC, America/New_York, Asia/Kolkata, Not/AZone: Kolkata wins
    "nozone": {"nearest": CHICAGO_SUNDAY_EVENING, "previous": CHICAGO_SUNDAY_EVENING},
    "badzone": {"nearest": CHICAGO_SUNDAY_EVENING, "previous": CHICAGO_SUNDAY_EVENING},
    # All hours rows rejected: no hours row, open 24/7; one active poll: 60 min, 24 h, 168 h.
    "allrej": {"nearest": ALL_ACTIVE, "previous": ALL_ACTIVE},
    # 24/7, one inactive poll mid-week: it covers the whole week both ways.
    "single": {"nearest": (0, 0, 0, 60, 24, 168), "previous": (0, 0, 0, 60, 24, 168)},
    "conflict": {
        # 24/7 UTC. Polls 01-10 12:00 active; 01-14 12:00 active and inactive: inactive wins.
        # nearest: midpoint 01-12 12:00. Up [01-08 03:00, 01-12 12:00) = 4 d 9 h = 105 h;
        # down [01-12 12:00, 01-15 03:00) = 2 d 15 h = 63 h; day and hour all down.
        "nearest": (0, 0, 105, 60, 24, 63),
        # previous: up [01-08 03:00, 01-14 12:00) = 6 d 9 h = 153 h, down 15 h. Day: up
        # 03:00-12:00 = 9 h, down 12:00-03:00 = 15 h. Hour: down.
        "previous": (0, 9, 153, 60, 15, 15),
    },
    "at_now": {
        # 24/7 UTC. Polls 01-14 20:00 active, 01-15 03:00 (= now, counts) inactive.
        # nearest: midpoint 23:30: down 23:30-03:00 = 3.5 h (and the whole last hour);
        # up: day 24 - 3.5 = 20.5 h, week 168 - 3.5 = 164.5 h.
        "nearest": (0, 20.5, 164.5, 60, 3.5, 3.5),
        # previous: the inactive poll's status starts at now: nothing of it is in a window.
        "previous": ALL_ACTIVE,
    },
    # A poll 1 us after now is ignored: as late_ref (one active poll, 24/7). Counted, its
    # midpoint 23:30 would turn the last 3.5 h inactive (nearest).
    "late": {"nearest": ALL_ACTIVE, "previous": ALL_ACTIVE},
    "late_ref": {"nearest": ALL_ACTIVE, "previous": ALL_ACTIVE},
    # No poll at or before now: unknown, all NULL.
    "late_only": {"nearest": NULLS, "previous": NULLS},
    "nopolls": {"nearest": NULLS, "previous": NULLS},
    "zoneonly": {"nearest": NULLS, "previous": NULLS},
    "forms": {
        # Padded ids, H:MM, 24:00, 24:00:00, offsets +HHMM and +HH; UTC. Rows: Sun 0:00-24:00,
        # Mon 2:00-24:00:00. Open: Mon 01-08 [03:00, 24:00) = 21 h (week only), Sun 01-14
        # [00:00, 24:00) = 24 h (day: [03:00, 24:00) = 21 h), Mon 01-15 [02:00, 03:00) = 1 h
        # (the last hour). Week open 46 h, day 22 h. Polls 01-14 12:00 inactive, 01-15 02:00
        # active.
        # nearest: midpoint 01-14 19:00. Hour up 60. Day: down 03:00-19:00 = 16 h, up 19-24 =
        # 5 h + 1 h = 6 h. Week: down 21 + 19 (Sun 00-19) = 40 h, up 6 h.
        "nearest": (60, 6, 6, 0, 16, 40),
        # previous: inactive until 01-15 02:00. Day: down 21 h, up 1 h. Week: down 21 + 24 =
        # 45 h, up 1 h.
        "previous": (60, 1, 1, 0, 21, 45),
    },
}


@pytest.fixture(scope="module", params=["nearest", "previous"])
def main(request, tmp_path_factory) -> tuple[str, Run]:
    mode = request.param
    directory = write_inputs(
        tmp_path_factory.mktemp(f"main-{mode}"), MAIN_POLLS, MAIN_HOURS, MAIN_ZONES
    )
    return mode, export(directory, "--as-of", AS_OF_MAIN, "--interpolation", mode)


def test_main_report_has_every_store_sorted(main):
    _, run = main
    assert list(run.report) == sorted(MAIN_EXPECTED)
    assert set(run.table) == set(MAIN_EXPECTED)


def test_spec_example_monday_morning_in_tokyo(main):
    mode, run = main
    assert_store(run, "spec", MAIN_EXPECTED["spec"][mode])


def test_last_hour_is_in_minutes(main):
    # spec (previous): 15 + 45 minutes; kolkata: 30 open minutes split 0/30 or 20/10.
    mode, run = main
    hour_up, hour_down = float(run.report["spec"][0]), float(run.report["spec"][3])
    assert hour_up + hour_down == 60
    assert_store(run, "kolkata", MAIN_EXPECTED["kolkata"][mode])


@pytest.mark.parametrize("store", ["overnight", "pair"])
def test_hours_across_midnight(main, store):
    mode, run = main
    assert_store(run, store, MAIN_EXPECTED[store][mode])


@pytest.mark.parametrize("store", ["eod", "eod_frac"])
def test_end_23_59_59_counts_up_to_midnight(main, store):
    mode, run = main
    assert_store(run, store, MAIN_EXPECTED[store][mode])


def test_equal_start_and_end_is_24_hours(main):
    mode, run = main
    assert_store(run, "h24", MAIN_EXPECTED["h24"][mode])


def test_overlapping_and_duplicate_rows_are_merged(main):
    mode, run = main
    assert_store(run, "overlap", MAIN_EXPECTED["overlap"][mode])


@pytest.mark.parametrize("store", ["kolkata", "kolkata_lc"])
def test_half_hour_zone_and_case_insensitive_name(main, store):
    mode, run = main
    assert_store(run, store, MAIN_EXPECTED[store][mode])


def test_store_without_polls_is_null_beside_stores_with_polls(main):
    mode, run = main
    for store in ("nopolls", "zoneonly", "late_only"):
        assert_store(run, store, MAIN_EXPECTED[store][mode])
    lines = (run.directory / "report.csv").read_text().splitlines()
    assert "nopolls,,,,,," in lines
    assert "zoneonly,,,,,," in lines


def test_input_forms_padded_ids_short_times_and_offsets(main):
    mode, run = main
    assert_store(run, "forms", MAIN_EXPECTED["forms"][mode])


def test_single_poll_covers_the_whole_week(main):
    mode, run = main
    assert_store(run, "single", MAIN_EXPECTED["single"][mode])
    assert_store(run, "allrej", MAIN_EXPECTED["allrej"][mode])


def test_conflicting_polls_at_one_instant_inactive_wins(main):
    mode, run = main
    assert_store(run, "conflict", MAIN_EXPECTED["conflict"][mode])


def test_polls_after_as_of_are_ignored(main):
    mode, run = main
    assert_store(run, "late", MAIN_EXPECTED["late"][mode])
    assert run.report["late"] == run.report["late_ref"]
    assert run.table["late"] == run.table["late_ref"]
    assert_store(run, "at_now", MAIN_EXPECTED["at_now"][mode])


def test_missing_and_invalid_timezone_use_america_chicago(main):
    mode, run = main
    assert_store(run, "nozone", MAIN_EXPECTED["nozone"][mode])
    assert_store(run, "badzone", MAIN_EXPECTED["badzone"][mode])
    rows = [r for r in run.rejected if r[0] == "timezones" and '"badzone"' in r[3]]
    assert [(r[2], json.loads(r[3]), r[4]) for r in rows] == [
        (
            MAIN_ZONES.index(("badzone", "Mars/Olympus")) + 1,
            {"store_id": "badzone", "timezone_str": "Mars/Olympus"},
            "invalid timezone",
        )
    ]


def test_last_valid_timezone_row_wins_earlier_ones_superseded(main):
    mode, run = main
    assert_store(run, "superseded", MAIN_EXPECTED["superseded"][mode])
    rows = [(r[2], r[4]) for r in run.rejected if r[0] == "timezones" and "superseded" in r[3]]
    assert rows == [
        (MAIN_ZONES.index(("superseded", "UTC")) + 1, "superseded"),
        (MAIN_ZONES.index(("superseded", "America/New_York")) + 1, "superseded"),
        (MAIN_ZONES.index(("superseded", "Not/AZone")) + 1, "invalid timezone"),
    ]


def test_all_hours_rows_rejected_means_open_all_week(main):
    mode, run = main
    assert_store(run, "allrej", MAIN_EXPECTED["allrej"][mode])
    rows = [(r[2], r[4]) for r in run.rejected if r[0] == "menu_hours"]
    assert rows == [
        (MAIN_HOURS.index(("allrej", 7, "09:00", "17:00")) + 1, "day not in 0-6"),
        (MAIN_HOURS.index(("allrej", 1, "9am", "17:00")) + 1, "unparseable start_time_local"),
        (MAIN_HOURS.index(("allrej", 2, "09:00", "24:30")) + 1, "unparseable end_time_local"),
    ]
    # 3 hours rows + Mars/Olympus + superseded's 3 = 7; no poll row is bad.
    assert len(run.rejected) == 7
    assert "7 rejected rows" in run.stderr


def test_uptime_plus_downtime_is_the_open_time(main):
    # Independent of interpolation: (hour min, day h, week h) open for some stores.
    open_time = {
        "spec": (60, 3, 3),
        "overnight": (0, 4, 8),
        "pair": (0, 8, 8),
        "forms": (60, 22, 46),
        "h24": (60, 17, 24),
        "overlap": (0, 11, 11),
        "kolkata": (30, 0.5, 1),
        "conflict": (60, 24, 168),
    }
    _, run = main
    for store, (hour, day, week) in open_time.items():
        up_h, up_d, up_w, down_h, down_d, down_w = run.table[store]
        sums = (up_h + down_h, up_d + down_d, up_w + down_w)
        assert sums == pytest.approx((hour, day, week), abs=UNROUNDED), store


# --------------------------------------------------------------------------------------------
# US daylight saving time, America/New_York. Business hours 00:00-23:59:59 (= 24:00).
# --------------------------------------------------------------------------------------------
EVERY_DAY = [(day, "00:00", "23:59:59") for day in range(7)]


def dst_inputs(prefix: str, day_polls: str) -> tuple[list, list, list]:
    stores = {
        f"{prefix}_sun": [(6, "00:00", "23:59:59")],
        f"{prefix}_all": EVERY_DAY,
    }
    return (
        [(store, "active", day_polls) for store in stores],
        [(store, *row) for store, rows in stores.items() for row in rows],
        [(store, "America/New_York") for store in stores],
    )


def test_spring_forward_day_is_23_hours_and_gap_times_move_forward(tmp_path):
    # now = 2024-03-11T00:00:00-04:00 = 03-11 04:00 UTC (local midnight after Sun 03-10, when
    # 02:00 EST became 03:00 EDT). Day [03-10 04:00, 03-11 04:00) UTC, week [03-04 04:00, ...).
    polls, hours, zones = dst_inputs("sp", "2024-03-10 12:00:00 UTC")
    extra = {
        "sp_gap": (6, "02:30", "05:00"),
        "sp_gap_end": (6, "01:00", "02:30"),
        "sp_gap_inside": (6, "02:15", "02:45"),
        "sp_mixed": (6, "00:00", "23:59:59"),
    }
    polls += [
        (store, "active", "2024-03-10 12:00:00 UTC") for store in extra if store != "sp_mixed"
    ]
    polls += [
        ("sp_mixed", "active", "2024-03-10 06:00:00 UTC"),  # 01:00 EST
        ("sp_mixed", "inactive", "2024-03-10 08:00:00 UTC"),  # 04:00 EDT
    ]
    hours += [(store, *row) for store, row in extra.items()]
    zones += [(store, "America/New_York") for store in extra]
    run = export(
        write_inputs(tmp_path, polls, hours, zones), "--as-of", "2024-03-11T00:00:00-04:00"
    )
    # Sun 03-10 00:00 EST = 05:00 UTC to 03-11 00:00 EDT = 04:00 UTC: 23 h, all in the day.
    # Sun 03-03 00:00-24:00 EST = [03-03 05:00, 03-04 05:00) UTC meets the week in 1 h.
    # Week 23 + 1 = 24 h. Last hour 03:00-04:00 UTC = 23:00-24:00 EDT: open, 60 min.
    assert_store(run, "sp_sun", (60, 23, 24, 0, 0, 0))
    # Every day 00:00-24:00: open all the time: 60 min, 24 h, 168 h.
    assert_store(run, "sp_all", (60, 24, 168, 0, 0, 0))
    # 02:30 does not exist: 03:30 EDT = 07:30 UTC; 05:00 EDT = 09:00 UTC: 1.5 h (03-03's
    # 07:30-10:00 UTC is before the week).
    assert_store(run, "sp_gap", (0, 1.5, 1.5, 0, 0, 0))
    # 01:00 EST = 06:00 UTC to 02:30 -> 03:30 EDT = 07:30 UTC: 1.5 h.
    assert_store(run, "sp_gap_end", (0, 1.5, 1.5, 0, 0, 0))
    # 02:15 -> 03:15 EDT = 07:15 UTC to 02:45 -> 03:45 EDT = 07:45 UTC: 0.5 h.
    assert_store(run, "sp_gap_inside", (0, 0.5, 0.5, 0, 0, 0))
    # Open [03-10 05:00, 03-11 04:00) UTC, plus 03-03's last hour [03-04 04:00, 05:00).
    # nearest: midpoint of 06:00 and 08:00 UTC is 07:00 UTC: up 05:00-07:00 = 2 h (3 h of
    # wall clock, 00:00-03:00 EDT), down 07:00-04:00 = 21 h. Week: + 1 h up before the first
    # poll = 3 h. Last hour: down 60 min.
    assert_store(run, "sp_mixed", (0, 2, 3, 60, 21, 21))


def test_fall_back_day_is_25_hours_and_repeated_times_are_the_second(tmp_path):
    # now = 2024-11-04T00:00:00-05:00 = 11-04 05:00 UTC (local midnight after Sun 11-03, when
    # 02:00 EDT became 01:00 EST). Day [11-03 05:00, 11-04 05:00) UTC, week [10-28 05:00, ...).
    polls, hours, zones = dst_inputs("fa", "2024-11-03 12:00:00 UTC")
    extra = {
        "fa_amb": (6, "01:30", "03:00"),
        "fa_amb_end": (6, "00:30", "01:30"),
        "fa_mixed": (6, "00:00", "23:59:59"),
    }
    polls += [
        (store, "active", "2024-11-03 12:00:00 UTC") for store in extra if store != "fa_mixed"
    ]
    polls += [
        ("fa_mixed", "active", "2024-11-03 05:00:00 UTC"),  # 01:00 EDT
        ("fa_mixed", "inactive", "2024-11-03 07:00:00 UTC"),  # 02:00 EST
    ]
    hours += [(store, *row) for store, row in extra.items()]
    zones += [(store, "America/New_York") for store in extra]
    run = export(
        write_inputs(tmp_path, polls, hours, zones), "--as-of", "2024-11-04T00:00:00-05:00"
    )
    # Sun 11-03 00:00 EDT = 04:00 UTC to 11-04 00:00 EST = 05:00 UTC: 25 h open. The day
    # window starts at 05:00 UTC: 24 h of it. Sun 10-27 = [10-27 04:00, 10-28 04:00) UTC ends
    # before the week. Week 25 h. Last hour 04:00-05:00 UTC = 23:00-24:00 EST: 60 min.
    assert_store(run, "fa_sun", (60, 24, 25, 0, 0, 0))
    assert_store(run, "fa_all", (60, 24, 168, 0, 0, 0))
    # 01:30 twice: the second, EST = 06:30 UTC, to 03:00 EST = 08:00 UTC: 1.5 h.
    assert_store(run, "fa_amb", (0, 1.5, 1.5, 0, 0, 0))
    # 00:30 EDT = 04:30 UTC to 01:30 EST = 06:30 UTC: 2 h; the day (from 05:00) has 1.5 h.
    assert_store(run, "fa_amb_end", (0, 1.5, 2, 0, 0, 0))
    # Open [11-03 04:00, 11-04 05:00) UTC. nearest: midpoint of 05:00 and 07:00 UTC = 06:00.
    # Up 04:00-06:00 = 2 h (week), 05:00-06:00 = 1 h (day); down 06:00-05:00 = 23 h.
    assert_store(run, "fa_mixed", (0, 1, 2, 60, 23, 23))


# --------------------------------------------------------------------------------------------
# Without --as-of: now = the latest valid poll of any store. Also: rows read = accepted +
# rejected, with row numbers (first data row = 1) and reasons.
# --------------------------------------------------------------------------------------------
NO_AS_OF_POLLS = [
    ("A", "active", "2024-02-01 10:00:00 UTC"),  # 1
    ("B", "inactive", "2024-02-01T13:00:00+01:00"),  # 2: 12:00 UTC, the latest valid poll
    ("A", "active", "2024-02-01 13:00"),  # 3: no seconds
    ("C", "maybe", "2024-02-01 14:00:00"),  # 4: unknown status
    ("   ", "active", "2024-02-01 09:00:00"),  # 5: empty store_id
    ("D", "active", "2024-02-31 00:00:00"),  # 6: no such date
    ("A", " ACTIVE ", "2024-02-01 09:00:00.5 UTC"),  # 7: ok (case and blanks)
    ("C", "active", "2024-01-31 23:00:00"),  # 8: ok
]
NO_AS_OF_HOURS = [
    ("A", 3, "11:00", "13:00"),  # 1: ok (2024-02-01 is a Thursday, day 3)
    ("A", 7, "11:00", "13:00"),  # 2: day not in 0-6
    ("A", 3, "1pm", "13:00"),  # 3: unparseable start
    ("A", 3, "11:00", "25:00"),  # 4: unparseable end
    ("", 3, "11:00", "13:00"),  # 5: empty store_id
]
NO_AS_OF_ZONES = [
    ("A", "UTC"),  # 1
    ("B", "Etc/UTC"),  # 2
    ("C", "Mars/Olympus"),  # 3: invalid timezone
    ("E", "UTC"),  # 4: superseded
    ("E", "Europe/Paris"),  # 5
    ("F", "Not/AZone"),  # 6: invalid timezone; F has no valid row anywhere
]


@pytest.fixture(scope="module")
def no_as_of(tmp_path_factory) -> Run:
    directory = tmp_path_factory.mktemp("no-as-of")
    write_inputs(directory, NO_AS_OF_POLLS, NO_AS_OF_HOURS, NO_AS_OF_ZONES)
    return export(directory)


def test_now_is_the_latest_valid_poll_of_any_store(no_as_of):
    # now = B's 2024-02-01 12:00 UTC (not A's 10:00; not the rejected 13:00 / 14:00 rows).
    # A (UTC, Thursday 11:00-13:00, active): hour [11:00, 12:00) open: 60 min; day
    # [01-31 12:00, 02-01 12:00): 11:00-12:00 = 1 h; week [01-25 12:00, ...): Thu 01-25
    # 12:00-13:00 = 1 h + 1 h = 2 h. (now = 13:00 would give day 2; now = 10:00, day 0.)
    assert_store(no_as_of, "A", (60, 1, 2, 0, 0, 0))
    # B: 24/7, one inactive poll. C: invalid zone -> Chicago, 24/7, one active poll.
    assert_store(no_as_of, "B", (0, 0, 0, 60, 24, 168))
    assert_store(no_as_of, "C", ALL_ACTIVE)
    # D and F have no valid row anywhere: not in the report. E: zones only: NULL.
    assert_store(no_as_of, "E", NULLS)
    assert list(no_as_of.report) == ["A", "B", "C", "E"]


def test_rows_read_are_accepted_plus_rejected(no_as_of):
    got = [(r[0], Path(r[1]).name, r[2], r[4]) for r in no_as_of.rejected]
    assert got == [
        ("menu_hours", "menu_hours.csv", 2, "day not in 0-6"),
        ("menu_hours", "menu_hours.csv", 3, "unparseable start_time_local"),
        ("menu_hours", "menu_hours.csv", 4, "unparseable end_time_local"),
        ("menu_hours", "menu_hours.csv", 5, "empty store_id"),
        ("store_status", "store_status.csv", 3, "unparseable timestamp_utc"),
        ("store_status", "store_status.csv", 4, "unknown status"),
        ("store_status", "store_status.csv", 5, "empty store_id"),
        ("store_status", "store_status.csv", 6, "unparseable timestamp_utc"),
        ("timezones", "timezones.csv", 3, "invalid timezone"),
        ("timezones", "timezones.csv", 4, "superseded"),
        ("timezones", "timezones.csv", 6, "invalid timezone"),
    ]
    # 8 status rows = 4 accepted + 4 rejected; 5 hours rows = 1 + 4; 6 zone rows = 3 + 3.
    raw = {(r[0], r[2]): json.loads(r[3]) for r in no_as_of.rejected}
    assert raw[("store_status", 4)] == {
        "store_id": "C",
        "status": "maybe",
        "timestamp_utc": "2024-02-01 14:00:00",
    }
    assert raw[("menu_hours", 3)] == {
        "store_id": "A",
        "day": "3",
        "start_time_local": "1pm",
        "end_time_local": "13:00",
    }
    assert "11 rejected rows" in no_as_of.stderr


def test_no_valid_poll_at_all_every_store_is_null(tmp_path):
    directory = write_inputs(
        tmp_path,
        [("A", "active", "yesterday")],
        [("A", 0, "09:00", "17:00")],
        [("B", "UTC")],
    )
    run = export(directory)
    assert (directory / "report.csv").read_text().splitlines() == [
        REPORT_HEADER,
        "A,,,,,,",
        "B,,,,,,",
    ]
    assert run.table == {"A": NULLS, "B": NULLS}


def test_column_order_does_not_matter(tmp_path):
    # The spec example again, columns shuffled, now given as plain `YYYY-MM-DD HH:MM:SS` (UTC):
    # nearest, as in MAIN.
    write_csv(
        tmp_path / "store_status.csv",
        ("timestamp_utc", "store_id", "status"),
        [
            ("2024-01-15 01:14:00 UTC", "spec", "active"),
            ("2024-01-15 02:15:00 UTC", "spec", "inactive"),
        ],
    )
    write_csv(
        tmp_path / "menu_hours.csv",
        ("end_time_local", "start_time_local", "day", "store_id"),
        [("12:00", "09:00", 0, "spec")],
    )
    write_csv(tmp_path / "timezones.csv", ("timezone_str", "store_id"), [("Asia/Tokyo", "spec")])
    run = export(tmp_path, "--as-of", "2024-01-15 03:00:00")
    assert_store(run, "spec", MAIN_EXPECTED["spec"]["nearest"])


# --------------------------------------------------------------------------------------------
# Duplicated business-hours rows among thousands of stores. The merge of open
# intervals once numbered one copy of a duplicated row into the island of an earlier row, so
# that the answer depended on DuckDB's parallel plan. Store 5148209169906195755 has no zone
# (America/Chicago: CDT = UTC-5 until Sun 11-03 07:00 UTC). now = 2024-11-03 09:20 UTC, week
# [Sun 10-27 09:20, Sun 11-03 09:20) UTC. Its open intervals in the week, in UTC:
#   Mon 10-28 02:30-03:30 CDT            A  10-28 07:30-08:30     1 h
#   Mon 10-28 10:00-24:00 CDT (twice)    B  10-28 15:00-10-29 05:00  14 h
#   Tue 10-29 02:30-03:30 CDT            C  10-29 07:30-08:30     1 h
#   Tue 10-29 12:00 - Wed 12:00 CDT      D  10-29 17:00-10-30 17:00  24 h
#   Wed 10-30 18:00 - Thu 02:00 CDT      E  10-30 23:00-10-31 07:00  8 h
#   Thu 10-31 07:15:00.25-11:45 CDT      F  10-31 12:15:00.25-16:45  4.5 h - 0.25 s
#   Fri 11-01 00:00-24:00 CDT            G  11-01 05:00-11-02 05:00  24 h
# open in the week: 76.5 h - 0.25 s (the issue's hand count).
# Polls: inactive 10-27 00:00, active 10-29 06:00, inactive 11-01 17:00, active 11-03 09:00.
# Nearest midpoints: 10-28 03:00, 10-30 23:30, 11-02 13:00. So active from 10-28 03:00 to
# 10-30 23:30: A, B, C, D and 0.5 h of E = 40.5 h up; inactive from 10-30 23:30 to 11-02 13:00:
# 7.5 h of E, F and G = 36 h - 0.25 s down. Nothing is open in the last day or hour.
# --------------------------------------------------------------------------------------------
DUPLICATES_STORE = "5148209169906195755"
DUPLICATES_HOURS = [
    (DUPLICATES_STORE, 0, "10:00:00", "23:59:59.999999"),
    (DUPLICATES_STORE, 0, "10:00:00", "23:59:59.999999"),
    (DUPLICATES_STORE, 0, "02:30:00", "03:30:00"),
    (DUPLICATES_STORE, 1, "12:00:00", "12:00:00"),
    (DUPLICATES_STORE, 1, "02:30:00", "03:30:00"),
    (DUPLICATES_STORE, 2, "18:00:00", "02:00:00"),
    (DUPLICATES_STORE, 3, "07:15:00.25", "11:45:00"),
    (DUPLICATES_STORE, 4, "00:00:00", "23:59:59"),
]
DUPLICATES_POLLS = [
    (DUPLICATES_STORE, "inactive", "2024-10-27 00:00:00 UTC"),
    (DUPLICATES_STORE, "active", "2024-10-29 06:00:00 UTC"),
    (DUPLICATES_STORE, "inactive", "2024-11-01 17:00:00 UTC"),
    (DUPLICATES_STORE, "active", "2024-11-03 09:00:00 UTC"),
]
DUPLICATES_EXPECTED = (0, 0, 40.5, 0, 0, 36 - 0.25 / 3600)


@pytest.mark.parametrize(("others", "monday_copies"), [(60, 2), (60, 4), (3000, 4)])
def test_duplicated_hours_rows_among_other_stores(tmp_path, others, monday_copies):
    """The issue's store and copies of it under other ids, rows shuffled together, its Monday
    10:00 row given `monday_copies` times: every copy must get the hand-computed numbers,
    whatever order the plan meets the ties in (small and large sorts break ties differently;
    before the fix 60 stores with 3 or more copies went wrong even on one thread)."""
    copies = [DUPLICATES_STORE] + [f"{DUPLICATES_STORE}-{number}" for number in range(others)]
    rows = DUPLICATES_HOURS + [DUPLICATES_HOURS[0]] * (monday_copies - 2)
    polls = [(copy, *poll[1:]) for copy in copies for poll in DUPLICATES_POLLS]
    hours = [(copy, *row[1:]) for copy in copies for row in rows]
    random.Random(8).shuffle(polls)
    random.Random(8).shuffle(hours)
    data = write_inputs(tmp_path / "copies", polls, hours, [])
    run = export(data, "--as-of", "2024-11-03T09:20:00Z")
    for copy in copies:
        assert_store(run, copy, DUPLICATES_EXPECTED)
