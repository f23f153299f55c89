"""MkDocs hooks (mkdocs.yml `hooks:`): the manual's site carries mermaid.js itself, taken from
the mermaidx package (the `docs` extra ships mermaid's own browser build in it), so that the
lineage diagram of docs/analysts.md renders without a CDN. Material for MkDocs uses the
`mermaid` that this script defines instead of fetching one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.structure.files import File, Files

MERMAID_URL = "assets/javascripts/mermaid.min.js"  # extra_javascript in mkdocs.yml


def mermaid_js() -> Path:
    """mermaidx/assets/mermaid.js, found without importing mermaidx (its renderer is not
    needed here)."""
    spec = importlib.util.find_spec("mermaidx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("mermaidx is missing: pip install '.[docs]'")
    found = Path(next(iter(spec.submodule_search_locations))) / "assets" / "mermaid.js"
    if not found.is_file():
        raise RuntimeError(f"{found} is missing: mermaidx no longer ships mermaid.js there")
    return found


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, MERMAID_URL, abs_src_path=str(mermaid_js())))
    return files
