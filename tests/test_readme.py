"""The README's tour is true: its ```console steps run in order in an empty folder, as a
newcomer would type them; the `storemon serve` step, which the README runs in a second
terminal, is started here in the background (on a free port instead of 8000) and stopped at
the end."""

from __future__ import annotations

import re
import shlex
import signal
from pathlib import Path

from test_docs import Transcript, transcript_steps
from test_service_server import Server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEFAULT_ADDRESS = "localhost:8000"  # storemon serve's default --port


def test_the_readme_tour_runs_in_order_from_an_empty_folder(tmp_path):
    steps = transcript_steps(README)
    serve = [step for step in steps if step.command.startswith("storemon serve")]
    assert len(serve) == 1 and serve[0].expected == ""
    transcript = Transcript(tmp_path)
    server = None
    try:
        for step in steps:
            if step is serve[0]:
                options = shlex.split(step.command)[2:]
                assert "--home" not in options and "--port" not in options
                # Its default home, ./storemon-home, in the tour's folder.
                server = Server(tmp_path / "storemon-home", *options).start()
                continue
            if DEFAULT_ADDRESS in step.command:
                assert server is not None, f"README.md:{step.line}: the service is not started yet"
                step.command = step.command.replace(DEFAULT_ADDRESS, f"127.0.0.1:{server.port}")
            transcript.run(step)
    finally:
        if server is not None:
            server.kill(signal.SIGTERM)
    assert server is not None
    # The tour wrote nothing outside its folder, and what it says it wrote.
    assert {"loop", "report.csv", "report.html", "storemon.duckdb", "storemon-home"} <= {
        path.name for path in tmp_path.iterdir()
    }


def test_the_first_screen_commands_are_those_of_ci():
    """The README's fresh-machine commands: the install and export, and exactly .ci/run's test
    command (with the extras it adds)."""
    readme = README.read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .*)\n```", readme)
    assert commands[0] == (
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/storemon export"
    )
    assert (
        commands[1]
        == "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/pytest"
    )
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].replace("'.[test]'", "'.[test,spark]'") in ci
