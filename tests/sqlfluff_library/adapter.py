"""Stand-in for dbt's `adapter` when sqlfluff's jinja templater renders the models.

`adapter.dispatch('name', 'storemon')(args)` renders as the SQL call `name(args)`, so a model
lints as SQL without compiling the project (the dbt templater would take the DuckDB lock).
A macro whose name starts with `select_` renders a whole query, so it renders as
`select * from name(args)`, and a macro that renders a keyword renders as that keyword.
"""

KEYWORD_MACROS = {"materialized_keyword": "materialized"}


def dispatch(macro_name: str, macro_namespace: str | None = None):
    def render(*args: object) -> str:
        if macro_name in KEYWORD_MACROS:
            return KEYWORD_MACROS[macro_name]
        # An empty text argument (a default) renders as '' so that the call still parses.
        arguments = ", ".join(str(argument) or "''" for argument in args)
        call = f"{macro_name}({arguments})"
        return f"select * from {call}" if macro_name.startswith("select_") else call

    return render
