"""Stand-in for dbt's `adapter` when sqlfluff's jinja templater renders the models.

`adapter.dispatch('name', 'storemon')(args)` renders as the SQL call `name(args)`, so a model
lints as SQL without compiling the project (the dbt templater would take the DuckDB lock).
"""


def dispatch(macro_name: str, macro_namespace: str | None = None):
    def render(*args: object) -> str:
        return f"{macro_name}({', '.join(str(argument) for argument in args)})"

    return render
