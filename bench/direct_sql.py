"""The store uptime report as plain SQL in one DuckDB connection: a measurement baseline.

    python bench/direct_sql.py --data DIR [--as-of TS] --out REPORT.csv

This is not storemon and not product code: it is the yardstick the benchmarks hold
`storemon export` and the service's report against (bench/benchmark.py,
bench/service_benchmark.py). It is what a careful engineer would write by hand without dbt,
plans or checks: one query over the three files of `storemon generate` (CSV or Parquet, found
in DIR by name), written to the CSV with DuckDB's COPY, in a fresh Python process.

It follows the report's definition (docs/numbers.md) for the data the generator writes:
  - timestamps `YYYY-MM-DD HH:MM:SS[.f] UTC`; local times `HH:MM[:SS]`, `24:00` included;
  - "now" is the latest poll, or --as-of; only polls at or before it count;
  - one poll per store and instant, `inactive` winning;
  - nearest interpolation: each poll owns the time from the midpoint with the poll before it
    to the midpoint with the poll after it (midpoints rounded down to the microsecond); the
    first poll reaches back, the last forward to "now";
  - business hours on each local date: overnight rows end the next day, a row whose end is its
    start lasts 24 hours, an end in the last second of the day is midnight; local times become
    UTC through the store's zone with DuckDB's `timezone()`, which takes the later instant in
    a DST gap or overlap; overlapping rows merged; a store without rows is open 24/7; a store
    without a zone row is in America/Chicago;
  - windows [now - 1 h, now), [now - 24 h, now), [now - 168 h, now); minutes for the hour,
    hours for the day and the week; sums of whole microseconds, divided once;
  - the CSV: storemon's header, rows by store_id, two decimals, NULL (a store without a poll
    that counts) as an empty field.
It does not check its input (no rejected rows, no trimming, one zone row per store): generated
data needs none of that. tests/test_bench_direct_sql.py checks that its report equals
`storemon export`'s byte for byte on generated data of both profiles; the benchmarks compare
the two reports again before they print a ratio.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb

INPUTS = ("store_status", "menu_hours", "timezones")
DEFAULT_TIMEZONE = "America/Chicago"

# Filled in by write_report: {status}, {hours}, {zones} (a scan of each file) and {as_of} (a
# UTC timestamp literal, or NULL for the latest poll).
REPORT_SQL = """
with

polls_read as (
    select
        store_id,
        status,
        strptime(timestamp_utc, ['%Y-%m-%d %H:%M:%S.%f UTC', '%Y-%m-%d %H:%M:%S UTC'])
            as polled_at
    from {status}
),

clock as (
    select
        coalesce({as_of}, (select max(polled_at) from polls_read)) as now_at
),

windows as (
    select
        now_at,
        now_at - interval 1 hour as hour_start,
        now_at - interval 24 hour as day_start,
        now_at - interval 168 hour as week_start
    from clock
),

hours_read as (
    select
        store_id,
        day::integer as day_of_week,
        start_time_local::interval as start_time,
        -- an end in the last second of the day (23:59:59, 23:59:59.5) is midnight
        case
            when end_time_local::interval >= interval 86399 second
                and end_time_local::interval < interval 24 hour
                then interval 24 hour
            else end_time_local::interval
        end as end_time
    from {hours}
),

zones as (
    select store_id, timezone_str as zone from {zones}
),

stores as (
    select store_id from polls_read
    union
    select store_id from hours_read
    union
    select store_id from zones
),

store_zones as (
    select stores.store_id, coalesce(zones.zone, '{default_timezone}') as zone
    from stores
    left join zones using (store_id)
),

-- Every local date whose hours can reach into the week (zones are within a day of UTC).
local_dates as (
    select unnest(generate_series(
        week_start::date - 2, now_at::date + 1, interval 1 day
    ))::date as local_date
    from windows
),

hours_local as (
    select
        h.store_id,
        z.zone,
        d.local_date + h.start_time as opens_local,
        case
            when h.end_time > h.start_time then d.local_date + h.end_time
            when h.end_time < h.start_time then d.local_date + interval 1 day + h.end_time
            else d.local_date + interval 1 day + h.start_time  -- 24 hours
        end as closes_local
    from hours_read as h
    join local_dates as d on h.day_of_week = isodow(d.local_date) - 1
    join store_zones as z using (store_id)
),

-- Local wall times to UTC: DuckDB takes the later instant in a DST gap or overlap.
hours_utc as (
    select
        store_id,
        greatest(timezone('UTC', timezone(zone, opens_local)), week_start) as opens_at,
        least(timezone('UTC', timezone(zone, closes_local)), now_at) as closes_at
    from hours_local, windows
),

-- Merge overlapping intervals with a sweep: +1 where one opens, -1 where one closes (opening
-- first at the same instant); the store is open while the running count is above 0.
hours_events as (
    select store_id, opens_at as at_time, 1 as delta from hours_utc where closes_at > opens_at
    union all
    select store_id, closes_at, -1 from hours_utc where closes_at > opens_at
),

hours_depth as (
    select
        store_id,
        at_time,
        delta,
        sum(delta) over (
            partition by store_id order by at_time, delta desc rows unbounded preceding
        ) as depth
    from hours_events
),

-- Where the count leaves 0 an interval opens; where it returns to 0 it closes.
hours_edges as (
    select
        store_id,
        at_time,
        delta,
        row_number() over (partition by store_id, delta order by at_time) as n
    from hours_depth
    where (delta = 1 and depth = 1) or (delta = -1 and depth = 0)
),

open_intervals as (
    select opens.store_id, opens.at_time as opens_at, closes.at_time as closes_at
    from hours_edges as opens
    join hours_edges as closes
        on opens.store_id = closes.store_id and opens.n = closes.n and closes.delta = -1
    where opens.delta = 1
    union all
    -- no business-hours row: open all week
    select stores.store_id, week_start, now_at
    from stores, windows
    where stores.store_id not in (select store_id from hours_read)
),

-- One poll per store and instant, inactive winning; only polls up to now count.
polls as (
    select store_id, polled_at, bool_and(status = 'active') as is_active
    from polls_read, clock
    where polled_at <= now_at
    group by store_id, polled_at
),

-- Nearest: each poll owns [midpoint with the previous, midpoint with the next).
poll_intervals as (
    select
        store_id,
        is_active,
        make_timestamp((epoch_us(lag(polled_at) over w) + epoch_us(polled_at)) // 2) as from_at,
        make_timestamp((epoch_us(polled_at) + epoch_us(lead(polled_at) over w)) // 2) as to_at
    from polls
    window w as (partition by store_id order by polled_at)
),

status_intervals as (
    select
        store_id,
        is_active,
        greatest(coalesce(from_at, week_start), week_start) as from_at,
        least(coalesce(to_at, now_at), now_at) as to_at
    from poll_intervals, windows
),

open_status as (
    select
        s.store_id,
        s.is_active,
        greatest(s.from_at, o.opens_at) as from_at,
        least(s.to_at, o.closes_at) as to_at
    from status_intervals as s
    join open_intervals as o
        on s.store_id = o.store_id and s.from_at < o.closes_at and s.to_at > o.opens_at
),

in_windows as (
    select
        store_id,
        is_active,
        greatest(0, epoch_us(to_at) - epoch_us(greatest(from_at, hour_start))) as hour_us,
        greatest(0, epoch_us(to_at) - epoch_us(greatest(from_at, day_start))) as day_us,
        greatest(0, epoch_us(to_at) - epoch_us(greatest(from_at, week_start))) as week_us
    from open_status, windows
),

sums as (
    select
        store_id,
        coalesce(sum(hour_us) filter (where is_active), 0) / 60e6 as uptime_last_hour,
        coalesce(sum(day_us) filter (where is_active), 0) / 3600e6 as uptime_last_day,
        coalesce(sum(week_us) filter (where is_active), 0) / 3600e6 as uptime_last_week,
        coalesce(sum(hour_us) filter (where not is_active), 0) / 60e6 as downtime_last_hour,
        coalesce(sum(day_us) filter (where not is_active), 0) / 3600e6 as downtime_last_day,
        coalesce(sum(week_us) filter (where not is_active), 0) / 3600e6 as downtime_last_week
    from in_windows
    group by store_id
),

-- A store with a poll that counts has numbers (0 without open time); one without has NULLs.
report as (
    select
        stores.store_id,
        case when has_polls then coalesce(uptime_last_hour, 0) end as uptime_last_hour,
        case when has_polls then coalesce(uptime_last_day, 0) end as uptime_last_day,
        case when has_polls then coalesce(uptime_last_week, 0) end as uptime_last_week,
        case when has_polls then coalesce(downtime_last_hour, 0) end as downtime_last_hour,
        case when has_polls then coalesce(downtime_last_day, 0) end as downtime_last_day,
        case when has_polls then coalesce(downtime_last_week, 0) end as downtime_last_week
    from (
        select store_id, store_id in (select store_id from polls) as has_polls from stores
    ) as stores
    left join sums using (store_id)
)

select
    store_id,
    round(uptime_last_hour, 2)::decimal(18, 2) as uptime_last_hour,
    round(uptime_last_day, 2)::decimal(18, 2) as uptime_last_day,
    round(uptime_last_week, 2)::decimal(18, 2) as uptime_last_week,
    round(downtime_last_hour, 2)::decimal(18, 2) as downtime_last_hour,
    round(downtime_last_day, 2)::decimal(18, 2) as downtime_last_day,
    round(downtime_last_week, 2)::decimal(18, 2) as downtime_last_week
from report
order by store_id
"""


def input_files(data: Path) -> tuple[str, list[Path]]:
    """The reader and the three files of DIR: all CSV or all Parquet, as generated."""
    for suffix, reader in ((".csv", "read_csv"), (".parquet", "read_parquet")):
        files = [data / f"{name}{suffix}" for name in INPUTS]
        if all(path.exists() for path in files):
            return reader, files
    sys.exit(f"{data}: no store_status, menu_hours and timezones (.csv or .parquet)")


def parse_as_of(text: str | None) -> datetime | None:
    """--as-of as a naive UTC datetime: ISO 8601 (`Z` or an offset; none means UTC)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.strip().replace(" UTC", "Z"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_report(data: Path, out: Path, as_of: datetime | None) -> None:
    reader, files = input_files(data)
    # Every column as text, as the files are (the Parquet files hold text too); the query casts.
    options = ", all_varchar = true, header = true" if reader == "read_csv" else ""
    scans = {
        key: f"{reader}({quoted(str(path))}{options})"
        for key, path in zip(("status", "hours", "zones"), files, strict=True)
    }
    moment = "NULL" if as_of is None else f"timestamp {quoted(as_of.isoformat(sep=' '))}"
    sql = REPORT_SQL.format(**scans, as_of=moment, default_timezone=DEFAULT_TIMEZONE)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"copy ({sql}) to {quoted(str(out))} (header, delimiter ',')")
    con.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="folder of the three input files")
    p.add_argument("--as-of", help="the report time (ISO 8601, UTC); default: the latest poll")
    p.add_argument("--out", type=Path, required=True, help="the report CSV to write")
    args = p.parse_args(argv)
    write_report(args.data, args.out, parse_as_of(args.as_of))
    return 0


if __name__ == "__main__":
    sys.exit(main())
