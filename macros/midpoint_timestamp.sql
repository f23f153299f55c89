{#- The instant halfway between two TIMESTAMPs, rounded down to the microsecond. -#}
{% macro midpoint_timestamp(first_at, second_at) -%}
    {{ return(adapter.dispatch('midpoint_timestamp', 'storemon')(first_at, second_at)) }}
{%- endmacro %}

{% macro default__midpoint_timestamp(first_at, second_at) -%}
    make_timestamp((epoch_us({{ first_at }}) + epoch_us({{ second_at }})) // 2)
{%- endmacro %}

{% macro spark__midpoint_timestamp(first_at, second_at) -%}
    timestamp_micros((unix_micros({{ first_at }}) + unix_micros({{ second_at }})) div 2)
{%- endmacro %}
