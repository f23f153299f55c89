"""Synthetic input data shaped like Loop's real store-monitoring files (`storemon generate`,
whose command is in cli.py).

Two profiles: `loop` (Loop's shapes: US zones, hours that mostly fit inside one local day,
polls in the first 45 minutes of each hour) and `rich`, whose hours and zones are harder than
Loop's: overnight rows that end before they start, 24-hour days (start equal to end), split
shifts, overlapping rows, opening times in the spring-forward gap, zones of both hemispheres
with half- and quarter-hour offsets, and polls at any minute of the hour. Its default period
crosses Europe's spring-forward change and the southern hemisphere's fall-back change.

Everything is computed inside DuckDB from a hash of (seed, store, poll slot, purpose), never from
a stateful random generator, so the output is byte-identical for a seed whatever the thread count,
and Loop scale (14,092 stores, ~1.8 M polls) takes seconds.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from storemon.project import input_columns

DEFAULT_START = datetime(2023, 1, 18, 0, 0, 0)
PROFILES = ("loop", "rich")
# The rich profile's default start: its 7.75 days hold Europe's change to summer time
# (2024-03-31) and the end of summer time in Australia and New Zealand (2024-04-07 local).
RICH_START = datetime(2024, 3, 30, 0, 0, 0)
# Loop's v1 data: 14,092 stores polled over 7.75 days (2023-01-18 .. 2023-01-25 18:13 UTC).
LOOP_STORES = 14_092
LOOP_DAYS = 7.75

# Share of stores with no business-hours row (open 24/7) and with no timezone row, as in v1:
# 11,116 of 14,092 stores have hours and ~13,560 have a zone.
NO_HOURS_SHARE = 0.21
NO_ZONE_SHARE = 0.04

# Zones weighted like v1's timezones.csv (New York ~60 %, Los Angeles ~24 %, Chicago ~11 % ...).
US_ZONES: list[tuple[str, int]] = [
    ("America/New_York", 58),
    ("America/Los_Angeles", 23),
    ("America/Chicago", 11),
    ("America/Phoenix", 3),
    ("America/Denver", 2),
    ("America/Detroit", 1),
    ("America/Indiana/Indianapolis", 1),
    ("America/Boise", 1),
]

# The rich profile's zones, weighted: both hemispheres' DST rules, half- and quarter-hour
# offsets (Kolkata +5:30, Kathmandu +5:45, Adelaide +9:30/+10:30, Lord Howe's half-hour change,
# St John's -3:30/-2:30, Chatham +12:45/+13:45), and zones without DST. Only zones whose rules
# have not changed since 2023, so that every tz database in use agrees on them.
RICH_ZONES: list[tuple[str, int]] = [
    ("America/New_York", 14),
    ("America/Los_Angeles", 8),
    ("America/Chicago", 6),
    ("America/Phoenix", 2),
    ("America/Denver", 2),
    ("America/Anchorage", 1),
    ("Pacific/Honolulu", 1),
    ("America/St_Johns", 4),
    ("America/Halifax", 2),
    ("America/Sao_Paulo", 3),
    ("Europe/London", 6),
    ("Europe/Berlin", 5),
    ("Europe/Dublin", 2),
    ("Africa/Johannesburg", 2),
    ("Asia/Kolkata", 8),
    ("Asia/Kathmandu", 2),
    ("Asia/Dubai", 2),
    ("Asia/Singapore", 2),
    ("Asia/Tokyo", 3),
    ("Australia/Adelaide", 5),
    ("Australia/Darwin", 2),
    ("Australia/Sydney", 6),
    ("Australia/Brisbane", 2),
    ("Australia/Lord_Howe", 2),
    ("Pacific/Auckland", 4),
    ("Pacific/Chatham", 3),
]

# Minutes after midnight; repetition encodes weight. 1440 is written as 23:59:59 (v1's
# "end of day"), 1439 as 23:59:00 - both are common ends in the real files.
_OPENS = [360] * 8 + [420] * 5 + [480] * 4 + [540] * 2 + [600] * 8 + [630] * 3 + [660] * 20
_OPENS += [690] * 2 + [720] * 3 + [960, 1020]
_CLOSES = [1200] * 4 + [1230] * 3 + [1260] * 6 + [1290] * 3 + [1320] * 6 + [1350] * 2
_CLOSES += [1380] * 5 + [1410] * 2 + [1439] * 6 + [1440] * 6
_LUNCH_OPENS = [600, 630, 660, 660, 690]
_LUNCH_CLOSES = [840, 870, 900]
_DINNER_OPENS = [990, 1020, 1020, 1050]
_DINNER_CLOSES = [1260, 1290, 1320, 1380, 1439]
_LATE_OPENS = [600, 660, 660, 960, 1020, 1080]
_AFTER_MIDNIGHT = [60, 60, 120, 120, 180]

# Polls: one slot per hour, each slot kept with a per-store probability (0.545 .. 0.845, mean
# 0.695 -> ~129 polls per store over 7.75 days like v1), placed at a random offset in the first
# 45 minutes of its hour, so consecutive polls are 15 min to a few hours apart.
_SLOT_US = 3_600_000_000
_OFFSET_US = 2_700_000_000

# Inactive episodes start at a slot with a per-store probability (out of 4096) and last 1-5
# slots. Mixture: most stores rarely go down, a few are flaky.
_FLAKE_CLASSES = [(0.60, 16), (0.88, 82), (0.98, 246), (1.00, 512)]

# An odd multiplier coprime to 9e18 makes store index -> 19-digit id a bijection (no collisions).
_ID_MULT = 7046029254386353133
_ID_SPAN = 9_000_000_000_000_000_000
_ID_BASE = 1_000_000_000_000_000_000


class GenerateError(Exception):
    """A user-facing failure of the generator, in one line; `option` is the command-line
    option it is about (the file that could not be used), if any."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class GenerateResult:
    """What `generate_dataset` wrote."""

    stores: int
    status_rows: int
    hours_rows: int
    timezone_rows: int
    files: tuple[Path, Path, Path]
    seconds: float


def _sql_list(values: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _to_epoch_us(ts: datetime) -> int:
    # Naive timestamps are UTC; aware ones are converted.
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _read_csv(path: Path) -> str:
    # all_varchar: copy the real values as written (no type sniffing of ids or times).
    return f"read_csv({_sql_str(str(path))}, header = true, all_varchar = true)"


def _columns(con: duckdb.DuckDBPyConnection, path: Path, param: str) -> dict[str, str]:
    """Map of trimmed, lower-cased header names -> the file's own names."""
    try:
        rel = con.sql(f"SELECT * FROM {_read_csv(path)} LIMIT 0")
    except duckdb.Error as exc:
        raise GenerateError(f"cannot read {path}: {exc}", option=param) from exc
    names: dict[str, str] = {}
    for name in rel.columns:
        names.setdefault(name.strip().lstrip("\ufeff").strip().lower(), name)
    return names


def _need(names: dict[str, str], accepted: list[str], path: Path, param: str) -> str:
    """The file's column for the first of `accepted` its header has (in any case), quoted."""
    found = next((names[name.lower()] for name in accepted if name.lower() in names), None)
    if found is None:
        wanted = " or ".join(repr(name) for name in accepted)
        raise GenerateError(f"{path} has no column {wanted}", option=param)
    return '"' + found.replace('"', '""') + '"'


def _load(
    con: duckdb.DuckDBPyConnection, path: Path, param: str, table: str, input_name: str
) -> None:
    """Append a real file's columns of the input (see `input_columns`), trimmed, to `table`
    after the file's line number."""
    names = _columns(con, path, param)
    columns = ", ".join(
        f"trim({_need(names, accepted, path, param)})" for accepted in input_columns(input_name)
    )
    try:
        # A plain scan keeps file order, so row_number() OVER () is the line number.
        con.execute(
            f"INSERT INTO {table} SELECT row_number() OVER (), {columns} FROM {_read_csv(path)}"
        )
    except duckdb.Error as exc:
        raise GenerateError(f"cannot read {path}: {exc}", option=param) from exc


def _load_sources(
    con: duckdb.DuckDBPyConnection, hours_from: Path | None, timezones_from: Path | None
) -> None:
    """Load the real files into src_hours / src_tz, keeping file order in `rid`."""
    con.execute(
        "CREATE TABLE src_hours (rid BIGINT, store_id VARCHAR, day VARCHAR, s VARCHAR, e VARCHAR)"
    )
    con.execute("CREATE TABLE src_tz (rid BIGINT, store_id VARCHAR, tz VARCHAR)")
    # As in export, `day` wins over `dayOfWeek` (the first accepted name); the output always
    # says `day`.
    if hours_from is not None:
        _load(con, hours_from, "--hours-from", "src_hours", "menu_hours")
    if timezones_from is not None:
        _load(con, timezones_from, "--timezones-from", "src_tz", "timezones")


def _define_macros(con: duckdb.DuckDBPyConnection, seed: int) -> None:
    # mix(): chain a value into a hash. DuckDB's variadic hash(a, b, c) only XORs the parts'
    # hashes, so hash(s, i, 'x') and hash(s, i, 'y') differ by a constant and are strongly
    # correlated; re-hashing after each XOR makes every draw independent.
    con.execute("CREATE MACRO mix(acc, x) AS hash(xor(acc, hash(x)))")
    con.execute(f"CREATE MACRO seeded(x) AS mix(hash({seed}::UBIGINT), x)")
    # u(): a uniform double in [0, 1) from 53 bits of a seeded hash - stateless, thread-safe.
    con.execute(
        "CREATE MACRO u(i, tag) AS (mix(seeded(i), tag) >> 11)::DOUBLE / 9007199254740992.0"
    )
    con.execute("CREATE MACRO pick(xs, r) AS xs[1 + floor(r * len(xs))::BIGINT]")
    con.execute(
        "CREATE MACRO hhmmss(m) AS CASE WHEN m = 1440 THEN '23:59:59' ELSE "
        "lpad((m // 60)::VARCHAR, 2, '0') || ':' || lpad((m % 60)::VARCHAR, 2, '0') || ':00' END"
    )
    # The real format: fraction with trailing zeros trimmed, none for whole seconds - which is
    # exactly DuckDB's TIMESTAMP -> VARCHAR cast (and ~8x faster than strftime).
    con.execute("CREATE MACRO fmt_ts(us) AS make_timestamp(us)::VARCHAR || ' UTC'")


def _build_stores(con: duckdb.DuckDBPyConnection, n: int) -> None:
    """stores(idx, store_id, from_hours, from_tz, synthetic): real stores first, then made-up."""
    con.execute(
        """
        CREATE TABLE universe AS
        SELECT store_id, min(ord) AS ord, bool_or(src = 'h') AS from_hours,
               bool_or(src = 't') AS from_tz
        FROM (SELECT store_id, rid AS ord, 'h' AS src FROM src_hours
              UNION ALL
              SELECT store_id, rid + 1000000000000, 't' FROM src_tz)
        WHERE store_id <> ''
        GROUP BY store_id
        """
    )
    # More real stores than asked for: a seeded sample, kept in first-appearance order.
    con.execute(
        f"""
        CREATE TABLE picked AS
        SELECT * FROM universe
        ORDER BY mix(seeded(store_id), 'pick'), store_id
        LIMIT {n}
        """
    )
    picked = con.execute("SELECT count(*) FROM picked").fetchone()[0]  # type: ignore[index]
    missing = n - picked
    # Over-provision by the real store count so that dropping id collisions still leaves enough.
    con.execute(
        f"""
        CREATE TABLE synthetic AS
        SELECT k, id AS store_id FROM (
            SELECT k, (({_ID_BASE}::HUGEINT
                       + ((k::HUGEINT * {_ID_MULT} + seeded('ids') % {_ID_SPAN})
                          % {_ID_SPAN}))::VARCHAR) AS id
            FROM range({missing + picked if missing > 0 else 0}) t(k)
        )
        WHERE id NOT IN (SELECT store_id FROM picked)
        ORDER BY k
        LIMIT {max(missing, 0)}
        """
    )
    con.execute(
        """
        CREATE TABLE stores AS
        SELECT (row_number() OVER (ORDER BY grp, ord) - 1)::BIGINT AS idx, store_id,
               from_hours, from_tz, grp = 1 AS synthetic
        FROM (SELECT 0 AS grp, ord, store_id, from_hours, from_tz FROM picked
              UNION ALL
              SELECT 1, k, store_id, false, false FROM synthetic)
        ORDER BY idx
        """
    )


def _hours_query(has_source: bool, profile: str = "loop") -> str:
    """menu_hours rows: the real file's rows for real stores, made-up ones for the rest."""
    synthetic = (
        _rich_hours_sql(has_source)
        if profile == "rich"
        else f"""
        WITH p AS (
            SELECT idx, store_id, u(idx, 'h_pat') AS up,
                   pick({_sql_list(_OPENS)}, u(idx, 'h_open')) AS o,
                   pick({_sql_list(_CLOSES)}, u(idx, 'h_close')) AS c,
                   u(idx, 'h_weekend') < 0.3 AS late_weekend,
                   CASE WHEN u(idx, 'h_eod') < 0.5 THEN 1440 ELSE 1439 END AS eod,
                   pick({_sql_list(_LUNCH_OPENS)}, u(idx, 'h_lo')) AS lo,
                   pick({_sql_list(_LUNCH_CLOSES)}, u(idx, 'h_lc')) AS lc,
                   pick({_sql_list(_DINNER_OPENS)}, u(idx, 'h_do')) AS dopen,
                   pick({_sql_list(_DINNER_CLOSES)}, u(idx, 'h_dc')) AS dc,
                   pick({_sql_list(_LATE_OPENS)}, u(idx, 'h_no')) AS no,
                   pick({_sql_list(_AFTER_MIDNIGHT)}, u(idx, 'h_nc')) AS nc,
                   u(idx, 'h_closed') AS ucd,
                   floor(u(idx, 'h_closed_day') * 7)::BIGINT AS cd
            FROM stores
            WHERE {"synthetic" if has_source else "true"} AND u(idx, 'h_none') >= {NO_HOURS_SHARE}
        ),
        d AS (
            SELECT p.*, r.range AS day FROM p CROSS JOIN range(7) r
        ),
        open_days AS (
            -- Most stores open daily; some close one day, a few two, a few open 3-5 days.
            SELECT * FROM d
            WHERE NOT (
                (ucd >= 0.80 AND ucd < 0.92 AND day = cd)
                OR (ucd >= 0.92 AND ucd < 0.97 AND (day = cd OR day = (cd + 1) % 7))
                OR (ucd >= 0.97 AND u(idx * 7 + day, 'h_dayoff') < 0.4)
            )
        ),
        rows AS (
            SELECT idx, store_id, unnest(CASE
                WHEN up < 0.16 THEN [{{'d': day, 's': 0, 'e': eod}}]
                WHEN up < 0.83 THEN [{{'d': day, 's': o, 'e': CASE
                    WHEN late_weekend AND day IN (4, 5) AND c <= 1320 THEN c + 60 ELSE c END}}]
                WHEN up < 0.91 THEN [{{'d': day, 's': lo, 'e': lc}},
                                     {{'d': day, 's': dopen, 'e': dc}}]
                -- Overnight hours come as two rows, e.g. 18:00-23:59:59 plus next day 00:00-02:00.
                WHEN up < 0.98 THEN [{{'d': day, 's': no, 'e': eod}},
                                     {{'d': (day + 1) % 7, 's': 0, 'e': nc}}]
                ELSE [{{'d': day, 's': 420, 'e': 630}}, {{'d': day, 's': 660, 'e': 900}},
                      {{'d': day, 's': 1020, 'e': 1320}}]
            END) AS r
            FROM open_days
        )
        SELECT 1 AS grp, idx, r.d AS day_n, r.s AS s_n, 0 AS rid, store_id,
               r.d::VARCHAR AS day, hhmmss(r.s) AS start_time_local,
               hhmmss(r.e) AS end_time_local
        FROM rows
    """
    )
    real = """
        SELECT 0 AS grp, 0 AS idx, 0 AS day_n, 0 AS s_n, h.rid, h.store_id, h.day,
               h.s AS start_time_local, h.e AS end_time_local
        FROM src_hours h JOIN stores st ON st.store_id = h.store_id AND NOT st.synthetic
    """
    body = f"{real} UNION ALL ({synthetic})" if has_source else synthetic
    return f"""
        SELECT store_id, day, start_time_local, end_time_local
        FROM ({body})
        ORDER BY grp, rid, idx, day_n, s_n
    """


# The rich profile's hours. Opens and closes at any quarter hour; overnight rows end the next
# day (end < start); 24-hour days have start = end; a store's day may be changed into one.
_RICH_OPENS = [360, 390, 405, 420, 450, 480, 525, 540, 600, 615, 630, 660, 660, 690, 720]
_RICH_CLOSES = [1080, 1140, 1185, 1230, 1260, 1290, 1320, 1350, 1380, 1410, 1440, 1440]
_RICH_NIGHT_OPENS = [1020, 1080, 1110, 1140, 1200, 1230, 1260, 1320]
_RICH_NIGHT_CLOSES = [30, 60, 90, 120, 150, 180, 240, 300, 360]
# 24-hour days turn over at these times (start = end): midnight, and times in or near the
# hours when clocks change.
_RICH_TURNOVERS = [0, 0, 0, 120, 150, 180, 300, 360]
# Opening times that fall in a spring-forward gap (02:00-03:00) on change days.
_RICH_GAP_OPENS = [120, 135, 150, 165]
RICH_NO_HOURS_SHARE = 0.10


def _rich_hours_sql(has_source: bool) -> str:
    """Made-up rich menu_hours rows, in the columns of `_hours_query`'s synthetic part."""
    return f"""
        WITH p AS (
            SELECT idx, store_id, u(idx, 'h_pat') AS up,
                   pick({_sql_list(_RICH_OPENS)}, u(idx, 'h_open')) AS o,
                   pick({_sql_list(_RICH_CLOSES)}, u(idx, 'h_close')) AS c,
                   pick({_sql_list(_LUNCH_OPENS)}, u(idx, 'h_lo')) AS lo,
                   pick({_sql_list(_LUNCH_CLOSES)}, u(idx, 'h_lc')) AS lc,
                   pick({_sql_list(_DINNER_OPENS)}, u(idx, 'h_do')) AS dopen,
                   pick({_sql_list(_DINNER_CLOSES)}, u(idx, 'h_dc')) AS dc,
                   pick({_sql_list(_RICH_NIGHT_OPENS)}, u(idx, 'h_no')) AS no,
                   pick({_sql_list(_RICH_NIGHT_CLOSES)}, u(idx, 'h_nc')) AS nc,
                   pick({_sql_list(_RICH_TURNOVERS)}, u(idx, 'h_turn')) AS turn,
                   pick({_sql_list(_RICH_GAP_OPENS)}, u(idx, 'h_gap')) AS gap,
                   u(idx, 'h_closed') AS ucd,
                   floor(u(idx, 'h_closed_day') * 7)::BIGINT AS cd
            FROM stores
            WHERE {"synthetic" if has_source else "true"}
              AND u(idx, 'h_none') >= {RICH_NO_HOURS_SHARE}
        ),
        d AS (
            SELECT p.*, r.range AS day, u(idx * 7 + r.range, 'h_24') < 0.06 AS all_day
            FROM p CROSS JOIN range(7) r
        ),
        open_days AS (
            SELECT * FROM d
            WHERE NOT (
                (ucd >= 0.85 AND ucd < 0.95 AND day = cd)
                OR (ucd >= 0.95 AND u(idx * 7 + day, 'h_dayoff') < 0.3)
            )
        ),
        rows AS (
            SELECT idx, store_id, unnest(CASE
                -- A 24-hour day: start = end.
                WHEN all_day OR up < 0.08 THEN [{{'d': day, 's': turn, 'e': turn}}]
                WHEN up < 0.30 THEN [{{'d': day, 's': o, 'e': c}}]
                -- Split shifts: two intervals a day.
                WHEN up < 0.50 THEN [{{'d': day, 's': lo, 'e': lc}},
                                     {{'d': day, 's': dopen, 'e': dc}}]
                -- Overnight shifts in one row: the end is the next day's.
                WHEN up < 0.70 THEN [{{'d': day, 's': no, 'e': nc}}]
                -- Days, then late nights on Friday and Saturday.
                WHEN up < 0.85 THEN CASE WHEN day IN (4, 5)
                    THEN [{{'d': day, 's': o, 'e': nc}}]
                    ELSE [{{'d': day, 's': o, 'e': c}}] END
                -- Overlapping rows, and a lunch shift: merged into one stretch.
                WHEN up < 0.93 THEN [{{'d': day, 's': o, 'e': 960}},
                                     {{'d': day, 's': 780, 'e': c}},
                                     {{'d': day, 's': lo, 'e': lc}}]
                -- Early opening, in the spring-forward gap on change days.
                ELSE [{{'d': day, 's': gap, 'e': c}}]
            END) AS r
            FROM open_days
        )
        -- s_n orders a day's rows by start, then end (overlapping rows may share a start).
        SELECT 1 AS grp, idx, r.d AS day_n, r.s * 2000 + r.e AS s_n, 0 AS rid, store_id,
               r.d::VARCHAR AS day, hhmmss(r.s) AS start_time_local,
               hhmmss(r.e) AS end_time_local
        FROM rows
    """


def _timezones_query(has_source: bool, profile: str = "loop") -> str:
    weighted = RICH_ZONES if profile == "rich" else US_ZONES
    weights = [w for _, w in weighted]
    total = sum(weights)
    names: list[str] = []
    for zone, w in weighted:
        names += [zone] * w
    zones = "[" + ", ".join(_sql_str(z) for z in names) + "]"
    synthetic = f"""
        SELECT 1 AS grp, idx, 0 AS rid, store_id,
               {zones}[1 + floor(u(idx, 'tz') * {total})::BIGINT] AS timezone_str
        FROM stores
        WHERE {"synthetic" if has_source else "true"} AND u(idx, 'tz_none') >= {NO_ZONE_SHARE}
    """
    real = """
        SELECT 0 AS grp, 0 AS idx, t.rid, t.store_id, t.tz AS timezone_str
        FROM src_tz t JOIN stores st ON st.store_id = t.store_id AND NOT st.synthetic
    """
    body = f"{real} UNION ALL ({synthetic})" if has_source else synthetic
    return f"SELECT store_id, timezone_str FROM ({body}) ORDER BY grp, rid, idx"


def _write_poll_source(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Write one row per store with its poll parameters, in small Parquet row groups.

    DuckDB only guarantees row order for a single-table scan with SELECT/WHERE (no joins), and
    an ordered COPY buffers a whole source batch: a row group of 2,048 stores (~380 k polls)
    keeps memory flat, where an in-memory table's 122,880-row groups would hold ~23 M polls.
    """
    flake = " ".join(f"WHEN u(idx, 'flake') < {p} THEN {t}" for p, t in _FLAKE_CLASSES)
    con.execute(
        f"""
        COPY (
            SELECT idx, store_id,
                   floor((0.545 + 0.3 * u(idx, 'keep')) * 65536)::BIGINT AS keep_t,
                   CASE {flake} END AS flake_t
            FROM stores
            ORDER BY idx
        ) TO {_sql_str(str(path))} (FORMAT parquet, ROW_GROUP_SIZE 2048)
        """
    )


def _status_query(
    source: Path, start_us: int, end_us: int, slots: int, offset_us: int = _OFFSET_US
) -> str:
    cases = []
    for k in range(5):
        # An episode that started k slots ago, of length L = 1 + (h >> 60) % 5, covers this
        # slot when L > k.
        cases.append(f"((h{k} >> 48) & 4095 < flake_t AND (h{k} >> 60) % 5 >= {k})")
    hashes = ", ".join(f"mix(store_h, j - {k}) AS h{k}" for k in range(5))
    # No ORDER BY: scan -> unnest -> filter keeps (store, slot) order under
    # preserve_insertion_order, so 10^8 rows need no sort to give a stable file.
    return f"""
        SELECT store_id,
               CASE WHEN {" OR ".join(cases)} THEN 'inactive' ELSE 'active' END AS status,
               fmt_ts(ts) AS timestamp_utc
        FROM (
            SELECT store_id, flake_t, {hashes},
                   {start_us} + j * {_SLOT_US}
                   + (((h0 & 4294967295) * {offset_us}) >> 32)::BIGINT AS ts,
                   ((h0 >> 32) & 65535) < keep_t AS kept
            FROM (
                SELECT idx, store_id, seeded(idx) AS store_h, keep_t, flake_t,
                       unnest(range({slots})) AS j
                FROM read_parquet({_sql_str(str(source))})
            )
        )
        WHERE kept AND ts < {end_us}
    """


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path, fmt: str) -> int:
    """COPY to a temporary name, then rename: a reader never sees a half-written file."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
    try:
        row = con.execute(f"COPY ({query}) TO {_sql_str(str(tmp))} ({options})").fetchone()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return int(row[0]) if row else 0


def generate_dataset(
    out: Path,
    *,
    stores: int = LOOP_STORES,
    days: float = LOOP_DAYS,
    seed: int = 0,
    start: datetime | None = None,
    hours_from: Path | None = None,
    timezones_from: Path | None = None,
    fmt: str = "csv",
    threads: int | None = None,
    profile: str = "loop",
) -> GenerateResult:
    """Write store_status, menu_hours and timezones (.csv or .parquet) into `out`, shaped by
    `profile` (see the module's docstring)."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}")
    if start is None:
        start = RICH_START if profile == "rich" else DEFAULT_START
    t0 = time.perf_counter()
    # Spill space and scratch files live beside the output (100x scale), not in a small /tmp.
    tmp_dir = out / f".storemon-generate-{os.getpid()}.tmp"
    start_us = _to_epoch_us(start)
    end_us = start_us + round(days * 86_400_000_000)
    slots = math.ceil(days * 24)
    config: dict[str, str | int | bool] = {
        "preserve_insertion_order": True,
        "temp_directory": str(tmp_dir),
        # An ordered parallel COPY buffers out-of-order batches up to the memory limit: a cap
        # keeps 100x scale (~180 M polls) near 2 GB instead of growing with the output.
        "memory_limit": "2GB",
    }
    if threads is not None:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    try:
        # The progress bar would mix into the one-line summary on stderr.
        con.execute("SET enable_progress_bar = false")
        _define_macros(con, seed)
        _load_sources(con, hours_from, timezones_from)
        _build_stores(con, stores)
        # Only now, so that a bad --hours-from / --timezones-from leaves no empty folder behind.
        tmp_dir.mkdir(parents=True, exist_ok=True)
        ext = "csv" if fmt == "csv" else "parquet"
        files = (out / f"store_status.{ext}", out / f"menu_hours.{ext}", out / f"timezones.{ext}")
        hours_rows = _copy(con, _hours_query(hours_from is not None, profile), files[1], fmt)
        tz_rows = _copy(con, _timezones_query(timezones_from is not None, profile), files[2], fmt)
        source = tmp_dir / "poll_source.parquet"
        _write_poll_source(con, source)
        # Rich: a poll anywhere in its hour, so polls fall at every minute of the period.
        offset_us = _SLOT_US if profile == "rich" else _OFFSET_US
        status_query = _status_query(source, start_us, end_us, slots, offset_us)
        status_rows = _copy(con, status_query, files[0], fmt)
    finally:
        con.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return GenerateResult(
        stores=stores,
        status_rows=status_rows,
        hours_rows=hours_rows,
        timezone_rows=tz_rows,
        files=files,
        seconds=time.perf_counter() - t0,
    )
