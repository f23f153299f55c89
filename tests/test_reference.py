"""Tests of the reference implementation itself (tests/reference.py), against hand arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    InputError,
    compute_details,
    compute_report,
    load_inputs,
    local_to_utc,
    measure,
    parse_local_time,
    parse_timestamp,
    rejected,
    status_at,
    to_ticks,
)

STATUS_HEADER = "store_id,status,timestamp_utc"
HOURS_HEADER = "store_id,day,start_time_local,end_time_local"
ZONES_HEADER = "store_id,timezone_str"


def write(folder: Path, status=(), hours=(), zones=(), headers=None) -> tuple[Path, Path, Path]:
    """Write the three CSV files (header + rows given as lines) and return their paths."""
    headers = headers or (STATUS_HEADER, HOURS_HEADER, ZONES_HEADER)
    paths = []
    for name, header, lines in zip(
        ("status.csv", "hours.csv", "zones.csv"), headers, (status, hours, zones), strict=True
    ):
        path = folder / name
        path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
        paths.append(path)
    return tuple(paths)


def report(folder, status=(), hours=(), zones=(), as_of=None, interpolation="nearest"):
    paths = write(folder, status, hours, zones)
    as_of = parse_timestamp(as_of) if isinstance(as_of, str) else as_of
    return compute_report(*paths, as_of=as_of, interpolation=interpolation)


def approx(*values):
    return pytest.approx(values, abs=1e-9)


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-22 12:09:39.388884 UTC", datetime(2023, 1, 22, 12, 9, 39, 388884)),
        ("2023-01-22 12:09:39 UTC", datetime(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22 12:09:39.5 UTC", datetime(2023, 1, 22, 12, 9, 39, 500000)),
        ("2023-01-22 12:09:39", datetime(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22 12:09:39.000001", datetime(2023, 1, 22, 12, 9, 39, 1)),
        ("  2023-01-22 12:09:39  ", datetime(2023, 1, 22, 12, 9, 39)),
        ("2024-11-04T06:00:00Z", datetime(2024, 11, 4, 6)),
        ("2024-11-04T06:00:00", datetime(2024, 11, 4, 6)),
        ("2024-11-04T06:00:00.25Z", datetime(2024, 11, 4, 6, 0, 0, 250000)),
        ("2024-11-04T07:00:00+01", datetime(2024, 11, 4, 6)),
        ("2024-11-04T07:30:00+0130", datetime(2024, 11, 4, 6)),
        ("2024-11-04T11:30:00+05:30", datetime(2024, 11, 4, 6)),
        ("2024-11-04T02:30:00-03:30", datetime(2024, 11, 4, 6)),
        ("2024-11-04T01:00:00+05:30", datetime(2024, 11, 3, 19, 30)),  # crosses the date
        ("2024-01-01T00:00:00+01:00", datetime(2023, 12, 31, 23)),  # and the year
        # 7-9 fraction digits are truncated, not rounded (project decision)
        ("2023-01-22 12:09:39.123456789 UTC", datetime(2023, 1, 22, 12, 9, 39, 123456)),
        ("2023-01-22T12:09:39.9999999Z", datetime(2023, 1, 22, 12, 9, 39, 999999)),
        ("2024-02-29 00:00:00", datetime(2024, 2, 29)),
        # one space at most before the zone, which may be in any case
        ("2024-11-04 14:05:00.5UTC", datetime(2024, 11, 4, 14, 5, 0, 500000)),
        ("2024-11-04 14:05:00.5 utc", datetime(2024, 11, 4, 14, 5, 0, 500000)),
        ("2024-11-04T14:05:00 Z", datetime(2024, 11, 4, 14, 5)),
        ("2024-11-04T15:05:00 +01:00", datetime(2024, 11, 4, 14, 5)),
        # the blanks trimmed are the Unicode spaces, not tabs
        ("\u00a02024-11-04 14:05:00 UTC\u3000", datetime(2024, 11, 4, 14, 5)),
    ],
)
def test_parse_timestamp_accepts(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2023-01-22 12:09",  # seconds are required
        "2023-01-22T12:09Z",
        "2023-01-22",
        "2023-02-29 00:00:00",  # not a leap year
        "2023-13-01 00:00:00",
        "2023-01-22 24:00:00",
        "2023-01-22 12:60:00",
        "2023-01-22 12:00:60",
        "2023-01-22 12:00:00.",  # a point needs digits
        "2023-01-22 12:00:00.1234567890",  # ten digits
        "2023-1-22 12:00:00",
        "2023-01-22 2:00:00",
        "2023-01-22 12:00:00 CET",
        "2023-01-22 12:00:00+5",
        "2023-01-22 12:00:00+24:00",
        "2023-01-22 12:00:00+05:60",
        "1673,000",
        "2024-11-04 14:05:00.5  UTC",  # two spaces before UTC
        "2024-11-04 14:05:00  UTC",
        "2024-11-04 14:05:00.5\tUTC",
        "2024-11-04  14:05:00 UTC",
        "\t2024-11-04 14:05:00 UTC",  # a tab is not a blank
    ],
)
def test_parse_timestamp_rejects(text):
    assert parse_timestamp(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9:00", timedelta(hours=9)),
        ("09:00", timedelta(hours=9)),
        ("09:05:07", timedelta(hours=9, minutes=5, seconds=7)),
        ("09:05:07.5", timedelta(hours=9, minutes=5, seconds=7, microseconds=500000)),
        ("09:05:07.1234567", timedelta(hours=9, minutes=5, seconds=7, microseconds=123456)),
        ("00:00", timedelta(0)),
        ("0:00:00", timedelta(0)),
        ("23:59:59", timedelta(hours=23, minutes=59, seconds=59)),  # normalised only as an end
        ("24:00", timedelta(hours=24)),
        ("24:00:00", timedelta(hours=24)),
        (" 10:30 ", timedelta(hours=10, minutes=30)),
    ],
)
def test_parse_local_time_accepts(text, expected):
    assert parse_local_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "noon",
        "9",
        "9:0",
        "25:00",
        "24:01",
        "24:00:01",
        "12:60",
        "12:00:60",
        "123:00",
        "-1:00",
        "12:00:00.",
        "9am",
    ],
)
def test_parse_local_time_rejects(text):
    assert parse_local_time(text) is None


def test_local_to_utc_reads_gaps_and_repeats_as_the_later_instant():
    new_york = ZoneInfo("America/New_York")
    # spring forward: 02:30 does not exist; EST (-5) gives 07:30Z, EDT (-4) 06:30Z -> 07:30Z
    assert local_to_utc(datetime(2024, 3, 10, 2, 30), new_york) == datetime(2024, 3, 10, 7, 30)
    # fall back: 01:30 happens twice; EDT gives 05:30Z, EST 06:30Z -> 06:30Z
    assert local_to_utc(datetime(2024, 11, 3, 1, 30), new_york) == datetime(2024, 11, 3, 6, 30)
    # ordinary times are unchanged
    assert local_to_utc(datetime(2024, 3, 10, 3, 0), new_york) == datetime(2024, 3, 10, 7, 0)
    assert local_to_utc(datetime(2024, 1, 1, 0, 0), ZoneInfo("Asia/Kolkata")) == datetime(
        2023, 12, 31, 18, 30
    )


# ----------------------------------------------------------------------------- interpolation


def test_status_at_exact_midpoint_goes_to_the_later_poll():
    ten, eleven = to_ticks(datetime(2024, 1, 1, 10)), to_ticks(datetime(2024, 1, 1, 11))
    polls = [(ten, True), (eleven, False)]
    midpoint = to_ticks(datetime(2024, 1, 1, 10, 30))
    assert status_at(midpoint - 1, polls, "nearest") is True
    assert status_at(midpoint, polls, "nearest") is False
    # previous: the earlier poll rules until the later poll; before the first, the first
    assert status_at(midpoint, polls, "previous") is True
    assert status_at(polls[1][0], polls, "previous") is False
    assert status_at(polls[0][0] - 10**9, polls, "previous") is True
    assert status_at(polls[1][0] + 10**9, polls, "nearest") is False


def test_odd_microsecond_midpoint_is_exact(tmp_path):
    # polls at 10:00:00 (active) and 10:00:00.000001 (inactive): the midpoint is half a
    # microsecond after 10:00; 24/7 UTC store, as of 10:00:00.000001:
    # active [09:00:00.000001, 10:00:00.0000005) = 3600 s - 0.5 µs, inactive 0.5 µs.
    rows = report(
        tmp_path,
        status=["s,active,2024-01-01 10:00:00", "s,inactive,2024-01-01 10:00:00.000001"],
        zones=["s,UTC"],
    )
    up_hour, down_hour = rows["s"][0], rows["s"][3]
    assert up_hour * 60 == pytest.approx(3600 - 0.5e-6, rel=1e-15)
    assert down_hour * 60 == pytest.approx(0.5e-6, rel=1e-9)


# ----------------------------------------------------------------------------- measures


def test_spec_example_monday_morning(tmp_path):
    # America/Chicago (no timezone row: the default) is UTC-6 in January. Monday 2023-01-23
    # 09:00-12:00 local = 15:00-18:00Z. Polls 10:14 local (16:14Z) active, 11:15 (17:15Z)
    # inactive; now = 12:00 local = 18:00Z.
    status = ["s,active,2023-01-23 16:14:00 UTC", "s,inactive,2023-01-23 17:15:00 UTC"]
    hours = ["s,0,09:00:00,12:00:00"]
    # nearest: the midpoint is 16:44:30Z; up 15:00-16:44:30 = 104.5 min = 1.741666 h,
    # down 16:44:30-18:00 = 75.5 min = 1.258333 h; last hour [17:00, 18:00) all down.
    # The week [2023-01-16 18:00Z, 18:00Z) only touches last Monday's 15:00-18:00Z at its
    # excluded end, so the week equals the day.
    rows = report(tmp_path, status, hours, as_of="2023-01-23 18:00:00")
    assert rows == {"s": approx(0, 104.5 / 60, 104.5 / 60, 60, 75.5 / 60, 75.5 / 60)}
    # previous: active 15:00-17:15 (first poll before itself) = 135 min = 2.25 h, down
    # 17:15-18:00 = 45 min; last hour: up 17:00-17:15 = 15 min, down 45 min.
    rows = report(tmp_path, status, hours, as_of="2023-01-23 18:00:00", interpolation="previous")
    assert rows == {"s": approx(15, 2.25, 2.25, 45, 0.75, 0.75)}
    # without --as-of, now = the last poll, 17:15Z. Day [01-22 17:15, 17:15): open 15:00-17:15;
    # nearest up 15:00-16:44:30 = 104.5 min, down 16:44:30-17:15 = 30.5 min; hour [16:15, 17:15):
    # up 16:15-16:44:30 = 29.5 min, down 30.5 min. The week [01-16 17:15, ..) now holds the last
    # 45 min of the previous Monday (17:15-18:00Z), before the first poll, so active:
    # up 104.5 + 45 = 149.5 min.
    rows = report(tmp_path, status, hours)
    assert rows == {"s": approx(29.5, 104.5 / 60, 149.5 / 60, 30.5, 30.5 / 60, 30.5 / 60)}


def test_spring_forward_day_lasts_23_hours(tmp_path):
    # Sunday 2024-03-10, 00:00-23:59:59 in New York: 00:00 EST = 05:00Z to Monday 00:00 EDT
    # = 2024-03-11 04:00Z: 23 h. As of 2024-03-11 12:00Z the week starts 2024-03-04 12:00Z,
    # after the previous Sunday's 03-03 05:00Z - 03-04 05:00Z. One active poll: all up.
    # day [03-10 12:00Z, 03-11 12:00Z): 12:00Z-04:00Z = 16 h. The hour (11:00-12:00Z) is closed.
    rows = report(
        tmp_path,
        status=["ny,active,2024-03-10 12:00:00 UTC"],
        hours=["ny,6,00:00,23:59:59"],
        zones=["ny,America/New_York"],
        as_of="2024-03-11T12:00:00Z",
    )
    assert rows == {"ny": approx(0, 16, 23, 0, 0, 0)}


def test_fall_back_day_lasts_25_hours(tmp_path):
    # Sunday 2024-11-03: 00:00 EDT = 04:00Z to 2024-11-04 00:00 EST = 05:00Z: 25 h.
    # End given as 23:59:59.999 (any fraction means 24:00). One inactive poll: all down.
    rows = report(
        tmp_path,
        status=["ny,inactive,2024-11-03 10:00:00"],
        hours=["ny,6,0:00,23:59:59.999"],
        zones=["ny,america/new_york"],
        as_of="2024-11-04 12:00:00",
    )
    # day [11-03 12:00Z, 11-04 12:00Z): 12:00Z - 05:00Z = 17 h
    assert rows == {"ny": approx(0, 0, 0, 0, 17, 25)}


def test_hours_in_the_spring_forward_gap(tmp_path):
    # Sunday 2024-03-10 in New York: 02:30 (nonexistent) -> 07:30Z; 04:00 EDT -> 08:00Z: 30 min.
    # A second row 02:15-03:00: 02:15 -> 07:15Z, 03:00 EDT -> 07:00Z: ends before it starts,
    # so it opens nothing. The week as of 03-10 12:00Z holds only that Sunday's rows.
    rows = report(
        tmp_path,
        status=["ny,active,2024-03-10 07:40:00"],
        hours=["ny,6,02:30,04:00", "ny,6,02:15,03:00"],
        zones=["ny,America/New_York"],
        as_of="2024-03-10 12:00:00",
    )
    assert rows == {"ny": approx(0, 0.5, 0.5, 0, 0, 0)}


def test_fall_back_repeated_hour_is_read_as_its_second_occurrence(tmp_path):
    # Sunday 2024-11-03 in New York, 01:30-02:30: 01:30 is read as EST (06:30Z), 02:30 EST is
    # 07:30Z: 1 h (not 2 h).
    rows = report(
        tmp_path,
        status=["ny,active,2024-11-03 07:00:00"],
        hours=["ny,6,01:30,02:30"],
        zones=["ny,America/New_York"],
        as_of="2024-11-03 12:00:00",
    )
    assert rows == {"ny": approx(0, 1, 1, 0, 0, 0)}


def test_lord_howe_half_hour_dst_end(tmp_path):
    # Sunday 2024-04-07 in Australia/Lord_Howe, 00:00-24:00: 00:00 at +11 = 04-06 13:00Z,
    # 04-08 00:00 at +10:30 = 04-07 13:30Z: 24.5 h. As of 04-08 00:00Z, week from 04-01 00:00Z:
    # only that Sunday (the previous one ended 03-31 13:00Z). The day [04-07 00:00Z, 04-08
    # 00:00Z) holds 00:00Z-13:30Z = 13.5 h.
    rows = report(
        tmp_path,
        status=["lh,active,2024-04-07 01:00:00"],
        hours=["lh,6,00:00,24:00"],
        zones=["lh,Australia/Lord_Howe"],
        as_of="2024-04-08 00:00:00",
    )
    assert rows == {"lh": approx(0, 13.5, 24.5, 0, 0, 0)}


def test_hours_across_midnight(tmp_path):
    # UTC store, Friday 22:00 - 02:00 (so Friday night into Saturday). As of Saturday
    # 2024-01-06 01:00Z: hour [00:00, 01:00) open 60 min; day [01-05 01:00, 01-06 01:00):
    # Friday 22:00-01:00 = 3 h; week [12-30 01:00, 01-06 01:00): also the end of the previous
    # Friday's 12-29 22:00 - 12-30 02:00, i.e. 01:00-02:00 = 1 h: 4 h.
    rows = report(
        tmp_path,
        status=["u,active,2024-01-05 23:00:00"],
        hours=["u,4,22:00,02:00"],
        zones=["u,UTC"],
        as_of="2024-01-06 01:00:00",
    )
    assert rows == {"u": approx(60, 3, 4, 0, 0, 0)}


def test_equal_start_and_end_is_24_hours_in_kolkata(tmp_path):
    # Asia/Kolkata is +05:30. Tuesday 2024-01-02 06:00-06:00 = 06:00 Tue to 06:00 Wed local =
    # 01-02 00:30Z - 01-03 00:30Z. Polls 01-02 06:00Z active, 18:00Z inactive: midpoint 12:00Z.
    # As of 01-03 12:00Z: hour closed; day [01-02 12:00, 01-03 12:00): 12:00-00:30 down, 12.5 h;
    # week: up 00:30-12:00 = 11.5 h, down 12.5 h (the previous Tuesday ends 12-27 00:30Z, before
    # the week starts at 12-27 12:00Z).
    rows = report(
        tmp_path,
        status=["k,active,2024-01-02T06:00:00Z", "k,inactive,2024-01-02T23:30:00+05:30"],
        hours=["k,1,06:00,06:00"],
        zones=["k,Asia/Kolkata"],
        as_of="2024-01-03 12:00:00",
    )
    assert rows == {"k": approx(0, 0, 11.5, 0, 12.5, 12.5)}


def test_overlapping_and_duplicate_rows_are_merged(tmp_path):
    # UTC, Monday 2024-01-01: 09:00-12:00, 11:00-14:00 (overlap) and 09:00-12:00 again: open
    # 09:00-14:00 = 5 h, not 9 h. 24/7 overnight row on Sunday 20:00-20:00 adds Sunday
    # 12-31 20:00 to Monday 20:00, which covers the others: as of 01-01 20:00Z the day
    # [12-31 20:00, 01-01 20:00) is all open: 24 h.
    rows = report(
        tmp_path,
        status=["m,active,2024-01-01 10:00:00"],
        hours=["m,0,09:00,12:00", "m,0,11:00,14:00", "m,0,09:00,12:00"],
        zones=["m,UTC"],
        as_of="2024-01-01 20:00:00",
    )
    assert rows == {"m": approx(0, 5, 5, 0, 0, 0)}
    rows = report(
        tmp_path,
        status=["m,active,2024-01-01 10:00:00"],
        hours=["m,0,09:00,12:00", "m,0,11:00,14:00", "m,6,20:00,20:00"],
        zones=["m,UTC"],
        as_of="2024-01-01 20:00:00",
    )
    assert rows == {"m": approx(60, 24, 24, 0, 0, 0)}


def test_conflicting_duplicates_inactive_wins(tmp_path):
    # The same instant twice (two spellings), active and inactive: one inactive poll.
    # 24/7 UTC store; now = that poll = 10:00Z: everything before it is down.
    rows = report(
        tmp_path,
        status=[
            "d,active,2024-01-01 10:00:00 UTC",
            "d,inactive,2024-01-01T11:00:00+01:00",
            "d,Active,2024-01-01T10:00:00Z",
        ],
        zones=["d,UTC"],
    )
    assert rows == {"d": approx(0, 0, 0, 60, 24, 168)}


def test_polls_after_now_are_ignored_and_no_poll_is_null(tmp_path):
    # as of 10:00Z, the 10:30 inactive poll does not exist yet: store a is all up (24/7, UTC).
    # Store b only polled after now: NULL. Store c is only in the hours file, d only in the
    # zones file: NULL too. Store e's only poll row is rejected: not a store of the report.
    rows = report(
        tmp_path,
        status=[
            "a,active,2024-01-01 09:00:00",
            "a,inactive,2024-01-01 10:30:00",
            "b,active,2024-01-01 11:00:00",
            "e,maybe,2024-01-01 09:00:00",
        ],
        hours=["c,0,09:00,17:00"],
        zones=["a,UTC", "d,Europe/London"],
        as_of="2024-01-01 10:00:00",
    )
    null = (None,) * 6
    assert rows == {"a": approx(60, 24, 168, 0, 0, 0), "b": null, "c": null, "d": null}


def test_no_valid_poll_at_all_every_store_is_null(tmp_path):
    rows = report(tmp_path, status=["a,active,never"], hours=["b,0,09:00,17:00"])
    assert rows == {"b": (None,) * 6}


def test_now_is_the_last_poll_of_any_store(tmp_path):
    # now = 12:00Z from store b; store a (24/7, UTC) last polled inactive at 10:00Z owns
    # everything after 10:00Z: the last hour is all down.
    rows = report(
        tmp_path,
        status=["a,inactive,2024-01-01 10:00:00", "b,active,2024-01-01 12:00:00"],
        zones=["a,UTC", "b,UTC"],
    )
    assert rows["a"] == approx(0, 0, 0, 60, 24, 168)


def test_default_zone_is_chicago(tmp_path):
    # Monday 2024-01-01 00:00-01:00 local. Chicago (-6) gives 06:00-07:00Z; as of 07:00Z the
    # whole hour is open. A store in UTC would be open 00:00-01:00Z, outside the last hour.
    rows = report(
        tmp_path,
        status=["c,active,2024-01-01 06:30:00", "u,active,2024-01-01 06:30:00"],
        hours=["c,0,00:00,01:00", "u,0,00:00,01:00"],
        zones=["u,Etc/UTC"],
        as_of="2024-01-01 07:00:00",
    )
    assert rows["c"] == approx(60, 1, 1, 0, 0, 0)
    assert rows["u"] == approx(0, 1, 1, 0, 0, 0)


def test_timezones_last_valid_row_wins_and_case_is_ignored(tmp_path):
    paths = write(
        tmp_path,
        status=["s,active,2024-01-01 00:00:00"],
        zones=["s,Asia/Kolkata", "s,EUROPE/london", "s,Mars/Olympus", " s ,", ",UTC"],
    )
    details = compute_details(*paths)
    assert details["s"].zone == "Europe/London"
    assert rejected(*paths) == {"status": 0, "hours": 0, "timezones": 4}
    reasons = [(r.row, r.reason) for r in load_inputs(*paths).rejections]
    assert reasons == [
        (1, "superseded"),
        (3, "invalid zone name"),
        (4, "invalid zone name"),
        (5, "empty store_id"),
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("1", None),
        (" \u00a0a\u3000 ", None),  # Unicode spaces are trimmed
        ("a" * 255, None),
        ("a" * 256, "invalid"),
        (" " + "a" * 255 + " ", None),  # trimmed first, then counted
        ("=1", "invalid"),
        ("+1", "invalid"),
        ("-1", "invalid"),
        ("@1", "invalid"),
        (" -1", "invalid"),  # the first character after trimming
        ("1-=+@", None),  # only the first character
        ("a\x00b", "invalid"),
        ("a\x1fb", "invalid"),
        ("a\x7fb", "invalid"),
        ("a\x85", "invalid"),  # NEL: a control character, not a blank
        ("a\x9fb", "invalid"),
        ("\ta", "invalid"),  # a tab is not trimmed, so the id holds a control character
        ("a\xa0b", None),
        ("e\u0301", None),  # not normalised
        ("", "empty"),
        ("\u3000", "empty"),
    ],
)
def test_store_id_rule(raw, problem):
    from reference import store_id_problem, trim

    assert store_id_problem(trim(raw)) == problem


def test_invalid_store_ids_are_rejected_in_every_file(tmp_path):
    paths = write(
        tmp_path,
        status=["a,active,2024-01-01 00:00:00", "=a,active,2024-01-01 01:00:00"],
        hours=["@a,0,09:00,17:00", "a,0,09:00,17:00"],
        zones=["-a,UTC", "a\x85,UTC", "\u00a0a,UTC"],
    )
    reasons = [(r.file, r.row, r.reason) for r in load_inputs(*paths).rejections]
    assert reasons == [
        ("status", 2, "invalid store_id"),
        ("hours", 1, "invalid store_id"),
        ("timezones", 1, "invalid store_id"),
        ("timezones", 2, "invalid store_id"),
    ]
    assert compute_details(*paths).keys() == {"a"}
    assert compute_details(*paths)["a"].zone == "UTC"


def test_rejected_rows_play_no_part(tmp_path):
    # All of store h's hours rows are bad, so it has none: open 24/7.
    paths = write(
        tmp_path,
        status=[
            "h,active,2024-01-01 12:00:00",
            ",active,2024-01-01 13:00:00",  # would move now, but is rejected
            "h,up,2024-01-01 13:00:00",
            "h,inactive,2024-01-01 12:00",
        ],
        hours=[
            "h,7,09:00,17:00",
            "h,-1,09:00,17:00",
            "h,0,9am,17:00",
            "h,0,09:00,25:00",
            ",0,1:00,2:00",
        ],
    )
    assert rejected(*paths) == {"status": 3, "hours": 5, "timezones": 0}
    assert compute_report(*paths) == {"h": approx(60, 24, 168, 0, 0, 0)}


def test_headers_bom_blanks_and_day_preferred_over_day_of_week(tmp_path):
    status = tmp_path / "s.csv"
    hours = tmp_path / "h.csv"
    zones = tmp_path / "z.csv"
    status.write_text(
        "\ufeff timestamp_utc , status ,store_id,extra\n2024-01-01 10:00:00, ACTIVE , s ,x\n",
        encoding="utf-8",
    )
    # dayOfWeek says Tuesday, day says Monday: Monday is used. UTC Monday 09:00-10:00.
    hours.write_text(
        "dayOfWeek,end_time_local, store_id,start_time_local ,day\n1,10:00,s,09:00,0\n",
        encoding="utf-8",
    )
    zones.write_text("\ufefftimezone_str,store_id\nUTC,s\n", encoding="utf-8")
    assert compute_report(status, hours, zones) == {"s": approx(60, 1, 1, 0, 0, 0)}
    hours.write_text(
        "dayOfWeek,store_id,start_time_local,end_time_local\n1,s,09:00,10:00\n", encoding="utf-8"
    )
    # Tuesday: the week [12-25 10:00, 01-01 10:00) holds Tuesday 12-26 09:00-10:00 only
    assert compute_report(status, hours, zones) == {"s": approx(0, 0, 1, 0, 0, 0)}


def test_missing_column_names_file_and_column(tmp_path):
    paths = write(
        tmp_path, headers=(STATUS_HEADER, "store_id,start_time_local,end_time_local", ZONES_HEADER)
    )
    with pytest.raises(InputError, match=r"hours\.csv.*day"):
        compute_report(*paths)


def test_uptime_plus_downtime_is_open_time(tmp_path):
    # Split hours in London around the 2024-03-31 change, a few polls; the invariant holds.
    paths = write(
        tmp_path,
        status=[
            "l,active,2024-03-30 09:00:00",
            "l,inactive,2024-03-31 00:59:59.5",
            "l,active,2024-03-31 01:00:00.25",
            "l,inactive,2024-03-31 13:00:00",
        ],
        hours=["l,5,08:00,12:00", "l,5,13:00,01:30", "l,6,00:30,02:30", "l,6,12:00,12:00"],
        zones=["l,Europe/London"],
    )
    for interpolation in ("nearest", "previous"):
        result = compute_details(*paths, interpolation=interpolation)["l"]
        for index, length in enumerate((60, 24, 168)):
            up, down = result.measures[index], result.measures[index + 3]
            assert up + down == pytest.approx(result.open_time[index], abs=1e-9)
            assert 0 <= up <= length and 0 <= down <= length


# ----------------------------------------------------------------------------- integration


def owner_status(t, polls, interpolation):
    """The status at t from the rule's second wording: the poll that owns t."""
    times = [p for p, _ in polls]
    for index, (_, is_active) in enumerate(polls):
        if interpolation == "nearest":  # [midpoint with predecessor, midpoint with successor)
            low = (times[index - 1] + times[index]) / 2 if index else float("-inf")
            high = (times[index] + times[index + 1]) / 2 if index + 1 < len(times) else float("inf")
        else:  # [own time, next poll), the first also everything before it
            low = times[index] if index else float("-inf")
            high = times[index + 1] if index + 1 < len(times) else float("inf")
        if low <= t < high:
            return is_active
    raise AssertionError("no owner")


@settings(max_examples=300, deadline=None)
@given(
    poll_times=st.lists(st.integers(-20, 120), min_size=1, max_size=6, unique=True),
    statuses=st.lists(st.booleans(), min_size=6, max_size=6),
    intervals=st.none() | st.lists(st.tuples(st.integers(-10, 110), st.integers(-10, 110))),
    window=st.tuples(st.integers(-5, 50), st.integers(0, 60)),
    interpolation=st.sampled_from(["nearest", "previous"]),
)
def test_measure_equals_tick_by_tick_count(poll_times, statuses, intervals, window, interpolation):
    # ticks are even in the reference (whole microseconds); keep them so here
    polls = sorted((2 * t, statuses[i]) for i, t in enumerate(poll_times))
    intervals = None if intervals is None else [(2 * a, 2 * b) for a, b in intervals]
    start, end = 2 * window[0], 2 * window[0] + 2 * window[1]
    up = down = 0
    for t in range(start, end):
        if intervals is None or any(a <= t < b for a, b in intervals):
            if owner_status(t, polls, interpolation):
                up += 1
            else:
                down += 1
        assert status_at(t, polls, interpolation) == owner_status(t, polls, interpolation)
    assert measure(start, end, intervals, polls, interpolation) == (up, down, up + down)
