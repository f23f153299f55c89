{#- The statement that stops (preserve = false) or restores DuckDB's preservation of insertion
    order while a staging model reads its input file. A parallel read that must keep the
    file's order writes its table twice: once as each thread's batches arrive, and again when
    the next checkpoint merges them (0.5 s and twice the file space for Loop's polls as CSV,
    0.13 s as Parquet). No result depends on the order of the polls (the tests shuffle them):
    a CSV file's rows are unnumbered, and a Parquet file's carry their row number from the
    file. A seed is left alone (its rows are numbered by their order). Empty on other
    engines. The setting is the whole engine's, so the post-hook restores it. -#}
{% macro input_insertion_order(path_setting, preserve) -%}
    {{ return(adapter.dispatch('input_insertion_order', 'storemon')(path_setting, preserve)) }}
{%- endmacro %}

{% macro default__input_insertion_order(path_setting, preserve) -%}
{%- endmacro %}

{% macro duckdb__input_insertion_order(path_setting, preserve) -%}
    {%- set path = setting(path_setting) | trim -%}
    {%- if path -%}
        set preserve_insertion_order = {{ 'true' if preserve else 'false' }}
    {%- endif -%}
{%- endmacro %}
