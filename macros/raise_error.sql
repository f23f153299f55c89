{#- An expression that stops the query with `message` (a SQL text expression) when evaluated. -#}
{% macro raise_error(message) -%}
    {{ return(adapter.dispatch('raise_error', 'storemon')(message)) }}
{%- endmacro %}

{% macro default__raise_error(message) -%}
    error({{ message }})
{%- endmacro %}

{% macro spark__raise_error(message) -%}
    raise_error({{ message }})
{%- endmacro %}
