"""Differential tests: `storemon export` (dbt on DuckDB) against tests/reference.py.

One Hypothesis example is a handful of stores with random zones, business hours and polls
around DST changes, written as the three CSV files. The CLI runs once per interpolation mode
and every store of its report must match the reference within the CSV's rounding; the DuckDB
table `store_uptime_report` must match unrounded and `rejected_rows` must hold as many rows as
the reference rejects.

The default run is small (a few CLI runs, each a dbt start-up); `--hypothesis-profile=long`
(registered in conftest.py) runs many more examples.
"""

from __future__ import annotations

import csv
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import reference
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

try:
    from storemon.cli import cli
except ImportError as error:  # the product is not installed (or not written) yet
    cli = None
    CLI_MISSING = f"storemon.cli cannot be imported ({type(error).__name__}: {error})"
else:
    CLI_MISSING = ""


def examples(default: int) -> int:
    """`default` examples, unless the `long` profile is loaded. (Hypothesis loads its own `ci`
    profile, 100 examples, when CI is set: that must not turn a minute into half an hour.)"""
    if settings.get_current_profile_name() == "long":
        return settings.default.max_examples
    return default


SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
WINDOW_LENGTHS = (60, 24, 168)  # minutes, hours, hours
ROUNDING = 0.011  # the CSV rounds to 2 decimals
UNROUNDED = 1e-6  # the DuckDB table: microsecond arithmetic against exact fractions

# UTC instants of DST changes (and one quiet week, like the real data's).
ANCHORS = [
    datetime(2024, 3, 10, 7),  # New York springs forward (02:00 EST)
    datetime(2024, 11, 3, 6),  # New York falls back (02:00 EDT)
    datetime(2024, 3, 10, 5, 30),  # St John's springs forward (02:00 NST)
    datetime(2024, 3, 31, 1),  # London springs forward
    datetime(2024, 10, 27, 1),  # London falls back
    datetime(2024, 4, 6, 15),  # Lord Howe falls back half an hour (02:00 +11)
    datetime(2024, 10, 5, 15, 30),  # Lord Howe springs forward half an hour (02:00 +10:30)
    datetime(2023, 1, 25, 12),  # no change anywhere
]
ZONES = [
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "UTC",
    "America/Chicago",
    "america/new_york",
    "EUROPE/LONDON",
    "asia/KOLKATA",
    "australia/lord_howe",
    "AMERICA/ST_JOHNS",
    "utc",
]
BAD_ZONES = ["Mars/Olympus", "", "America/Springfield", "New York"]
OFFSETS = [("+00:00", 0), ("-05:00", -300), ("+05:30", 330), ("+0100", 60), ("-03", -180),
           ("+10:30", 630), ("-0330", -210)]  # fmt: skip
BAD_TIMESTAMPS = ["yesterday", "2024-02-30 10:00:00", "2024-03-10 10:00", "2024-03-10T25:00:00Z",
                  "2024-03-10T10:00:00+24:00", "2024-03-10 10:00:00-00:60"]  # fmt: skip
BAD_TIMES = ["25:00", "12:60", "noon", "9", "24:30"]


# ----------------------------------------------------------------------------- strategies


@dataclass
class Scenario:
    status: list[tuple[str, str, str]] = field(default_factory=list)  # store, status, timestamp
    hours: list[tuple[str, str, str, str]] = field(default_factory=list)  # store, day, start, end
    zones: list[tuple[str, str]] = field(default_factory=list)  # store, zone
    rejections: dict[str, int] = field(
        default_factory=lambda: {"status": 0, "hours": 0, "timezones": 0}
    )
    as_of: str | None = None
    layout: dict = field(default_factory=dict)  # how the CSV files are written


def fraction_text(draw, micro: int) -> str:
    style = draw(st.sampled_from(["six", "six", "trimmed", "none", "nanos"]))
    if style == "none" or (style == "trimmed" and micro == 0):
        return ""  # the value loses its microseconds: fine, both sides read the same text
    if style == "trimmed":
        return "." + f"{micro:06d}".rstrip("0")
    if style == "nanos":  # 7-9 digits are truncated to microseconds
        return f".{micro:06d}{draw(st.integers(0, 999)):03d}"
    return f".{micro:06d}"


def timestamp_text(draw, moment: datetime) -> str:
    """`moment` (naive UTC) in one of the forms docs/inputs.md lists."""
    style = draw(st.sampled_from(["real", "real", "plain", "zulu", "offset"]))
    fraction = fraction_text(draw, moment.microsecond)
    if style == "real":
        return f"{moment:%Y-%m-%d %H:%M:%S}{fraction} UTC"
    if style == "plain":
        return f"{moment:%Y-%m-%d %H:%M:%S}{fraction}"
    if style == "zulu":
        return f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}Z"
    suffix, minutes = draw(st.sampled_from(OFFSETS))
    local = moment + timedelta(minutes=minutes)
    return f"{local:%Y-%m-%dT%H:%M:%S}{fraction}{suffix}"


def status_text(draw, is_active: bool) -> str:
    word = "active" if is_active else "inactive"
    return draw(st.sampled_from([word, word, word.capitalize(), word.upper(), f" {word} "]))


def store_text(draw, store: str) -> str:
    """A valid store's id as a file may hold it: with blanks around it (Unicode spaces too)."""
    return draw(
        st.sampled_from(
            [store, store, store, f" {store}", f"{store}  ", f"\u00a0{store}", f"{store}\u3000"]
        )
    )


def bad_store_text(draw, store: str) -> str:
    """An empty or invalid store_id, often made from a valid one: too long, a formula's first
    character (after the blanks), a control character (a tab is one, not a blank)."""
    return draw(
        st.sampled_from(
            [
                "",
                "  ",
                "\u3000",
                f"={store}",
                f"+{store}",
                f" -{store}",
                f"@{store}",
                f"{store[:2]}\x00{store[2:]}",
                f"{store}\x85",
                f"{store[:3]}\t{store[3:]}",
                f"\t{store}",
                f"{store}\x7f",
                (store * 256)[:256],
            ]
        )
    )


def local_time_text(draw, minutes: int, end_of_day: bool = False) -> str:
    if end_of_day:
        return draw(st.sampled_from(["23:59:59", "23:59:59.999999", "23:59:59.5", "24:00",
                                     "24:00:00"]))  # fmt: skip
    if minutes == 24 * 60:
        return draw(st.sampled_from(["24:00", "24:00:00"]))
    hour, minute = divmod(minutes, 60)
    style = draw(st.sampled_from(["HH:MM:SS", "HH:MM:SS", "HH:MM", "H:MM", "seconds"]))
    if style == "HH:MM":
        return f"{hour:02d}:{minute:02d}"
    if style == "H:MM":
        return f"{hour}:{minute:02d}"
    if style == "seconds":
        return f"{hour:02d}:{minute:02d}:{draw(st.integers(0, 59)):02d}.5"
    return f"{hour:02d}:{minute:02d}:00"


def add_polls(draw, scenario: Scenario, store: str, anchor: datetime) -> None:
    """Bursts and runs of polls, days apart, around the anchor; duplicates and bad rows."""
    for _ in range(draw(st.integers(0, 4))):
        moment = anchor + timedelta(
            minutes=draw(st.integers(-9 * 24 * 60, 2 * 24 * 60)),
            microseconds=draw(st.integers(0, 10**6 - 1)),
        )
        spacing = draw(
            st.sampled_from([timedelta(seconds=7), timedelta(minutes=4), timedelta(minutes=59)])
        )
        for _ in range(draw(st.integers(1, 10))):
            is_active = draw(st.booleans())
            row = (store_text(draw, store), status_text(draw, is_active))
            scenario.status.append((*row, timestamp_text(draw, moment)))
            if draw(st.integers(0, 5)) == 0:  # the same instant again, maybe disagreeing
                again = (store_text(draw, store), status_text(draw, draw(st.booleans())))
                scenario.status.append((*again, timestamp_text(draw, moment)))
            moment += spacing + timedelta(seconds=draw(st.integers(0, 120)))
    for _ in range(draw(st.integers(0, 1))):
        moment = anchor - timedelta(hours=draw(st.integers(0, 48)))
        bad = draw(st.sampled_from(["store", "status", "timestamp"]))
        scenario.status.append(
            (
                bad_store_text(draw, store) if bad == "store" else store,
                draw(st.sampled_from(["unknown", "", "activ"])) if bad == "status" else "active",
                draw(st.sampled_from(BAD_TIMESTAMPS))
                if bad == "timestamp"
                else timestamp_text(draw, moment),
            )
        )
        scenario.rejections["status"] += 1


def add_business_hours(draw, scenario: Scenario, store: str) -> None:
    """None (24/7), only bad rows (24/7 too) or a few rows of every kind."""
    kind_of_store = draw(st.sampled_from(["rows", "rows", "rows", "none", "bad-only"]))
    if kind_of_store == "none":
        return
    for _ in range(draw(st.integers(1, 6))):
        day = draw(st.sampled_from([6, 6, 5, 0, 1, 2, 3, 4]))  # DST changes fall on Sundays
        kind = draw(st.sampled_from(["day", "day", "overnight", "24h", "to-end", "dst-hours"]))
        if kind == "dst-hours":  # around 01:00-03:59 local, where the changes happen
            start, end = draw(st.integers(60, 239)), draw(st.integers(60, 239))
        else:
            start = draw(st.integers(0, 1439))
            if kind == "day":
                end = draw(st.integers(start + 1, 1440)) if start < 1439 else 1439
            elif kind == "overnight":
                end = draw(st.integers(0, start))
            else:
                end = start
        start_text = local_time_text(draw, start)
        end_text = local_time_text(draw, end, end_of_day=kind == "to-end")
        if kind_of_store == "bad-only" or draw(st.integers(0, 9)) == 0:
            bad = draw(st.sampled_from(["store", "day", "start", "end"]))
            store_field = bad_store_text(draw, store) if bad == "store" else store
            day_text = draw(st.sampled_from(["7", "-1", "x", ""])) if bad == "day" else str(day)
            start_text = draw(st.sampled_from(BAD_TIMES)) if bad == "start" else start_text
            end_text = draw(st.sampled_from(BAD_TIMES)) if bad == "end" else end_text
            scenario.hours.append((store_field, day_text, start_text, end_text))
            scenario.rejections["hours"] += 1
        else:
            row = (store_text(draw, store), str(day), start_text, end_text)
            scenario.hours.append(row)
            # Duplicated and touching rows on purpose: merged, never counted twice.
            if draw(st.integers(0, 3)) == 0:
                scenario.hours += [row] * draw(st.integers(1, 3))
            if kind == "day" and start < end < 1440 and draw(st.integers(0, 3)) == 0:
                after = local_time_text(draw, draw(st.integers(end + 1, 1440)))
                scenario.hours.append((store, str(day), local_time_text(draw, end), after))


def add_timezone_rows(draw, scenario: Scenario, store: str) -> None:
    """No row (the default zone), or one valid row with invalid and superseded rows around."""
    if draw(st.integers(0, 4)) == 0:
        return
    valid = 0
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            scenario.zones.append((store, draw(st.sampled_from(ZONES))))
            valid += 1
        else:
            scenario.zones.append((store, draw(st.sampled_from(BAD_ZONES))))
            scenario.rejections["timezones"] += 1
    scenario.zones.append((store_text(draw, store), draw(st.sampled_from(ZONES))))
    scenario.rejections["timezones"] += valid  # superseded by the row above
    if draw(st.integers(0, 4)) == 0:
        scenario.zones.append((store, draw(st.sampled_from(BAD_ZONES))))  # after: plays no part
        scenario.rejections["timezones"] += 1
    if draw(st.integers(0, 4)) == 0:  # a valid zone for an invalid id: plays no part either
        scenario.zones.append((bad_store_text(draw, store), draw(st.sampled_from(ZONES))))
        scenario.rejections["timezones"] += 1


store_ids = st.one_of(
    st.integers(10**18, 10**19 - 1).map(str),  # like the real data
    st.uuids().map(str),
    st.integers(0, 9999).map(lambda n: f"{n:05d}"),  # text with leading zeros
    # Any text a valid id may be: 1-255 characters, none a control character, no blank at the
    # ends (those are trimmed), no formula's first character; not normalised.
    st.text(
        st.characters(
            codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), max_codepoint=0x2FFFF
        ),
        min_size=1,
        max_size=12,
    ).filter(lambda text: text[0] not in "=+-@"),
    st.sampled_from(["s" * 255, "cafe\u0301", "caf\u00e9", "a-=+@", "a\u00a0b", '"q",x']),
)


@st.composite
def scenarios(draw, use_as_of: bool | None = None) -> Scenario:
    scenario = Scenario()
    anchor = draw(st.sampled_from(ANCHORS))
    for store in draw(st.lists(store_ids, min_size=1, max_size=8, unique=True)):
        add_polls(draw, scenario, store, anchor)
        add_business_hours(draw, scenario, store)
        add_timezone_rows(draw, scenario, store)
    if draw(st.integers(0, 3)) == 0:  # bad rows of nobody in particular
        scenario.zones.append((" ", "UTC"))
        scenario.rejections["timezones"] += 1
    if use_as_of is None:
        use_as_of = draw(st.booleans())
    if use_as_of:
        moment = anchor + timedelta(
            minutes=draw(st.integers(-3 * 24 * 60, 2 * 24 * 60)),
            microseconds=draw(st.integers(0, 10**6 - 1)),
        )
        scenario.as_of = timestamp_text(draw, moment)
    scenario.status = draw(st.permutations(scenario.status))
    scenario.hours = draw(st.permutations(scenario.hours))
    # the zones file keeps its order: the last valid row of a store wins
    scenario.layout = {
        "bom": draw(st.booleans()),
        "padded_headers": draw(st.booleans()),
        "quote_all": draw(st.booleans()),
        "day_columns": draw(st.sampled_from([("day",), ("dayOfWeek",), ("day", "dayOfWeek")])),
        "orders": [draw(st.permutations(range(width))) for width in (3, 4, 2)],
    }
    return scenario


def write_inputs(scenario: Scenario, folder: Path) -> tuple[Path, Path, Path]:
    """The three CSV files, with the columns in the scenario's order (and a spare column)."""
    layout = scenario.layout
    day_columns = layout["day_columns"]
    files = [
        ("status.csv", ["store_id", "status", "timestamp_utc"], scenario.status),
        ("hours.csv", ["store_id", day_columns[0], "start_time_local", "end_time_local"],
         scenario.hours),
        ("timezones.csv", ["store_id", "timezone_str"], scenario.zones),
    ]  # fmt: skip
    paths = []
    for (name, header, rows), order in zip(files, layout["orders"], strict=True):
        header = [header[i] for i in order] + ["note"]
        rows = [[row[i] for i in order] + ["x"] for row in rows]
        if name == "hours.csv" and len(day_columns) == 2:
            # with both day and dayOfWeek, dayOfWeek holds a decoy that must be ignored
            header.insert(0, "dayOfWeek")
            decoys = [str((int(r[1]) + 3) % 7) if r[1].isdigit() else "9" for r in scenario.hours]
            rows = [[decoy, *row] for decoy, row in zip(decoys, rows, strict=True)]
        if layout["padded_headers"]:
            header = [f" {column} " for column in header]
        path = folder / name
        quoting = csv.QUOTE_ALL if layout["quote_all"] else csv.QUOTE_MINIMAL
        encoding = "utf-8-sig" if layout["bom"] else "utf-8"
        with open(path, "w", newline="", encoding=encoding) as handle:
            writer = csv.writer(handle, quoting=quoting, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        paths.append(path)
    return tuple(paths)


# ----------------------------------------------------------------------------- the reference alone


@settings(max_examples=examples(40), deadline=None, suppress_health_check=SLOW)
@given(scenarios())
def test_reference_invariants(scenario):
    """The generator and the reference agree with each other and with the measures' identities."""
    with tempfile.TemporaryDirectory() as folder:
        paths = write_inputs(scenario, Path(folder))
        assert reference.rejected(*paths) == scenario.rejections
        as_of = reference.parse_timestamp(scenario.as_of) if scenario.as_of else None
        by_mode = {
            mode: reference.compute_details(*paths, as_of=as_of, interpolation=mode)
            for mode in reference.INTERPOLATIONS
        }
    nearest, previous = by_mode["nearest"], by_mode["previous"]
    assert nearest.keys() == previous.keys()
    for store, result in nearest.items():
        assert result.open_time == previous[store].open_time
        if result.polls_counted == 0:
            assert result.measures == (None,) * 6
            continue
        if result.polls_counted == 1:  # one poll rules everywhere, whatever the mode
            assert result.measures == previous[store].measures
        for details in (result, previous[store]):
            for index, length in enumerate(WINDOW_LENGTHS):
                up, down = details.measures[index], details.measures[index + 3]
                assert up + down == pytest.approx(details.open_time[index], abs=1e-9)
                assert 0 <= up <= length and 0 <= down <= length


# ----------------------------------------------------------------------------- the CLI


def run_export(paths, folder: Path, interpolation: str, as_of: str | None):
    """Run `storemon export` in-process; return (CSV text, table rows, rejected row count)."""
    from click.testing import CliRunner

    db, out = folder / f"{interpolation}.duckdb", folder / f"{interpolation}.csv"
    status, hours, zones = paths
    args = ["export", "--status", str(status), "--hours", str(hours), "--timezones", str(zones)]
    args += ["--db", str(db), "--out", str(out), "--interpolation", interpolation]
    if as_of is not None:
        args += ["--as-of", as_of]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (
        f"storemon {' '.join(args)} exited {result.exit_code}:\n{result.output}\n"
        f"{result.exception!r}"
    )
    import duckdb

    connection = duckdb.connect(str(db))
    try:
        columns = ", ".join(reference.REPORT_COLUMNS)
        table = {
            row[0]: row[1:]
            for row in connection.execute(f"select {columns} from store_uptime_report").fetchall()
        }
        (rejected_count,) = connection.execute("select count(*) from rejected_rows").fetchone()
    finally:
        connection.close()
    return out.read_text(encoding="utf-8"), table, rejected_count


NUMBER = re.compile(r"\d+(\.\d{1,2})?")


def parse_report(text: str) -> dict[str, tuple[float | None, ...]]:
    lines = text.splitlines()
    assert lines and lines[0] == ",".join(reference.REPORT_COLUMNS), f"bad header: {lines[:1]}"
    rows = list(csv.reader(lines[1:]))
    ids = [row[0] for row in rows]
    assert ids == sorted(ids), "report rows are not sorted by store_id"
    assert len(set(ids)) == len(ids), "a store_id appears twice"
    report = {}
    for row in rows:
        assert len(row) == 7, row
        for value in row[1:]:
            assert value == "" or NUMBER.fullmatch(value), f"not a 2-decimal number: {row}"
        report[row[0]] = tuple(float(value) if value else None for value in row[1:])
    return report


def check_store(store, got, table_row, expected, where):
    label = f"{where} store {store!r}"
    assert table_row is not None, f"{label}: missing from store_uptime_report"
    if expected.measures[0] is None:
        assert got == (None,) * 6, f"{label}: expected NULLs, got {got}"
        assert tuple(table_row) == (None,) * 6, f"{label}: table has {table_row}"
        return
    for index, name in enumerate(reference.REPORT_COLUMNS[1:]):
        want = expected.measures[index]
        assert got[index] is not None, f"{label}: {name} is empty, expected {want}"
        assert abs(got[index] - want) <= ROUNDING, f"{label}: {name} = {got[index]}, ref {want}"
        assert table_row[index] is not None, f"{label}: {name} NULL in the table"
        assert abs(float(table_row[index]) - want) <= UNROUNDED, (
            f"{label}: table {name} = {table_row[index]}, reference {want}"
        )
    for index, length in enumerate(WINDOW_LENGTHS):
        up, down = got[index], got[index + 3]
        # each rounded value is off by at most 0.005
        assert abs(up + down - expected.open_time[index]) <= 2 * 0.005 + 1e-9, (
            f"{label}: uptime + downtime = {up + down}, open time {expected.open_time[index]}"
        )
        for value in (up, down, float(table_row[index]), float(table_row[index + 3])):
            assert -1e-9 <= value <= length + 1e-9, f"{label}: {value} outside [0, {length}]"


@pytest.mark.skipif(cli is None, reason=CLI_MISSING)
@pytest.mark.parametrize("use_as_of", [False, True], ids=["now-from-data", "as-of"])
@settings(max_examples=examples(3), deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_cli_matches_reference(use_as_of, data):
    scenario = data.draw(scenarios(use_as_of=use_as_of), label="scenario")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        paths = write_inputs(scenario, folder)
        for path in paths:  # shown with a failing example, to reproduce it by hand
            note(f"--- {path.name}\n{path.read_text(encoding='utf-8-sig')}")
        as_of = reference.parse_timestamp(scenario.as_of) if scenario.as_of else None
        expected_rejected = sum(reference.rejected(*paths).values())
        for interpolation in reference.INTERPOLATIONS:
            expected = reference.compute_details(*paths, as_of=as_of, interpolation=interpolation)
            text, table, rejected_count = run_export(paths, folder, interpolation, scenario.as_of)
            report = parse_report(text)
            where = f"--interpolation {interpolation}"
            assert report.keys() == expected.keys(), (
                f"{where}: stores differ: only in CLI {sorted(report.keys() - expected.keys())}, "
                f"only in reference {sorted(expected.keys() - report.keys())}"
            )
            assert table.keys() == expected.keys(), f"{where}: store_uptime_report stores differ"
            for store, result in expected.items():
                check_store(store, report[store], table.get(store), result, where)
            assert rejected_count == expected_rejected, (
                f"{where}: rejected_rows has {rejected_count} rows, reference rejects "
                f"{reference.rejected(*paths)}"
            )
