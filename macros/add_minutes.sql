{#- A TIMESTAMP plus a whole number of minutes given by an integer SQL expression. -#}
{% macro add_minutes(timestamp_expression, minutes_expression) -%}
    {{ return(adapter.dispatch('add_minutes', 'storemon')(timestamp_expression, minutes_expression)) }}
{%- endmacro %}

{% macro default__add_minutes(timestamp_expression, minutes_expression) -%}
    ({{ timestamp_expression }} + to_minutes(cast({{ minutes_expression }} as bigint)))
{%- endmacro %}

{% macro spark__add_minutes(timestamp_expression, minutes_expression) -%}
    timestampadd(minute, {{ minutes_expression }}, {{ timestamp_expression }})
{%- endmacro %}
