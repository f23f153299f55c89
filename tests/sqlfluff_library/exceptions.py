"""Stand-in for dbt's `exceptions` when sqlfluff's jinja templater renders the models."""


def raise_compiler_error(message: str) -> str:
    return ""
