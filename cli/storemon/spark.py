"""`--engine spark`: what it needs, and bringing the report's tables from Spark to DuckDB.

dbt-spark (`method: session`) builds the models in a SparkSession inside this process. The
report's two tables then come over to the DuckDB file as Parquet, so that the CSV is written
by the same query (the same rounding) as on DuckDB.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import duckdb

INSTALL_HINT = "--engine spark needs the Spark extra: pip install 'storemon[spark]'"
# The schema of the spark output in profiles.yml.
SPARK_SCHEMA = "storemon"


def missing_requirement() -> str | None:
    """One line saying what to install for --engine spark, or None when all is there."""
    if not all(importlib.util.find_spec(name) for name in ("pyspark", "dbt.adapters.spark")):
        return INSTALL_HINT
    if not shutil.which("java"):
        return "--engine spark needs Java 17 (e.g. apt-get install openjdk-17-jre-headless)"
    return None


def quiet_logging() -> None:
    """Spark's JVM logs warnings and progress bars to stderr; keep stderr for storemon's lines
    (unless the user points SPARK_CONF_DIR at a configuration of their own)."""
    os.environ.setdefault("SPARK_CONF_DIR", str(Path(__file__).parent / "spark_conf"))


def copy_tables(tables: list[str], scratch: Path, database: Path) -> None:
    """Copy Spark tables (schema `storemon`) into the DuckDB file `database`, through Parquet
    files in the folder `scratch`."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # the session dbt-spark started
    with duckdb.connect(str(database)) as connection:
        for table in tables:
            folder = scratch / table
            spark.table(f"{SPARK_SCHEMA}.{table}").write.mode("overwrite").parquet(str(folder))
            escaped = str(folder / "*.parquet").replace("'", "''")
            connection.execute(
                f"create or replace table {table} as select * from read_parquet('{escaped}')"
            )
            shutil.rmtree(folder)
