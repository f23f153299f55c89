"""`--engine spark`: what it needs, and bringing the report's tables from Spark to DuckDB.

dbt-spark builds the models either in a SparkSession inside this process (`--spark-target
session`, the profile's `spark` output: local, or a cluster through STOREMON_SPARK_MASTER) or on
a Spark Thrift server (`--spark-target thrift`, the `thrift` output). The report's tables then
come over to the DuckDB file as rows fetched by the driver, so that the CSV is written by the
same query (the same rounding) as on DuckDB, and nothing is written where only the cluster
could read it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb

INSTALL_HINT = "--engine spark needs the Spark extra: pip install 'storemon[spark]'"
# --spark-target: the profiles.yml output each one builds with.
DBT_TARGETS = {"session": "spark", "thrift": "thrift"}
# Spark's types of the report's tables, as DuckDB types.
DUCKDB_TYPES = {
    "string": "varchar",
    "double": "double",
    "bigint": "bigint",
    "int": "integer",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "date": "date",
}


def missing_requirement(target: str = "session") -> str | None:
    """One line saying what to install for --engine spark, or None when all is there."""
    client = "pyspark" if target == "session" else "pyhive"
    if not all(importlib.util.find_spec(name) for name in (client, "dbt.adapters.spark")):
        return INSTALL_HINT
    if target == "session" and not shutil.which("java"):
        return "--engine spark needs Java 17 (e.g. apt-get install openjdk-17-jre-headless)"
    return None


def quiet_logging() -> None:
    """Spark's JVM logs warnings and progress bars to stderr; keep stderr for storemon's lines
    (unless the user points SPARK_CONF_DIR at a configuration of their own)."""
    os.environ.setdefault("SPARK_CONF_DIR", str(Path(__file__).parent / "spark_conf"))


def is_uri(path: str) -> bool:
    """hdfs://…, s3a://…: a file the cluster reads, which storemon cannot check or resolve."""
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", path) is not None


def warehouse(state: Path) -> str:
    """Where the session keeps its tables: the user's STOREMON_SPARK_WAREHOUSE (on a cluster, a
    folder or URI every executor can write), else beside the database."""
    return os.environ.get("STOREMON_SPARK_WAREHOUSE") or str(state / "spark-warehouse")


def thrift_settings() -> dict[str, str | int]:
    """The Thrift server and schema of profiles.yml's `thrift` output (same variables, same
    defaults)."""
    return {
        "host": os.environ.get("STOREMON_SPARK_HOST", "127.0.0.1"),
        "port": int(os.environ.get("STOREMON_SPARK_PORT", "10000")),
        "username": os.environ.get("STOREMON_SPARK_USER", "storemon"),
        "database": os.environ.get("STOREMON_SPARK_SCHEMA", "storemon"),
    }


def copy_tables(target: str, tables: list[str], database: Path) -> None:
    """Copy the Spark tables `tables` into the DuckDB file `database`: from the SparkSession
    that dbt-spark started in this process, or over a new connection to the Thrift server."""
    if target == "session":
        from pyspark.sql import SparkSession

        session = SparkSession.builder.getOrCreate()  # the session dbt-spark started
        _copy(lambda sql: [tuple(row) for row in session.sql(sql).collect()], "storemon", tables,
              database)  # fmt: skip
        return
    from pyhive import hive

    settings = thrift_settings()
    timezone = {"set:hiveconf:spark.sql.session.timeZone": "UTC"}
    with hive.connect(**settings, configuration=timezone) as connection:
        cursor = connection.cursor()

        def query(sql: str) -> list[tuple]:
            cursor.execute(sql)
            return cursor.fetchall()

        _copy(query, str(settings["database"]), tables, database)


def _copy(
    query: Callable[[str], list[tuple]], schema: str, tables: list[str], database: Path
) -> None:
    """Each table's rows, fetched with `query`, into a DuckDB table of the same columns and
    types, a column at a time (row-by-row inserts take seconds for 14,000 stores). Timestamps
    travel as text in UTC (the session's zone), which Python's datetime would read in the
    local zone."""
    with duckdb.connect(str(database)) as connection:
        for table in tables:
            described = query(f"describe {schema}.{table}")
            columns = [
                (name, kind) for name, kind, *_ in described if name and not name.startswith("#")
            ]
            selected = ", ".join(
                f"date_format(`{name}`, 'yyyy-MM-dd HH:mm:ss.SSSSSS')" if kind == "timestamp"
                else f"`{name}`"
                for name, kind in columns
            )  # fmt: skip
            rows = query(f"select {selected} from {schema}.{table}")
            values = [list(column) for column in zip(*rows, strict=True)] or [[] for _ in columns]
            unnested = ", ".join(
                f'unnest(?)::{DUCKDB_TYPES[kind]} as "{name}"' for name, kind in columns
            )
            connection.execute(f"create or replace table {table} as select {unnested}", values)
