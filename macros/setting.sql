{#- A run setting: the dbt var `name` when it is set (non-empty), else the environment variable
    STOREMON_<NAME>, else `default`. `storemon export` passes its options through the
    environment because dbt re-parses the whole project whenever --vars change,
    while a changed environment variable re-parses only the models that read it. -#}
{% macro setting(name, default='') -%}
    {{ return(var(name, '') or env_var('STOREMON_' ~ name | upper, '') or default) }}
{%- endmacro %}

{#- A run setting as a SQL text expression (`trimmed`: without surrounding whitespace): a
    literal, or on DuckDB when STOREMON_PLAN is set (as `storemon export` sets it) the DuckDB
    variable storemon_<name> (`getvariable`), so that the compiled SQL does not change with
    the setting and the export can run it again without dbt. -#}
{% macro setting_sql(name, default='', trimmed=false) -%}
    {{ return(adapter.dispatch('setting_sql', 'storemon')(name, default, trimmed)) }}
{%- endmacro %}

{% macro default__setting_sql(name, default='', trimmed=false) -%}
    {%- set value = setting(name, default) | string -%}
    '{{ (value | trim if trimmed else value) | replace("'", "''") }}'
{%- endmacro %}

{#- The variable is set in every dbt session by profiles.yml and by the export's plan runner;
    the runner runs the plan only for values without surrounding whitespace, so `trimmed`
    needs no SQL here. -#}
{% macro duckdb__setting_sql(name, default='', trimmed=false) -%}
    {%- if not env_var('STOREMON_PLAN', '') -%}
        {{ return(default__setting_sql(name, default, trimmed)) }}
    {%- endif -%}
    {%- set variable = "getvariable('storemon_" ~ name ~ "')" -%}
    {%- if default -%}
        coalesce(nullif({{ variable }}, ''), '{{ default | replace("'", "''") }}')
    {%- else -%}
        {{ variable }}
    {%- endif -%}
{%- endmacro %}
