{#- A set-returning select-list expression: one row per DATE from the date of `start_at` minus
    `days_before` days to the date of `end_at` plus `days_after` days, both included. -#}
{% macro date_spine(start_at, end_at, days_before, days_after) -%}
    {{ return(adapter.dispatch('date_spine', 'storemon')(start_at, end_at, days_before, days_after)) }}
{%- endmacro %}

{% macro default__date_spine(start_at, end_at, days_before, days_after) -%}
    unnest(generate_series(
        {{ start_at }}::date - {{ days_before }}, {{ end_at }}::date + {{ days_after }}, interval 1 day
    ))::date
{%- endmacro %}

{% macro spark__date_spine(start_at, end_at, days_before, days_after) -%}
    explode(sequence(
        date_sub(to_date({{ start_at }}), {{ days_before }}),
        date_add(to_date({{ end_at }}), {{ days_after }}),
        interval 1 day
    ))
{%- endmacro %}
