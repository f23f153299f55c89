"""A plain-Python reference implementation of the manual's rules (docs/numbers.md), for
differential testing.

It has nothing in common with the dbt/DuckDB pipeline but the rules (docs/numbers.md), and it
favours being obviously right over being fast:

* every instant is an integer count of half-microseconds since 1970-01-01 UTC ("ticks"), so the
  midpoint of two polls (whole microseconds) is exact and nothing is rounded before the end;
* business hours are a plain list of UTC intervals, one per (hours row, local date), never
  merged or clipped: "open at t" means "some interval contains t", which cannot count an instant
  twice; an interval whose end is not after its start (possible next to a spring-forward gap)
  contains nothing;
* the status at t comes straight from the definition (the nearest poll, ties to the later one;
  or the latest poll at or before t), not from precomputed ownership intervals;
* a measure is the sum, over the pieces between consecutive breakpoints (window ends, interval
  ends, status changes), of the piece's length when the store is open with the wanted status at
  the piece's left end. Every function involved is constant on each half-open piece, so the sum
  is exact.

Only the standard library is used.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_TIMEZONE = "America/Chicago"
INTERPOLATIONS = ("nearest", "previous")
REPORT_COLUMNS = (
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)
# (name, length, seconds per unit of the measure): the hour in minutes, day and week in hours.
WINDOWS = (
    ("last_hour", timedelta(hours=1), 60),
    ("last_day", timedelta(hours=24), 3600),
    ("last_week", timedelta(hours=168), 3600),
)

TICKS_PER_SECOND = 2_000_000  # half-microseconds
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_LAST_SECOND = timedelta(hours=23, minutes=59, seconds=59)  # an end in [23:59:59, 24:00) is 24:00

# Zone names as zoneinfo knows them, by lower-case spelling. `localtime` and `posixrules` are
# files some systems keep next to the tz database; they are not IANA zone names.
_ZONES = {
    name.lower(): name for name in available_timezones() if name not in ("localtime", "posixrules")
}


class InputError(ValueError):
    """A file cannot be used at all (missing required column, no header)."""


# --------------------------------------------------------------------------- parsing (Inputs)

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r" ?(UTC|Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII | re.IGNORECASE,
)
# The blanks trimmed around every value: the Unicode space separators (category Zs), written
# out rather than taken from str.strip(), which also strips tabs, line breaks and U+001C-U+001F,
# U+0085. Anything else at the ends is part of the value.
BLANKS = " \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"
STORE_ID_MAX_LENGTH = 255
FORMULA_STARTS = ("=", "+", "-", "@")


def trim(text: str) -> str:
    return text.strip(BLANKS)


def store_id_problem(store: str) -> str | None:
    """Why a trimmed store_id cannot be used: "empty", "invalid" (over 255 characters, a
    control character U+0000-U+001F or U+007F-U+009F, or a first character that starts a
    spreadsheet formula), or None. Characters are code points; nothing is normalised."""
    if not store:
        return "empty"
    if (
        len(store) > STORE_ID_MAX_LENGTH
        or store.startswith(FORMULA_STARTS)
        or any(ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F for c in store)
    ):
        return "invalid"
    return None


_LOCAL_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?", re.ASCII)
_DAY_NUMBER = re.compile(r"\d+", re.ASCII)


def _microseconds(fraction: str | None) -> int:
    """Digits after the decimal point, truncated (not rounded) to microseconds."""
    return int((fraction or "")[:6].ljust(6, "0"))


def parse_timestamp(text: str) -> datetime | None:
    """A `timestamp_utc` value as a naive UTC datetime, or None when it is not one.

    Accepted (after trimming blanks): `YYYY-MM-DD HH:MM:SS[.f]`, optionally followed by `UTC`,
    `Z` or a numeric offset `±HH`, `±HHMM`, `±HH:MM`, with at most one space before it; the
    date and the time may also be joined by `T` (ISO 8601); letters in any case. Seconds are
    required; the fraction has 1 to 9 digits and is truncated to microseconds. No suffix means
    UTC.
    """
    match = _TIMESTAMP.fullmatch(trim(text))
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, suffix = match.groups()
    try:
        fields = (int(part) for part in (year, month, day, hour, minute, second))
        moment = datetime(*fields, _microseconds(fraction))
    except ValueError:  # 2023-02-30, 24:00:00, 12:60:00, 12:00:60 ...
        return None
    if suffix is None or suffix.upper() in ("UTC", "Z"):
        return moment
    digits = suffix[1:].replace(":", "")
    offset_hours, offset_minutes = int(digits[:2]), int(digits[2:] or "0")
    if offset_hours > 23 or offset_minutes > 59:
        return None
    offset = timedelta(hours=offset_hours, minutes=offset_minutes)
    try:
        return moment - offset if suffix[0] == "+" else moment + offset
    except OverflowError:
        return None


def parse_local_time(text: str) -> timedelta | None:
    """A local wall time as the time since local midnight, or None when it is not one.

    Accepted (after trimming blanks): `H:MM`, `HH:MM`, `HH:MM:SS[.f]` (also `H:MM:SS[.f]`) with
    hours 0-23, minutes and seconds 0-59, a 1-9 digit fraction truncated to microseconds; and
    `24:00`, `24:00:00` (with an all-zero fraction, if any), which is the end of the day.
    """
    match = _LOCAL_TIME.fullmatch(trim(text))
    if match is None:
        return None
    hours, minutes, seconds = (int(part or "0") for part in match.groups()[:3])
    micros = _microseconds(match.group(4))
    if hours == 24 and minutes == seconds == micros == 0:
        return _DAY
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    return timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micros)


def canonical_zone(text: str) -> str | None:
    """The IANA zone name spelled as in the tz database, matched case-insensitively."""
    return _ZONES.get(trim(text).lower())


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive local wall time in `zone` as a naive UTC datetime (docs/numbers.md, Business hours).

    Reads the wall time with the UTC offset in force before a change (fold=0 in PEP 495 terms,
    both for gaps and for repeated hours) and with the one after (fold=1), and takes the later
    instant: a gap time moves forward by the gap, a repeated time is its second occurrence.
    """
    return max(wall - wall.replace(tzinfo=zone, fold=fold).utcoffset() for fold in (0, 1))


# ------------------------------------------------------------------- reading (Inputs, Bad input)


@dataclass(frozen=True)
class Rejection:
    file: str  # "status", "hours" or "timezones"
    row: int  # the first data row after the header is 1
    reason: str


@dataclass
class Inputs:
    # store -> timestamp -> is_active, one entry per (store, timestamp); inactive won conflicts
    polls: dict[str, dict[datetime, bool]] = field(default_factory=dict)
    # store -> [(weekday, start, end)], times as offsets from local midnight, end not normalised
    hours: dict[str, list[tuple[int, timedelta, timedelta]]] = field(default_factory=dict)
    # store -> canonical zone name (the last valid row)
    zones: dict[str, str] = field(default_factory=dict)
    # every store_id in a valid row of any file
    stores: set[str] = field(default_factory=set)
    rejections: list[Rejection] = field(default_factory=list)


def _read_rows(path: Path, columns: dict[str, tuple[str, ...]]) -> list[tuple[int, dict[str, str]]]:
    """The data rows of a CSV file as (row number, {column: raw value}).

    `columns` maps each required column to the header names that may hold it, in order of
    preference. Header names are trimmed and a UTF-8 byte-order mark is ignored; other columns
    are ignored; a short row reads its missing fields as empty; empty lines are not rows.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        records = list(csv.reader(handle))
    if not records:
        raise InputError(f"{path}: empty file, no header row")
    header = [name.strip() for name in records[0]]
    positions = {}
    for column, names in columns.items():
        found = [header.index(name) for name in names if name in header]
        if not found:
            raise InputError(f"{path}: missing required column {' or '.join(names)}")
        positions[column] = found[0]
    rows = []
    for record in records[1:]:
        if not record:
            continue
        values = {c: record[i] if i < len(record) else "" for c, i in positions.items()}
        rows.append((len(rows) + 1, values))
    return rows


def load_inputs(status_csv: Path, hours_csv: Path, timezones_csv: Path) -> Inputs:
    inputs = Inputs()

    def reject(file: str, row: int, reason: str) -> None:
        inputs.rejections.append(Rejection(file, row, reason))

    columns = {"store_id": ("store_id",), "status": ("status",), "ts": ("timestamp_utc",)}
    for number, row in _read_rows(Path(status_csv), columns):
        store, status = trim(row["store_id"]), trim(row["status"]).lower()
        moment = parse_timestamp(row["ts"])
        if store_id_problem(store):
            reject("status", number, f"{store_id_problem(store)} store_id")
        elif status not in ("active", "inactive"):
            reject("status", number, "unknown status")
        elif moment is None:
            reject("status", number, "unparseable timestamp")
        else:
            by_time = inputs.polls.setdefault(store, {})
            by_time[moment] = by_time.get(moment, True) and status == "active"
            inputs.stores.add(store)

    columns = {
        "store_id": ("store_id",),
        "day": ("day", "dayOfWeek"),
        "start": ("start_time_local",),
        "end": ("end_time_local",),
    }
    for number, row in _read_rows(Path(hours_csv), columns):
        store, day = trim(row["store_id"]), trim(row["day"])
        start, end = parse_local_time(row["start"]), parse_local_time(row["end"])
        if store_id_problem(store):
            reject("hours", number, f"{store_id_problem(store)} store_id")
        elif not _DAY_NUMBER.fullmatch(day) or int(day) > 6:
            reject("hours", number, "day outside 0-6")
        elif start is None:
            reject("hours", number, "unparseable start time")
        elif end is None:
            reject("hours", number, "unparseable end time")
        else:
            inputs.hours.setdefault(store, []).append((int(day), start, end))
            inputs.stores.add(store)

    valid_rows: dict[str, list[tuple[int, str]]] = {}
    columns = {"store_id": ("store_id",), "zone": ("timezone_str",)}
    for number, row in _read_rows(Path(timezones_csv), columns):
        store, zone = trim(row["store_id"]), canonical_zone(row["zone"])
        if store_id_problem(store):
            reject("timezones", number, f"{store_id_problem(store)} store_id")
        elif zone is None:
            reject("timezones", number, "invalid zone name")
        else:
            valid_rows.setdefault(store, []).append((number, zone))
            inputs.stores.add(store)
    for store, rows in valid_rows.items():
        inputs.zones[store] = rows[-1][1]
        for number, _ in rows[:-1]:
            reject("timezones", number, "superseded")

    inputs.rejections.sort(key=lambda r: (("status", "hours", "timezones").index(r.file), r.row))
    return inputs


def rejected(status_csv: Path, hours_csv: Path, timezones_csv: Path) -> dict[str, int]:
    """The number of rejected rows per file ("status", "hours", "timezones")."""
    counts = {"status": 0, "hours": 0, "timezones": 0}
    for rejection in load_inputs(status_csv, hours_csv, timezones_csv).rejections:
        counts[rejection.file] += 1
    return counts


# ------------------------------------------------------ time (clock, business hours, status)


def to_ticks(moment: datetime) -> int:
    """A naive UTC datetime as half-microseconds since the epoch."""
    return (moment - _EPOCH) // _MICROSECOND * 2


def business_intervals(
    rows: list[tuple[int, timedelta, timedelta]], zone: ZoneInfo, first: date, last: date
) -> list[tuple[datetime, datetime]]:
    """The UTC intervals [opens, closes) that `rows` open on the local dates first..last."""
    intervals = []
    day = first
    while day <= last:
        midnight = datetime.combine(day, time())
        for weekday, start, end in rows:
            if day.weekday() != weekday:
                continue
            if _LAST_SECOND <= end < _DAY:
                end = _DAY
            if end > start:
                closes = midnight + end
            elif end < start:  # across midnight
                closes = midnight + _DAY + end
            else:  # 24 hours
                closes = midnight + _DAY + start
            intervals.append((local_to_utc(midnight + start, zone), local_to_utc(closes, zone)))
        day += _DAY
    return intervals


def status_at(t: int, polls: list[tuple[int, bool]], interpolation: str) -> bool:
    """The status (True = active) at tick t, from polls [(tick, is_active)] sorted by tick."""
    if interpolation == "nearest":
        # the nearest poll; at an exact midpoint the later one (larger tick, smaller -tick)
        _distance, _minus_tick, is_active = min((abs(p - t), -p, a) for p, a in polls)
        return is_active
    at_or_before = [a for p, a in polls if p <= t]
    return at_or_before[-1] if at_or_before else polls[0][1]


def status_changes(polls: list[tuple[int, bool]], interpolation: str) -> list[int]:
    """Ticks where the status may change: the owners' boundaries."""
    if interpolation == "nearest":
        # ticks are even, so the midpoint of two of them is a whole tick
        return [(a + b) // 2 for (a, _), (b, _) in zip(polls, polls[1:], strict=False)]
    return [p for p, _ in polls]


def measure(
    start: int,
    end: int,
    intervals: list[tuple[int, int]] | None,
    polls: list[tuple[int, bool]],
    interpolation: str,
) -> tuple[int, int, int]:
    """(up, down, open) ticks in [start, end); `intervals` None means open all the time."""
    cuts = {start, end}
    for a, b in intervals or []:
        cuts.update(x for x in (a, b) if start < x < end)
    cuts.update(x for x in status_changes(polls, interpolation) if start < x < end)
    points = sorted(cuts)
    up = down = 0
    for left, right in zip(points, points[1:], strict=False):
        if intervals is not None and not any(a <= left < b for a, b in intervals):
            continue
        if status_at(left, polls, interpolation):
            up += right - left
        else:
            down += right - left
    return up, down, up + down


# ------------------------------------------------------------------------ the report (measures)


@dataclass(frozen=True)
class StoreResult:
    # (uptime hour/day/week, downtime hour/day/week), minutes for the hour, hours otherwise
    measures: tuple[float | None, ...]
    # open time in each window (hour/day/week), same units; None when the measures are None
    open_time: tuple[float | None, ...]
    zone: str
    polls_counted: int


def compute_details(
    status_csv: Path,
    hours_csv: Path,
    timezones_csv: Path,
    as_of: datetime | None = None,
    interpolation: str = "nearest",
) -> dict[str, StoreResult]:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, not {interpolation!r}")
    inputs = load_inputs(status_csv, hours_csv, timezones_csv)
    if as_of is not None and as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    all_polls = [moment for by_time in inputs.polls.values() for moment in by_time]
    now = as_of if as_of is not None else max(all_polls, default=None)

    results = {}
    for store in sorted(inputs.stores):
        zone_name = inputs.zones.get(store, DEFAULT_TIMEZONE)
        polls = sorted(
            (to_ticks(moment), is_active)
            for moment, is_active in inputs.polls.get(store, {}).items()
            if now is not None and moment <= now
        )
        if not polls:
            results[store] = StoreResult((None,) * 6, (None,) * 3, zone_name, 0)
            continue
        zone = ZoneInfo(zone_name)
        intervals = None
        if store in inputs.hours:
            week_start = now - WINDOWS[-1][1]
            first = week_start.replace(tzinfo=UTC).astimezone(zone).date() - 3 * _DAY
            last = now.replace(tzinfo=UTC).astimezone(zone).date() + _DAY
            intervals = [
                (to_ticks(a), to_ticks(b))
                for a, b in business_intervals(inputs.hours[store], zone, first, last)
            ]
        ups, downs, opens = [], [], []
        for _name, length, unit_seconds in WINDOWS:
            up, down, open_ = measure(
                to_ticks(now - length), to_ticks(now), intervals, polls, interpolation
            )
            unit = TICKS_PER_SECOND * unit_seconds
            ups.append(float(Fraction(up, unit)))
            downs.append(float(Fraction(down, unit)))
            opens.append(float(Fraction(open_, unit)))
        results[store] = StoreResult(tuple(ups + downs), tuple(opens), zone_name, len(polls))
    return results


def compute_report(
    status_csv: Path,
    hours_csv: Path,
    timezones_csv: Path,
    as_of: datetime | None = None,
    interpolation: str = "nearest",
) -> dict[str, tuple[float | None, ...]]:
    """store_id -> (uptime_last_hour, uptime_last_day, uptime_last_week, downtime_last_hour,
    downtime_last_day, downtime_last_week), unrounded; all None for a store with no valid poll
    at or before now. `as_of` is a naive UTC datetime (or an aware one); None means the largest
    valid poll timestamp."""
    details = compute_details(status_csv, hours_csv, timezones_csv, as_of, interpolation)
    return {store: result.measures for store, result in details.items()}


# ---------------------------------------------------------------- status now (docs/status.md)

STATUS_COLUMNS = (
    "store_id",
    "state",
    "is_open",
    "last_poll_at",
    "last_status",
    "state_since",
    "closes_at",
    "opens_at",
)
# An open stretch that runs on past this long after T has no closing time (open 24/7).
CLOSES_WITHIN = timedelta(days=9)
# Local dates of business hours looked at, around T's: far more than CLOSES_WITHIN needs.
_STATUS_DAYS_BEFORE, _STATUS_DAYS_AFTER = 3, 24


def stretch_end(intervals: list[tuple[datetime, datetime]], t: datetime) -> datetime:
    """Walk forward from t through the intervals that hold it: the first instant at or after t
    that no interval holds (t itself when none does)."""
    end = t
    while True:
        holding = [b for a, b in intervals if a <= end < b]
        if not holding:
            return end
        end = max(holding)


def compute_status(
    status_csv: Path,
    hours_csv: Path,
    timezones_csv: Path,
    as_of: datetime | None = None,
    status_time: datetime | None = None,
    silent_after: timedelta = timedelta(minutes=120),
) -> dict[str, tuple]:
    """store_id -> the store_status_now row without store_id: (state, is_open, last_poll_at,
    last_status, state_since, closes_at, opens_at), instants as naive UTC datetimes. T is
    `status_time`, else the report time (`as_of`, else the latest valid poll); with no T every
    value is None."""
    inputs = load_inputs(status_csv, hours_csv, timezones_csv)
    all_polls = [moment for by_time in inputs.polls.values() for moment in by_time]
    t = status_time or as_of or max(all_polls, default=None)
    rows = {}
    for store in sorted(inputs.stores):
        if t is None:
            rows[store] = (None,) * 7
            continue
        polls = sorted(
            (moment, is_active)
            for moment, is_active in inputs.polls.get(store, {}).items()
            if moment <= t
        )
        if store in inputs.hours:
            zone = ZoneInfo(inputs.zones.get(store, DEFAULT_TIMEZONE))
            local_date = t.replace(tzinfo=UTC).astimezone(zone).date()
            intervals = [
                (a, b)
                for a, b in business_intervals(
                    inputs.hours[store],
                    zone,
                    local_date - _STATUS_DAYS_BEFORE * _DAY,
                    local_date + _STATUS_DAYS_AFTER * _DAY,
                )
                if b > a
            ]
            is_open = any(a <= t < b for a, b in intervals)
            end = stretch_end(intervals, t)
            closes_at = end if is_open and end - t <= CLOSES_WITHIN else None
            opens_at = None if is_open else min((a for a, _ in intervals if a > t), default=None)
        else:  # open 24/7
            is_open, closes_at, opens_at = True, None, None
        last_poll_at = polls[-1][0] if polls else None
        last_is_active = polls[-1][1] if polls else None
        last_status = None if not polls else "active" if last_is_active else "inactive"
        if not is_open:
            state, since = "closed", None
        elif last_poll_at is None:
            state, since = "silent", None
        elif t - last_poll_at > silent_after:
            state, since = "silent", last_poll_at + silent_after
        else:
            state = "up" if last_is_active else "down"
            # the earliest poll of the trailing run: walk back over polls with the same status
            index = len(polls) - 1
            while index > 0 and polls[index - 1][1] == last_is_active:
                index -= 1
            since = polls[index][0]
        rows[store] = (state, is_open, last_poll_at, last_status, since, closes_at, opens_at)
    return rows
