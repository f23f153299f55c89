{#- An expression that stops the query with `message` (a SQL text expression) when evaluated.
    DuckDB's error() of NULL does not stop anything: a message built from a setting that is not
    set (a NULL variable) would let the query go on, so that case stops with a message of its
    own. -#}
{% macro raise_error(message) -%}
    {{ return(adapter.dispatch('raise_error', 'storemon')(message)) }}
{%- endmacro %}

{% macro default__raise_error(message) -%}
    error(coalesce({{ message }}, 'a run setting that this SQL reads is not set'))
{%- endmacro %}

{% macro spark__raise_error(message) -%}
    raise_error({{ message }})
{%- endmacro %}
