{#- A local wall time (TIMESTAMP) in an IANA zone as a UTC TIMESTAMP. A wall time that does not
    exist (spring-forward gap) or occurs twice (fall-back) resolves to the later candidate
    instant, as SPEC §3 asks; DuckDB's ICU `timezone()` already behaves exactly so. -#}
{% macro local_to_utc(local_timestamp, timezone_name) -%}
    {{ return(adapter.dispatch('local_to_utc', 'storemon')(local_timestamp, timezone_name)) }}
{%- endmacro %}

{% macro default__local_to_utc(local_timestamp, timezone_name) -%}
    timezone('UTC', timezone({{ timezone_name }}, {{ local_timestamp }}))
{%- endmacro %}
