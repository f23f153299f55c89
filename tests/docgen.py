"""What cog pastes into the manual (docs/*.md), from the real commands, schema and project.

`cog -r -I tests docs/*.md` rewrites the generated parts; tests/test_docs.py runs
`cog --check` so that the manual cannot drift from the code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click
from click.testing import CliRunner

from storemon.cli import cli
from storemon.project import project_dir

# Click's default width, which fits the width of a page of the site.
HELP_WIDTH = 80


def help_text(*command: str) -> str:
    """`storemon COMMAND --help`, as a fenced block."""
    result = CliRunner().invoke(
        cli, [*command, "--help"], prog_name="storemon", terminal_width=HELP_WIDTH
    )
    assert result.exit_code == 0, result.output
    prompt = " ".join(["$ storemon", *command, "--help"])
    return f"```text\n{prompt}\n{result.output.rstrip()}\n```\n\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _value(param: click.Option, context: click.Context) -> str:
    """What an option takes: its choices as words ("`csv` or `parquet`"), else its metavar."""
    if isinstance(param.type, click.Choice):
        choices = [f"`{choice}`" for choice in param.type.choices]
        return ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else choices[0]
    return f"`{_cell(param.make_metavar(context))}`"


def options_table(*command: str) -> str:
    """A Markdown table of a command's options: names, value, default, env var, help."""
    group: click.Command = cli
    for name in command:
        group = group.commands[name]  # type: ignore[attr-defined]
    context = click.Context(group, info_name=" ".join(["storemon", *command]))
    rows = ["| option | value | default | env | meaning |", "|---|---|---|---|---|"]
    for param in group.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        # An option's name never breaks across lines (the column is narrow): see extra.css.
        names = ", ".join(
            f'<code class="option-name">{name}</code>' for name in param.opts + param.secondary_opts
        )
        value = "" if param.is_flag else _value(param, context)
        # Click marks "no default" with a sentinel; flags default to False.
        has_default = isinstance(param.default, str | int) and not isinstance(param.default, bool)
        default = f"`{param.default}`" if has_default else ""
        env = f"`{param.envvar}`" if param.envvar else ""
        rows.append(f"| {names} | {value} | {default} | {env} | {_cell(param.help or '')} |")
    return "\n".join(rows) + "\n\n"


def openapi_schema() -> dict:
    """The service's OpenAPI schema, as `storemon serve --token …` publishes it."""
    from storemon.service.app import create_app
    from storemon.service.core import Settings

    with tempfile.TemporaryDirectory() as home:
        return create_app(Settings(Path(home), token="s3cret")).openapi()


def _shape(schema: dict | None, components: dict) -> str:
    """A body's JSON shape in one line: an object's fields (`?` when optional), `[…]` for an
    array, alternatives joined by "or"."""
    if not schema:
        return ""
    if "$ref" in schema:
        return _shape(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        shapes = [_shape(option, components) for option in schema["anyOf"]]
        return " or ".join(shape for shape in shapes if shape)
    if schema.get("type") == "array":
        return f"[{_shape(schema['items'], components)}, …]"
    if "properties" in schema:
        required = set(schema.get("required", []))
        fields = [name + ("" if name in required else "?") for name in schema["properties"]]
        return "{" + ", ".join(fields) + "}"
    if "additionalProperties" in schema:
        return "{name: " + _shape(schema["additionalProperties"], components) + ", …}"
    return ""


def _bodies(content: dict, components: dict) -> str:
    """Each content type of a request or answer: JSON as its shape, multipart as its fields,
    any other type by name."""
    bodies = []
    for media_type, body in content.items():
        shape = _shape(body.get("schema"), components)
        if media_type == "application/json":
            bodies.append(f"`{shape}`")
        elif media_type == "multipart/form-data":
            bodies.append(f"`{media_type}` `{shape}`")
        else:
            bodies.append(f"`{media_type}`")
    return " or ".join(bodies)


def endpoints_table() -> str:
    """A Markdown table of the service's endpoints: what each does, the body it takes, what it
    answers and with which status codes."""
    schema = openapi_schema()
    components = schema["components"]["schemas"]
    rows = [
        "| endpoint | what it does | body | answer (200) | status codes |",
        "|---|---|---|---|---|",
    ]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            description = _cell(operation.get("description") or operation["summary"])
            body = operation.get("requestBody", {})
            request = _bodies(body.get("content", {}), components)
            if request and not body.get("required"):
                request += " (optional)"
            answer = _bodies(operation["responses"]["200"].get("content", {}), components)
            codes = ", ".join(sorted(operation["responses"]))
            rows.append(
                f"| `{method.upper()} {path}` | {description} | {_cell(request)} "
                f"| {_cell(answer)} | {codes} |"
            )
    note = "Bodies are JSON unless another type is named; `?` marks an optional field."
    return "\n".join(rows) + f"\n\n{note}\n\n"


def lineage_mermaid() -> str:
    """The models' lineage as a Mermaid flowchart, from the manifest of `dbt parse`."""
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory() as work:
        os.environ.setdefault("STOREMON_DB", str(Path(work) / "parse.duckdb"))
        result = dbtRunner().invoke(
            ["parse", "--quiet", "--project-dir", str(project_dir()),
             "--profiles-dir", str(project_dir()), "--target-path", work, "--log-path", work]
        )  # fmt: skip
        assert result.success, result.exception
        manifest = json.loads((Path(work) / "manifest.json").read_text())
    nodes = {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed")
    }
    lines = ["```mermaid", "flowchart LR"]
    for folder in ("seeds", "staging", "intermediate", "marts"):
        names = sorted(
            node["name"]
            for node in nodes.values()
            if (node["resource_type"] == "seed") == (folder == "seeds")
            and (folder == "seeds" or node["fqn"][1] == folder)
        )
        lines += [f"  subgraph {folder}", *(f"    {name}" for name in names), "  end"]
    edges = sorted(
        f"  {nodes[parent]['name']} --> {node['name']}"
        for node in nodes.values()
        for parent in node.get("depends_on", {}).get("nodes", [])
        if parent in nodes
    )
    return "\n".join([*lines, *edges, "```"]) + "\n"
