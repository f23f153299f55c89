"""The manual (docs/, mkdocs.yml) stays true: `cog --check` (every `--help`, option and
endpoint table and the lineage are what the code gives today), `mkdocs build --strict` (no
broken link or anchor, no page left out of the nav), and every ```console transcript is run
again: the service page's against a real `storemon serve`, the others in an empty folder."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_project import BIN, tool
from test_service_server import Server

from storemon import spark

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# The port and token the service page's transcripts were recorded with.
RECORDED_ADDRESS = "localhost:8765"
TOKEN = "s3cret"
# What differs between two runs of the same transcript: the server's clock and report ids.
# (Report ids are matched up: an id in a recorded answer stands for the id the run got, in
# the answers and commands that follow.)
CLOCK_FIELDS = re.compile(r'("(?:requested_at|finished_at)": ?)"[^"]*"|("seconds": ?)[0-9.e-]+')
REPORT_ID = re.compile(r"\b[0-9a-f]{32}\b")
# A report runs in the background: a GET is asked again until it answers as recorded.
RETRY_SECONDS = 120


def run_tool(*command: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [tool(command[0]), *command[1:]],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_generated_parts_of_the_manual_are_up_to_date():
    done = run_tool("cog", "--check", "-I", "tests", *(str(page) for page in PAGES))
    assert done.returncode == 0, (
        f"{done.stdout}{done.stderr}\nregenerate with: cog -r -I tests docs/*.md"
    )


def test_the_manual_builds_strictly(tmp_path):
    done = run_tool("mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "service" / "index.html").is_file()


def test_a_page_left_out_of_the_nav_fails_the_build(tmp_path):
    """The check above would pass vacuously if mkdocs only logged orphans at INFO level."""
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    (docs / "orphan.md").write_text("# Nobody links here\n")
    config = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    # Paths relative to mkdocs.yml, which moved.
    config = config.replace("- tests/", f"- {ROOT / 'tests'}/")
    (tmp_path / "mkdocs.yml").write_text(config)
    done = run_tool(
        "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml"),
        "--site-dir", str(tmp_path / "site"),
    )  # fmt: skip
    assert done.returncode != 0
    assert "orphan.md" in done.stderr


@dataclass
class Step:
    """One `$ command` of a transcript and the output recorded under it."""

    page: str
    line: int
    command: str
    expected: str


def transcript_steps(page: Path) -> list[Step]:
    steps: list[Step] = []
    in_console = False
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        if line.startswith("```"):
            in_console = line == "```console"
            continue
        if not in_console:
            continue
        if line.startswith("$ "):
            steps.append(Step(page.name, number, line[2:], ""))
        else:
            assert steps, f"{page.name}:{number}: output before the first $ command"
            steps[-1].expected += line + "\n"
    for step in steps:
        step.expected = step.expected.rstrip("\n")
    return steps


def without_clock(text: str) -> str:
    return CLOCK_FIELDS.sub(
        lambda match: f'{match[1]}"…"' if match[1] else f"{match[2]}…", text
    ).rstrip("\n")


class Transcript:
    """Runs steps in one folder, in order, as a user at a bash prompt would."""

    def __init__(self, folder: Path, address: str | None = None) -> None:
        self.folder = folder
        self.address = address
        self.report_ids: dict[str, str] = {}
        self.environment = {
            # The test's own cache folder (tests/conftest.py) stays: not the user's.
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith("STOREMON_") or k == "STOREMON_CACHE_DIR"
            },
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }

    def command(self, step: Step) -> str:
        command = step.command
        if self.address:
            command = command.replace(RECORDED_ADDRESS, self.address)
        for recorded, actual in self.report_ids.items():
            command = command.replace(recorded, actual)
        return command

    def matches(self, step: Step, output: str) -> bool:
        expected, actual = without_clock(step.expected), without_clock(output)
        if REPORT_ID.sub("<id>", expected) != REPORT_ID.sub("<id>", actual):
            return False
        ids = zip(REPORT_ID.findall(expected), REPORT_ID.findall(actual), strict=True)
        return all(self.report_ids.setdefault(recorded, got) == got for recorded, got in ids)

    def run(self, step: Step) -> None:
        command = self.command(step)
        is_get = "curl" in command and not re.search(r" (-d|-F|--data-binary) ", command)
        deadline = time.monotonic() + (RETRY_SECONDS if is_get else 0)
        while True:
            done = subprocess.run(
                ["bash", "-c", command], cwd=self.folder, env=self.environment,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
            )  # fmt: skip
            if self.matches(step, done.stdout):
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert done.stdout.rstrip("\n") == step.expected, (
            f"{step.page}:{step.line}: `$ {step.command}` answered otherwise than the manual says"
        )


# spark.md's transcripts need the [spark] extra and Java, as tests/test_spark.py does.
SPARK_MISSING = spark.missing_requirement()
CLI_PAGES = [
    pytest.param(
        page,
        id=page.name,
        marks=pytest.mark.skipif(
            page.name == "spark.md" and SPARK_MISSING is not None, reason=str(SPARK_MISSING)
        ),
    )
    for page in PAGES
    if page.name != "service.md" and transcript_steps(page)
]


@pytest.mark.parametrize("page", CLI_PAGES)
def test_the_command_line_transcripts_run_as_recorded(page, tmp_path):
    transcript = Transcript(tmp_path)
    for step in transcript_steps(page):
        transcript.run(step)


def test_the_service_transcripts_run_as_recorded(tmp_path):
    """In a folder with the bundled sample files (which the page's upload sends), against a
    fresh `storemon serve --token s3cret`."""
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        shutil.copy(ROOT / "seeds" / name, tmp_path / name)
    server = Server(tmp_path / "home", "--token", TOKEN).start()
    try:
        transcript = Transcript(tmp_path, address=f"127.0.0.1:{server.port}")
        for step in transcript_steps(DOCS / "service.md"):
            transcript.run(step)
    finally:
        server.kill(signal.SIGTERM)


def test_the_readme_is_a_front_page_whose_links_work():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert "docs/index.md" in targets
    assert [target for target in targets if not (ROOT / target).exists()] == []


def test_every_environment_variable_is_in_the_manual():
    """The STOREMON_* variables the code reads, and the one of each dbt var (a var may also
    come from the environment as STOREMON_<NAME>; `input_columns` is no setting)."""
    import yaml

    sources = [ROOT / "profiles.yml", ROOT / "dbt_project.yml"]
    for folder in ("cli", "models", "macros", "bench"):
        sources += [path for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".sql")]
    named = set().union(*(re.findall(r"STOREMON_[A-Z_]*[A-Z]", p.read_text()) for p in sources))
    dbt_vars = yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"]
    named |= {f"STOREMON_{name.upper()}" for name in dbt_vars if name != "input_columns"}
    manual = "".join(page.read_text() for page in PAGES)
    assert sorted(name for name in named if name not in manual) == []
