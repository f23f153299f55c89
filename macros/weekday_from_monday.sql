{#- The weekday of a DATE as the inputs number it: 0 = Monday … 6 = Sunday. -#}
{% macro weekday_from_monday(date_expression) -%}
    {{ return(adapter.dispatch('weekday_from_monday', 'storemon')(date_expression)) }}
{%- endmacro %}

{% macro default__weekday_from_monday(date_expression) -%}
    isodow({{ date_expression }}) - 1
{%- endmacro %}

{% macro spark__weekday_from_monday(date_expression) -%}
    weekday({{ date_expression }})
{%- endmacro %}
