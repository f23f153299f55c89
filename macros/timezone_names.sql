{#- A query with one column `name`: every IANA zone name the engine can convert with. ICU-only
    names (see `icu_only_timezone_names`) are left out: zones are IANA names (docs/numbers.md,
    Timezones). -#}
{% macro timezone_names() -%}
    {{ return(adapter.dispatch('timezone_names', 'storemon')()) }}
{%- endmacro %}

{% macro default__timezone_names() -%}
    select name from pg_timezone_names()
    where name not in ({{ icu_only_timezone_names() }})
{%- endmacro %}

{% macro spark__timezone_names() -%}
    select explode(array({{ timezone_names_snapshot() }})) as name
{%- endmacro %}
