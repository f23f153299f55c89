"""A Spark standalone cluster on this machine, from the installed pyspark: a master, N workers
(1 core each) and optionally a Thrift server (HiveThriftServer2) running on that cluster. All
bind to 127.0.0.1 on free ports; `stop` ends exactly the processes `start` started, by PID.

    python bench/spark_cluster.py start --dir /tmp/cluster --workers 2 --thrift
    python bench/spark_cluster.py stop --dir /tmp/cluster

`start` prints the variables that point storemon at the cluster (STOREMON_SPARK_MASTER, and
STOREMON_SPARK_PORT for the Thrift server) and writes them, with the PIDs, to DIR/cluster.json.
The pyspark wheel has Spark's jars and bin/ scripts but not sbin/, so each daemon is started
with bin/spark-class (which execs the JVM: its PID is the daemon's) or bin/spark-submit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from loopback import free_port

HOST = "127.0.0.1"
STATE_FILE = "cluster.json"


def spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def environment() -> dict[str, str]:
    """Spark's daemons and drivers bind to loopback only."""
    return {**os.environ, "SPARK_LOCAL_IP": HOST, "SPARK_HOME": str(spark_home())}


def launch(command: list[str], log: Path, cwd: Path) -> int:
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=cwd, env=environment(),
            start_new_session=True,  # Ctrl-C in the caller's terminal does not reach it
        )  # fmt: skip
    return process.pid


def wait_until(check, what: str, seconds: float, pids: list[int], folder: Path) -> None:
    """Poll `check()` until it is true; stop after `seconds`, or as soon as a daemon died."""
    deadline = time.monotonic() + seconds
    while not check():
        dead = [pid for pid in pids if not alive(pid)]
        if dead or time.monotonic() > deadline:
            reason = f"process {dead[0]} exited" if dead else f"not after {seconds:.0f} s"
            raise RuntimeError(f"{what}: {reason}; see the logs in {folder}")
        time.sleep(0.5)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of this process that exited stays a zombie until reaped.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def master_status(web_port: int) -> dict:
    """The master's /json/ page: workers, running and completed applications."""
    with urllib.request.urlopen(f"http://{HOST}:{web_port}/json/", timeout=5) as answer:
        return json.load(answer)


def alive_workers(web_port: int) -> int:
    try:
        return sum(w["state"] == "ALIVE" for w in master_status(web_port)["workers"])
    except (OSError, ValueError):  # not listening yet, or still serving its HTML page there
        return 0


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((HOST, port)) == 0


def start(folder: Path, workers: int, thrift: bool, timeout: float = 120) -> dict:
    """Start the cluster (and the Thrift server); returns what cluster.json holds. On a
    failure everything started so far is stopped again."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, web_port = free_port(), free_port()
    state = {
        "master": f"spark://{HOST}:{port}",
        "master_web_port": web_port,
        "pids": [],
        "folder": str(folder),
    }
    try:
        state["pids"].append(launch([
            spark_class, "org.apache.spark.deploy.master.Master",
            "--host", HOST, "--port", str(port), "--webui-port", str(web_port),
        ], folder / "master.log", folder))  # fmt: skip
        for number in range(workers):
            work = folder / f"worker-{number}"
            work.mkdir(exist_ok=True)
            state["pids"].append(launch([
                spark_class, "org.apache.spark.deploy.worker.Worker",
                "--host", HOST, "--webui-port", str(free_port()), "--cores", "1",
                "--memory", "1g", "--work-dir", str(work), state["master"],
            ], folder / f"worker-{number}.log", folder))  # fmt: skip
        wait_until(
            lambda: alive_workers(web_port) == workers,
            f"{workers} workers alive at the master",
            timeout,
            state["pids"],
            folder,
        )
        if thrift:
            state["thrift_port"] = start_thrift(folder, state, timeout)
    except BaseException:
        stop_pids(state["pids"])
        raise
    (folder / STATE_FILE).write_text(json.dumps(state, indent=2))
    return state


def start_thrift(folder: Path, state: dict, timeout: float) -> int:
    """HiveThriftServer2 as an application of the cluster, with its warehouse and catalog in
    `folder`/thrift; returns its port."""
    thrift_port = free_port()
    home = folder / "thrift"
    home.mkdir(exist_ok=True)
    state["pids"].append(launch([
        str(spark_home() / "bin" / "spark-submit"),
        "--master", state["master"],
        "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--name", "Thrift JDBC/ODBC Server",
        "--driver-memory", "1g", "--executor-memory", "512m",
        # One core, so that a storemon session application beside it still gets executors.
        "--conf", "spark.cores.max=1",
        "--conf", f"spark.sql.warehouse.dir={home / 'warehouse'}",
        "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={home}",
        "--conf", "spark.ui.enabled=false",
        "spark-internal",
        "--hiveconf", f"hive.server2.thrift.port={thrift_port}",
        "--hiveconf", f"hive.server2.thrift.bind.host={HOST}",
    ], folder / "thrift.log", home))  # fmt: skip
    wait_until(
        lambda: listening(thrift_port),
        f"Thrift server on port {thrift_port}",
        timeout,
        state["pids"],
        folder,
    )
    return thrift_port


def stop_pids(pids: list[int], seconds: float = 30) -> None:
    """SIGTERM each process (newest first: the Thrift server, the workers, then the master),
    SIGKILL what is still there after `seconds`."""
    for pid in reversed(pids):
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def stop(folder: Path) -> None:
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise SystemExit(f"no cluster started in {folder} (no {state_file})")
    stop_pids(json.loads(state_file.read_text())["pids"])
    state_file.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path("spark-cluster"), help="logs, state")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--thrift", action="store_true", help="also start a Thrift server")
    args = parser.parse_args()
    if args.action == "stop":
        stop(args.dir)
        return
    state = start(args.dir, args.workers, args.thrift)
    print(f"export SPARK_LOCAL_IP={HOST} STOREMON_SPARK_MASTER={state['master']}")
    if "thrift_port" in state:
        print(f"export STOREMON_SPARK_HOST={HOST} STOREMON_SPARK_PORT={state['thrift_port']}")
    print(f"# master's status: http://{HOST}:{state['master_web_port']}/json/", file=sys.stderr)


if __name__ == "__main__":
    main()
