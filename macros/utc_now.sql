{#- The engine's clock as a UTC instant, comparable with the parsed `*_at` columns. -#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'storemon')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
    {#- now() is a TIMESTAMPTZ; the parsed instants are naive UTC timestamps. -#}
    (now() at time zone 'UTC')
{%- endmacro %}

{% macro spark__utc_now() -%}
    {#- Spark's timestamps are instants whatever the session zone. -#}
    current_timestamp()
{%- endmacro %}
