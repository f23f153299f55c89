{#- A UTC TIMESTAMP as the wall time it reads in an IANA zone (a TIMESTAMP without zone): the
    inverse of local_to_utc, used to put each store's local time on its timeline. -#}
{% macro utc_to_local(utc_timestamp, timezone_name) -%}
    {{ return(adapter.dispatch('utc_to_local', 'storemon')(utc_timestamp, timezone_name)) }}
{%- endmacro %}

{% macro default__utc_to_local(utc_timestamp, timezone_name) -%}
    timezone({{ timezone_name }}, timezone('UTC', {{ utc_timestamp }}))
{%- endmacro %}
