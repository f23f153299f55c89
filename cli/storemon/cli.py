"""The `storemon` command line: a small wrapper that runs the dbt project and exports."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
import duckdb

from storemon import __version__, spark
from storemon.export import ExportError, export, resolve_inputs
from storemon.generate import PROFILES, GenerateError, generate_dataset
from storemon.project import eprint
from storemon.status import STATES, build_status, render

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}
MIN_TOKEN_LENGTH = 16  # characters; a shorter token is served with a warning


class InputFile(click.Path):
    """A local file, or a URI (hdfs://, s3a://) that goes to Spark untouched (a Path would fold
    its //); Spark's executors read it."""

    def convert(self, value, param, ctx):
        return value if spark.is_uri(value) else super().convert(value, param, ctx)


input_file = InputFile(exists=False, dir_okay=True, path_type=Path)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="storemon")
def cli() -> None:
    """Store uptime and downtime during business hours, from hourly polls.

    The numbers are defined in the manual's "What the numbers mean" (docs/numbers.md); the
    work is done by a dbt project on DuckDB that ships with storemon.
    """


def _options(*decorators: Callable) -> Callable:
    """Several Click options as one decorator, in the order given (as --help lists them)."""

    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


# The inputs and the build, shared by the commands that build the project (export, status).
input_options = _options(
    click.option(
        "--data",
        "data_dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Folder with store_status.csv, menu_hours.csv (or business_hours.csv) and"
        " timezones.csv.",
    ),
    click.option(
        "--status",
        type=input_file,
        help="Polls file (store_id, status, timestamp_utc), or a quoted pattern of Parquet"
        " files read as one, e.g. 'archive/store_status/*/*.parquet'.",
    ),
    click.option(
        "--hours",
        type=input_file,
        help="Business hours file (store_id, day or dayOfWeek, start_time_local, end_time_local).",
    ),
    click.option("--timezones", type=input_file, help="Timezones file (store_id, timezone_str)."),
    click.option(
        "--as-of",
        metavar="TIMESTAMP",
        help="Report time, e.g. 2024-11-04T06:00:00Z; default: the latest valid poll.",
    ),
)
db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="storemon.duckdb",
    show_default=True,
    envvar="STOREMON_DB",
    show_envvar=True,
    help="DuckDB file that receives the tables.",
)
silent_after_option = click.option(
    "--silent-after",
    metavar="MINUTES",
    type=click.IntRange(0, 999_999),
    default=120,
    show_default=True,
    help="An open store whose last poll is more than MINUTES old is silent (view"
    " store_status_now).",
)
build_options = _options(
    click.option(
        "--strict",
        is_flag=True,
        help="Fail if any input row is rejected: nothing is written, the message counts the"
        " rows by reason.",
    ),
    click.option(
        "--engine",
        type=click.Choice(["duckdb", "spark"]),
        default="duckdb",
        show_default=True,
        help="Where dbt builds the report: DuckDB, or Apache Spark (pip install"
        " 'storemon[spark]').",
    ),
    click.option(
        "--spark-target",
        type=click.Choice(["session", "thrift"]),
        default="session",
        show_default=True,
        envvar="STOREMON_SPARK_TARGET",
        show_envvar=True,
        help="With --engine spark: a SparkSession in this process (local, or the cluster of"
        " STOREMON_SPARK_MASTER), or the Thrift server of STOREMON_SPARK_HOST/PORT.",
    ),
    click.option("-v", "--verbose", is_flag=True, help="Print each dbt model as it is built."),
)


@cli.command(name="export")
@input_options
@click.option(
    "--interpolation",
    type=click.Choice(["nearest", "previous"]),
    default="nearest",
    show_default=True,
    help="A poll's status holds until the midpoint with the next poll, or until the next poll.",
)
@db_option
@click.option(
    "--out",
    metavar="FILE",
    default="report.csv",
    show_default=True,
    help="Report to write: CSV, or Parquet when FILE ends in .parquet (the same columns,"
    " unrounded, NULLs kept); - for standard output (CSV).",
)
@click.option(
    "--html",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as one self-contained HTML page with store timelines.",
)
@click.option(
    "--html-stores",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Draw week timelines for this many stores with most downtime last week.",
)
@silent_after_option
@build_options
def export_command(
    data_dir: Path | None,
    status: Path | None,
    hours: Path | None,
    timezones: Path | None,
    as_of: str | None,
    interpolation: str,
    db_path: Path,
    out: str,
    html: Path | None,
    html_stores: int,
    silent_after: int,
    strict: bool,
    engine: str,
    spark_target: str,
    verbose: bool,
) -> None:
    """Build the uptime report and write it as CSV.

    With no options it uses the bundled sample data and writes report.csv. Rows that cannot be
    used are kept in the table rejected_rows of the database; their count is printed.

    \b
    Examples:
      storemon export
      storemon export --data ./loop --as-of 2023-01-25T18:00:00Z --out loop.csv
      storemon export --status polls.csv --hours hours.csv --timezones zones.csv --out -
      storemon export --engine spark --data ./loop
      storemon export --engine spark --spark-target thrift --data /data/loop
      storemon export --html report.html --out report.parquet
    """
    try:
        inputs = resolve_inputs(data_dir, status, hours, timezones)
        export(
            inputs,
            db_path=db_path,
            out=out,
            as_of=as_of,
            interpolation=interpolation,
            strict=strict,
            verbose=verbose,
            engine=engine,
            html=html,
            html_stores=html_stores,
            spark_target=spark_target,
            silent_after=silent_after,
            progress=sys.stderr.isatty(),
        )
    except ExportError as error:
        raise click.ClickException(str(error)) from None


@cli.command(name="status")
@input_options
@db_option
@silent_after_option
@click.option(
    "--state",
    "states",
    type=click.Choice(STATES),
    multiple=True,
    help="Only stores in this state; repeat the option for several.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="A table for people (down and silent stores first, then counts per state), or every"
    " column of store_status_now as CSV or JSON, by store_id.",
)
@build_options
def status_command(
    data_dir: Path | None,
    status: Path | None,
    hours: Path | None,
    timezones: Path | None,
    as_of: str | None,
    db_path: Path,
    silent_after: int,
    states: tuple[str, ...],
    output_format: str,
    strict: bool,
    engine: str,
    spark_target: str,
    verbose: bool,
) -> None:
    """Show which stores are down now, and since when.

    Each store is closed, or open and up, down or silent. "Now" is the report time: the
    latest valid poll, or --as-of. The command builds the same database as `export`
    (without writing a report file) and prints its view store_status_now; docs/status.md
    says what each state means.

    \b
    Examples:
      storemon status
      storemon status --data ./loop --state down --state silent
      storemon status --data ./loop --as-of 2023-01-25T18:00:00Z --format json
    """
    try:
        inputs = resolve_inputs(data_dir, status, hours, timezones)
        now = build_status(
            inputs, db_path, as_of, silent_after, strict, verbose, engine, spark_target, states
        )
    except ExportError as error:
        raise click.ClickException(str(error)) from None
    click.echo(render(now, output_format, sys.stdout.isatty()), nl=False)


@cli.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default="storemon-home",
    show_default=True,
    envvar="STOREMON_HOME",
    show_envvar=True,
    help="Folder for the received data, the reports and their history.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--token",
    envvar="STOREMON_TOKEN",
    show_envvar=True,
    help="Require `Authorization: Bearer TOKEN` on all but /health and /login (a browser"
    " signs in once at /login).",
)
@click.option(
    "--keep-reports",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    envvar="STOREMON_KEEP_REPORTS",
    show_envvar=True,
    help="Keep the files of this many newest reports; older ones keep only their history"
    " row and answer 410.",
)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    envvar="STOREMON_MAX_UPLOAD_MB",
    show_envvar=True,
    help="Largest request body accepted, counted as it arrives (chunked too); larger ones"
    " answer 413.",
)
@click.option(
    "--silent-after",
    "--silent-after-minutes",
    "silent_after_minutes",
    metavar="MINUTES",
    type=click.IntRange(0, 999_999),
    default=120,
    show_default=True,
    envvar="STOREMON_SILENT_AFTER_MINUTES",
    show_envvar=True,
    help="An open store whose last poll is more than MINUTES old is silent in GET /status and"
    " /fleet.",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    envvar="STOREMON_MAX_ROWS",
    show_envvar=True,
    help="Most rows in one request (a batch, a CSV body, each file of an upload); more answer"
    " 413 and store nothing. Bounds a request's memory.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    envvar="STOREMON_MAX_CONNECTIONS",
    show_envvar=True,
    help="Open connections kept; past it the longest idle ones are closed (all busy: 503).",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.1),
    default=10,
    show_default=True,
    envvar="STOREMON_HEADER_TIMEOUT",
    show_envvar=True,
    help="Seconds a client has to send a request's line and headers; then the connection"
    " is closed (408).",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.1),
    default=30,
    show_default=True,
    envvar="STOREMON_BODY_TIMEOUT",
    show_envvar=True,
    help="Longest pause in a request body (and slower than 1 kB/s after it) before 408.",
)
@click.option(
    "--keep-alive-timeout",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    envvar="STOREMON_KEEP_ALIVE_TIMEOUT",
    show_envvar=True,
    help="Seconds an idle connection is kept open between requests.",
)
@click.option(
    "--max-header-kb",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    envvar="STOREMON_MAX_HEADER_KB",
    show_envvar=True,
    help="Largest request line and headers; larger ones answer 431 and are closed.",
)
@click.option(
    "--page-threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    envvar="STOREMON_PAGE_THREADS",
    show_envvar=True,
    help="HTML pages rendered at once (each once per report, then kept on disk).",
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1,::1",
    show_default=True,
    envvar="STOREMON_FORWARDED_ALLOW_IPS",
    show_envvar=True,
    help="Proxies trusted for X-Forwarded-Proto and X-Forwarded-For (comma-separated, * for"
    " any): the scheme makes the sign-in cookie Secure, the address is rate-limited.",
)
@click.option(
    "--webhook-url",
    envvar="STOREMON_WEBHOOK_URL",
    show_envvar=True,
    help="POST every incident opening and resolution here, signed as Standard Webhooks say"
    " (needs --webhook-secret).",
)
@click.option(
    "--webhook-secret",
    envvar="STOREMON_WEBHOOK_SECRET",
    show_envvar=True,
    help="The webhook signing secret: whsec_ followed by base64.",
)
@click.option(
    "--alertmanager-url",
    envvar="STOREMON_ALERTMANAGER_URL",
    show_envvar=True,
    help="Prometheus Alertmanager to send incidents to as alerts (its v2 API), e.g."
    " http://127.0.0.1:9093.",
)
@click.option(
    "--alert-after-polls",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    envvar="STOREMON_ALERT_AFTER_POLLS",
    show_envvar=True,
    help="Open an incident after this many inactive polls in a row while the store is open.",
)
@click.option(
    "--alert-on-silent/--no-alert-on-silent",
    default=False,
    show_default=True,
    envvar="STOREMON_ALERT_ON_SILENT",
    show_envvar=True,
    help="Also open an incident when an open store is silent.",
)
@click.option(
    "--alert-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    envvar="STOREMON_ALERT_TIMEOUT",
    show_envvar=True,
    help="Seconds to wait for a receiver's answer before trying again later.",
)
@click.option(
    "--max-queued-reports",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    envvar="STOREMON_MAX_QUEUED_REPORTS",
    show_envvar=True,
    help="Reports that may wait for their turn; past it POST /trigger_report answers 429"
    " with Retry-After.",
)
@click.option(
    "--keep-polls-days",
    type=int,
    default=None,
    metavar="DAYS",
    envvar="STOREMON_KEEP_POLLS_DAYS",
    show_envvar=True,
    help="Keep DAYS whole UTC days of polls in the inbox before the latest poll's date (at"
    " least 7); older ones move to Parquet files in the home's archive/store_status/ folder,"
    " and a report whose week starts before them, or a GET /status?at= before them, answers"
    " 422. Default: keep every poll.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Only check the home (every block of its inbox read) and exit: 0 and a summary when"
    " it is sound, 1 and what to do when it is not.",
)
def serve(
    home: Path,
    host: str,
    port: int,
    token: str | None,
    keep_reports: int,
    max_upload_mb: int,
    max_queued_reports: int,
    keep_polls_days: int | None,
    check: bool,
    silent_after_minutes: int,
    max_rows: int,
    max_connections: int,
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: int,
    max_header_kb: int,
    page_threads: int,
    forwarded_allow_ips: str,
    webhook_url: str | None,
    webhook_secret: str | None,
    alertmanager_url: str | None,
    alert_after_polls: int,
    alert_on_silent: bool,
    alert_timeout: float,
) -> None:
    """Run the HTTP service: stores register and send polls, owners trigger and fetch reports.

    The same dbt project as `storemon export` computes every report. OpenAPI docs are at
    /docs. Ctrl-C or SIGTERM stops it.

    \b
    Examples:
      storemon serve
      storemon serve --home /var/lib/storemon --port 8080 --token "$(openssl rand -hex 16)"
      storemon serve --alertmanager-url http://127.0.0.1:9093
    """
    from storemon.service import server
    from storemon.service.alerts.deliver import webhook_key
    from storemon.service.app import create_app
    from storemon.service.core import HomeInUse, Settings, lock_home
    from storemon.service.home import HomeDamaged, check_home
    from storemon.service.retention import MIN_KEEP_DAYS

    if token is None and os.environ.get("STOREMON_TOKEN") == "":
        token = ""  # Click takes an empty variable for an unset one: serving open by mistake
    if token is not None and not token.strip():
        raise click.ClickException(
            "the token is empty (--token or STOREMON_TOKEN): give one, or leave both unset to"
            " serve without a token"
        )
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        eprint(f"warning: the token is short ({len(token)} characters): use at least"
               f" {MIN_TOKEN_LENGTH}, e.g. `openssl rand -hex 16`")  # fmt: skip
    try:
        if not (check and not home.exists()):
            lock_home(home).close()
        summary = check_home(home)
    except (HomeInUse, HomeDamaged) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot use home {home}: {error.strerror}") from None
    if check:
        click.echo(summary)
        return
    if keep_polls_days is not None and keep_polls_days < MIN_KEEP_DAYS:
        raise click.BadParameter(
            f"{keep_polls_days} is under {MIN_KEEP_DAYS}: a report's week is 168 hours and the"
            " report of the latest poll must stay possible, so the inbox keeps at least"
            f" {MIN_KEEP_DAYS} days of polls",
            param_hint="--keep-polls-days",
        )
    if webhook_url and not webhook_secret:
        raise click.BadParameter("a webhook needs a secret", param_hint="--webhook-secret")
    if webhook_secret:
        try:
            webhook_key(webhook_secret)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--webhook-secret") from None
    for name, url in (("--webhook-url", webhook_url), ("--alertmanager-url", alertmanager_url)):
        if url and not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint=name)
    settings = Settings(
        home=home,
        token=token,
        keep_reports=keep_reports,
        max_upload_mb=max_upload_mb,
        max_queued_reports=max_queued_reports,
        max_rows=max_rows,
        body_timeout=body_timeout,
        page_threads=page_threads,
        silent_after_minutes=silent_after_minutes,
        webhook_url=webhook_url or None,
        webhook_secret=webhook_secret or None,
        alertmanager_url=alertmanager_url or None,
        alert_after_polls=alert_after_polls,
        alert_on_silent=alert_on_silent,
        alert_timeout=alert_timeout,
        keep_polls_days=keep_polls_days,
    )
    limits = server.Limits(header_timeout, keep_alive_timeout, max_header_kb, max_connections)
    eprint(f"serving on http://{host}:{port} (home {home.resolve()}); starting the report worker")
    server.run(create_app(settings), host, port, limits, forwarded_allow_ips)


_START_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
]

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


@cli.command(
    name="generate",
    epilog="Example:\n\n\b\n"
    "  storemon generate --out data/loop1x --stores 14092 --days 7.75 --seed 1\n"
    "  storemon generate --out data/real-hours --stores 14092 --days 7.75 --seed 1 \\\n"
    "      --hours-from menu_hours.csv --timezones-from timezones.csv --format parquet",
)
@click.option(
    "--out",
    "out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    help="Folder to write into (created if missing; the three files are replaced).",
)
@click.option(
    "--stores",
    required=True,
    metavar="N",
    type=click.IntRange(min=1),
    help="Number of stores in store_status (Loop's real data: 14092).",
)
@click.option(
    "--days",
    required=True,
    metavar="D",
    type=click.FloatRange(min=0, min_open=True, max=3660),
    help="Length of the polling period in days (Loop's real data: 7.75).",
)
@click.option(
    "--seed",
    required=True,
    metavar="S",
    type=click.IntRange(min=0, max=2**63 - 1),
    help="Random seed; the same seed gives byte-identical files.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=_START_FORMATS),
    metavar="TS",
    help="First instant of the polling period, e.g. 2023-01-18T00:00:00Z; UTC unless an "
    "offset is given. Polls fall in [start, start + days).  [default: 2023-01-18 00:00:00; "
    "2024-03-30 00:00:00 with --profile rich]",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="loop",
    show_default=True,
    help="loop: Loop's shapes. rich: harder hours and zones (overnight rows ending before "
    "they start, 24-hour days, split shifts, overlaps, both hemispheres' DST, half-hour "
    "offsets) and polls at any minute.",
)
@click.option(
    "--hours-from",
    type=_EXISTING_FILE,
    metavar="CSV",
    help="Reuse a real menu_hours CSV (day column `day` or `dayOfWeek`): its stores and their "
    "rows are copied; the output column is always `day`.",
)
@click.option(
    "--timezones-from",
    type=_EXISTING_FILE,
    metavar="CSV",
    help="Reuse a real timezones CSV: its stores and their rows are copied.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="Output format; Parquet files hold the same text columns as the CSV files.",
)
def generate_command(
    out: Path,
    stores: int,
    days: float,
    seed: int,
    start: datetime | None,
    hours_from: Path | None,
    timezones_from: Path | None,
    fmt: str,
    profile: str,
) -> None:
    """Generate synthetic input data shaped like Loop's real store-monitoring files.

    Writes store_status, menu_hours and timezones (.csv or .parquet) into DIR in the real
    files' formats: timestamps like `2023-01-22 12:09:39.388884 UTC`, local times `HH:MM:SS`,
    19-digit store ids. Polls are irregular and roughly hourly (about 129 per store per 7.75
    days, 15 minutes to a few hours apart), mostly active with short inactive runs. Business
    hours include split shifts, overnight pairs and 23:59:59 / 23:59:00 ends; about 21 % of
    stores have no hours (open 24/7) and 4 % no timezone row. Zones are US zones. The same
    seed gives the same files, byte for byte; a summary line goes to stderr.

    That is --profile loop, the default. --profile rich makes harder data: overnight rows
    that end before they start, 24-hour days (start = end), split shifts and overlapping rows,
    zones of both hemispheres with half- and quarter-hour offsets, and polls at any minute;
    its default period crosses DST changes in both hemispheres.

    With --hours-from / --timezones-from, the stores of those files come first (a seeded sample
    when there are more than N) with their real rows; any further stores are made up.
    """
    if start is not None and start.tzinfo is not None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    try:
        result = generate_dataset(
            out,
            stores=stores,
            days=days,
            seed=seed,
            start=start,
            hours_from=hours_from,
            timezones_from=timezones_from,
            fmt=fmt,
            profile=profile,
        )
    except GenerateError as error:
        if error.option is not None:
            raise click.BadParameter(str(error), param_hint=error.option) from error
        raise click.ClickException(str(error)) from error
    except OSError as exc:
        raise click.ClickException(f"cannot write to {out}: {exc}") from exc
    except duckdb.Error as exc:
        raise click.ClickException(f"generation failed: {exc}") from exc
    status, hours, zones = (f.name for f in result.files)
    click.echo(
        f"storemon generate: {result.stores:,} stores -> {status} {result.status_rows:,} rows, "
        f"{hours} {result.hours_rows:,} rows, {zones} {result.timezone_rows:,} rows "
        f"in {out} ({result.seconds:.1f} s)",
        err=True,
    )
