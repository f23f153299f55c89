{#- The statement that stops (preserve = false) or restores DuckDB's preservation of insertion
    order while a staging model reads its CSV file unnumbered. A parallel read that must keep
    the file's order writes its table twice: once as each thread's batches arrive, and again
    when the next checkpoint merges them (0.5 s and twice the file space for Loop's polls).
    Unnumbered rows need no order: no result depends on the order of the polls (the tests
    shuffle them). A seed or Parquet input is left alone (a seed's rows are numbered by their
    order). Empty on other engines. The setting is the whole engine's, so the post-hook
    restores it. -#}
{% macro csv_insertion_order(path_setting, preserve) -%}
    {{ return(adapter.dispatch('csv_insertion_order', 'storemon')(path_setting, preserve)) }}
{%- endmacro %}

{% macro default__csv_insertion_order(path_setting, preserve) -%}
{%- endmacro %}

{% macro duckdb__csv_insertion_order(path_setting, preserve) -%}
    {%- set path = setting(path_setting) | trim -%}
    {%- if path and not path.lower().endswith('.parquet') -%}
        set preserve_insertion_order = {{ 'true' if preserve else 'false' }}
    {%- endif -%}
{%- endmacro %}
