"""storemon on Spark as it runs beyond one process: a standalone cluster on this machine (a
master and two workers of one core each, started by bench/spark_cluster.py, 127.0.0.1 only)
and a Thrift server running on it. Each Spark export is a `storemon` process of its own whose
report equals DuckDB's CSV byte for byte. Skipped where the [spark] extra (or Java) is not
installed; CI installs both.

One cluster serves the whole module. The session export runs first, while the cluster's two
cores are free (it must get an executor on each worker); then the Thrift server starts and
keeps one core until the module ends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import storemon_executable

from storemon import spark
from storemon.cli import cli
from storemon.project import project_dir

SPARK_MISSING = spark.missing_requirement()
pytestmark = pytest.mark.skipif(SPARK_MISSING is not None, reason=str(SPARK_MISSING))
SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "spark_cluster.py"
# Small data: few partitions, small executors (a worker has 1 GB).
SMALL = {"STOREMON_SPARK_SHUFFLE_PARTITIONS": "1", "STOREMON_SPARK_EXECUTOR_MEMORY": "512m"}


def load_cluster_script():
    spec = importlib.util.spec_from_file_location("spark_cluster", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


spark_cluster = load_cluster_script()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = spark_cluster.start(tmp_path_factory.mktemp("spark-cluster"), workers=2, thrift=False)
    yield state
    spark_cluster.stop_pids(state["pids"])


@pytest.fixture(scope="module")
def thrift(cluster):
    """The Thrift server on the cluster; its port."""
    port = spark_cluster.start_thrift(Path(cluster["folder"]), cluster, timeout=120)
    yield port
    spark_cluster.stop_pids(cluster["pids"][-1:])
    cluster["pids"].pop()


def duckdb_csv(folder: Path, *args: str) -> bytes:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "duckdb.csv"
    command = ["export", "--db", str(folder / "duckdb.duckdb"), "--out", str(out), *args]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def spark_export(folder: Path, environment: dict[str, str], *args: str) -> bytes:
    """`storemon export --engine spark ARGS` as its own process; the CSV it wrote."""
    out = folder / "spark.csv"
    command = [storemon_executable(), "export", "--engine", "spark", *args]
    command += ["--db", str(folder / "spark.duckdb"), "--out", str(out)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600,
        env={**os.environ, **SMALL, **environment}, cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out.read_bytes()


def session_on(cluster: dict) -> dict[str, str]:
    return {"STOREMON_SPARK_MASTER": cluster["master"], "SPARK_LOCAL_IP": spark_cluster.HOST}


def json_page(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def assert_finished_on_both_workers(cluster: dict, known_apps: set[str]) -> None:
    """The master shows one new application, finished; each worker ran an executor of it."""
    status = spark_cluster.master_status(cluster["master_web_port"])
    new = [app for app in status["completedapps"] if app["id"] not in known_apps]
    assert [(app["name"], app["state"], app["cores"]) for app in new] == [
        ("storemon", "FINISHED", 2)
    ]
    for worker in status["workers"]:
        # A worker's page lists the executors it ran, by application.
        page = json_page(worker["webuiaddress"] + "/json/")
        assert new[0]["id"] in {executor["appid"] for executor in page["finishedexecutors"]}


def completed_apps(cluster: dict) -> set[str]:
    status = spark_cluster.master_status(cluster["master_web_port"])
    return {app["id"] for app in status["completedapps"]}


def test_cluster_export_of_generated_parquet_files(cluster, tmp_path):
    """A `storemon generate` set (Parquet inputs, which the executors read) on the cluster. The
    bundled sample data take the cluster's other way in, the Thrift server, below: each export
    on the cluster costs three minutes of CI."""
    data = tmp_path / "data"
    generate = ["generate", "--out", str(data), "--stores", "40", "--days", "8", "--seed", "7"]
    assert CliRunner().invoke(cli, [*generate, "--format", "parquet"]).exit_code == 0
    args = ("--data", str(data))
    known = completed_apps(cluster)
    assert spark_export(tmp_path, session_on(cluster), *args) == duckdb_csv(tmp_path, *args)
    assert_finished_on_both_workers(cluster, known)


def thrift_on(port: int) -> dict[str, str]:
    return {"STOREMON_SPARK_HOST": spark_cluster.HOST, "STOREMON_SPARK_PORT": str(port)}


def test_dbt_build_on_the_thrift_server(thrift, tmp_path):
    """Seeds, models and data tests, as docs/spark.md runs them."""
    dbt = Path(sys.executable).with_name("dbt")
    started = time.monotonic()
    done = subprocess.run(
        [str(dbt), "build", "--target", "thrift", "--project-dir", str(project_dir()),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, **SMALL, **thrift_on(thrift)},
        cwd=project_dir(),  # the checkout, as the manual runs it: dbt finds profiles.yml there
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " ERROR=0 SKIP=0 " in done.stdout, done.stdout[-3000:]
    print(f"dbt build --target thrift: {time.monotonic() - started:.0f} s")


def test_thrift_export_of_the_sample_data(thrift, tmp_path):
    environment = {**thrift_on(thrift), "STOREMON_SPARK_TARGET": "thrift"}
    assert spark_export(tmp_path, environment) == duckdb_csv(tmp_path)
    # It ran in ANSI mode, a Spark 4 server's default: the plain key that dbt-spark sends to
    # turn it off does not reach a Thrift server's session.
    from pyhive import hive

    dbt_spark_sends = {"spark.sql.ansi.enabled": "false"}
    with hive.connect(spark_cluster.HOST, port=thrift, configuration=dbt_spark_sends) as connection:
        cursor = connection.cursor()
        cursor.execute("set spark.sql.ansi.enabled")
        assert cursor.fetchall() == [("spark.sql.ansi.enabled", "true")]
